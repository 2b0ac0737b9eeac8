"""Reporters of one submission: each reads a finished result and renders it; none changes
it. (A class's outputs are the batch stage's.)

Output formats, by the name ``--format`` takes. A format is a module
with ``render(result, verbose) -> str`` (the text for a file or stdout) and, for a
format meant for people, ``show(result, console, verbose)`` (the same on a terminal,
in colour). Adding a format is one module and one line below.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from rich.console import Console

    from grader.grading.score import GradeResult


class Reporter(Protocol):
    def render(self, result: GradeResult, verbose: bool) -> str: ...


@dataclass(frozen=True)
class Format:
    name: str
    module: str
    description: str

    def load(self) -> Reporter:
        return cast(Reporter, importlib.import_module(self.module))

    def show(self, result: GradeResult, console: Console, verbose: bool) -> bool:
        """Show ``result`` on ``console`` when this format is meant for people."""
        show = getattr(importlib.import_module(self.module), "show", None)
        if show is None:
            return False
        show(result, console, verbose)
        return True


FORMATS = {
    f.name: f
    for f in (
        Format("table", "grader.report.terminal", "a row per function, then what to fix"),
        Format("json", "grader.report.json_report", "schema layergrade.result/1"),
        Format("gradescope", "grader.report.gradescope", "Gradescope's results.json"),
        Format("prairielearn", "grader.report.prairielearn", "PrairieLearn's results.json"),
        Format("junit", "grader.report.junit", "JUnit XML, a testcase per output checked"),
        Format("markdown", "grader.report.markdown", "feedback as Markdown"),
        Format(
            "student",
            "grader.report.student",
            "what to fix first and a line per function (grade check's default)",
        ),
    )
}
