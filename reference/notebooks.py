"""The students' notebooks of the built-in assignments, made from their rubrics.

Each assignment's folder gets ``<name>.ipynb``: an introduction naming what the
assignment grades and how to check it, a setup cell (numpy, the student's
``cs231n.layers`` and two helpers defined in the notebook, since the starter code has no
gradient_check module), then, for each function the rubric grades, a heading and cells
that run it on small fixed-seed inputs. Backward passes and the composites the grader
chains compare their gradients with numerical ones; forward passes print their output's
shape and check properties whose answer is known exactly (the seed notebook's published
outputs, an identity filter, the mean and spread of a normalised output). Every exact
check prints one line ``<what> error: <value>``, small for correct code; nothing comes
from the stored test vectors.

The notebooks have fixed cell ids and no outputs: the same rubrics give the same bytes.
Run ``python -m reference.notebooks`` after changing a rubric's functions or this file;
tests/test_notebooks_builtin.py checks that the notebooks are current and runs each one
with the reference in place of the student's layers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.config.rubric import Rubric, assignment_names, builtin_assignment
from reference.notebook_cells import (
    Section,
    composites,
    convolutional,
    dropout,
    fully_connected,
    normalization,
)

SETUP = '''\
# As usual, a bit of setup: numpy, your layers, and two helpers to check them with.
import numpy as np

from cs231n.layers import *

# Reload cs231n/layers.py when you change it, without restarting the kernel.
%load_ext autoreload
%autoreload 2


def rel_error(x, y):
    """The course's relative error: the largest |x - y| / max(1e-8, |x| + |y|)."""
    return np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))


def numerical_gradient(f, x, df=1.0, h=1e-5):
    """The gradient of sum(f(x) * df) with respect to x, by centered differences.

    f returns a loss (leave df at 1) or an array of df's shape (a layer's output; df is
    then the upstream derivative dout). x itself is never changed.
    """
    grad = np.zeros(x.shape)
    for ix in np.ndindex(*x.shape):
        step = np.zeros(x.shape)
        step[ix] = h
        grad[ix] = np.sum((np.array(f(x + step)) - np.array(f(x - step))) * df) / (2 * h)
    return grad'''


def sections(rubric: Rubric) -> dict[str, Section]:
    """Every function a built-in assignment can grade, as ``rubric`` sets its conventions."""
    return {
        **fully_connected(),
        **normalization(),
        **dropout(rubric.dropout_p_means),
        **convolutional(),
        **composites(),
    }


def introduction(name: str, rubric: Rubric, parts: dict[str, Section]) -> str:
    graded = []
    for function in rubric.functions:
        chains = parts[function.name].chains
        line = f"- `{function.name}` ({function.points:g} points)"
        if chains:
            line += ", chained by the grader from your " + ", ".join(
                f"`{layer}`" for layer in dict.fromkeys(chains)
            )
        graded.append(line)
    full = rubric.tolerances[0].max_rel_error
    return "\n".join(
        [
            f"# The `{name}` assignment",
            "",
            f"It grades {rubric.title}. You write the layers in `cs231n/layers.py`:",
            "",
            *graded,
            "",
            "Put this notebook in the folder that holds `cs231n/` (the starter code's "
            "folder), start Jupyter there and run the cells from the top as you write each "
            "function. Each cell runs one function on small fixed inputs and prints lines "
            "such as `dx error: 3.1e-10`: the relative error of your gradients against "
            "numerical ones, or of your output against a value it must have. Correct code "
            "prints errors around 1e-8 or less; the grader gives full credit up to "
            f"{full:g}. A function that is still a stub returns None, and its cell fails "
            "with an error about `NoneType`.",
            "",
            "Then check your layers against the grader's public cases: the notebook's last "
            "cell does, or from a terminal in the same folder:",
            "",
            f"    grade check . --assignment {name}",
            "",
            "The grade comes from `cs231n/layers.py`, not from this notebook.",
        ]
    )


def check_cells(name: str, rubric: Rubric) -> list[tuple[str, str]]:
    """The last section: the grader's own check, run from the notebook."""
    text = (
        "## Check against the grader\n\n"
        "The cell below grades `cs231n/layers.py` on the grader's public cases, as "
        f"`grade check . --assignment {name}` does, and shows what it found for each "
        "function. It needs the checker your course gives you for `grade check` (layergrade) "
        "installed in the environment this notebook's kernel runs in. "
        f"`%check --assignment {name} {rubric.functions[0].name}` checks one function. Your "
        "code runs in a process of its own for the check: nothing in this kernel can "
        "change what it finds."
    )
    code = f"%load_ext layergrade\n%check --assignment {name}"
    return [("markdown", text), ("code", code)]


def cells(name: str) -> list[tuple[str, str]]:
    """The notebook of assignment ``name``, as (kind, source) cells."""
    rubric = builtin_assignment(name)
    parts = sections(rubric)
    missing = [f.name for f in rubric.functions if f.name not in parts]
    if missing:
        raise ValueError(
            f"{rubric.path} grades {', '.join(missing)}, which reference/notebook_cells.py has "
            "no cells for. Hint: add a Section for each."
        )
    out = [("markdown", introduction(name, rubric, parts)), ("code", SETUP)]
    for function in rubric.functions:
        part = parts[function.name]
        out.append(("markdown", f"## `{function.name}`\n\n{part.text}"))
        out += [("code", source) for source in part.code]
    return out + check_cells(name, rubric)


def notebook_text(name: str) -> str:
    """The bytes of ``<name>.ipynb``, as text: nbformat 4.5, Python 3, no outputs."""
    nb = new_notebook(
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        }
    )
    nb.nbformat_minor = 5
    for i, (kind, source) in enumerate(cells(name), 1):
        new_cell = new_code_cell if kind == "code" else new_markdown_cell
        nb.cells.append(new_cell(source, id=f"cell-{i:02d}"))
    nbformat.validate(nb)
    text: str = nbformat.writes(nb)
    return text + "\n"


def notebook_path(name: str) -> Path:
    return builtin_assignment(name).path.parent / f"{name}.ipynb"


def write_notebooks() -> list[Path]:
    written = []
    for name in assignment_names():
        path = notebook_path(name)
        path.write_text(notebook_text(name))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_notebooks():
        print(path)
    sys.exit(0)
