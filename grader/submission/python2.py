"""Python 2 code, recognised: the assignment's notebook dates from Python 2, and so do
many solutions found online. Students hear it in one sentence, whatever stage noticed."""

from __future__ import annotations

import re

PYTHON2 = "this looks like Python 2 code, and the grader runs Python 3"


# What the course's older code calls that a later Python removed, and what replaces it.
REMOVED = {("time", "clock"): "time.clock was removed in Python 3.8: use time.perf_counter()"}


def removed_name_hint(error: str) -> str | None:
    """What replaces a name the error says is gone (``from time import clock``), else None."""
    for (module, name), hint in REMOVED.items():
        if (
            f"cannot import name '{name}' from '{module}'" in error
            or f"module '{module}' has no attribute '{name}'" in error
        ):
            return hint
    return None


def looks_like_python2(error: str) -> bool:
    """Whether an error described as "SyntaxError: ..." is Python 2's print or exec."""
    return error.startswith("SyntaxError") and ("Missing parentheses" in error or "print" in error)


def python2_hint(line: str, message: str) -> str | None:
    """How to write ``line`` in Python 3 when it is a Python 2 construct, else None.
    ``message`` is the compiler's description of the syntax error."""
    if "Missing parentheses in call to 'print'" in message or re.match(
        r"\s*print\b\s*[^\s(=.,;:)\]}]", line
    ):
        return "call print with parentheses, print(...)"
    if "Missing parentheses in call to 'exec'" in message:
        return "call exec with parentheses, exec(...)"
    if re.match(r"\s*except\b[^:]*,\s*\w+\s*:", line):
        return "write `except Error as name:`"
    if re.match(r"\s*raise\s+[\w.]+\s*,", line):
        return "write `raise Error('message')`"
    if "`" in re.sub(r"'[^']*'|\"[^\"]*\"", "", line):
        return "write repr(x) instead of backticks"
    return None
