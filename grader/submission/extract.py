"""A notebook's definitions as a module, without running any of it.

Keeps what a module can define without side effects (imports, functions, classes,
constants) and drops the rest, so a training loop or a missing dataset cannot stop the
grading.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from grader.submission.budget import Budget, default_budget
from grader.submission.notebook import Cell, Notebook, one_line, split_lines
from grader.submission.python2 import PYTHON2, python2_hint

DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# The extracted module's list of the imports that failed: the worker reports them as the
# notebook's cell errors, so that a function left undefined by one has its reason.
FAILED_IMPORTS = "__layergrade_failed_imports__"
# The assignment's whole layers module is 24 KB; ten times that in one cell is no answer.
# Compiling and parsing a cell take about 4 us a character here: a second for this many.
MAX_CELL_CHARS = 250_000


def size_problem(cell: Cell) -> str | None:
    """None when the cell is short enough to compile; else a message with its length."""
    if len(cell.source) <= MAX_CELL_CHARS:
        return None
    return (
        f"cell {cell.number} is {len(cell.source):,} characters long; the grader reads cells "
        f"of at most {MAX_CELL_CHARS:,}. Hint: keep data out of the notebook."
    )


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
    except (ValueError, RecursionError, MemoryError) as exc:
        # A null byte (ValueError before Python 3.12) or nesting too deep for the compiler
        # (thousands of unary minus signs exhaust its memory before its recursion limit).
        why = one_line(str(exc)) or type(exc).__name__
        return f"cell {cell.number} cannot be compiled: {why}."
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
    return f"{message}; {PYTHON2}. Hint: {hint}."


def quote(code: str) -> str:
    """``code`` between backticks, or double quotes when it holds a backtick itself."""
    return f'"{code}"' if "`" in code else f"`{code}`"


def extract_module(nb: Notebook, budget: Budget | None = None) -> tuple[str, tuple[str, ...]]:
    """The source of a module that defines what the notebook defines, and warnings, within
    ``budget`` (None: the default limit).

    Kept, in cell order: top-level imports (each in its own ``try``, so one missing
    package does not stop the module; its failure is kept in FAILED_IMPORTS), function
    and class definitions with their decorators, and assignments of constant expressions
    to plain names. Everything else
    (calls, loops, prints, magics) is dropped. Each kept statement is copied exactly,
    after a ``# cell N, line L`` comment that leads a traceback back to the notebook.
    Cells with a syntax error, and cells longer than MAX_CELL_CHARS, are skipped with a
    warning; a name defined more than once is warned about too (the module keeps the later
    definition, as the notebook does).
    """
    budget = budget or default_budget()
    problems: list[str] = []
    futures: list[str] = []
    blocks: list[str] = []
    defined: dict[str, list[int]] = {}
    for cell in nb.cells:
        budget.check("extracting")
        problem = size_problem(cell) or syntax_problem(cell)
        if problem is not None:
            problems.append(f"{problem} Cell {cell.number} was skipped.")
            continue
        hidden = hidden_definitions(cell)
        if hidden is not None:
            problems.append(hidden)
        # Split once per cell: each statement's text is sliced from these lines, so that
        # extraction takes time linear in the cell's length.
        lines = Lines.of(cell.source)
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                # Must open the module; in Python 3 only `annotations` still matters.
                futures.extend(alias.name for alias in node.names)
                continue
            text = kept_text(node, lines, cell.number)
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
    header += f"{FAILED_IMPORTS} = []  # (cell, line, exception): what could not be imported\n"
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
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    names = [node.name for node in tree.body if isinstance(node, DEFINITIONS)]
    if not names:
        return None
    magic = first.split()[0]
    return (
        f"cell {cell.number} runs under {magic}, so {', '.join(names)} cannot be graded "
        f"without running the notebook. Hint: delete the {magic} line."
    )


@dataclass(frozen=True)
class Lines:
    """A cell's lines, as text and as the UTF-8 bytes that the parser's columns count."""

    text: list[str]
    data: list[bytes]

    @classmethod
    def of(cls, source: str) -> Lines:
        text = split_lines(source)
        return cls(text, [line.encode() for line in text])


def segment(lines: Lines, node: ast.stmt) -> str:
    """The exact text of ``node`` (as ast.get_source_segment, which splits the whole cell
    again at every call: quadratic time over a cell of many statements)."""
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    start, end = node.col_offset, node.end_col_offset
    if end is None:
        end = len(lines.data[last])
    if first == last:
        return lines.data[first][start:end].decode()
    head = lines.data[first][start:].decode()
    tail = lines.data[last][:end].decode()
    return head + "".join(lines.text[first + 1 : last]) + tail


def kept_text(node: ast.stmt, lines: Lines, cell: int) -> str | None:
    """The text that ``node`` of cell ``cell`` contributes to the module (ending in a
    newline), or None."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        statement = segment(lines, node)
        body = "".join(f"    {line}" for line in split_lines(ensure_newline(statement)))
        failed = f"{FAILED_IMPORTS}.append(({cell}, {first_line(node)}, _exc))"
        return f"try:\n{body}except Exception as _exc:\n    {failed}\n"
    if isinstance(node, DEFINITIONS):
        # A top-level definition owns its lines whole: nothing can share them.
        end = node.end_lineno or node.lineno
        return "".join(lines.text[first_line(node) - 1 : end])
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
    return ensure_newline(segment(lines, node)) if keep else None


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
