"""``grade check`` in a process of its own, for a caller that must never hold expected
values: a student's Jupyter kernel (grader/jupyter). That process loads the vectors and
runs the student's code in a worker, isolated as ever; the caller gets the report's JSON:
scores and messages.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grader.errors import UsageError

# A check grades the public cases of a rubric: seconds, even with every layer's cases; a
# notebook's executed cells count towards its own limits inside.
CHECK_SECONDS = 600


def run_check(
    path: Path,
    functions: Sequence[str] = (),
    *,
    cwd: Path,
    execute: bool = True,
    rubric: Path | None = None,
    assignment: str | None = None,
    seconds: float = CHECK_SECONDS,
) -> dict[str, Any]:
    """The JSON report of ``grade check path`` run from ``cwd`` (whose rubric.yaml, if any,
    is the default rubric, as in a terminal there; ``assignment`` names a built-in one), on
    ``functions`` (all when empty).
    Raises UsageError with the grader's own message when it could not check."""
    # -P: the folder the check runs from is the student's, and may hold a grader.py.
    argv = [sys.executable, "-P", "-m", "grader", "check", str(path), "--format", "json"]
    for name in functions:
        argv += ["-k", name]
    if not execute:
        argv.append("--no-execute")
    if rubric is not None:
        argv += ["--rubric", str(rubric)]
    if assignment is not None:
        argv += ["--assignment", assignment]
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=seconds,
        )
    except subprocess.TimeoutExpired:
        raise UsageError(f"the check did not finish within {seconds:g} s") from None
    # 0: every function passes, 1: some do not; anything else is the grader's refusal.
    if proc.returncode in (0, 1):
        try:
            report: dict[str, Any] = json.loads(proc.stdout)
            return report
        except ValueError:
            pass
    said = proc.stderr.strip()[-2000:]
    raise UsageError(said or f"grade check exited with {proc.returncode}")
