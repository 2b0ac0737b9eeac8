"""Check your layers from inside your notebook; loaded as the package ``layergrade``
(this folder, installed under that name too: see pyproject.toml).

    %load_ext layergrade
    %check affine_forward relu_forward        (%check alone: every function)
    %check --assignment batchnorm             (a built-in assignment's rubric)

or, in code, ``layergrade.check("affine_forward")``. The check runs ``grade check`` on
your code in a process of its own (grader/sandbox/checker.py), in the same isolation as
from a terminal and on the public cases only, and shows its report as a table (as text
in a terminal IPython). Your kernel never holds an expected value: what your code does to
it (numpy patched, these functions replaced) changes nothing of what the check finds.

What is checked: ``path`` when given (a layers.py, a notebook, a folder); else
cs231n/layers.py under the kernel's folder, which the course's notebooks import; else the
definitions of the cells this kernel has run, as a notebook graded without running it.
"""

from __future__ import annotations

import html
import json
import shlex
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from grader.errors import UsageError
from grader.sandbox.checker import run_check

MODULE = Path("cs231n") / "layers.py"


@dataclass(frozen=True)
class Report:
    """What a check found: per function, its score and what to do about it."""

    checked: str
    functions: tuple[Mapping[str, Any], ...]
    score: float
    max_score: float
    problems: tuple[str, ...]

    @classmethod
    def from_json(cls, checked: str, report: Mapping[str, Any]) -> Report:
        problems = [str(n) for n in report.get("notes") or ()]
        if report.get("import_error"):
            problems.insert(0, f"could not import your code: {report['import_error']}")
        return cls(
            checked=checked,
            functions=tuple(report.get("functions") or ()),
            score=float(report.get("score", 0)),
            max_score=float(report.get("max_score", 0)),
            problems=tuple(problems),
        )

    @property
    def passed(self) -> bool:
        return bool(self.functions) and self.score == self.max_score

    def title(self) -> str:
        return (
            f"layergrade check of {self.checked}: {self.score:g} / {self.max_score:g} "
            "on the public cases"
        )

    def __str__(self) -> str:
        lines = [self.title(), *self.problems]
        width = max((len(str(f["name"])) for f in self.functions), default=0)
        for f in self.functions:
            score = f"{f['score']:g} / {f['max_score']:g}"
            lines.append(f"  {f['name']:<{width}}  {score:>9}  {f['status']:<4}  {f['feedback']}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        def cell(text: object, style: str = "") -> str:
            attribute = f' style="{style}"' if style else ""
            return f"<td{attribute}>{html.escape(str(text))}</td>"

        rows = []
        for f in self.functions:
            ok = f["status"] == "pass"
            colour = "color:#1a7f37" if ok else "color:#cf222e"
            rows.append(
                "<tr>"
                + cell(f["name"], "font-family:monospace")
                + cell(f"{f['score']:g} / {f['max_score']:g}")
                + cell(f["status"], colour + ";font-weight:bold")
                + cell(f["feedback"], "text-align:left;white-space:pre-wrap")
                + "</tr>"
            )
        problems = "".join(f"<p>{html.escape(p)}</p>" for p in self.problems)
        head = "".join(f"<th>{h}</th>" for h in ("function", "score", "result", "found"))
        return (
            f'<div class="layergrade-check"><p><b>{html.escape(self.title())}</b></p>'
            f"{problems}<table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )


def history_notebook(cells: Sequence[str], folder: Path) -> Path:
    """The cells a kernel ran, as a notebook (nbformat 4) in ``folder``."""
    code: list[dict[str, Any]] = [
        {
            "cell_type": "code",
            "id": f"cell-{number}",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": source,
        }
        for number, source in enumerate(cells)
        if source.strip()
    ]
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": code}
    path = folder / "notebook.ipynb"
    path.write_text(json.dumps(notebook))
    return path


def kernel_cells() -> list[str]:
    """What this IPython kernel has run, oldest first ([] outside IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return []
    shell = get_ipython()
    if shell is None:
        return []
    return [str(source) for source in shell.user_ns.get("In", [])[1:]]


def check(
    *functions: str,
    path: str | Path | None = None,
    rubric: str | Path | None = None,
    assignment: str | None = None,
    execute: bool = True,
) -> Report:
    """Check ``functions`` (all of the rubric's when none is named) on the public cases:
    of ``path``, else of cs231n/layers.py here, else of the cells this kernel has run. The
    rubric: ``rubric`` or the built-in ``assignment``'s (one of them), else ./rubric.yaml,
    else the default assignment's (as ``grade check`` from this folder)."""
    if rubric is not None and assignment is not None:
        raise UsageError("give rubric= or assignment=, not both")
    here = Path.cwd()
    rules = Path(rubric) if rubric is not None else None
    grade = partial(run_check, functions=functions, cwd=here, rubric=rules, assignment=assignment)
    if path is not None:
        report = grade(Path(path), execute=execute)
        return Report.from_json(str(path), report)
    if (here / MODULE).is_file():
        report = grade(here / MODULE)
        return Report.from_json(str(MODULE), report)
    cells = kernel_cells()
    if not cells:
        raise UsageError(
            f"nothing to check: no {MODULE} here ({here}) and no cells run in this kernel; "
            "name your code with check(..., path=...)"
        )
    with tempfile.TemporaryDirectory(prefix="layergrade-check-") as folder:
        notebook = history_notebook(cells, Path(folder))
        # Only the definitions: running the cells again would run this check again.
        report = grade(notebook, execute=False)
    return Report.from_json("the cells run in this notebook", report)


MAGIC_USAGE = "%check [--assignment NAME] [--rubric FILE] [FUNCTION ...]"


def magic_arguments(line: str) -> tuple[list[str], dict[str, str]]:
    """The functions and options of a %check line."""
    functions: list[str] = []
    options: dict[str, str] = {}
    try:
        words = shlex.split(line)
    except ValueError as exc:  # an unclosed quote
        raise UsageError(f"{exc}. Usage: {MAGIC_USAGE}") from None
    while words:
        word = words.pop(0)
        option, equals, value = word.partition("=")
        if option in ("--assignment", "--rubric"):
            if not equals:
                if not words:
                    raise UsageError(f"{option} needs a value. Usage: {MAGIC_USAGE}")
                value = words.pop(0)
            options[option[2:]] = value
        elif word.startswith("-"):
            raise UsageError(f"unknown option {word}. Usage: {MAGIC_USAGE}")
        else:
            functions.append(word)
    return functions, options


def check_magic(line: str) -> None:
    """%check [--assignment NAME] [--rubric FILE] [FUNCTION ...]: check the named functions
    (every one when none is named)."""
    from IPython.display import display

    try:
        functions, options = magic_arguments(line)
        display(check(*functions, **options))  # type: ignore[no-untyped-call, arg-type]
    except UsageError as exc:
        print(f"layergrade: {exc}")


def load_ipython_extension(ipython: Any) -> None:
    """%load_ext layergrade: adds the %check magic."""
    ipython.register_magic_function(check_magic, "line", "check")
