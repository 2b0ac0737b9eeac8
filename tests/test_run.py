"""What the grader keeps of a worker's messages: only the shapes it reads."""

from __future__ import annotations

from grader.grading.score import notebook_notes
from grader.sandbox.results import CellError, Failure, NotebookRun
from grader.sandbox.run import import_hint, notebook_run


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


def test_a_name_later_pythons_removed_says_what_replaces_it() -> None:
    """The course's 2017 notebooks import time.clock, gone since Python 3.8."""
    error = CellError(cell=2, line=4, error="ImportError: cannot import name 'clock' from 'time'")
    (note,) = notebook_notes(NotebookRun(errors=(error,)), 5, set())
    assert note == (
        "cell 2, line 4: ImportError: cannot import name 'clock' from 'time'; "
        "time.clock was removed in Python 3.8: use time.perf_counter()"
    )
    failure = import_hint(
        Failure("import_error", "AttributeError: module 'time' has no attribute 'clock'")
    )
    assert failure.message.endswith(
        "; time.clock was removed in Python 3.8: use time.perf_counter()"
    )
    # Other missing names are left as they are.
    other = Failure("import_error", "AttributeError: module 'time' has no attribute 'clocks'")
    assert import_hint(other) == other
