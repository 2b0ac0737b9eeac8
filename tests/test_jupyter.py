"""The in-notebook check (%load_ext layergrade, %check), run through a real Jupyter
kernel: it grades the student's code out of the kernel's process, on the public cases,
and what the kernel does to itself cannot make a check pass."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode
from notebook_support import execute_in, rows, shown
from support import CORRECT_LAYERS, ROOT

from grader.errors import UsageError
from grader.jupyter import Report, check, magic_arguments

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

STARTER = ROOT / "assignments" / "starter" / "cs231n" / "layers.py"
# The default rubric's functions, every one of which a check reports.
FUNCTIONS = {
    "affine_forward", "affine_backward", "relu_forward", "relu_backward", "svm_loss",
    "softmax_loss",
}  # fmt: skip


def run(folder: Path, *cells: str) -> list[NotebookNode]:
    """Run ``cells`` in a kernel started in ``folder``; their executed code cells."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    execute_in(nb, folder, timeout=300)
    return list(nb.cells)


def course_folder(tmp_path: Path, layers: Path) -> Path:
    """A student's assignment folder: cs231n/layers.py beside the notebook."""
    (tmp_path / "cs231n").mkdir(parents=True)
    (tmp_path / "cs231n" / "__init__.py").write_text("")
    shutil.copyfile(layers, tmp_path / "cs231n" / "layers.py")
    return tmp_path


def test_the_starter_is_reported_as_not_implemented(tmp_path: Path) -> None:
    folder = course_folder(tmp_path, STARTER)
    _, checked = run(folder, "%load_ext layergrade", "%check")
    page, text = shown(checked)
    table = rows(page)
    assert set(table) == FUNCTIONS
    for name, (score, result, found) in table.items():
        assert score.startswith("0 / ") and result == "fail", (name, score, result)
        assert "not implemented" in found, (name, found)
    assert "cs231n/layers.py: 0 / 55 on the public cases" in page
    # The same report as text, for a terminal IPython.
    assert "affine_forward" in text and "not implemented" in text


def test_the_reference_passes_and_names_can_be_chosen(tmp_path: Path) -> None:
    folder = course_folder(tmp_path, CORRECT_LAYERS)
    _, checked = run(folder, "%load_ext layergrade", "%check affine_forward relu_backward")
    table = rows(shown(checked)[0])
    assert set(table) == {"affine_forward", "relu_backward"}
    assert all(result == "pass" for _, result, _ in table.values()), table


REFERENCE_CELLS = CORRECT_LAYERS.read_text()


def test_functions_defined_in_the_notebook_are_checked(tmp_path: Path) -> None:
    """No cs231n/layers.py: the definitions of the cells the kernel ran are checked."""
    buggy = "def relu_forward(x):\n    return x, x\n"
    cells = run(
        tmp_path,
        "import numpy as np",
        REFERENCE_CELLS,
        buggy,
        "import layergrade\nlayergrade.check('relu_forward', 'affine_forward')",
    )
    table = rows(shown(cells[-1])[0])
    assert table["affine_forward"][1] == "pass", table
    assert table["relu_forward"][1] == "fail", table


# Everything a kernel could do to itself to look correct: numpy's comparisons and
# arithmetic always "equal", the layers' stubs kept.
TAMPERING = """
import numpy as np
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.abs = lambda x: 0 * x
np.max = lambda *a, **k: 0.0
import sys
sys.modules["numpy"].testing.assert_allclose = lambda *a, **k: None
"""


# Of the right shape and type, and wrong: only a comparison can tell.
ZEROS = """

def affine_forward(x, w, b):
    return np.zeros((x.shape[0], w.shape[1])), (x, w, b)
"""


def test_a_kernel_that_patches_numpy_still_fails_its_check(tmp_path: Path) -> None:
    layers = tmp_path / "zeros.py"
    layers.write_text(CORRECT_LAYERS.read_text() + ZEROS)
    folder = course_folder(tmp_path / "student", layers)
    cells = run(folder, TAMPERING, "%load_ext layergrade", "%check affine_forward")
    table = rows(shown(cells[-1])[0])
    assert table == {"affine_forward": table["affine_forward"]}
    assert table["affine_forward"][1] == "fail", table


def test_the_report_escapes_what_the_code_said() -> None:
    report = Report.from_json(
        "x.py",
        {
            "functions": [
                {
                    "name": "relu_forward",
                    "score": 0,
                    "max_score": 5,
                    "status": "fail",
                    "feedback": "<script>alert(1)</script>",
                }
            ],
            "score": 0,
            "max_score": 5,
            "notes": ["<b>note</b>"],
            "import_error": None,
        },
    )
    page = report._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<b>note</b>" not in page
    assert not report.passed
    assert "relu_forward" in str(report) and "0 / 5" in str(report)


def test_nothing_to_check_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="path="):
        check("affine_forward")


def test_the_magic_reads_its_options_and_functions() -> None:
    assert magic_arguments("--assignment dropout dropout_forward") == (
        ["dropout_forward"],
        {"assignment": "dropout"},
    )
    assert magic_arguments("a --rubric='my rubric.yaml' b") == (
        ["a", "b"],
        {"rubric": "my rubric.yaml"},
    )
    assert magic_arguments("") == ([], {})
    with pytest.raises(UsageError, match="--assignment needs a value"):
        magic_arguments("relu_forward --assignment")
    with pytest.raises(UsageError, match="unknown option -k.*Usage: %check"):
        magic_arguments("-k relu_forward")
    with pytest.raises(UsageError, match="No closing quotation.*Usage: %check"):
        magic_arguments("--rubric 'my rubric.yaml")
    with pytest.raises(UsageError, match="not both"):
        check(rubric="rubric.yaml", assignment="dropout")


def test_an_assignment_chooses_the_rubric(tmp_path: Path) -> None:
    folder = course_folder(tmp_path, CORRECT_LAYERS)
    _, checked = run(folder, "%load_ext layergrade", "%check --assignment dropout")
    table = rows(shown(checked)[0])
    assert set(table) == {"dropout_forward", "dropout_backward"}, table
    assert all(result == "pass" for _, result, _ in table.values()), table
