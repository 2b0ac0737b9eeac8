"""Grading a class through the batch runner in the test's own process, on public cases."""

from __future__ import annotations

from pathlib import Path

from grader.api import graded_cases
from grader.batch import runner
from grader.config.options import SourceOptions
from grader.config.rubric import Rubric
from grader.sandbox.worker import SandboxConfig


def grade_class_here(klass: Path, out: Path, rubric: Rubric, config: SandboxConfig) -> None:
    """Grade the class folder ``klass`` into ``out``: the public cases of ``rubric``, one
    grading slot of ``config``."""
    runner.grade_class(
        klass,
        out,
        rubric,
        graded_cases(rubric, ("public",)),
        [config],
        vectors_digest="test",
        options=SourceOptions(),
    )
