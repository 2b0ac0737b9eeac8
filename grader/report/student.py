"""The student's check: what to fix first, a line per function, and an honest total.

``grade check`` grades the public cases only, so the summary says how many public checks
passed and that hidden ones run on submission; it never claims that all tests passed.
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.text import Text

from grader.grading.score import FunctionResult, GradeResult
from grader.report.hygiene import shown

MARKS = {"pass": ("✓", "green"), "partial": ("~", "yellow")}
WIDTH = 100


def passed_checks(function: FunctionResult) -> int:
    return sum(case.credit >= 1.0 for case in function.cases)


def summary(result: GradeResult) -> str:
    """One sentence on the whole: checks passed and, after public ones only, that the
    hidden ones run on submission."""
    total = sum(len(f.cases) for f in result.functions)
    passed = sum(passed_checks(f) for f in result.functions)
    public = "hidden" not in result.splits
    kind = "public checks" if public else "checks"
    hidden = " Hidden checks run when you submit." if public else ""
    if result.import_failure is None and passed == total:
        every = f"All {total} {kind}" if total > 1 else f"The {kind[:-1]}"
        return f"{every} passed.{hidden}"
    failing = sum(f.status != "pass" for f in result.functions)
    return (
        f"{passed} of {total} {kind} passed; {failing} of {len(result.functions)} "
        f"functions need work.{hidden}"
    )


def could_not_run(result: GradeResult) -> str | None:
    """Why the student's code could not be loaded at all, or None."""
    f = result.import_failure
    if f is None:
        return None
    where = f" ({f.file}, line {f.line})" if f.line else ""
    return f"Your code could not run: {f.message}{where}"


def show(result: GradeResult, console: Console, verbose: bool = False) -> None:
    failed = could_not_run(result)
    if failed is not None:
        console.print(shown(failed, style="bold red"))
    else:
        first = next((f for f in result.functions if f.status != "pass"), None)
        if first is not None:
            console.print(Text.assemble(("First to fix: ", "bold"), (first.name, "bold")))
            console.print(shown(f"  {first.feedback}"))
            console.print()
    for function in result.functions:
        mark, style = MARKS.get(function.status, ("✗", "red"))
        line = Text.assemble(
            (f"{mark} ", style),
            f"{function.name:<28}",
            f"{passed_checks(function)}/{len(function.cases)} checks  ",
        )
        if function.status != "pass":
            line.append_text(shown(function.feedback))
        console.print(line, overflow="fold")
    for note in result.notes:
        console.print(shown(f"Note: {note}"))
    console.print()
    console.print(shown(summary(result), style="bold"))
    if verbose and result.output:
        console.rule("what your code printed (truncated)")
        console.print(shown(result.output))


def render(result: GradeResult, verbose: bool = False) -> str:
    buffer = io.StringIO()
    show(result, Console(file=buffer, width=WIDTH, no_color=True), verbose)
    return buffer.getvalue()
