"""Gradescope's ``run_autograder``: grade ``ROOT/submission`` and always write
``ROOT/results/results.json``.

The rubric (with its vectors, hidden ones included) is ``ROOT/source/rubric.yaml``, as
``grade bundle gradescope`` lays it out; ROOT is ``/autograder`` on Gradescope. Where
the rubric has a late policy, ``ROOT/submission_metadata.json`` gives the submission's
time and the assignment's due date (Gradescope's own, over the rubric's). Whatever
happens, a results file is written: a submission the grader cannot use gets its reason as
the student-facing output; a failure of the grader itself gets a sentence for the student
and the traceback in a test only staff see.
"""

from __future__ import annotations

import datetime as dt
import json
import traceback
from pathlib import Path

from grader.api import grade_one, isolation_slots
from grader.batch.store import write_atomic
from grader.config.late import timestamp
from grader.config.rubric import load_rubric
from grader.errors import RubricError, SubmissionError
from grader.grading.score import with_late_policy
from grader.report import gradescope
from grader.sandbox.isolation import HIDDEN_OK, machine_isolation

ROOT = Path("/autograder")
GRADER_FAILED = (
    "The autograder could not grade this submission because of a problem on its side, not "
    "in your code. Your instructor can see the details; please let them know."
)


def failure_results(sentence: str, staff: str | None) -> dict[str, object]:
    """A results file for a submission that could not be graded."""
    tests = []
    if staff is not None:
        tests.append(
            {
                "name": "grading error (staff only)",
                "score": 0.0,
                "max_score": 0.0,
                "status": "failed",
                "output": staff[-8000:],
                "visibility": "hidden",
            }
        )
    return {"score": 0.0, "output": sentence, "tests": tests}


def grade_results(root: Path) -> dict[str, object]:
    rubric = load_rubric(root / "source" / "rubric.yaml")
    mode = machine_isolation("auto")
    if mode not in HIDDEN_OK:
        raise RuntimeError(
            f"only {mode} isolation here: hidden cases never run unisolated (the autograder "
            "runs as root in Gradescope's container, where container isolation is available)"
        )
    (config,), _ = isolation_slots(mode, 1, [rubric.path, rubric.vectors])
    result = grade_one(root / "submission", rubric, config, rubric.splits)
    times = submission_times(root / "submission_metadata.json")
    if times is not None and rubric.late.penalty_per_day:
        submitted, due = times
        result = with_late_policy(result, rubric.late, submitted, due)
    return gradescope.to_dict(result)


def submission_times(path: Path) -> tuple[dt.datetime, dt.datetime | None] | None:
    """When Gradescope received the submission, and the assignment's due date, from its
    submission metadata; None where there is none."""
    try:
        data = json.loads(path.read_text())
        submitted = timestamp(data["created_at"], f"{path}: created_at")
        due_date = (data.get("assignment") or {}).get("due_date")
        due = timestamp(due_date, f"{path}: due_date") if due_date else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RubricError):
        return None
    return submitted, due


def write_results(root: Path, data: dict[str, object]) -> Path:
    """Write results.json atomically (Gradescope may read it as soon as we exit)."""
    folder = root / "results"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    write_atomic(path, json.dumps(data, indent=1))
    return path


def run_autograder(root: Path = ROOT) -> Path:
    try:
        data = grade_results(root)
    except SubmissionError as exc:
        data = failure_results(str(exc), staff=None)
    except Exception:
        data = failure_results(GRADER_FAILED, staff=traceback.format_exc())
    return write_results(root, data)
