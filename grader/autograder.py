"""Gradescope's ``run_autograder``: grade ``ROOT/submission`` and always write
``ROOT/results/results.json``.

The rubric (with its vectors, hidden ones included) is ``ROOT/source/rubric.yaml``, as
``grade bundle gradescope`` lays it out; ROOT is ``/autograder`` on Gradescope. Whatever
happens, a results file is written: a submission the grader cannot use gets its reason as
the student-facing output; a failure of the grader itself gets a sentence for the student
and the traceback in a test only staff see.
"""

from __future__ import annotations

import json
import os
import tempfile
import traceback
from pathlib import Path

from grader.api import grade_one, isolation_slots
from grader.config.rubric import load_rubric
from grader.errors import SubmissionError
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
    return gradescope.to_dict(result)


def write_results(root: Path, data: dict[str, object]) -> Path:
    """Write results.json atomically (Gradescope may read it as soon as we exit)."""
    folder = root / "results"
    folder.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".results-")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
    path = folder / "results.json"
    os.replace(temp, path)
    os.chmod(path, 0o644)
    return path


def run_autograder(root: Path = ROOT) -> Path:
    try:
        data = grade_results(root)
    except SubmissionError as exc:
        data = failure_results(str(exc), staff=None)
    except Exception:
        data = failure_results(GRADER_FAILED, staff=traceback.format_exc())
    return write_results(root, data)
