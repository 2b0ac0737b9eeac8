"""Reading notebooks without running them: cells, formats, and each way one can be unreadable."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from notebook_support import CORRECT_NOTEBOOK, NOTEBOOKS, write_notebook

from grader.errors import NotebookError, SubmissionError
from grader.sandbox.inside.cells import definitions_only
from grader.submission import notebook
from grader.submission.extract import syntax_problem
from grader.submission.notebook import Cell, cells_payload, read_notebook


def notebook_error(path: Path) -> str:
    with pytest.raises(NotebookError) as info:
        read_notebook(path)
    return str(info.value)


# read_notebook ---------------------------------------------------------------------------


def test_cells_are_numbered_among_all_cells_and_magics_are_transformed() -> None:
    nb = read_notebook(CORRECT_NOTEBOOK)
    # Cell 1 is markdown; cells 2 to 12 are code.
    assert [cell.number for cell in nb.cells] == list(range(2, 13))
    setup = nb.cells[0]
    assert setup.original == (
        "# As usual, a bit of setup\nimport numpy as np\n%matplotlib inline\n"
        "%load_ext autoreload\n%autoreload 2\n!ls"
    )
    assert setup.source == (
        "# As usual, a bit of setup\nimport numpy as np\n"
        "get_ipython().run_line_magic('matplotlib', 'inline')\n"
        "get_ipython().run_line_magic('load_ext', 'autoreload')\n"
        "get_ipython().run_line_magic('autoreload', '2')\n"
        "get_ipython().system('ls')\n"
    )
    assert nb.upgraded_from is None
    assert nb.warnings == ()
    assert nb.path == CORRECT_NOTEBOOK


def test_format_3_is_upgraded_and_its_line_lists_joined() -> None:
    nb = read_notebook(NOTEBOOKS / "v3.ipynb")
    assert nb.upgraded_from == 3
    # 1 heading, 2 setup, 3 affine, 4 markdown, 5 relu, 6 losses.
    assert [cell.number for cell in nb.cells] == [2, 3, 5, 6]
    assert nb.cells[0].source == "import numpy as np\n"
    assert nb.cells[1].original.startswith("def affine_forward(x, w, b):\n")


def test_the_kernel_name_is_ignored() -> None:
    nb = read_notebook(NOTEBOOKS / "python2.ipynb")
    assert [cell.number for cell in nb.cells] == [1, 2, 3, 4, 5]
    assert nb.upgraded_from is None


def test_sources_may_be_lists_of_lines(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "lines.ipynb", ("code", ["x = 1\n", "y = 2"]))
    assert read_notebook(path).cells[0].original == "x = 1\ny = 2"


def test_leading_blank_lines_keep_line_numbers(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "blank.ipynb", ("code", "\n\n%time\ndef f(:\n"))
    cell = read_notebook(path).cells[0]
    assert cell.source == "\n\nget_ipython().run_line_magic('time', '')\ndef f(:\n"
    assert (syntax_problem(cell) or "").startswith("cell 1, line 4: syntax error in `def f(:`")


def test_truncated_json_says_where_it_stops() -> None:
    path = NOTEBOOKS / "corrupt.ipynb"
    # Eleven complete lines, the last ending in a comma: a value is due at line 12.
    assert notebook_error(path).startswith(
        f"{path} is not valid JSON (Expecting value at line 12, column 1): "
        "the file is damaged or was cut short.\nHint: open the notebook in Jupyter"
    )


def test_no_code_cells() -> None:
    path = NOTEBOOKS / "no_code.ipynb"
    assert notebook_error(path) == (
        f"{path} has no code to grade: it has no code cells (2 cells in all).\n"
        "Hint: write the layer functions in code cells, save the notebook and resubmit it."
    )


def test_only_empty_code_cells(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "empty.ipynb", ("markdown", "# x"), ("code", "  \n"))
    assert "no code to grade: its only code cell is empty (2 cells in all)" in notebook_error(path)


def test_json_that_is_not_a_notebook(tmp_path: Path) -> None:
    path = tmp_path / "data.ipynb"
    path.write_text('{"cells": []}')
    assert notebook_error(path) == (
        f'{path} is JSON but not a Jupyter notebook (it has no "nbformat" version).\n'
        "Hint: submit the .ipynb file that Jupyter saves."
    )


def test_a_validation_error_is_summarised_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "invalid.ipynb"
    cell = {"cell_type": "code", "id": "a", "metadata": {}, "source": "x = 1"}
    path.write_text(
        json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell]})
    )
    message = notebook_error(path)
    assert message.splitlines()[0] == (
        f"{path} is not a valid notebook: cell 1: 'outputs' is a required property."
    )
    assert message.splitlines()[1].startswith("Hint: open the notebook in Jupyter")


def test_a_format_3_file_without_worksheets(tmp_path: Path) -> None:
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}}))
    first = notebook_error(path).splitlines()[0]
    assert first.startswith(f"{path} is not a valid notebook: ")
    assert "worksheets" in first


def test_an_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "future.ipynb"
    path.write_text(json.dumps({"nbformat": 5, "nbformat_minor": 0, "cells": []}))
    assert notebook_error(path).startswith(
        f"{path} is in notebook format 5, which the grader cannot read (formats 1 to 4)."
    )


def test_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.ipynb"
    assert notebook_error(missing) == (
        f"cannot read {missing} (No such file or directory).\n"
        "Hint: check the path, and that the file is readable."
    )
    assert notebook_error(tmp_path).startswith(f"cannot read {tmp_path} (Is a directory)")
    binary = tmp_path / "binary.ipynb"
    binary.write_bytes(b'{"a": "\xff"}')
    # Bytes 0-7 are `{"a": "`: the eighth, 0xff, is not UTF-8.
    assert notebook_error(binary).startswith(f"{binary} is not a notebook: byte 7 is not UTF-8")


def test_an_oversized_file_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notebook, "MAX_NOTEBOOK_BYTES", 1 << 20)
    path = tmp_path / "big.ipynb"
    path.write_bytes(b" " * ((1 << 20) + 1))
    assert notebook_error(path).startswith(f"{path} is larger than 1 MB.\nHint: clear its outputs")


def test_notebook_errors_are_submission_errors() -> None:
    assert issubclass(NotebookError, SubmissionError)


def test_a_cell_ipython_cannot_transform_is_kept_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(self: TransformerManager, cell: str) -> str:
        raise IndexError("list index out of range")

    monkeypatch.setattr(TransformerManager, "transform_cell", fail)
    path = write_notebook(tmp_path / "odd.ipynb", ("markdown", "x"), ("code", "x = 1\n"))
    nb = read_notebook(path)
    assert nb.cells == (Cell(2, "x = 1\n", "x = 1\n"),)
    assert nb.warnings == ("cell 2: IPython could not read its magics (list index out of range)",)


# cells_payload ---------------------------------------------------------------------------


def test_payload_lists_the_code_cells_as_json() -> None:
    nb = read_notebook(CORRECT_NOTEBOOK)
    payload = cells_payload(nb)
    assert json.loads(json.dumps(payload)) == payload
    assert [cell["number"] for cell in payload] == list(range(2, 13))
    # The cell as the student wrote it: the sandboxed shell reads its magics itself.
    assert payload[0] == {"number": 2, "source": nb.cells[0].original}
    assert "%matplotlib inline" in str(payload[0]["source"])


READABLE = sorted(
    p for p in NOTEBOOKS.rglob("*.ipynb") if p.name not in {"corrupt.ipynb", "no_code.ipynb"}
)


@pytest.mark.parametrize("path", READABLE, ids=lambda p: p.name)
def test_the_transformed_source_is_unchanged_by_transforming_again(path: Path) -> None:
    nb = read_notebook(path)
    manager = TransformerManager()  # type: ignore[no-untyped-call]
    for cell in nb.cells:
        assert manager.transform_cell(cell.source) == cell.source


def test_every_fixture_notebook_is_valid_json_of_its_format() -> None:
    for path in sorted(NOTEBOOKS.rglob("*.ipynb")):
        if path.name == "corrupt.ipynb":
            continue
        text = path.read_text()
        node = nbformat.reads(text, as_version=nbformat.NO_CONVERT)  # type: ignore[no-untyped-call]
        nbformat.validate(node)


def test_a_cell_of_shell_escapes_is_kept_as_written_and_says_why(tmp_path: Path) -> None:
    # IPython tokenizes a whole cell again after each line it converts, in the grading
    # process: 20 KB of shell escapes would take half a minute.
    escapes = "!ls\n" * 5000
    path = write_notebook(tmp_path / "escapes.ipynb", ("code", "x = 1\n"), ("code", escapes))
    nb = read_notebook(path)
    assert nb.cells[1] == Cell(2, escapes, escapes)
    assert nb.warnings == (
        "cell 2: too long, or too full of magics and shell escapes (`!`, `%`), to convert "
        "here; kept as written",
    )


def test_a_notebook_read_for_running_keeps_its_cells_as_written(tmp_path: Path) -> None:
    # The shell that runs it converts its magics, in the sandbox, under the cell's deadline.
    escapes = "!ls\n" * 5000
    path = write_notebook(tmp_path / "run.ipynb", ("code", "%time x = 1\n"), ("code", escapes))
    nb = read_notebook(path, transform=False)
    assert nb.cells == (Cell(1, "%time x = 1\n", "%time x = 1\n"), Cell(2, escapes, escapes))
    assert nb.warnings == ()


def test_a_long_cell_with_few_magics_is_converted(tmp_path: Path) -> None:
    # Its length alone does not make a cell costly: it is tokenized once more per magic.
    long = "x = 1\n" * 10_000 + "%time y = 2\n"
    assert len(long) * 2 <= notebook.MAX_CONVERSION_CHARS
    cell = read_notebook(write_notebook(tmp_path / "long.ipynb", ("code", long))).cells[0]
    assert cell.source.endswith("get_ipython().run_line_magic('time', 'y = 2')\n")


# Every kind of line that IPython converts, and lines of Python it leaves alone.
IPYTHON_LINES = (
    "!ls", "!!ls", "x = !ls", "x=!ls", "%time f()", "y = %who_ls", "a?", "?a", "a??",
    ",f a b", ";f a b", "/f a b", "    !ls", "%%time",
)  # fmt: skip
PYTHON_LINES = ("x = 1", "x = a % 2", "if a != b: pass", "s = '%d' % 3", "f(a, b)")


def test_every_line_ipython_converts_counts_as_convertible() -> None:
    manager = TransformerManager()  # type: ignore[no-untyped-call]
    for line in IPYTHON_LINES:
        assert manager.transform_cell(line) != line + "\n", line
        assert notebook.CONVERTIBLE.search(line), line
    for line in PYTHON_LINES:
        assert manager.transform_cell(line) == line + "\n", line
    assert notebook.conversion_chars("!ls\n" * 5000) == 20_000 * 501


def test_too_many_json_values_are_not_handed_to_nbformat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notebook, "MAX_NOTEBOOK_VALUES", 100)
    path = write_notebook(tmp_path / "many.ipynb", *[("markdown", "m")] * 100, ("code", "x"))
    message = notebook_error(path)
    assert message.startswith(f"{path} holds more than 100 cells, outputs and lines")
    assert "Hint: clear its outputs" in message


def test_json_values_are_counted_until_past_the_limit() -> None:
    value = {"a": [1, 2, {"b": [3, 4]}], "c": "d"}
    # The mapping, its two values, the list's three items, the inner mapping's value and
    # that list's two items.
    assert notebook.count_values(value, 100) == 9
    assert notebook.count_values(list(range(10**6)), 10) == 10**6 + 1
    assert notebook.count_values("text", 0) == 1


def test_a_number_too_long_to_read_is_named(tmp_path: Path) -> None:
    path = tmp_path / "big.ipynb"
    path.write_text('{"nbformat": 4, "nbformat_minor": 5, "metadata": {"n": ' + "9" * 5000 + "}}")
    message = notebook_error(path)
    assert "cannot be read" in message and "digits" in message and "Hint:" in message


@pytest.mark.parametrize(
    ("source", "plain"),
    [
        ('def f(x, eps=1e-8, *, axis=-1) -> float:\n    """Doc."""\n    return x', True),
        ('"""Layers."""\nEPS = 1e-5\nSHAPE = (2, -3)\n\n\ndef g(x: np.ndarray, t=np.float64)'
         " -> tuple[int, float] | None:\n    pass", True),
        ("async def f(*args: int, **kw: str):\n    await g()", True),
        ("pass", True),
        ("", False),
        ("@cache\ndef f():\n    pass", False),
        ("def f(x=compute()):\n    pass", False),
        ("def f(x: annotate() = 1):\n    pass", False),
        ("def f(x=lambda: 0):\n    pass", False),
        ("X = np.zeros(3)", False),
        ("X = 10**10**9", False),
        ("Y = A[0]", False),
        ("def f(x=2 * 3):\n    pass", False),
        ("A = [i for i in range(3)]", False),
        ("x.y = 1", False),
        ("import numpy as np", False),
        ("def f():\n    pass\nf()", False),
        ("class A:\n    pass", False),
        ("get_ipython().run_line_magic('matplotlib', 'inline')", False),
        ("def f(x):\n    return x\n%timeit f(1)", False),
    ],
)  # fmt: skip
def test_cells_of_plain_definitions_are_told_apart(source: str, plain: bool) -> None:
    assert definitions_only(source) is plain
