"""What the grader keeps of a worker's messages: only the shapes it reads."""

from __future__ import annotations

from grader.run import notebook_report


def test_a_forged_notebook_report_is_reduced_to_what_the_grader_reads() -> None:
    forged = {"errors": {"x": 1}, "timeouts": "all", "skipped": [3, "4", None], "extra": 1}
    assert notebook_report(forged) == {"errors": [], "timeouts": [], "skipped": [3]}
    assert notebook_report("not a dict") is None


def test_a_real_notebook_report_passes_through() -> None:
    report = {
        "errors": [{"cell": 2, "line": 3, "error": "NameError: name 'x' is not defined"}],
        "timeouts": [4],
        "skipped": [],
    }
    assert notebook_report(report) == report
