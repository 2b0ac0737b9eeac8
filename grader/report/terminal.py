"""The terminal report: one table row per function, then what to fix first."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.grading.score import FunctionResult, GradeResult
from grader.report.hygiene import plain, shown

STYLES = {"pass": "green", "partial": "yellow", "fail": "red", "missing": "red"}


def fmt_points(value: float) -> str:
    return f"{value:g}"


def worst(function: FunctionResult) -> str:
    errors = function.worst_errors
    return ", ".join(f"{k} {v:.0e}" for k, v in errors.items()) if errors else "-"


# Width of the table in a file: wide enough for most reasons on one line.
FILE_WIDTH = 120


def render(result: GradeResult, verbose: bool = False, width: int = FILE_WIDTH) -> str:
    """The report as plain text, ``width`` columns wide."""
    buffer = io.StringIO()
    show(result, Console(file=buffer, width=width, no_color=True), verbose)
    return buffer.getvalue()


def show(result: GradeResult, console: Console, verbose: bool = False) -> None:
    isolation = f"isolation: {result.isolation}"
    if result.isolation_gaps:
        isolation += f" (not enforced here: {', '.join(result.isolation_gaps)})"
    console.print(
        Text.assemble(
            (plain(result.submission), "bold"),
            plain(f"  {result.mode} {result.module}  cases: {'+'.join(result.splits)}  ")
            + isolation,
        )
    )
    if result.import_failure is not None:
        f = result.import_failure
        where = f" ({f.file}, line {f.line})" if f.line else ""
        console.print(
            shown(f"The grader could not run your code: {f.message}{where}", style="bold red")
        )
    table = Table(show_lines=False, expand=False)
    table.add_column("Function")
    table.add_column("Points", justify="right")
    table.add_column("Status")
    table.add_column("Worst rel error")
    table.add_column("Reason", overflow="fold")
    for function in result.functions:
        # Reasons quote the submission's own text: never read them as markup.
        table.add_row(
            function.name,
            f"{fmt_points(function.score)} / {fmt_points(function.max_score)}",
            Text(function.status, style=STYLES.get(function.status, "")),
            worst(function),
            shown(function.feedback),
        )
    table.add_section()
    table.add_row(
        "Total", f"{fmt_points(result.score)} / {fmt_points(result.max_score)}", "", "", ""
    )
    console.print(table)
    for note in result.notes:
        console.print(shown(f"Note: {note}"))
    if verbose:
        for function in result.functions:
            for case in function.cases:
                if case.failure is not None and case.failure.traceback:
                    console.rule(Text(f"{case.case_id} ({case.failure.status})"))
                    console.print(shown(case.failure.traceback))
        if result.import_failure is not None and result.import_failure.traceback:
            console.rule("import")
            console.print(shown(result.import_failure.traceback))
        if result.output:
            console.rule("what the submission printed (truncated)")
            console.print(shown(result.output))
