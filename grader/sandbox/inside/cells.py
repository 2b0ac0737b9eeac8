"""Executing a notebook's code cells in an IPython shell, each cell with its own deadline.

Every cell that runs code runs in a forked child. A child whose cell finishes carries the
notebook on (its parent leaves); a child whose cell overruns is killed, and the notebook
goes on from the state before that cell. No cell can hold the rest hostage, whatever it
does with signals. A cell that only defines functions and names plain values, where the
notebook has not added handlers or transformers of its own to the shell, runs none of
the notebook's code: it runs where the notebook is, without a fork (which, of a process
holding IPython and pyplot, costs several times what such a cell does).
"""

from __future__ import annotations

import ast
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


def in_place(shell: Any, source: str) -> Attempt:
    """Run a cell of definitions (see definitions_only) in this process."""
    result = shell.run_cell(source, store_history=False)
    return Attempt("ran", result.error_before_exec or result.error_in_exec)


# What a definition's default or a name's value may be made of to be plain: literals,
# names and their attributes, signs (``eps=1e-8``, ``dtype=np.float64``, ``EPS = -1e-5``,
# ``SHAPE = (2, 3)``). No calls, no operators that a value could make costly (``10**10**9``),
# no lambdas, no comprehensions.
PLAIN_VALUE = (
    ast.Constant, ast.Name, ast.Attribute, ast.Tuple, ast.List, ast.UnaryOp, ast.USub,
    ast.UAdd, ast.expr_context,
)  # fmt: skip
# An annotation may also subscript and join types: ``-> tuple[np.ndarray, float] | None``.
PLAIN_ANNOTATION = (*PLAIN_VALUE, ast.Subscript, ast.BinOp, ast.BitOr)
# The modules whose IPython event handlers run with a cell of definitions in place:
# IPython's own (%autoreload's among them) and matplotlib's (%matplotlib inline).
KNOWN_HANDLERS = ("IPython.", "matplotlib.", "matplotlib_inline.")


def plain(node: ast.AST | None, kinds: tuple[type, ...]) -> bool:
    return node is None or all(isinstance(n, kinds) for n in ast.walk(node))


def definitions_only(source: str) -> bool:
    """Whether a cell only defines functions (undecorated, with plain defaults and
    annotations) and names plain values, beside strings and ``pass``: running it runs
    none of the notebook's code, so it can neither take long nor end its process."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False  # IPython's syntax (magics, shell escapes), or not Python
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = statement.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            every += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
            if statement.decorator_list or not (
                all(plain(d, PLAIN_VALUE) for d in [*arguments.defaults, *arguments.kw_defaults])
                and all(plain(a.annotation, PLAIN_ANNOTATION) for a in every)
                and plain(statement.returns, PLAIN_ANNOTATION)
            ):
                return False
        elif isinstance(statement, ast.Assign):
            if not (
                all(isinstance(t, ast.Name) for t in statement.targets)
                and plain(statement.value, PLAIN_VALUE)
            ):
                return False
        elif not isinstance(statement, ast.Pass) and not (
            isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
        ):
            return False
    return bool(tree.body)


def transformers(shell: Any) -> list[tuple[int, ...]]:
    """What the shell does to a cell's source and tree before running it."""
    manager = shell.input_transformer_manager
    lists = (shell.input_transformers_post, shell.ast_transformers, manager.line_transforms,
             manager.cleanup_transforms)  # fmt: skip
    return [tuple(map(id, found)) for found in lists]


def runs_only_ipython(shell: Any, made: list[tuple[int, ...]]) -> bool:
    """Whether running a cell with ``shell`` runs only IPython's and matplotlib's code
    beside the cell's: no event handler and no transformer the notebook added since the
    shell was ``made`` (a notebook may register its own, which would run in place)."""
    for handlers in shell.events.callbacks.values():
        for handler in handlers:
            if not str(getattr(handler, "__module__", None)).startswith(KNOWN_HANDLERS):
                return False
    return transformers(shell) == made


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


# The imports of the cell that is running that failed: (line, exception).
failed_imports: list[tuple[int, BaseException]] = []
# The name, in the shell's namespace, of the function a failing import reports to.
IMPORT_FAILED = "__layergrade_import_failed__"


def import_failed(line: int, exc: BaseException) -> None:
    failed_imports.append((line, exc))


class ImportsKeepGoing(ast.NodeTransformer):
    """Wrap each top-level import of a cell in a ``try`` that reports its failure and
    lets the rest of the cell run: the course's notebooks import optional modules (data
    loaders, Cython layers) in the same cell as the student's layers, and one missing
    module would otherwise leave every function undefined."""

    def visit_Module(self, node: ast.Module) -> ast.Module:
        node.body = [self.guarded(s) if isinstance(s, ast.Import | ast.ImportFrom) else s
                     for s in node.body]  # fmt: skip
        return node

    @staticmethod
    def guarded(statement: ast.Import | ast.ImportFrom) -> ast.stmt:
        if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
            return statement
        report = ast.parse(f"{IMPORT_FAILED}({statement.lineno}, _layergrade_exc)").body[0]
        handler = ast.ExceptHandler(
            type=ast.Name("Exception", ast.Load()), name="_layergrade_exc", body=[report]
        )
        guarded = ast.Try(body=[statement], handlers=[handler], orelse=[], finalbody=[])
        return ast.fix_missing_locations(ast.copy_location(guarded, statement))


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

        def run_line_magic(self, magic_name: str, line: str, _stack_depth: int = 1) -> Any:
            """The student's own check (``%load_ext layergrade``, ``%check``) is for their
            kernel: while grading it is said not to run, not reported as a failure."""
            if magic_name == "check" or (magic_name, line.split()) == ("load_ext", ["layergrade"]):
                print(f"(not run while grading: %{magic_name} {line})")
                return None
            return super().run_line_magic(magic_name, line, _stack_depth + 1)

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
    shell = Shell.instance(config=config, colors="NoColor")
    shell.ast_transformers.append(ImportsKeepGoing())
    shell.user_ns[IMPORT_FAILED] = import_failed
    return shell


def run_cells(
    cells: list[dict[str, Any]], cell_seconds: float, total_seconds: float, contain: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Execute a notebook's code cells; return (the namespace they built, a report of
    errors, timeouts and cells skipped when the notebook's time ran out)."""
    shell = make_shell()
    made = transformers(shell)
    report: dict[str, Any] = {"errors": [], "timeouts": [], "skipped": [], "ran": 0}
    end = time.monotonic() + total_seconds
    for cell in cells:
        left = end - time.monotonic()
        if left <= 0:
            report["skipped"].append(cell["number"])
            continue
        failed_imports.clear()
        if definitions_only(cell["source"]) and runs_only_ipython(shell, made):
            outcome = in_place(shell, cell["source"])
        else:
            outcome = attempt(shell, cell["source"], min(cell_seconds, left), contain)
        report["ran"] += 1
        for line, exc in failed_imports if outcome.status == "ran" else ():
            error = f"{describe_exception(exc)[:400]} (the rest of the cell ran)"
            report["errors"].append({"cell": cell["number"], "line": line, "error": error})
        if outcome.status == "timeout":
            report["timeouts"].append(cell["number"])
        elif outcome.status == "ended":
            ended = "the cell ended its own process (exit or os._exit?)"
            report["errors"].append({"cell": cell["number"], "line": None, "error": ended})
        elif outcome.error is not None:
            report["errors"].append(first_error(outcome.error, cell["number"]))
    return shell.user_ns, report
