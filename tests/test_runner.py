"""The batch runner on its own: whatever grading one entry raises becomes that entry's
record, and the batch writes every output (grading itself is replaced here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from batch_support import grade_class_here
from support import write_rubric

from grader.batch import runner
from grader.config.rubric import load_rubric
from grader.errors import SubmissionError
from grader.sandbox.runtime import discover_runtime
from grader.sandbox.worker import SandboxConfig


def grade_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception) -> Path:
    klass = tmp_path / "class"
    for student in ("ann", "bob"):
        (klass / student).mkdir(parents=True)
        (klass / student / "layers.py").write_text("x = 1\n")

    def fail(*args: Any, **kwargs: Any) -> None:
        raise failure

    monkeypatch.setattr(runner, "grade_submission", fail)
    out = tmp_path / "graded"
    rubric = load_rubric(write_rubric(tmp_path))
    grade_class_here(klass, out, rubric, SandboxConfig("processes", discover_runtime()))
    return out


def test_a_grader_failure_on_one_entry_is_recorded_for_the_staff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = grade_with(tmp_path, monkeypatch, RecursionError("maximum recursion depth"))
    record = json.loads((out / "results" / "ann.json").read_text())
    assert record["status"] == "error" and record["host_error"] is True
    assert "could not grade this submission (RecursionError)" in record["error"]
    assert "RecursionError: maximum recursion depth" in record["detail"]
    feedback = (out / "feedback" / "ann.txt").read_text()
    assert "Traceback" not in feedback  # the traceback is the staff's, not the student's
    assert (out / "gradebook.csv").is_file() and (out / "summary.json").is_file()


def test_a_reason_reaches_the_feedback_file_as_plain_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = grade_with(tmp_path, monkeypatch, SubmissionError("bad \x1b]0;pwned\x07 name"))
    record = json.loads((out / "results" / "bob.json").read_text())
    assert record["status"] == "error" and record["host_error"] is False
    assert (out / "feedback" / "bob.txt").read_text() == "Not graded: bad  name\n"


def test_a_batch_takes_a_slot_per_core_it_may_use_and_one_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cores it may run on, not the machine's (a container pinned to 2 of 16)."""
    monkeypatch.setattr(runner.os, "sched_getaffinity", lambda pid: {4, 5}, raising=False)
    monkeypatch.setattr(runner.os, "cpu_count", lambda: 16)
    assert runner.default_slots() == 3
    monkeypatch.delattr(runner.os, "sched_getaffinity")
    assert runner.default_slots() == 17
