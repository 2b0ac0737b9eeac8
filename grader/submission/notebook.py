"""Read a Jupyter notebook submission into its code cells, without running any of it.

A notebook can be graded two ways. The executing worker runs its code cells in order in
the sandbox (``cells_payload``). The faster extract.py runs nothing: it keeps what a
module can define without side effects and drops the rest.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from grader.errors import NotebookError
from grader.submission.budget import Budget, default_budget

# Notebooks carry their outputs (plots as base64): tens of MB is plausible, a GB is not.
MAX_NOTEBOOK_BYTES = 256 * 1024 * 1024
# JSON values (cells, outputs, lines, metadata ...), which nbformat converts and validates
# one by one, at about six microseconds each here: 3 s for this many. The assignment's
# notebook with its outputs holds a few thousand.
MAX_NOTEBOOK_VALUES = 500_000
RESAVE = "open the notebook in Jupyter, save it again and resubmit it"
CLEAR_OUTPUTS = (
    "clear its outputs in Jupyter (Edit > Clear Outputs of All Cells), save and resubmit"
)
# Python's own line breaks; str.splitlines also breaks at form feeds and the like, which
# would put our line numbers out of step with the compiler's.
LINE_BREAK = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")
# IPython converts a cell by tokenizing all of it, then again after each line it changes,
# at most 500 times (its TRANSFORM_LOOP_LIMIT): 3 to 5 us a character here, so at most 2 s
# a cell. The whole layers module (24 KB) in one cell with fifteen magics tokenizes this
# many characters; a 20 KB cell of shell escapes tokenizes 10 million (30 s).
MAX_CONVERSION_CHARS = 400_000
IPYTHON_PASSES = 500
# A line IPython may change: it opens with an escape character (a magic, a shell command,
# help, an autocall), assigns a magic's or a shell command's output, or asks for help.
CONVERTIBLE = re.compile(r"^\s*[!?%,;/]|=\s*[!%]|\?")
LEADING_BLANK_LINES = re.compile(r"(?:[ \t\f]*(?:\r\n|\r|\n))*")


@dataclass(frozen=True)
class Cell:
    """A code cell.

    ``number`` is its 1-based position among all the notebook's cells, as Jupyter shows
    it. ``source`` is the Python that IPython runs for ``original`` (magics and shell
    escapes become ``get_ipython()`` calls); its lines keep their numbers in the cell,
    except after a magic continued with a backslash and in a cell magic (``%%time``),
    which IPython turns into a single call. A cell read without converting it keeps
    ``original`` as its ``source``.
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


def read_notebook(path: Path, budget: Budget | None = None, *, transform: bool = True) -> Notebook:
    """Read the notebook at ``path`` (formats 1 to 4), executing nothing, within ``budget``
    (None: the default limit).

    The kernel it names is ignored: the grader runs Python 3 whatever the notebook says.
    Each code cell's magics are converted by IPython, unless ``transform`` is False (an
    executed notebook's shell converts them itself). Raises NotebookError when the file
    cannot be read, is not JSON, is not a valid notebook, or has no code; OverBudget when
    reading it takes longer than ``budget`` allows.
    """
    budget = budget or default_budget()
    text = read_text(path)
    value = parse_json(path, text)
    major = format_version(path, value)
    if count_values(value, MAX_NOTEBOOK_VALUES) > MAX_NOTEBOOK_VALUES:
        raise NotebookError(
            f"{path} holds more than {MAX_NOTEBOOK_VALUES:,} cells, outputs and lines of "
            f"text, more than the grader reads.\nHint: {CLEAR_OUTPUTS}."
        )
    budget.check("reading")
    node = upgrade(path, text)
    cells: list[Cell] = []
    problems: list[str] = []
    for number, raw in enumerate(node.cells, 1):
        budget.check("reading")
        if raw.cell_type != "code":
            continue
        # nbformat joins a source given as a list of lines; join any it left.
        text = raw.source if isinstance(raw.source, str) else "".join(raw.source)
        if not transform:
            cells.append(Cell(number, text, text))
            continue
        if conversion_chars(text) > MAX_CONVERSION_CHARS:
            # IPython would take seconds to minutes over it, in the grading process.
            cells.append(Cell(number, text, text))
            problems.append(
                f"cell {number}: too long, or too full of magics and shell escapes (`!`, `%`), "
                "to convert here; kept as written"
            )
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


def count_values(value: object, limit: int) -> int:
    """How many JSON values ``value`` holds, itself included; counting stops past ``limit``."""
    count, pending = 1, [value]
    while pending:
        item = pending.pop()
        children = list(item.values()) if isinstance(item, dict) else item
        if not isinstance(children, list):
            continue
        count += len(children)
        if count > limit:
            break
        pending.extend(child for child in children if isinstance(child, (dict, list)))
    return count


def conversion_chars(text: str) -> int:
    """About how many characters IPython tokenizes to convert ``text``: all of it once, then
    again after each line it changes."""
    if len(text) > MAX_CONVERSION_CHARS:
        return len(text)  # too many already, without counting its lines
    convertible = sum(1 for line in text.splitlines() if CONVERTIBLE.search(line))
    return len(text) * (1 + min(convertible, IPYTHON_PASSES))


def read_text(path: Path) -> str:
    """The file's text, decoded as the UTF-8 that notebooks are written in."""
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise NotebookError(
                f"{path} is larger than {MAX_NOTEBOOK_BYTES >> 20} MB.\nHint: {CLEAR_OUTPUTS}."
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
    except ValueError as exc:
        # A number too long to read (Python caps integers at 4300 digits), and the like.
        raise NotebookError(
            f"{path} cannot be read: {one_line(str(exc))}.\nHint: {RESAVE}."
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


def split_lines(text: str) -> list[str]:
    """``text``'s lines with their endings, broken where the compiler breaks them."""
    return [line for line in LINE_BREAK.split(text) if line]


def cells_payload(nb: Notebook) -> list[dict[str, object]]:
    """The code cells for the executing worker, as JSON-ready {"number", "source"} dicts.

    ``source`` is the cell as written: the sandboxed shell reads its magics itself, under
    the cell's deadline.
    """
    return [{"number": cell.number, "source": cell.original} for cell in nb.cells]
