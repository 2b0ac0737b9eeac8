"""What keeps grading fast, held by behaviour (the figures themselves are in bench/)."""

from __future__ import annotations

import importlib.util
import py_compile
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support import TEST_LIMITS, build_submission, write_rubric

from grader.api import grade_one, graded_cases
from grader.config.rubric import load_rubric
from grader.report import json_report
from grader.sandbox.inside.gradcheck import spread
from grader.sandbox.inside.main import load_inputs
from grader.sandbox.job import copy_module, write_inputs
from grader.sandbox.runtime import discover_runtime
from grader.sandbox.worker import SandboxConfig


def test_inputs_come_back_as_written(tmp_path: Path) -> None:
    arrays = {
        "a:x": np.arange(24.0).reshape(2, 3, 4),
        "a:f32": np.linspace(0, 1, 7, dtype=np.float32),
        "b:fortran": np.asfortranarray(np.arange(6).reshape(2, 3)),
        "b:scalar": np.array(2.5),
        "c:empty": np.zeros((0, 3)),
        "c:mask": np.array([True, False, True]),
        "c:big-endian": np.arange(3, dtype=">i4"),
    }
    path = tmp_path / "inputs.bin"
    index = write_inputs(path, arrays)
    loaded = load_inputs(str(path), index)
    assert loaded.keys() == arrays.keys()
    for key, array in arrays.items():
        assert loaded[key].dtype == array.dtype and loaded[key].shape == array.shape, key
        assert np.array_equal(loaded[key], array), key
        assert index[key][2] % 64 == 0
    # Writable, like the arrays an .npz gave: a case copies before any call anyway.
    loaded["a:x"][0, 0, 0] = -1
    assert loaded["a:x"][0, 0, 0] == -1


def test_inputs_of_python_objects_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="objects"):
        write_inputs(tmp_path / "inputs.bin", {"x": np.array([None, 1], dtype=object)})


def test_the_worker_gets_current_bytecode(tmp_path: Path) -> None:
    source = tmp_path / "src" / "mod.py"
    source.parent.mkdir()
    source.write_text("X = 1\n")
    py_compile.compile(str(source), doraise=True)
    target = tmp_path / "job" / "mod.py"
    target.parent.mkdir()
    copy_module(source, target)
    (pyc,) = (target.parent / "__pycache__").iterdir()
    assert pyc.read_bytes() == next((source.parent / "__pycache__").iterdir()).read_bytes()

    # Edited after compiling (another size): its stale bytecode is not copied, the copy is
    # compiled again, and the worker's import takes it (it imports X = 22).
    source.write_text("X = 22\n")
    copy_module(source, target)
    assert target.read_text() == "X = 22\n"
    assert pyc.read_bytes() != next((source.parent / "__pycache__").iterdir()).read_bytes()
    # -v names the bytecode an import loads.
    proc = subprocess.run(
        [sys.executable, "-B", "-v", "-c", "import mod, sys; sys.exit(mod.X != 22)"],
        cwd=target.parent,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"code object from '{pyc}'" in proc.stderr
    assert importlib.util.source_from_cache(str(pyc)) == str(target)


@pytest.mark.parametrize("size", [1, 7, 10, 11, 12, 60, 64, 100, 3072, 10007])
def test_gradient_check_coordinates_are_distinct_sorted_and_spread(size: int) -> None:
    at = spread(size, 10)
    assert len(at) == min(size, 10)
    assert list(at) == sorted(set(at.tolist()))
    assert at.min() >= 0 and at.max() < size
    if size >= 100:
        # Not bunched at one end: both halves of the array are sampled.
        assert (at < size // 2).any() and (at >= size // 2).any()
    # For any row length, more than one column is sampled (shape (N, D) flattened).
    for d in (2, 3, 4, 5, 10):
        if size >= 10 * d:
            assert len(set((at % d).tolist())) > 1, d


# affine_forward's first case (x of shape (2, 4, 5, 6)) waits until a relu_forward case
# has started. The worker runs a function's cases in one child, two children at once, in
# the order affine_forward, affine_backward, relu_forward: affine_backward's child finishes
# first, and its answers wait for affine_forward's; its place must go to relu_forward's
# child, or affine_forward's first case waits for its deadline.
WAITS_FOR_A_LATER_CASE = """
import os as _os, tempfile as _tempfile, time as _time
_affine, _relu = affine_forward, relu_forward
_MARKER = _os.path.join(_tempfile.gettempdir(), "relu-started")

def affine_forward(x, w, b):
    while x.shape == (2, 4, 5, 6) and not _os.path.exists(_MARKER):
        _time.sleep(0.01)
    return _affine(x, w, b)

def relu_forward(x):
    open(_MARKER, "w").close()
    return _relu(x)
"""


@pytest.mark.sandbox
@pytest.mark.slow
def test_a_finished_case_gives_its_place_to_the_next(tmp_path: Path) -> None:
    rubric = load_rubric(write_rubric(tmp_path, limits=dict(TEST_LIMITS, case_seconds=10)))
    assert rubric.limits.parallel_cases == 2
    sub = build_submission(tmp_path, WAITS_FOR_A_LATER_CASE)
    config = SandboxConfig.create("bubblewrap", discover_runtime())
    cases = graded_cases(rubric, ("public",))
    functions = list(dict.fromkeys(c.function for c in cases))
    assert functions[:3] == ["affine_forward", "affine_backward", "relu_forward"]
    assert cases[0].id == "affine_forward.seed" and cases[0].inputs["x"].shape == (2, 4, 5, 6)
    report = json_report.to_dict(grade_one(sub, rubric, config, ("public",)))
    for fn in report["functions"]:
        assert fn["score"] == fn["max_score"], (fn["name"], fn["feedback"])
