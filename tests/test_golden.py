"""The report a student reads, at a fixed width, compared with the text in tests/golden/.

A change of wording is a visible diff there: after a deliberate change, rerun with
``pytest tests/test_golden.py --update-golden`` and review what changed. The results are
built by the real judging code from arrays chosen so that every relative error is exact
on any machine (elementwise arithmetic on small integers and halves, no matrix products).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import make_case, run_grade, write_rubric

from grader.config.rubric import FunctionRubric
from grader.grading.judge import judge_case
from grader.grading.score import CaseResult, FunctionResult, GradeResult
from grader.report import terminal
from grader.sandbox.results import Failure
from grader.sandbox.run import failure_from, import_hint
from grader.vectors import CaseVector

GOLDEN = Path(__file__).resolve().parent / "golden"
WIDTH = 100  # the width of the feedback files a batch writes


def tiers(error: float) -> float:
    """The default rubric's tiers: 1e-7 full credit, 1e-4 half."""
    return 1.0 if error <= 1e-7 else 0.5 if error <= 1e-4 else 0.0


def judged(
    case: CaseVector,
    rubric: FunctionRubric,
    values: dict[str, np.ndarray],
    kinds: dict[str, str] | None = None,
) -> CaseResult:
    checks = judge_case(
        case, values=values, kinds=kinds or {}, rejected={}, credit=tiers, p_means="keep"
    )
    return CaseResult(
        case_id=case.id, split=case.split, rubric=rubric, checks=checks, failure=None, seconds=0.01
    )


def failed(case: CaseVector, rubric: FunctionRubric, failure: Failure) -> CaseResult:
    return CaseResult(
        case_id=case.id, split=case.split, rubric=rubric, checks=(), failure=failure, seconds=0.01
    )


def function(name: str, points: float, *cases: CaseResult, missing: bool = False) -> FunctionResult:
    return FunctionResult(name=name, max_score=points, cases=cases, missing=missing)


def mistakes_result() -> GradeResult:
    """One function of each kind a student meets: passing, a shape to fix, a half-credit
    precision problem, a stub returning None, a function not defined, a hidden case off,
    and an exception."""
    x = np.arange(12.0).reshape(2, 2, 3)
    out = np.arange(8.0).reshape(2, 4)
    dx = np.arange(1.0, 13.0).reshape(2, 2, 3)

    fwd = FunctionRubric("affine_forward", 10.0, {})
    affine_forward = function(
        "affine_forward",
        10,
        judged(make_case({"x": x}, {"out": out}, function="affine_forward"), fwd, {"out": out}),
    )
    bwd = FunctionRubric("affine_backward", 15.0, {"dx": 1, "dw": 1, "db": 1})
    dw, db = np.ones((6, 4)), np.full(4, 2.0)
    affine_backward = function(
        "affine_backward",
        15,
        judged(
            make_case({"x": x}, {"dx": dx, "dw": dw, "db": db}),
            bwd,
            # dx not reshaped back to x's shape; db off by a relative 1e-5 (half credit).
            {"dx": dx.reshape(2, 6), "dw": dw, "db": db * (1 + 2e-5)},
        ),
    )
    relu = FunctionRubric("relu_forward", 5.0, {})
    relu_forward = function(
        "relu_forward",
        5,
        judged(make_case({"x": x}, {"out": x}, function="relu_forward"), relu, {}, {"out": "None"}),
    )
    relu_backward = function("relu_backward", 5, missing=True)
    svm = FunctionRubric("svm_loss", 10.0, {"loss": 1, "dx": 2})
    scores = np.array([[1.0, 2.0], [3.0, 4.0]])
    svm_loss = function(
        "svm_loss",
        10,
        judged(
            make_case({"x": scores}, {"loss": np.array(1.5), "dx": scores}, function="svm_loss"),
            svm,
            {"loss": np.array(1.5), "dx": scores},
        ),
        judged(
            make_case(
                {"x": scores},
                {"loss": np.array(1.5), "dx": scores},
                split="hidden",
                function="svm_loss",
            ),
            svm,
            {"loss": np.array(3.0), "dx": scores},
        ),
    )
    softmax = FunctionRubric("softmax_loss", 10.0, {"loss": 1, "dx": 2})
    error = Failure(
        "error",
        "ValueError: operands could not be broadcast together with shapes (2,2) (2,)",
        line=12,
        file="layers.py",
        traceback='Traceback (most recent call last):\n  File "layers.py", line 12\nValueError',
    )
    softmax_loss = function(
        "softmax_loss", 10, failed(make_case({}, {}, function="softmax_loss"), softmax, error)
    )
    return GradeResult(
        submission="alice/",
        module="cs231n.layers",
        isolation="bubblewrap",
        splits=("public", "hidden"),
        functions=(
            affine_forward,
            affine_backward,
            relu_forward,
            relu_backward,
            svm_loss,
            softmax_loss,
        ),
        import_failure=None,
        output="svm loss: 1.5\n",
        seconds=0.2,
        notes=("graded the layers module; the submission also has a notebook",),
    )


def import_failure_result() -> GradeResult:
    # The worker's import_error message for Python 2 code, as the grader reads it.
    header = {
        "type": "import_error",
        "status": "import_error",
        "error": "SyntaxError: Missing parentheses in call to 'print'. Did you mean print(...)?",
        "line": 3,
        "file": "layers.py",
    }
    failure = import_hint(failure_from(header, "import_error"))
    rubric = FunctionRubric("affine_forward", 10.0, {})
    reason = Failure("not_run", f"not run: {failure.message}")
    case = failed(make_case({}, {}, function="affine_forward"), rubric, reason)
    return GradeResult(
        submission="bob.zip",
        module="cs231n.layers",
        isolation="bubblewrap",
        splits=("public",),
        functions=(function("affine_forward", 10, case),),
        import_failure=failure,
        output="",
        seconds=0.1,
    )


REPORTS = {
    "mistakes.txt": lambda: terminal.render(mistakes_result(), width=WIDTH),
    "mistakes_verbose.txt": lambda: terminal.render(mistakes_result(), verbose=True, width=WIDTH),
    "import_failure.txt": lambda: terminal.render(import_failure_result(), width=WIDTH),
}


def check_golden(name: str, text: str, request: pytest.FixtureRequest) -> None:
    path = GOLDEN / name
    if request.config.getoption("--update-golden"):
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with --update-golden and review it"
    assert text == path.read_text()


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_the_report_reads_as_recorded(name: str, request: pytest.FixtureRequest) -> None:
    check_golden(name, REPORTS[name](), request)


@pytest.mark.sandbox
@pytest.mark.slow
def test_the_grade_command_on_python_2_code_reads_as_recorded(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The whole path, from a submission in the zoo to the file `grade -o` writes."""
    out = tmp_path / "report.txt"
    # A path relative to the project (the command runs there): the report shows it as given.
    proc = run_grade(
        "tests/zoo/broken/python2_print", "--rubric", write_rubric(tmp_path), "-o", out
    )
    assert proc.returncode == 0, proc.stderr
    check_golden("python2_print.txt", out.read_text(), request)


def test_the_scores_follow_from_the_checks_by_hand() -> None:
    """The numbers in the golden table, worked out from the rubric, not the renderer."""
    result = mistakes_result()
    scores = {f.name: f.score for f in result.functions}
    # affine_backward: dx fails (shape), dw passes, db gets half: 15 * (0 + 1 + 0.5) / 3.
    # svm_loss: the public case passes, the hidden one fails its loss (weight 1 of 3).
    assert scores == {
        "affine_forward": 10.0,
        "affine_backward": 7.5,
        "relu_forward": 0.0,
        "relu_backward": 0.0,
        "svm_loss": round(10 * (1 + 2 / 3) / 2, 2),
        "softmax_loss": 0.0,
    }
