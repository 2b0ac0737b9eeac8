"""What the grader keeps of a worker's messages: only the shapes it reads."""

from __future__ import annotations

from grader.grading.score import notebook_notes
from grader.sandbox.results import CellError, NotebookRun
from grader.sandbox.run import notebook_run


def test_a_forged_notebook_report_is_reduced_to_what_the_grader_reads() -> None:
    forged = {"errors": {"x": 1}, "timeouts": "all", "skipped": [3, "4", None], "extra": 1}
    assert notebook_run(forged) == NotebookRun(errors=(), timeouts=(), skipped=(3,))
    assert notebook_run("not a dict") is None


def test_a_forged_cell_error_keeps_only_numbers_and_text() -> None:
    forged = {"errors": [{"cell": "2", "line": 3.0, "error": ["x"] * 300}, "not a dict"]}
    (error,) = notebook_run(forged).errors  # type: ignore[union-attr]
    assert error.cell is None and error.line is None
    assert len(error.error) == 500


def test_a_real_notebook_report_passes_through() -> None:
    report = {
        "errors": [{"cell": 2, "line": 3, "error": "NameError: name 'x' is not defined"}],
        "timeouts": [4],
        "skipped": [],
    }
    assert notebook_run(report) == NotebookRun(
        errors=(CellError(cell=2, line=3, error="NameError: name 'x' is not defined"),),
        timeouts=(4,),
        skipped=(),
    )


def test_functions_taken_from_a_module_are_named_only_for_the_cases_functions() -> None:
    """The worker (student code) writes the report: only a .py file of the submission and
    functions the cases call reach the notes."""
    forged = {
        "borrowed": {
            "cs231n/layers.py": ["affine_forward", "relu_forward", "Full marks: 100 / 100"],
            "grades.txt": ["affine_forward"],
            "cs231n/other.py": "affine_forward",
        }
    }
    run = notebook_run(forged)
    assert run is not None
    assert run.borrowed == (
        ("cs231n/layers.py", ("affine_forward", "relu_forward", "Full marks: 100 / 100")),
    )
    assert notebook_notes(run, 5, {"affine_forward", "relu_forward"}) == (
        "affine_forward, relu_forward: not defined by the notebook itself; graded from "
        "cs231n/layers.py, which the notebook's imports loaded",
    )
