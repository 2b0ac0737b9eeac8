"""Grading a class through the batch runner in the test's own process, on public cases;
reading the students' table of report.html."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
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


@dataclass
class Row:
    cells: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)


class StudentTable(HTMLParser):
    """The rows of report.html's table of students: each cell's text, and every link."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.heading: list[str] = []
        self.rows: list[Row] = []
        self._inside = False
        self._cell: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and "students" in (dict(attrs).get("class") or "").split():
            self._inside = True
        if not self._inside:
            return
        if tag == "tr":
            self.rows.append(Row())
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "a" and self.rows:
            self.rows[-1].links.append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._inside = False
        elif tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].cells.append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def by_student(self) -> dict[str, dict[str, str]]:
        """Each student's row, keyed by the heading's names."""
        heading, *body = self.rows
        assert heading.cells[0] == "student", heading.cells
        return {r.cells[0]: dict(zip(heading.cells, r.cells, strict=True)) for r in body}


def report_table(out: Path) -> StudentTable:
    return StudentTable((out / "report.html").read_text(encoding="utf-8"))
