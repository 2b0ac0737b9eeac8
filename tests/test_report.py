"""Reporters render a finished result; student text is shown literally, never as markup."""

from __future__ import annotations

import json

from grader.config.rubric import FunctionRubric
from grader.grading.compare import Check
from grader.grading.score import CaseResult, FunctionResult, GradeResult
from grader.report import json_report, terminal
from grader.sandbox.results import Failure


def result(message: str) -> GradeResult:
    rubric = FunctionRubric("relu_forward", 5.0, {})
    case = CaseResult(
        case_id="relu_forward.seed",
        split="public",
        rubric=rubric,
        checks=(),
        failure=Failure("error", message, line=7, traceback="Traceback ...\nValueError"),
        seconds=0.01,
    )
    passing = CaseResult(
        case_id="relu_forward.n1",
        split="hidden",
        rubric=rubric,
        checks=(Check("out", 1.0, "out matches", 0.0),),
        failure=None,
        seconds=0.01,
    )
    fn = FunctionResult(name="relu_forward", max_score=5.0, cases=(case, passing), missing=False)
    return GradeResult(
        submission="[bold]sub[/bold]",
        module="cs231n.layers",
        isolation="bubblewrap",
        splits=("public", "hidden"),
        functions=(fn,),
        import_failure=None,
        output="",
        seconds=0.1,
    )


def render(res: GradeResult, verbose: bool = False) -> str:
    return terminal.render(res, verbose, width=200)


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
    from grader.batch import html
    from grader.batch.summary import ClassSummary, FunctionStats

    summary = ClassSummary(
        students=1, graded=1, errors=0, max_score=55, mean=0.0, median=0.0, missing=(),
        unknown=(), functions={"relu_forward": FunctionStats(pass_rate=0.0, mean=0.0)},
        reasons=(("could not run: $\\undefinedcmd$", 1),), slowest=(("a", 0.1),), failed=(),
        totals={"a": 0.0}, seconds={"a": 0.1},
    )  # fmt: skip
    page = html.render(summary, "class", [], {})
    assert page.count("data:image/png;base64,") == 4
