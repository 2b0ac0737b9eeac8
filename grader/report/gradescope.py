"""Gradescope's autograder results (``/autograder/results/results.json``).

Following Gradescope's published autograder specification: per function, one test for
its public cases (``visible``) and one for its hidden cases (``after_published``: shown
once grades are published), each with ``score``, ``max_score``, ``status``, ``name`` and
``output``. A function's points are shared between the two in proportion to their cases,
so the tests add up to the function's score. Hidden cases never show expected values in
any report, so their output is safe to publish.
"""

from __future__ import annotations

import json

from grader.config.choices import Split
from grader.grading.score import FunctionResult, GradeResult
from grader.report.hygiene import plain
from grader.report.student import could_not_run, summary

VISIBILITY: dict[Split, str] = {"public": "visible", "hidden": "after_published"}
OUTPUT_CHARS = 8_000


def split_test(function: FunctionResult, split: Split) -> dict[str, object] | None:
    """The test for ``function``'s cases of ``split``, or None where it has none."""
    cases = [c for c in function.cases if c.split == split]
    if not cases:
        return None
    share = function.max_score / len(function.cases)
    score = round(share * sum(c.credit for c in cases), 2)
    failing = [f"{c.case_id}: {plain(c.feedback)}" for c in cases if c.credit < 1.0]
    if failing and function.verdict is not None:
        failing.append(f"Gradient check: {plain(function.verdict)}.")
    output = "\n".join(failing) if failing else f"all {len(cases)} {split} case(s) pass"
    if function.missing:
        output = plain(function.feedback)
    return {
        "name": f"{function.name} ({split} cases)",
        "score": score,
        "max_score": round(share * len(cases), 2),
        "status": "passed" if all(c.credit >= 1.0 for c in cases) else "failed",
        "output": output[:OUTPUT_CHARS],
        "visibility": VISIBILITY[split],
    }


def function_tests(function: FunctionResult) -> list[dict[str, object]]:
    """The tests of one function: by split, or one test where no case could be run."""
    if not function.cases:
        return [
            {
                "name": function.name,
                "score": 0.0,
                "max_score": function.max_score,
                "status": "failed",
                "output": plain(function.feedback),
                "visibility": "visible",
            }
        ]
    splits: tuple[Split, ...] = ("public", "hidden")
    return [test for split in splits if (test := split_test(function, split)) is not None]


def to_dict(result: GradeResult) -> dict[str, object]:
    tests = [test for function in result.functions for test in function_tests(function)]
    failed = could_not_run(result)
    lines = [summary(result)] if failed is None else [failed, summary(result)]
    lines += [f"Note: {note}" for note in result.notes]
    return {
        "score": result.score,
        "output": plain("\n".join(lines))[:OUTPUT_CHARS],
        "tests": tests,
    }


def render(result: GradeResult, verbose: bool = False) -> str:
    return json.dumps(to_dict(result), indent=1) + "\n"
