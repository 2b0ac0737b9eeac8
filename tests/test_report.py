"""Reporters render a finished result; student text is shown literally, never as markup."""

from __future__ import annotations

import io
import json

from rich.console import Console

from grader.compare import Check
from grader.report import json_report, terminal
from grader.rubric import FunctionRubric
from grader.run import Failure
from grader.score import CaseResult, FunctionResult, GradeResult


def result(message: str) -> GradeResult:
    rubric = FunctionRubric("relu_forward", 5.0, {})
    case = CaseResult(
        "relu_forward.seed",
        "public",
        rubric,
        (),
        Failure("error", message, line=7, traceback="Traceback ...\nValueError"),
        0.01,
    )
    passing = CaseResult(
        "relu_forward.n1", "hidden", rubric, (Check("out", 1.0, "out matches", 0.0),), None, 0.01
    )
    fn = FunctionResult("relu_forward", 5.0, (case, passing), missing=False)
    return GradeResult(
        "[bold]sub[/bold]", "cs231n.layers", True, ("public", "hidden"), (fn,), None, "", 0.1
    )


def render(res: GradeResult, verbose: bool = False) -> str:
    buf = io.StringIO()
    terminal.render(res, Console(file=buf, width=200, no_color=True), verbose)
    return buf.getvalue()


def test_markup_in_student_text_is_printed_literally() -> None:
    text = render(result("ValueError: [/] [green]5 / 5 pass[/green]"), verbose=True)
    assert "ValueError: [/] [green]5 / 5 pass[/green] (line 7)" in text
    assert "[bold]sub[/bold]" in text


def test_points_are_the_mean_credit_over_cases() -> None:
    # One case raised (credit 0), one passed (credit 1): 5 * 1/2.
    text = render(result("ValueError: boom"))
    assert "2.5 / 5" in text and "partial" in text
    assert "seed: ValueError: boom (line 7)" in text


def test_json_report_carries_the_table_and_the_cases() -> None:
    data = json.loads(json.dumps(json_report.to_dict(result("ValueError: boom"))))
    assert data["schema"] == "layergrade.result/1"
    assert (data["score"], data["max_score"]) == (2.5, 5.0)
    fn = data["functions"][0]
    assert {"name", "score", "max_score", "status", "feedback", "cases"} <= set(fn)
    assert fn["feedback"] == "seed: ValueError: boom (line 7)"
    assert [c["credit"] for c in fn["cases"]] == [0.0, 1.0]
    assert fn["cases"][0]["failure"]["line"] == 7


def test_student_text_in_plots_is_not_read_as_mathematics() -> None:
    from grader.report import html

    summary = {
        "students": 1, "graded": 1, "errors": 0, "mean": 0.0, "median": 0.0, "max_score": 55,
        "functions": {"relu_forward": {"pass_rate": 0.0, "mean": 0.0}},
        "reasons": [["could not run: $\\undefinedcmd$", 1]],
        "failed": [], "totals": {"a": 0.0}, "seconds": {"a": 0.1},
    }  # fmt: skip
    page = html.render(summary, "class")
    assert page.count("data:image/png;base64,") == 4
