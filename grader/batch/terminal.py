"""The terminal summary of a batch: the class at a glance."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.batch.summary import ClassSummary
from grader.report.hygiene import shown

BINS = 5


def render(summary: ClassSummary, console: Console) -> None:
    top = summary.max_score or 1
    console.print(
        f"{summary.students} students: {summary.graded} graded, {summary.errors} not "
        f"gradable; mean {summary.mean:g}, median {summary.median:g} of {top:g}"
    )
    bins: Counter[int] = Counter(
        min(BINS - 1, int(BINS * t / top)) for t in summary.totals.values()
    )
    width = max(bins.values(), default=1)
    for b in range(BINS - 1, -1, -1):
        low, high = top * b / BINS, top * (b + 1) / BINS
        bar = "#" * round(30 * bins[b] / width)
        console.print(Text(f"  {low:5.1f}-{high:5.1f}  {bar} {bins[b]}"))
    table = Table(title="Pass rate per function")
    table.add_column("Function")
    table.add_column("Full marks", justify="right")
    table.add_column("Mean points", justify="right")
    for name, f in summary.functions.items():
        table.add_row(name, f"{100 * f.pass_rate:.0f}%", f"{f.mean:g}")
    console.print(table)
    if summary.reasons:
        console.print("Most common mistakes:")
        for text, n in summary.reasons[:5]:
            console.print(shown(f"  {n:4d}  {text}"))
    slowest = ", ".join(f"{s} ({t:g} s)" for s, t in summary.slowest[:3])
    console.print(shown(f"Slowest: {slowest}"))
    if summary.failed:
        console.print(shown(f"Not gradable: {', '.join(summary.failed)}", style="red"))
    if summary.missing:
        console.print(shown(f"In the roster, no submission: {', '.join(summary.missing)}"))
    if summary.unknown:
        console.print(shown(f"Submitted, not in the roster: {', '.join(summary.unknown)}"))
