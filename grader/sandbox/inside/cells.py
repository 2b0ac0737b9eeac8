"""Executing a notebook's code cells in an IPython shell, each cell with its own deadline.

Every cell runs in a forked child. A child whose cell finishes carries the notebook on
(its parent leaves); a child whose cell overruns is killed, and the notebook goes on from
the state before that cell. No cell can hold the rest hostage, whatever it does with
signals.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
import traceback
from dataclasses import dataclass
from typing import Any, Literal

from .calls import describe_exception
from .processes import adopt_orphans, sweep

# Bound before any student code runs, which may replace the os module's functions.
_fork, _exit = os.fork, os._exit


def hold_descendants() -> None:
    """Stay alive, reaping, while any descendant lives: a notebook run hands its state
    from process to process, and the sandbox ends when its first process does."""
    adopt_orphans()
    if _fork() != 0:
        while True:
            try:
                os.wait()
            except ChildProcessError:
                _exit(0)
            except InterruptedError:
                continue


@dataclass(frozen=True)
class Attempt:
    """What became of one cell: it ran (maybe raising ``error``), overran its time, or
    ended its own process."""

    status: Literal["ran", "timeout", "ended"]
    error: BaseException | None = None


def attempt(shell: Any, source: str, seconds: float, contain: bool) -> Attempt:
    """Run one cell in a forked child. Returns in exactly one process: in the child when
    the cell finished (the parent has left, and the child now carries the notebook), or in
    the parent when it did not (the notebook's state is as it was before the cell)."""
    r, w = os.pipe()
    pid = _fork()
    if pid == 0:
        os.close(r)
        return run_as_successor(shell, source, w)
    os.close(w)
    return supervise(pid, r, seconds, contain)


def run_as_successor(shell: Any, source: str, w: int) -> Attempt:
    """The child's role: run the cell, then tell the parent it finished."""
    # Its own process group, so that what the cell starts can be ended with it.
    os.setpgid(0, 0)
    result = shell.run_cell(source, store_history=False)
    os.write(w, b"done")
    os.close(w)
    return Attempt("ran", result.error_before_exec or result.error_in_exec)


def supervise(pid: int, r: int, seconds: float, contain: bool) -> Attempt:
    """The parent's role: leave when the child's cell finishes in time; else kill the
    child with everything it started, and say why."""
    ready = select.select([r], [], [], seconds)[0]
    finished = os.read(r, 1 << 16) if ready else b""
    os.close(r)
    if finished:
        _exit(0)
    for kill in (os.kill, os.killpg):
        with contextlib.suppress(OSError):
            kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    if contain:
        sweep(set())
    return Attempt("ended" if ready else "timeout")


def first_error(exc: BaseException | None, cell: int) -> dict[str, Any]:
    line = None
    tb = exc.__traceback__ if exc is not None else None
    for frame in traceback.extract_tb(tb) if tb is not None else []:
        if frame.filename.startswith("<ipython-input-"):
            line = frame.lineno
    if isinstance(exc, SyntaxError):
        line = exc.lineno
    return {"cell": cell, "line": line, "error": describe_exception(exc)[:500] if exc else "?"}


def make_shell() -> Any:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class Shell(InteractiveShell):
        def enable_gui(self, gui: object = None) -> None:
            """No event loop to hook: %matplotlib inline needs nothing more."""

        def system(self, cmd: str) -> None:
            """A shell escape (``!ls``, ``!pip install ...``) is not the student's code and
            has no place in grading: said so, not run (IPython's own way needs pexpect,
            and the sandbox has no shell for it)."""
            print(f"(not run while grading: !{cmd})")

        def getoutput(self, cmd: str, split: bool = True, depth: int = 0) -> Any:
            """``files = !ls``: the same, with an empty list for the output."""
            from IPython.utils.text import SList

            self.system(cmd)
            return SList()

    config = Config()
    config.HistoryManager.enabled = False
    # Plain tracebacks: the richer ones need stack_data, which the sandbox does not mount
    # (the grader reads the exception itself, not what the shell prints of it).
    config.InteractiveShell.xmode = "Plain"
    return Shell.instance(config=config, colors="NoColor")


def run_cells(
    cells: list[dict[str, Any]], cell_seconds: float, total_seconds: float, contain: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Execute a notebook's code cells; return (the namespace they built, a report of
    errors, timeouts and cells skipped when the notebook's time ran out)."""
    shell = make_shell()
    report: dict[str, Any] = {"errors": [], "timeouts": [], "skipped": [], "ran": 0}
    end = time.monotonic() + total_seconds
    for cell in cells:
        left = end - time.monotonic()
        if left <= 0:
            report["skipped"].append(cell["number"])
            continue
        outcome = attempt(shell, cell["source"], min(cell_seconds, left), contain)
        report["ran"] += 1
        if outcome.status == "timeout":
            report["timeouts"].append(cell["number"])
        elif outcome.status == "ended":
            ended = "the cell ended its own process (exit or os._exit?)"
            report["errors"].append({"cell": cell["number"], "line": None, "error": ended})
        elif outcome.error is not None:
            report["errors"].append(first_error(outcome.error, cell["number"]))
    return shell.user_ns, report
