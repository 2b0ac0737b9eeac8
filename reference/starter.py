"""The starter code of the built-in assignments, made from the reference.

One layers.py serves every assignment, as the course's own grows from one assignment to
the next: each layer function keeps its signature and docstring (the shapes a student
needs), and its body becomes the course's kind of stub: the returned names set to None, a
TODO, and the same return statement shape. Graded with any assignment, the untouched
starter scores 0 with "not implemented yet" for every function, never a crash.

Run ``python -m reference.starter`` from the repository after changing the reference;
tests/test_assignments.py checks the file is current.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAYERS = HERE / "layers.py"

STARTER = HERE.parent / "assignments" / "starter" / "cs231n"
HEADER = '''"""Starter code for the modular-layers assignments.

Fill in the functions your assignment grades (`grade --list-assignments` names them).
`grade check . --assignment NAME` from the folder that holds cs231n/ runs the public checks
and tells you which functions pass.
"""

import numpy as np
'''


def returned_names(fn: ast.FunctionDef) -> list[str]:
    """The names a function returns (its last statement): ``return out, cache`` gives
    out and cache; ``float(loss)`` gives loss; any other expression, a forward's cache
    or a backward's dx."""
    last = fn.body[-1]
    assert isinstance(last, ast.Return) and last.value is not None, fn.name
    parts = last.value.elts if isinstance(last.value, ast.Tuple) else [last.value]
    names = []
    for part in parts:
        if isinstance(part, ast.Call) and part.args and isinstance(part.args[0], ast.Name):
            part = part.args[0]
        other = "cache" if fn.name.endswith("_forward") else "dx"
        names.append(part.id if isinstance(part, ast.Name) else other)
    return names


def stub(fn: ast.FunctionDef) -> str:
    """The function with its docstring and a body that does nothing yet."""
    # The assignment's parameters only: those with defaults are the reference's own.
    required = fn.args.args[: len(fn.args.args) - len(fn.args.defaults)]
    signature = f"def {fn.name}({', '.join(a.arg for a in required)}):"
    doc = ast.get_docstring(fn, clean=False) or ""
    names = returned_names(fn)
    body = [f"    {name} = None" for name in names]
    body += [
        "    " + "#" * 76,
        f"    # TODO: implement {fn.name}, storing the result in {', '.join(names)}.",
        "    " + "#" * 76,
        f"    return {', '.join(names)}",
    ]
    return "\n".join([signature, f'    """{doc}"""', *body]) + "\n"


def starter() -> str:
    """The starter layers.py: every layer function of the reference, as a stub."""
    source = LAYERS.read_text()
    tree = ast.parse(source)
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    # The reference's helpers (a leading underscore) are its own business.
    stubs = [stub(fn) for fn in functions if not fn.name.startswith("_")]
    return HEADER + "\n\n" + "\n\n".join(stubs)


def write_starter() -> Path:
    STARTER.mkdir(parents=True, exist_ok=True)
    (STARTER / "__init__.py").write_text("")
    path = STARTER / "layers.py"
    path.write_text(starter())
    return path


if __name__ == "__main__":
    print(write_starter())
    sys.exit(0)
