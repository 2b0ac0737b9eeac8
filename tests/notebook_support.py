"""Notebook fixtures shared by the notebook-reading and extraction tests."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from nbclient import NotebookClient
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parent / "zoo" / "notebooks"
CORRECT_NOTEBOOK = (
    Path(__file__).resolve().parent.parent
    / "assignments/modular_layers/examples/notebook/correct_inline.ipynb"
)
SIX = (
    "affine_forward",
    "affine_backward",
    "relu_forward",
    "relu_backward",
    "svm_loss",
    "softmax_loss",
)


def definitions_from(n: int) -> list[tuple[int, int]]:
    """Where the fixtures that put the six functions in three cells (affine, relu, losses)
    from cell ``n`` on keep each one. A cell's second function starts after the first's
    body (5 lines for affine_forward and relu_forward, 11 for svm_loss) and two blank lines.
    """
    return [(n, 1), (n, 8), (n + 1, 1), (n + 1, 8), (n + 2, 1), (n + 2, 14)]


def write_notebook(path: Path, *cells: tuple[str, str | list[str]]) -> Path:
    """A format-4 notebook of ("code" | "markdown", source) cells."""
    nb = new_notebook()  # type: ignore[no-untyped-call]
    for i, (kind, source) in enumerate(cells, 1):
        new_cell = new_code_cell if kind == "code" else new_markdown_cell
        cell = new_cell(source, id=f"cell-{i}")  # type: ignore[no-untyped-call]
        nb.cells.append(cell)
    path.write_text(json.dumps(nb, indent=1))
    return path


def markers(source: str) -> list[tuple[int, int]]:
    """The (cell, line) of every `# cell N, line L` comment in an extracted module."""
    found = re.findall(r"^# cell (\d+), line (\d+)$", source, re.M)
    return [(int(cell), int(line)) for cell, line in found]


def run_module(source: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "extracted"}
    exec(compile(source, "<extracted>", "exec"), namespace)
    return namespace


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    """The seed notebook's relative error."""
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def execute_in(nb: NotebookNode, folder: Path, timeout: float = 60) -> None:
    """Run every cell of ``nb`` in a Jupyter kernel started in ``folder``, past errors."""
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()


def shown(cell: NotebookNode) -> tuple[str, str]:
    """(the HTML, the text) a cell displayed."""
    for output in cell.outputs:
        if output.output_type in ("display_data", "execute_result"):
            return output.data.get("text/html", ""), output.data.get("text/plain", "")
    printed = "".join(o.get("text", "") for o in cell.outputs)
    errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
    raise AssertionError(f"nothing displayed; printed {printed!r}, errors {errors}")


def rows(page: str) -> dict[str, tuple[str, str, str]]:
    """function -> (score, result, what was found), from the check's HTML table."""
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", page, re.S):
        cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        if cells:
            found[cells[0]] = (cells[1], cells[2], cells[3])
    return found
