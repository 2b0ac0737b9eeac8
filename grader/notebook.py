"""Read a Jupyter notebook submission, without running any of it, into gradable code.

A notebook can be graded two ways. The executing worker runs its code cells in order in
the sandbox (``cells_payload``). The faster ``extract_module`` runs nothing: it keeps
what a module can define without side effects (imports, functions, classes, constants)
and drops the rest, so a training loop or a missing dataset cannot stop the grading.
"""

from __future__ import annotations

import ast
import json
import re
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from grader.loader import NotebookError

# Notebooks carry their outputs (plots as base64): tens of MB is plausible, a GB is not.
MAX_NOTEBOOK_BYTES = 256 * 1024 * 1024
RESAVE = "open the notebook in Jupyter, save it again and resubmit it"
# Python's own line breaks; str.splitlines also breaks at form feeds and the like, which
# would put our line numbers out of step with the compiler's.
LINE_BREAK = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")
# Real cells are a few KB; reading magics is fast up to this size.
TRANSFORM_CHARS = 20_000
TRANSFORM_SECONDS = 5.0
LEADING_BLANK_LINES = re.compile(r"(?:[ \t\f]*(?:\r\n|\r|\n))*")
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(frozen=True)
class Cell:
    """A code cell.

    ``number`` is its 1-based position among all the notebook's cells, as Jupyter shows
    it. ``source`` is the Python that IPython runs for ``original`` (magics and shell
    escapes become ``get_ipython()`` calls); its lines keep their numbers in the cell,
    except after a magic continued with a backslash and in a cell magic (``%%time``),
    which IPython turns into a single call.
    """

    number: int
    source: str
    original: str


@dataclass(frozen=True)
class Notebook:
    """A notebook's code cells; ``upgraded_from`` is the format it was upgraded from to 4."""

    path: Path
    cells: tuple[Cell, ...]
    upgraded_from: int | None
    warnings: tuple[str, ...]


def read_notebook(path: Path) -> Notebook:
    """Read the notebook at ``path`` (formats 1 to 4), executing nothing.

    The kernel it names is ignored: the grader runs Python 3 whatever the notebook says.
    Raises NotebookError when the file cannot be read, is not JSON, is not a valid
    notebook, or has no code.
    """
    text = read_text(path)
    major = format_version(path, parse_json(path, text))
    node = upgrade(path, text)
    cells: list[Cell] = []
    problems: list[str] = []
    # IPython's transformation can take quadratic time on crafted cells: it runs in the
    # grading process, so it gets a budget, after which cells keep their text as written.
    end = time.monotonic() + TRANSFORM_SECONDS
    for number, raw in enumerate(node.cells, 1):
        if raw.cell_type == "code":
            # nbformat joins a source given as a list of lines; join any it left.
            text = raw.source if isinstance(raw.source, str) else "".join(raw.source)
            if len(text) > TRANSFORM_CHARS or time.monotonic() > end:
                cells.append(Cell(number, text, text))
                problems.append(f"cell {number}: too large to read its magics here")
                continue
            cell, problem = make_cell(number, text)
            cells.append(cell)
            if problem is not None:
                problems.append(problem)
    if not any(cell.original.strip() for cell in cells):
        what = {0: "it has no code cells", 1: "its only code cell is empty"}.get(
            len(cells), f"its {len(cells)} code cells are empty"
        )
        raise NotebookError(
            f"{path} has no code to grade: {what} ({len(node.cells)} cells in all).\n"
            "Hint: write the layer functions in code cells, save the notebook and resubmit it."
        )
    return Notebook(path, tuple(cells), None if major == 4 else major, tuple(problems))


def read_text(path: Path) -> str:
    """The file's text, decoded as the UTF-8 that notebooks are written in."""
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise NotebookError(
                f"{path} is larger than {MAX_NOTEBOOK_BYTES >> 20} MB.\nHint: clear its "
                "outputs in Jupyter (Edit > Clear Outputs of All Cells), save and resubmit."
            )
        data = path.read_bytes()
    except OSError as exc:
        raise NotebookError(
            f"cannot read {path} ({exc.strerror or exc}).\n"
            "Hint: check the path, and that the file is readable."
        ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotebookError(
            f"{path} is not a notebook: byte {exc.start} is not UTF-8 text.\n"
            f"Hint: submit the .ipynb file that Jupyter saves, or {RESAVE}."
        ) from None


def parse_json(path: Path, text: str) -> object:
    """The JSON value in ``text``; NotebookError says where it stops being JSON."""
    try:
        value: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}): "
            f"the file is damaged or was cut short.\nHint: {RESAVE}; if Jupyter cannot open "
            "it either, export your functions to cs231n/layers.py and submit that."
        ) from None
    except RecursionError:
        raise NotebookError(
            f"{path} is not a notebook: its JSON is nested too deeply to read.\nHint: {RESAVE}."
        ) from None
    return value


def format_version(path: Path, value: object) -> int:
    """The notebook format's major version, checked to be one nbformat can read."""
    major = value.get("nbformat") if isinstance(value, dict) else None
    if type(major) is not int:
        raise NotebookError(
            f'{path} is JSON but not a Jupyter notebook (it has no "nbformat" version).\n'
            "Hint: submit the .ipynb file that Jupyter saves."
        )
    if major not in nbformat.versions or major > 4:
        raise NotebookError(
            f"{path} is in notebook format {major}, which the grader cannot read "
            f"(formats 1 to 4).\nHint: {RESAVE}."
        )
    return major


def upgrade(path: Path, text: str) -> Any:
    """The notebook as a validated format-4 NotebookNode (cell sources joined into text)."""
    captured: dict[str, Exception] = {}
    try:
        # nbformat warns about its own future (missing cell ids and the like): that is
        # nothing the student or the grader can act on.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            node = nbformat.reads(  # type: ignore[no-untyped-call]
                text, as_version=4, capture_validation_error=captured
            )
    except Exception as exc:
        # nbformat's upgrades assume well-formed input: whatever they raise on a malformed
        # file is that file's problem.
        raise NotebookError(
            f"{path} is not a valid notebook: {one_line(str(exc) or type(exc).__name__)}.\n"
            f"Hint: {RESAVE}."
        ) from None
    if "ValidationError" in captured:
        raise NotebookError(
            f"{path} is not a valid notebook: {summarise(captured['ValidationError'])}.\n"
            f"Hint: {RESAVE}."
        )
    return node


def summarise(exc: Exception) -> str:
    """A validation error in one line: where in the notebook, then what is wrong."""
    message = getattr(exc, "message", None) or str(exc)
    where = [str(part) for part in getattr(exc, "absolute_path", ())]
    if len(where) >= 2 and where[0] == "cells" and where[1].isdigit():
        place = f"cell {int(where[1]) + 1}" + "".join(f"/{part}" for part in where[2:])
        return f"{place}: {one_line(message)}"
    return f"{'/'.join(where)}: {one_line(message)}" if where else one_line(message)


def one_line(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def make_cell(number: int, original: str) -> tuple[Cell, str | None]:
    """The cell with IPython's transformation of ``original``, and a warning if it failed.

    IPython drops a cell's leading blank lines; they are put back so that line numbers
    in ``source`` match the ones the student sees.
    """
    # Imported here: IPython takes a third of a second to import, and only notebooks
    # need it.
    from IPython.core.inputtransformer2 import TransformerManager

    blank = LEADING_BLANK_LINES.match(original)
    prefix = blank.group() if blank else ""
    padding = "\n" * sum(1 for _ in re.finditer(r"\r\n|\r|\n", prefix))
    manager = TransformerManager()  # type: ignore[no-untyped-call]
    try:
        body = manager.transform_cell(original[len(prefix) :])
    except Exception as exc:
        # IPython's transformer fails on some malformed cells (IndexError,
        # IndentationError): such a cell keeps its text, and compiling it says what is wrong.
        problem = f"cell {number}: IPython could not read its magics ({one_line(str(exc))})"
        return Cell(number, original, original), problem
    return Cell(number, padding + body, original), None


def syntax_problem(cell: Cell) -> str | None:
    """None when the cell compiles; else a message naming the cell, the line and the fix."""
    try:
        # Top-level await is allowed: Jupyter runs it. Compiler warnings (invalid escape
        # sequences and the like) are the student's to see in Jupyter, not ours to print.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(
                cell.source,
                f"<cell {cell.number}>",
                "exec",
                flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                dont_inherit=True,
            )
    except SyntaxError as exc:
        return describe_syntax_error(cell, exc)
    except (ValueError, RecursionError) as exc:
        # A null byte (ValueError before Python 3.12) or nesting too deep for the compiler.
        return f"cell {cell.number} cannot be compiled: {one_line(str(exc))}."
    return None


def describe_syntax_error(cell: Cell, exc: SyntaxError) -> str:
    lines = split_lines(cell.source)
    line = exc.lineno
    text = exc.text
    if text is None and line is not None and 0 < line <= len(lines):
        text = lines[line - 1]
    where = f"cell {cell.number}, line {line}" if line else f"cell {cell.number}"
    kind = "syntax error" if type(exc) is SyntaxError else type(exc).__name__
    shown = f" in {quote(one_line(text, 80))}" if text and text.strip() else ""
    message = f"{where}: {kind}{shown} ({exc.msg})"
    hint = python2_hint(text or "", exc.msg)
    if hint is None:
        return message + "."
    return f"{message}; this looks like Python 2 code; the grader runs Python 3. Hint: {hint}."


def quote(code: str) -> str:
    """``code`` between backticks, or double quotes when it holds a backtick itself."""
    return f'"{code}"' if "`" in code else f"`{code}`"


def python2_hint(line: str, message: str) -> str | None:
    """How to write ``line`` in Python 3 when it is a Python 2 construct, else None."""
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


def split_lines(text: str) -> list[str]:
    """``text``'s lines with their endings, broken where the compiler breaks them."""
    return [line for line in LINE_BREAK.split(text) if line]


def extract_module(nb: Notebook) -> tuple[str, tuple[str, ...]]:
    """The source of a module that defines what the notebook defines, and warnings.

    Kept, in cell order: top-level imports (each in its own ``try``, so one missing
    package does not stop the module), function and class definitions with their
    decorators, and assignments of constant expressions to plain names. Everything else
    (calls, loops, prints, magics) is dropped. Each kept statement is copied exactly,
    after a ``# cell N, line L`` comment that leads a traceback back to the notebook.
    Cells with a syntax error are skipped with a warning; a name defined more than once
    is warned about too (the module keeps the later definition, as the notebook does).
    """
    problems: list[str] = []
    futures: list[str] = []
    blocks: list[str] = []
    defined: dict[str, list[int]] = {}
    for cell in nb.cells:
        problem = syntax_problem(cell)
        if problem is not None:
            problems.append(f"{problem} Cell {cell.number} was skipped.")
            continue
        hidden = hidden_definitions(cell)
        if hidden is not None:
            problems.append(hidden)
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                # Must open the module; in Python 3 only `annotations` still matters.
                futures.extend(alias.name for alias in node.names)
                continue
            text = kept_text(node, cell.source)
            if text is None:
                continue
            if isinstance(node, DEFINITIONS):
                defined.setdefault(node.name, []).append(cell.number)
            line = first_line(node)
            blocks.append(f"\n# cell {cell.number}, line {line}\n{text}")
    # The name on one line: a line break in it would end the comment.
    header = f"# Imports, definitions and constants of {one_line(nb.path.name)}, in cell order.\n"
    if futures:
        header += f"from __future__ import {', '.join(dict.fromkeys(futures))}\n"
    problems.extend(redefinitions(defined))
    return header + "".join(blocks), tuple(problems)


def hidden_definitions(cell: Cell) -> str | None:
    """A warning when the cell runs under a cell magic (``%%time``) and defines functions
    or classes: IPython turns the whole cell into one call, which extraction drops."""
    first, _, body = cell.original.lstrip().partition("\n")
    if not first.startswith("%%"):
        return None
    try:
        tree = ast.parse(body)
    except (SyntaxError, ValueError, RecursionError):
        return None
    names = [node.name for node in tree.body if isinstance(node, DEFINITIONS)]
    if not names:
        return None
    magic = first.split()[0]
    return (
        f"cell {cell.number} runs under {magic}, so {', '.join(names)} cannot be graded "
        f"without running the notebook. Hint: delete the {magic} line."
    )


def kept_text(node: ast.stmt, source: str) -> str | None:
    """The text that ``node`` contributes to the module (ending in a newline), or None."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        statement = ast.get_source_segment(source, node)
        if statement is None:
            return None
        body = "".join(f"    {line}" for line in split_lines(ensure_newline(statement)))
        return f"try:\n{body}except ImportError:\n    pass\n"
    if isinstance(node, DEFINITIONS):
        # A top-level definition owns its lines whole: nothing can share them.
        end = node.end_lineno or node.lineno
        return "".join(split_lines(source)[first_line(node) - 1 : end])
    if isinstance(node, ast.Assign):
        keep = all(plain_target(t) for t in node.targets) and is_constant(node.value)
    elif isinstance(node, ast.AnnAssign):
        keep = (
            isinstance(node.target, ast.Name)
            and node.value is not None
            and is_constant(node.value)
            and simple_annotation(node.annotation)
        )
    else:
        keep = False
    segment = ast.get_source_segment(source, node) if keep else None
    return ensure_newline(segment) if segment is not None else None


def first_line(node: ast.stmt) -> int:
    """The statement's first line in its cell, counting its decorators."""
    decorators: list[ast.expr] = getattr(node, "decorator_list", None) or []
    return min([node.lineno, *(d.lineno for d in decorators)])


def ensure_newline(text: str) -> str:
    return text if text.endswith(("\n", "\r")) else text + "\n"


def plain_target(node: ast.expr) -> bool:
    """A name, or a tuple or list of them: binding it cannot touch another object."""
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, ast.Starred):
        return plain_target(node.value)
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(plain_target(elt) for elt in node.elts)
    return False


def simple_annotation(node: ast.expr) -> bool:
    """An annotation that evaluates without any of the notebook's names."""
    builtin = isinstance(node, ast.Name) and node.id in {
        "int", "float", "complex", "str", "bytes", "bool", "tuple", "list", "dict", "set",
    }  # fmt: skip
    return builtin or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def is_constant(node: ast.expr) -> bool:
    """Literals and containers of them, and arithmetic on numbers: decided from the tree."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(is_constant(elt) for elt in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and is_constant(k) for k in node.keys) and all(
            is_constant(v) for v in node.values
        )
    return is_number(node)


ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)


def is_number(node: ast.expr) -> bool:
    """A numeric literal, or signs and arithmetic on numeric literals."""
    if isinstance(node, ast.Constant):
        return type(node.value) in (int, float, complex)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        return is_number(node.operand)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ARITHMETIC):
        # A literal zero divisor would stop the whole module at import.
        dividing = isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod))
        if dividing and literal_zero(node.right):
            return False
        return is_number(node.left) and is_number(node.right)
    return False


def literal_zero(node: ast.expr) -> bool:
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        node = node.operand
    return isinstance(node, ast.Constant) and node.value == 0


def redefinitions(defined: dict[str, list[int]]) -> Iterator[str]:
    """A warning for each name defined more than once, in order of first definition."""
    for name, cells in defined.items():
        if len(cells) < 2:
            continue
        which = "later" if len(cells) == 2 else "last"
        unique = list(dict.fromkeys(cells))
        if len(unique) == 1:
            where = f"{len(cells)} times in cell {unique[0]}"
        else:
            listed = ", ".join(str(n) for n in unique[:-1])
            where = f"in cells {listed} and {unique[-1]}"
        yield f"{name} is defined {where}; the {which} definition is graded."


def cells_payload(nb: Notebook) -> list[dict[str, object]]:
    """The code cells for the executing worker, as JSON-ready {"number", "source"} dicts.

    ``source`` is the cell as written: the sandboxed shell reads its magics itself, under
    the cell's deadline.
    """
    return [{"number": cell.number, "source": cell.original} for cell in nb.cells]
