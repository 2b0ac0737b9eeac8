"""What `pip install .` gives a user: every package of the grader and the built-in
assignment's public half, and nothing of the staff's (no reference solution, no example
solution, no hidden case), looked for in every file of the wheel, archives opened."""

from __future__ import annotations

import ast
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from support import members

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = ROOT / "assignments" / "modular_layers"
# Arrays this small can match by chance (a scalar loss); the hidden cases' arrays are larger.
MIN_SCANNED_VALUES = 8
# Statements this long are specific to the code they come from (`N = x.shape[0]` is not).
MIN_STATEMENT_CHARS = 40


def wheel_files(wheel: Path) -> dict[str, bytes]:
    return dict(members(wheel.read_bytes(), wheel.name))


def solution_statements(path: Path) -> list[tuple[str, bytes]]:
    """Every statement of every function body in ``path`` long enough to identify it (a
    docstring aside): where one is in a file, the solution's code is."""
    text = path.read_text()
    found = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.FunctionDef):
            continue
        for statement in node.body:
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                continue
            segment = ast.get_source_segment(text, statement) or ""
            if len(segment) >= MIN_STATEMENT_CHARS:
                found.append((f"{path.name}:{node.name}", segment.encode()))
    return found


def stored_arrays(split: str) -> dict[str, bytes]:
    arrays = {}
    for path in sorted((ASSIGNMENT / "vectors" / split).glob("*.npz")):
        with np.load(path, allow_pickle=False) as npz:
            arrays.update({f"{path.name}:{key}": npz[key].tobytes() for key in npz.files})
    return arrays


def hidden_arrays() -> list[tuple[str, bytes]]:
    """The hidden expected values that the public cases do not also hold."""
    public = set(stored_arrays("public").values())
    return [
        (name, data)
        for name, data in stored_arrays("hidden").items()
        if ":out:" in name and len(data) >= 8 * MIN_SCANNED_VALUES and data not in public
    ]


@pytest.mark.slow
def test_the_wheel_holds_every_package_and_the_public_assignment(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for init in sorted((ROOT / "grader").rglob("__init__.py")):
        assert str(init.relative_to(ROOT)) in names, init
    # The in-notebook check under the name students load too: the same file, and only it.
    archive = zipfile.ZipFile(wheel)
    assert [n for n in names if n.startswith("layergrade/")] == ["layergrade/__init__.py"]
    assert archive.read("layergrade/__init__.py") == archive.read("grader/jupyter/__init__.py")
    assert "grader/assignments/modular_layers/rubric.yaml" in names
    public = sorted(p.name for p in (ASSIGNMENT / "vectors" / "public").iterdir())
    for name in public:
        assert f"grader/assignments/modular_layers/vectors/public/{name}" in names, name


@pytest.mark.slow
def test_the_wheel_holds_no_staff_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not [n for n in names if n.startswith(("reference/", "tests/"))]
    assert not [n for n in names if "hidden" in n or "examples" in n]
    files = wheel_files(wheel)
    solutions = solution_statements(ROOT / "reference" / "layers.py") + solution_statements(
        ASSIGNMENT / "examples" / "correct" / "cs231n" / "layers.py"
    )
    assert len(solutions) > 50
    secrets = solutions + hidden_arrays()
    assert len(secrets) > len(solutions) + 20
    for name, data in files.items():
        for what, secret in secrets:
            assert secret not in data, f"{name} holds {what}"


def test_the_package_list_names_every_package_folder() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    folders = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "grader").rglob("__init__.py")
    }
    assert folders <= listed
    # grader/jupyter is installed a second time under the name students load: layergrade.
    assert listed - folders == {"grader.assignments", "layergrade"}
    assert config["package-dir"] == {
        "grader.assignments": "assignments",
        "layergrade": "grader/jupyter",
    }
