"""JUnit XML, for CI dashboards: one testcase per function, case and checked output.

A testcase fails with the check's message; a case that could not run fails each of its
outputs with the reason. Student text goes through the same hygiene as every report (no
control characters, which XML 1.0 cannot hold).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from grader.grading.score import CaseResult, GradeResult
from grader.report.hygiene import plain


def outcomes(case: CaseResult) -> list[tuple[str, str | None]]:
    """(output, failure message or None) for each output the case checks."""
    if case.failure is not None or not case.checks:
        return [("run", plain(case.feedback))]
    return [(c.output, None if c.credit >= 1.0 else plain(c.message)) for c in case.checks]


def render(result: GradeResult, verbose: bool = False) -> str:
    suites = ET.Element("testsuites", name="layergrade")
    for function in result.functions:
        suite = ET.SubElement(suites, "testsuite", name=function.name)
        failures = 0
        cases = function.cases or ()
        if function.missing or not cases:
            failures += 1
            case = ET.SubElement(suite, "testcase", classname=function.name, name="defined")
            ET.SubElement(case, "failure", message=plain(function.feedback))
        for case_result in cases:
            for output, failure in outcomes(case_result):
                element = ET.SubElement(
                    suite,
                    "testcase",
                    classname=function.name,
                    name=f"{case_result.case_id}.{output}",
                )
                if failure is not None:
                    failures += 1
                    ET.SubElement(element, "failure", message=failure)
        suite.set("tests", str(len(suite)))
        suite.set("failures", str(failures))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, "unicode") + "\n"
