"""Notebooks graded end to end through the real `grade` command, executed and not.

Each notebook defines the six seed functions (inline or by importing the submission's
own cs231n/layers.py) around cells that fail in the ways real notebooks do. The scores
follow from which definitions are correct; the notes must name the cell at fault.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from notebook_support import write_notebook
from support import (
    CORRECT_LAYERS,
    ROOT,
    ZOO,
    grade_json,
    notebook_with_module,
    write_rubric,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

NOTEBOOKS = ZOO / "notebooks"
CORRECT_NOTEBOOK = ROOT / "assignments/modular_layers/examples/notebook/correct_inline.ipynb"
FULL = 55.0


# A cell that never ends costs this much. The first cell of a notebook imports numpy and
# matplotlib, which takes a second or more on a slow, loaded machine: no honest cell may
# come near the limit.
CELL_SECONDS = 8


@pytest.fixture(scope="module")
def rubric(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_rubric(tmp_path_factory.mktemp("rubric"))
    data = yaml.safe_load(path.read_text())
    data["limits"].update(cell_seconds=CELL_SECONDS, notebook_seconds=60)
    path.write_text(yaml.safe_dump(data))
    return path


def graded(path: Path, rubric: Path, *extra: str) -> dict[str, Any]:
    return grade_json(path, rubric, *extra)


def scores(result: dict[str, Any]) -> dict[str, float]:
    return {f["name"]: f["score"] for f in result["functions"]}


def notes(result: dict[str, Any]) -> str:
    return "\n".join(result["notes"])


def test_correct_notebook_defining_the_functions_inline(rubric: Path) -> None:
    result = graded(CORRECT_NOTEBOOK, rubric)
    assert result["score"] == FULL
    assert result["mode"] == "notebook"
    assert result["sandboxed"] is True
    # Its first cell has a shell escape (!ls): said not to run, not a failing cell.
    assert "!ls" in CORRECT_NOTEBOOK.read_text()
    assert not result["notes"], result["notes"]
    assert "(not run while grading: !ls)" in result["output"]
    assert "Traceback" not in result["output"], result["output"][-2000:]


SHELL_ESCAPES = """
files = !ls
print("files:", list(files))
!pip install numpy
%load_ext layergrade
%check affine_forward
"""


def test_shell_escapes_do_not_run_and_cost_nothing(rubric: Path, tmp_path: Path) -> None:
    nb = nbformat.read(CORRECT_NOTEBOOK, as_version=4)
    nb.cells.insert(1, nbformat.v4.new_code_cell(SHELL_ESCAPES))
    path = tmp_path / "escapes.ipynb"
    nbformat.write(nb, path)
    result = graded(path, rubric)
    assert result["score"] == FULL and not result["notes"], result["notes"]
    assert "files: []" in result["output"]
    assert "(not run while grading: !pip install numpy)" in result["output"]
    # The in-notebook check is the student's, for their kernel.
    assert "(not run while grading: %check affine_forward)" in result["output"]


@pytest.mark.parametrize("execute", [True, False], ids=["executed", "not-executed"])
def test_the_students_own_check_in_code_costs_nothing(
    rubric: Path, tmp_path: Path, execute: bool
) -> None:
    """``import layergrade`` is not in the sandbox: the import and the call say they do
    not run while grading, not that a module is missing."""
    nb = nbformat.read(CORRECT_NOTEBOOK, as_version=4)
    own_check = "import layergrade\nlayergrade.check('affine_forward')"
    nb.cells.append(nbformat.v4.new_code_cell(own_check))
    path = tmp_path / "own_check.ipynb"
    nbformat.write(nb, path)
    result = graded(path, rubric, *(() if execute else ("--no-execute",)))
    assert result["score"] == FULL and not result["notes"], result["notes"]
    if execute:
        assert "(not run while grading: layergrade.check)" in result["output"]


# The first cell of the course's FullyConnectedNets.ipynb, in the order it imports:
# modules this submission lacks (a classifier, the data loader, the Cython layers) before
# the student's layers.
COURSE_SETUP = """
import time
import numpy as np
import matplotlib.pyplot as plt
from cs231n.classifiers.fc_net import *
from cs231n.data_utils import get_CIFAR10_data
from cs231n.fast_layers import conv_forward_fast
from cs231n.layers import *

%matplotlib inline
%load_ext autoreload
%autoreload 2
"""
LOAD_DATA = """
data = get_CIFAR10_data()
for k, v in data.items():
    print(k, v.shape)
"""


def course_notebook(tmp_path: Path) -> tuple[Path, int]:
    """The imports_module fixture with the course's setup cell and a data-loading cell;
    and the setup cell's number."""
    folder = notebook_with_module(tmp_path)
    path = folder / "notebook.ipynb"
    nb = nbformat.read(path, as_version=4)
    setup = next(i for i, c in enumerate(nb.cells) if "from cs231n.layers" in c.source)
    nb.cells[setup] = nbformat.v4.new_code_cell(COURSE_SETUP.strip())
    nb.cells.insert(setup + 1, nbformat.v4.new_code_cell(LOAD_DATA.strip()))
    nbformat.write(nb, path)
    return folder, setup + 1


def test_a_failing_import_costs_only_itself(rubric: Path, tmp_path: Path) -> None:
    folder, cell = course_notebook(tmp_path)
    result = graded(folder, rubric, "--source", "notebook")
    assert result["score"] == FULL, notes(result)
    said = notes(result)
    # Each failing import is named, with its line in the cell; the data cell's error too.
    assert f"cell {cell}, line 4: ModuleNotFoundError: No module named 'cs231n.classifiers'" in said
    assert f"cell {cell}, line 5: ModuleNotFoundError" in said and "data_utils" in said
    assert "(the rest of the cell ran)" in said
    assert f"cell {cell + 1}" in said and "get_CIFAR10_data" in said


def test_without_running_failing_imports_are_named_too(rubric: Path, tmp_path: Path) -> None:
    folder, cell = course_notebook(tmp_path)
    result = graded(folder, rubric, "--source", "notebook", "--no-execute")
    assert result["score"] == FULL, notes(result)
    missing = f"cell {cell}, line 4: ModuleNotFoundError: No module named 'cs231n.classifiers'"
    assert missing in notes(result)
    # Without the layers module nothing is defined, and the notes say which import failed.
    (folder / "cs231n" / "layers.py").unlink()
    result = graded(folder, rubric, "--source", "notebook", "--no-execute")
    assert result["score"] == 0
    missing = f"cell {cell}, line 7: ModuleNotFoundError: No module named 'cs231n.layers'"
    assert missing in notes(result)


# The course's chain: the notebook imports the model, which imports the student's layers,
# then the layer helpers, which import the fast layers, which need a package the grader
# does not offer. The star import binds nothing; the layers were imported all the same.
CHAIN = {
    "cs231n/classifiers/__init__.py": "",
    "cs231n/classifiers/fc_net.py": "from cs231n.layers import *\nfrom cs231n.layer_utils import *",
    "cs231n/layer_utils.py": "from cs231n.layers import *\nfrom cs231n.fast_layers import *",
    "cs231n/fast_layers.py": "import torch",
}


@pytest.mark.parametrize("execute", [True, False], ids=["executed", "not-executed"])
def test_layers_loaded_by_a_failing_import_chain_are_graded(
    rubric: Path, tmp_path: Path, execute: bool
) -> None:
    folder = tmp_path / "chain"
    for name, text in {"cs231n/__init__.py": "", **CHAIN}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    shutil.copy(CORRECT_LAYERS, folder / "cs231n" / "layers.py")
    nb = nbformat.v4.new_notebook()
    setup = "import numpy as np\nfrom cs231n.classifiers.fc_net import *\nimport cs231n.solver"
    nb.cells = [nbformat.v4.new_markdown_cell("# FullyConnectedNets"),
                nbformat.v4.new_code_cell(setup)]  # fmt: skip
    nbformat.write(nb, folder / "FullyConnectedNets.ipynb")
    extra = () if execute else ("--no-execute",)
    result = graded(folder / "FullyConnectedNets.ipynb", rubric, *extra)
    said = notes(result)
    assert result["score"] == FULL, said
    # Whose each missing module is: the environment's, or the submission's own.
    torch = "No module named 'torch' (neither the submission nor the sandbox has torch)"
    assert f"cell 2, line 2: ModuleNotFoundError: {torch}" in said
    assert "No module named 'cs231n.solver' (the submission has no cs231n/solver)" in said
    assert "affine_backward, affine_forward, relu_backward, relu_forward, softmax_loss, " in said
    assert "graded from cs231n/layers.py, which the notebook's imports loaded" in said


def test_notebook_importing_the_submissions_own_module(rubric: Path, tmp_path: Path) -> None:
    folder = notebook_with_module(tmp_path)
    result = graded(folder, rubric, "--source", "notebook")
    assert result["score"] == FULL and result["mode"] == "notebook"
    assert "also has a layers module" in notes(result)
    # By default a folder with both is graded through its module, and says so.
    default = graded(folder, rubric)
    assert default["mode"] == "module" and "also has a notebook" in notes(default)


def test_the_seed_notebook_in_python_3_with_solutions(rubric: Path, tmp_path: Path) -> None:
    folder = tmp_path / "seed"
    (folder / "cs231n").mkdir(parents=True)
    (folder / "cs231n" / "__init__.py").write_text("")
    shutil.copy(CORRECT_LAYERS, folder / "cs231n" / "layers.py")
    shutil.copy(ROOT / "reference" / "gradient_check.py", folder / "cs231n" / "gradient_check.py")
    shutil.copy(NOTEBOOKS / "seed_py3.ipynb", folder / "notebook.ipynb")
    result = graded(folder / "notebook.ipynb", rubric)
    assert result["score"] == FULL
    assert result["notes"] == []
    # Its test cells ran: their prints reached the captured output.
    assert "Testing affine_forward function:" in result["output"]


@pytest.mark.parametrize(
    ("name", "cell", "words"),
    [
        ("raises_early", 2, "NameError"),
        ("missing_dataset", 2, "FileNotFoundError"),
        ("python2", 5, "Python 2"),
    ],
)
def test_a_failing_cell_is_named_and_the_rest_still_graded(
    name: str, cell: int, words: str, rubric: Path
) -> None:
    result = graded(NOTEBOOKS / f"{name}.ipynb", rubric)
    assert result["score"] == FULL
    text = notes(result)
    assert f"cell {cell}" in text and words in text


def test_a_cell_that_never_ends_is_stopped(rubric: Path) -> None:
    result = graded(NOTEBOOKS / "infinite_loop.ipynb", rubric)
    # The losses are defined in cell 5, after the loop: they still run and count.
    assert result["score"] == FULL
    assert f"cell 4 did not finish within {CELL_SECONDS} s" in notes(result)


def test_a_version_3_notebook_is_upgraded(rubric: Path) -> None:
    result = graded(NOTEBOOKS / "v3.ipynb", rubric)
    assert result["score"] == FULL
    assert "upgraded from format 3 to 4" in notes(result)


def test_huge_outputs_are_capped(rubric: Path) -> None:
    result = graded(NOTEBOOKS / "huge_output.ipynb", rubric)
    assert result["score"] == FULL
    assert len(result["output"]) <= 64 * 1024


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("corrupt", "is not valid JSON"),
        ("no_code", "code cell"),
    ],
)
def test_unreadable_notebooks_score_zero_with_the_reason(
    name: str, words: str, rubric: Path
) -> None:
    result = graded(NOTEBOOKS / f"{name}.ipynb", rubric)
    assert result["score"] == 0
    assert words in result["import_error"]["message"]
    assert "Hint:" in result["import_error"]["message"]


def test_a_notebook_without_the_graded_functions(rubric: Path) -> None:
    result = graded(NOTEBOOKS / "no_functions.ipynb", rubric)
    assert result["score"] == 0
    assert "defines none of the graded functions" in notes(result)
    assert {f["status"] for f in result["functions"]} == {"missing"}


def test_a_notebook_that_tampers_inside_its_kernel_still_scores_zero(rubric: Path) -> None:
    # It patches np.allclose and np.max in its own process and returns zeros of the right
    # shapes: the comparison happens in the grader, so none of that earns anything.
    result = graded(NOTEBOOKS / "tampering.ipynb", rubric)
    assert result["score"] == 0
    # Its attempts to read the grader's files found nothing to read.
    assert "No such file or directory" in notes(result)


BOTH_MODES = [
    CORRECT_NOTEBOOK,
    NOTEBOOKS / "raises_early.ipynb",
    NOTEBOOKS / "infinite_loop.ipynb",
    NOTEBOOKS / "missing_dataset.ipynb",
    NOTEBOOKS / "python2.ipynb",
    NOTEBOOKS / "v3.ipynb",
    NOTEBOOKS / "tampering.ipynb",
    NOTEBOOKS / "no_functions.ipynb",
]


def test_both_modes_agree_on_a_notebook_importing_its_module(rubric: Path, tmp_path: Path) -> None:
    notebook = notebook_with_module(tmp_path) / "notebook.ipynb"
    assert scores(graded(notebook, rubric)) == scores(graded(notebook, rubric, "--no-execute"))


@pytest.mark.parametrize("path", BOTH_MODES, ids=lambda p: p.stem)
def test_both_modes_agree(path: Path, rubric: Path) -> None:
    executed = graded(path, rubric)
    extracted = graded(path, rubric, "--no-execute")
    assert extracted["mode"] == "notebook, definitions only (not executed)"
    assert scores(extracted) == scores(executed)


def test_cells_after_one_that_ends_its_process_or_hangs_run_on_the_state_before_it(
    rubric: Path,
) -> None:
    # Cell 4 ends its process, cell 5 never ends; the losses are defined in cell 6, with
    # numpy imported in cell 1 and the layers in cells 2 and 3.
    result = graded(NOTEBOOKS / "ends_and_hangs.ipynb", rubric)
    assert result["score"] == FULL
    text = notes(result)
    assert "cell 4" in text and "ended its own process" in text
    assert f"cell 5 did not finish within {CELL_SECONDS} s" in text
    assert result["output"].count("setting up") == 1
    assert result["output"].count("training") == 1


def test_a_cell_of_definitions_runs_without_a_fork_and_the_others_with_one(
    rubric: Path, tmp_path: Path
) -> None:
    # The worker's sandbox is a pid namespace of its own, where pids are handed out one
    # after the other: each cell's pid tells how many processes started before it.
    pid = "import os\nP.append(os.getpid())"
    path = write_notebook(
        tmp_path / "pids.ipynb",
        ("code", "import os\nP = [os.getpid()]"),
        ("code", "def helper(x, eps=1e-8):\n    return x + eps"),  # in place
        ("code", pid),  # a fork
        ("code", "X = helper(1.0)"),  # a fork
        ("code", pid),  # a fork
        ("code", "get_ipython().events.register('post_run_cell', lambda *args: None)"),
        ("code", "def other(x):\n    return x"),  # a fork: the notebook added a handler
        ("code", pid),  # a fork
        ("code", "print('pids', *P)"),
    )
    result = graded(path, rubric, "--isolation", "bubblewrap")
    line = next(x for x in result["output"].splitlines() if x.startswith("pids "))
    pids = [int(n) for n in line.split()[1:]]
    assert [b - a for a, b in zip(pids, pids[1:], strict=False)] == [1, 2, 3]
