"""The platform formats: PrairieLearn's results, JUnit XML and Markdown, each a pure
function of one result. Results are the golden tests' (every function kind a student
meets), so the expected values follow from how those were built."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from support import ROOT, run_grade
from test_golden import mistakes_result

from grader.report import gradescope, junit, markdown, prairielearn
from grader.sandbox.results import Failure

CORRECT = ROOT / "assignments" / "modular_layers" / "examples" / "correct"
# PrairieLearn's published reference schema: fields of the results and of each test.
PL_TOP = {"gradable", "score", "message", "output", "tests"}
PL_TEST = {"name", "description", "points", "max_points", "message", "output"}


def test_prairielearn_results_follow_the_reference_schema() -> None:
    result = mistakes_result()
    data = json.loads(prairielearn.render(result))
    assert set(data) == PL_TOP
    assert data["gradable"] is True
    assert 0.0 <= data["score"] <= 1.0
    assert data["score"] == result.score / result.max_score
    assert [t["name"] for t in data["tests"]] == [f.name for f in result.functions]
    for t in data["tests"]:
        assert set(t) == PL_TEST
        assert 0 <= t["points"] <= t["max_points"]
    assert sum(t["points"] for t in data["tests"]) == result.score
    assert len(prairielearn.render(result).encode()) < 1 << 20


def test_a_syntax_error_is_not_gradable_on_prairielearn() -> None:
    failure = Failure("import_error", "SyntaxError: invalid syntax", line=3, file="layers.py")
    data = json.loads(prairielearn.render(replace(mistakes_result(), import_failure=failure)))
    assert data["gradable"] is False
    assert data["format_errors"] == ["SyntaxError: invalid syntax (line 3)"]
    assert "score" not in data


def test_junit_has_a_testcase_per_function_case_and_output() -> None:
    result = mistakes_result()
    root = ET.fromstring(junit.render(result))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == [f.name for f in result.functions]
    backward = suites["affine_backward"]
    names = [c.get("name").rsplit(".", 1)[1] for c in backward.iter("testcase")]
    assert names == ["dx", "dw", "db"]
    # dx has the wrong shape and db is off by 2e-5 (half credit): both fail; dw passes.
    assert backward.get("failures") == "2"
    failing = [c for c in backward.iter("testcase") if c.find("failure") is not None]
    assert "has shape (2, 6), expected (2, 2, 3)" in failing[0].find("failure").get("message")
    # A function that is not defined fails once, saying so.
    missing = suites["relu_backward"]
    assert missing.get("tests") == missing.get("failures") == "1"
    total = sum(int(s.get("tests")) for s in suites.values())
    assert total == len(list(root.iter("testcase")))


def test_junit_holds_no_control_characters_from_student_text() -> None:
    failure = Failure("error", "ValueError: \x1b[31mred\x07", line=1, file="layers.py")
    result = mistakes_result()
    softmax = result.functions[-1]
    case = replace(softmax.cases[0], failure=failure)
    result = replace(result, functions=(*result.functions[:-1], replace(softmax, cases=(case,))))
    text = junit.render(result)
    assert "\x1b" not in text and "\x07" not in text
    ET.fromstring(text)  # well-formed


def test_markdown_table_has_a_row_per_function_and_escapes_pipes() -> None:
    result = mistakes_result()
    softmax = result.functions[-1]
    failure = Failure("error", "ValueError: a | b", line=1, file="layers.py")
    case = replace(softmax.cases[0], failure=failure)
    result = replace(result, functions=(*result.functions[:-1], replace(softmax, cases=(case,))))
    text = markdown.render(result)
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [f.name for f in result.functions]
    assert all(row.count(" | ") == 3 for row in rows), rows
    assert "a \\| b" in text
    assert text.startswith(f"# alice/: {result.score:g} / {result.max_score:g}")


def test_formats_from_the_command_line(tmp_path: Path) -> None:
    proc = run_grade(CORRECT, "--format", "prairielearn", "--cases", "public")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["score"] == 1.0
    out = tmp_path / "junit.xml"
    proc = run_grade(CORRECT, "--format", "junit", "--cases", "public", "-o", out)
    assert proc.returncode == 0, proc.stderr
    root = ET.parse(out).getroot()
    assert sum(int(s.get("failures")) for s in root.iter("testsuite")) == 0


def test_gradescope_splits_each_function_into_public_and_hidden_tests() -> None:
    result = mistakes_result()
    data = json.loads(gradescope.render(result))
    assert data["score"] == result.score
    tests = {t["name"]: t for t in data["tests"]}
    # svm_loss: one public case (passes) and one hidden, whose loss is off but dx right
    # (checks {loss: 1, dx: 2}): 10 points in two shares of 5, the hidden one earning 2/3.
    public, hidden = tests["svm_loss (public cases)"], tests["svm_loss (hidden cases)"]
    assert (public["score"], public["max_score"], public["status"]) == (5, 5, "passed")
    assert (hidden["score"], hidden["max_score"], hidden["status"]) == (3.33, 5, "failed")
    assert (public["visibility"], hidden["visibility"]) == ("visible", "after_published")
    assert sum(t["score"] for t in data["tests"]) == pytest.approx(result.score)
    assert sum(t["max_score"] for t in data["tests"]) == pytest.approx(result.max_score)
