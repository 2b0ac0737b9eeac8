"""Markdown feedback: the total, a table of functions, and what to fix in each."""

from __future__ import annotations

from grader.grading.score import GradeResult
from grader.report.hygiene import plain
from grader.report.student import could_not_run, summary


def cell(text: str) -> str:
    """Table-cell text: plain, on one line, with no column break in it."""
    return plain(text).replace("\n", " ").replace("|", "\\|")


def render(result: GradeResult, verbose: bool = False) -> str:
    lines = [
        f"# {cell(result.submission)}: {result.score:g} / {result.max_score:g}",
        "",
        plain(summary(result)),
    ]
    failed = could_not_run(result)
    if failed is not None:
        lines += ["", f"**{cell(failed)}**"]
    lines += ["", "| Function | Points | Status | What to fix |", "|---|---:|---|---|"]
    for f in result.functions:
        fix = "" if f.status == "pass" else cell(f.feedback)
        lines.append(f"| `{f.name}` | {f.score:g} / {f.max_score:g} | {f.status} | {fix} |")
    for note in result.notes:
        lines += ["", f"> {cell(note)}"]
    return "\n".join(lines) + "\n"
