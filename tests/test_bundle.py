"""`grade bundle student NAME -o DIR`: what course staff hand to students. Exactly the
files a student needs; nothing of the staff's (no line of a solution's code, no hidden
array), looked for in every file, archives and notebooks opened; and `grade check .` in
the folder, from the installed wheel, grading the bundle's own rubric."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import members

from grader.api import graded_cases
from grader.bundle import student_bundle
from grader.cli import main
from grader.config.rubric import assignment_names, builtin_assignment, load_rubric
from grader.errors import RubricError, UsageError, VectorError
from grader.vectors import load_vectors

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = ROOT / "assignments"
STARTER = ASSIGNMENTS / "starter" / "cs231n"
HIDDEN = ASSIGNMENTS / "modular_layers" / "vectors" / "hidden"
# The staff's fingerprints of catalogued mistakes: they hold outputs of hidden cases too.
FINGERPRINTS = ASSIGNMENTS / "modular_layers" / "vectors" / "mistakes"
# The staff's solutions: the reference, and the example solution the zoo builds on.
SOLUTIONS = (
    ROOT / "reference" / "layers.py",
    ROOT / "reference" / "layer_utils.py",
    ASSIGNMENTS / "modular_layers" / "examples" / "correct" / "cs231n" / "layers.py",
)
# A line of code this long is specific to the function it comes from.
MIN_LINE_CHARS = 25
# A return of names only (`return dx, dgamma, dbeta`) is the signature's, not the solution's.
TRIVIAL = re.compile(r"return [\w, ()]*")
# Fewer values than this could occur in another array's bytes by chance.
MIN_SCANNED_VALUES = 16
# The e2e bundle: not the default assignment, so that only the bundle's rubric.yaml gives
# its functions.
E2E_ASSIGNMENT = "fully_connected"


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every built-in assignment's bundle, by name."""
    root = tmp_path_factory.mktemp("bundles")
    for name in assignment_names():
        student_bundle(name, root / name)
    return {name: root / name for name in assignment_names()}


def expected_files(name: str) -> set[str]:
    public = {f"vectors/public/{f.name}.npz" for f in builtin_assignment(name).functions}
    return {
        "README.md",
        "rubric.yaml",
        f"{name}.ipynb",
        "cs231n/__init__.py",
        "cs231n/layers.py",
        "vectors/public/manifest.json",
        *public,
    }


def relative(folder: Path, paths: list[Path]) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in paths)


# What the bundle holds --------------------------------------------------------------------


@pytest.mark.parametrize("name", assignment_names())
def test_the_bundle_holds_exactly_what_a_student_needs(name: str, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    written = student_bundle(name, out)
    on_disk = [p for p in out.rglob("*") if p.is_file()]
    assert relative(out, written) == relative(out, on_disk)
    assert set(relative(out, on_disk)) == expected_files(name)
    assert not (out / "vectors" / "hidden").exists()
    for file in ("__init__.py", "layers.py"):
        assert (out / "cs231n" / file).read_bytes() == (STARTER / file).read_bytes()
    notebook = ASSIGNMENTS / name / f"{name}.ipynb"
    assert (out / f"{name}.ipynb").read_bytes() == notebook.read_bytes()


@pytest.mark.parametrize("name", assignment_names())
def test_the_bundle_grades_the_public_cases_of_the_assignment(
    name: str, bundles: dict[str, Path]
) -> None:
    staff = builtin_assignment(name)
    bundled = load_rubric(bundles[name] / "rubric.yaml")
    assert bundled.vectors == (bundles[name] / "vectors").resolve()
    assert bundled == replace(
        staff, path=bundled.path, vectors=bundled.vectors, cases="public", source="module"
    )
    ids = [c.id for c in graded_cases(bundled, ("public",))]
    assert ids == [c.id for c in graded_cases(staff, ("public",))]
    manifest = json.loads((bundles[name] / "vectors" / "public" / "manifest.json").read_text())
    assert [c["id"] for c in manifest["cases"]] == ids
    with pytest.raises(VectorError, match="has no hidden cases"):
        load_vectors(bundled.vectors)


@pytest.mark.parametrize("name", assignment_names())
def test_the_readme_says_how_to_install_and_check(name: str, bundles: dict[str, Path]) -> None:
    readme = (bundles[name] / "README.md").read_text()
    for needed in ("python3 -m venv", "pip install", "grade check .", "hidden"):
        assert needed in readme
    for function in builtin_assignment(name).functions:
        assert f"`{function.name}` ({function.points:g} points)" in readme


def test_a_folder_that_holds_anything_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="is not empty"):
        student_bundle("dropout", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    with pytest.raises(UsageError, match="is a file"):
        student_bundle("dropout", tmp_path / "notes.txt")


def test_an_unknown_assignment_gets_a_did_you_mean(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match="Did you mean 'dropout'"):
        student_bundle("dropuot", tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def test_the_command_prints_the_files_it_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bundle"
    assert main(["bundle", "student", "dropout", "-o", str(out)]) == 0
    printed = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert set(relative(out, printed)) == expected_files("dropout")
    assert main(["bundle", "student", "dropout", "-o", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert main(["bundle", "student", "dropuot", "-o", str(tmp_path / "other")]) == 2
    assert "Did you mean 'dropout'?" in capsys.readouterr().err
    assert main(["bundle", "staff", "dropout", "-o", str(tmp_path / "other")]) == 2


# Nothing of the staff's -------------------------------------------------------------------


def solution_lines() -> list[tuple[str, str]]:
    """(where, line) for every line of 25+ characters of a solution function's body after
    its docstring, stripped: where one is in a file, the solution's code is."""
    found = []
    for path in SOLUTIONS:
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef):
                continue
            first = node.body[0]
            docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            start = first.end_lineno if docstring else first.lineno - 1
            for line in lines[start : node.end_lineno]:
                code = line.strip()
                if len(code) >= MIN_LINE_CHARS and not TRIVIAL.fullmatch(code):
                    found.append((f"{path.name}:{node.name}", code))
    return found


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value (a notebook's cells, outputs and metadata)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def readable(name: str, data: bytes) -> bytes:
    """A file's bytes, and for a notebook also its strings as written in the cells: JSON
    escapes a quote or a newline in the file."""
    if not name.endswith(".ipynb"):
        return data
    return data + "\n".join(strings(json.loads(data))).encode()


@pytest.fixture(scope="module")
def contents(bundles: dict[str, Path]) -> dict[bytes, str]:
    """Every distinct file of the bundles, archives inside them opened (an .npz's
    members), with the name of one place it is at."""
    found: dict[bytes, str] = {}
    for folder in bundles.values():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = f"{folder.name}/{path.relative_to(folder).as_posix()}"
            for where, data in members(path.read_bytes(), name):
                found.setdefault(readable(where, data), where)
    return found


def arrays(paths: list[Path]) -> dict[str, np.ndarray]:
    found = {}
    for path in paths:
        with np.load(path, allow_pickle=False) as npz:
            found.update({f"{path.name}:{key}": npz[key] for key in npz.files})
    return found


def distinct(named: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One name per array (same shape, dtype and values)."""
    seen: dict[str, tuple[str, np.ndarray]] = {}
    for name, array in named.items():
        key = f"{array.shape}{array.dtype}" + hashlib.sha256(array.tobytes()).hexdigest()
        seen.setdefault(key, (name, array))
    return dict(seen.values())


def test_no_bundle_holds_a_line_of_a_solution(contents: dict[bytes, str]) -> None:
    lines = solution_lines()
    assert len(lines) > 150, "the scan must cover the solutions' code"
    assert any(where.endswith(".ipynb") for where in contents.values())
    for data, where in contents.items():
        for what, code in lines:
            assert code.encode() not in data, f"{where} holds {what}: {code}"


def test_no_bundle_holds_a_hidden_array(
    bundles: dict[str, Path], contents: dict[bytes, str]
) -> None:
    hidden = arrays(sorted(HIDDEN.glob("*.npz")))
    assert len(hidden) > 200
    npz = sorted(p for folder in bundles.values() for p in folder.rglob("*.npz"))
    shipped = distinct(arrays(npz))
    assert len(shipped) > 100
    for where, array in shipped.items():
        for what, secret in hidden.items():
            if secret.shape == array.shape:
                assert not np.array_equal(secret, array), f"{where} is the hidden {what}"
    # The control: a public array's bytes are found where the scan looks.
    public = shipped["affine_forward.npz:seed:in:x"].tobytes()
    assert any(public in data for data in contents)
    for what, secret in hidden.items():
        if secret.size < MIN_SCANNED_VALUES:
            continue
        raw = secret.tobytes()
        for data, where in contents.items():
            assert raw not in data, f"{where} holds the hidden {what}"


def test_no_bundle_holds_a_fingerprint(
    bundles: dict[str, Path], contents: dict[bytes, str]
) -> None:
    public = {a.tobytes() for a in arrays(sorted(HIDDEN.parent.glob("public/*.npz"))).values()}
    secrets = {
        what: array
        for what, array in arrays(sorted(FINGERPRINTS.glob("*.npz"))).items()
        # A mistake may return a public value as it is (running statistics left alone) or
        # in another shape (dx not reshaped): those are not secrets.
        if array.size >= MIN_SCANNED_VALUES and array.tobytes() not in public
    }
    assert len(secrets) > 100
    for folder in bundles.values():
        assert not list(folder.rglob("mistakes")), folder
    for what, secret in secrets.items():
        raw = secret.tobytes()
        for data, where in contents.items():
            assert raw not in data, f"{where} holds the fingerprint {what}"


# A student's machine ----------------------------------------------------------------------


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """A program of the student's venv, without this checkout on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600
    )


def student_check(venv: Path, bundle: Path) -> tuple[int, dict[str, Any]]:
    proc = run(venv / "bin" / "grade", "check", ".", "--format", "json", cwd=bundle)
    assert proc.returncode in (0, 1), proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, result


@pytest.mark.slow
def test_a_student_checks_the_bundle_with_the_installed_wheel(wheel: Path, open_tmp: Path) -> None:
    venv = open_tmp / "venv"
    made = run(sys.executable, "-m", "venv", venv)
    assert made.returncode == 0, made.stderr
    installed = run(venv / "bin" / "pip", "install", "-q", wheel)
    assert installed.returncode == 0, installed.stderr
    bundle = open_tmp / E2E_ASSIGNMENT
    student_bundle(E2E_ASSIGNMENT, bundle)
    functions = [f.name for f in builtin_assignment(E2E_ASSIGNMENT).functions]

    code, result = student_check(venv, bundle)
    assert code == 1
    assert result["cases"] == ["public"]
    assert [f["name"] for f in result["functions"]] == functions
    assert [f["status"] for f in result["functions"]] == ["fail"] * len(functions)
    assert result["score"] == 0

    shutil.copyfile(ROOT / "reference" / "layers.py", bundle / "cs231n" / "layers.py")
    code, result = student_check(venv, bundle)
    assert code == 0
    assert [f["status"] for f in result["functions"]] == ["pass"] * len(functions)
    assert result["score"] == result["max_score"] > 0

    # The installed package carries no staff file, and says so.
    refused = run(venv / "bin" / "grade", "bundle", "student", "dropout", "-o", open_tmp / "x")
    assert refused.returncode == 2
    assert "needs the course's staff files" in refused.stderr
