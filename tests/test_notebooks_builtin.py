"""The built-in assignments' notebooks for students: each is what reference/notebooks.py
makes of its rubric, and each runs top to bottom in a Jupyter kernel with the reference
solution as the student's cs231n/layers.py, every exact check it prints small, and its last
cell, the grader's own check (%check), passes every function. With the untouched starter,
its setup cell still runs, each function's cell fails in itself, on the None its stub
returns, and the check reports every function as not implemented."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode
from notebook_support import execute_in, rows, shown
from support import ROOT, run_grade

from grader.config.rubric import assignment_names, builtin_assignment
from reference.notebooks import notebook_path, notebook_text

REFERENCE = ROOT / "reference" / "layers.py"
STARTER = ROOT / "assignments" / "starter" / "cs231n" / "layers.py"
# How the notebooks print an exact check: "dx error: 1.23e-10", "  test mode error: 0.00e+00".
CHECK = re.compile(r"^\s*(?P<what>\S.*) error: (?P<value>\S+)$", re.MULTILINE)
# The reference prints 5e-8 at the most (relu_forward against the seed's rounded values).
SMALL = 1e-6


def run_notebook(name: str, layers: Path, folder: Path) -> list[NotebookNode]:
    """Run assignment ``name``'s notebook in ``folder`` beside a cs231n package whose
    layers.py is ``layers``, every cell even after one fails; its code cells, executed."""
    (folder / "cs231n").mkdir(parents=True)
    (folder / "cs231n" / "__init__.py").write_text("")
    shutil.copyfile(layers, folder / "cs231n" / "layers.py")
    path = shutil.copyfile(notebook_path(name), folder / f"{name}.ipynb")
    nb = nbformat.read(path, as_version=4)
    execute_in(nb, folder)
    cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in cells), f"{name}: not every cell ran"
    return cells


def printed(cell: NotebookNode) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def errors(cell: NotebookNode) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


def test_every_assignment_has_a_notebook_made_by_the_generator() -> None:
    for name in assignment_names():
        path = notebook_path(name)
        assert path == ROOT / "assignments" / name / f"{name}.ipynb"
        assert path.is_file(), f"{path} is missing: run python -m reference.notebooks"
        assert path.read_text() == notebook_text(name), (
            f"{path} is out of date: run python -m reference.notebooks"
        )


def test_notebooks_have_no_outputs_and_a_python3_kernel() -> None:
    for name in assignment_names():
        nb = nbformat.reads(notebook_text(name), as_version=4)
        nbformat.validate(nb)
        assert nb.metadata.kernelspec.name == "python3"
        ids = [cell.id for cell in nb.cells]
        assert ids == [f"cell-{i:02d}" for i in range(1, len(ids) + 1)]
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (name, cell.id)


@pytest.mark.slow
@pytest.mark.sandbox
@pytest.mark.parametrize("name", assignment_names())
def test_notebook_runs_with_the_reference_and_every_check_is_small(
    name: str, tmp_path: Path
) -> None:
    setup, *checks, graded = run_notebook(name, REFERENCE, tmp_path)
    failed = {cell.id: errors(cell) for cell in [setup, *checks, graded] if errors(cell)}
    assert not failed, failed
    for cell in checks:
        found = [m.groupdict() for m in CHECK.finditer(printed(cell))]
        assert found, f"{name} {cell.id} prints no check:\n{cell.source}"
        large = [m for m in found if not float(m["value"]) < SMALL]
        assert not large, f"{name} {cell.id}: {large}\n{printed(cell)}"
    # The last cell: the grader's own check, on this assignment's rubric, every function.
    page, _ = shown(graded)
    table = rows(page)
    assert set(table) == {f.name for f in builtin_assignment(name).functions}
    assert all(result == "pass" for _, result, _ in table.values()), table
    total = sum(f.points for f in builtin_assignment(name).functions)
    assert f"cs231n/layers.py: {total:g} / {total:g} on the public cases" in page


@pytest.mark.slow
@pytest.mark.sandbox
def test_with_the_untouched_starter_only_the_function_cells_fail(tmp_path: Path) -> None:
    # The notebook of every function: each cell must fail on its stub's None, in itself,
    # never on a helper or a name the setup cell should have defined.
    setup, *checks, graded = run_notebook("all", STARTER, tmp_path)
    assert "from cs231n.layers import *" in setup.source
    assert errors(setup) == []
    for cell in checks:
        (error,) = errors(cell)
        assert error.startswith(("TypeError", "AttributeError")), (cell.id, error)
        assert "NoneType" in error, (cell.id, error)
        assert not CHECK.search(printed(cell)), (cell.id, printed(cell))
    # The grader's check in the last cell reports each function as a stub, not as an error.
    assert errors(graded) == []
    table = rows(shown(graded)[0])
    assert set(table) == {f.name for f in builtin_assignment("all").functions}
    for function, (score, result, found) in table.items():
        assert score.startswith("0 / ") and result == "fail", (function, score, result)
        assert "not implemented" in found, (function, found)


@pytest.mark.slow
@pytest.mark.sandbox
@pytest.mark.parametrize("execute", [True, False], ids=["executed", "not-executed"])
@pytest.mark.parametrize("name", assignment_names())
def test_the_notebook_with_the_reference_grades_full(
    name: str, execute: bool, tmp_path: Path
) -> None:
    """What a student hands in: the course's notebook beside their cs231n/layers.py (here
    the reference), graded as a notebook, its cells run or not."""
    (tmp_path / "cs231n").mkdir()
    (tmp_path / "cs231n" / "__init__.py").write_text("")
    shutil.copyfile(REFERENCE, tmp_path / "cs231n" / "layers.py")
    shutil.copyfile(notebook_path(name), tmp_path / f"{name}.ipynb")
    extra = () if execute else ("--no-execute",)
    proc = run_grade(
        tmp_path, "--assignment", name, "--source", "notebook", "--format", "json", *extra
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["mode"].startswith("notebook")
    assert result["score"] == result["max_score"] > 0, [
        (f["name"], f["feedback"]) for f in result["functions"] if f["score"] < f["max_score"]
    ]
