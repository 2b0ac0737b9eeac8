"""Build the stored vectors from the case definitions by running the reference (staff only)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from grader.config.choices import SPLITS
from grader.sandbox.inside.calls import run_calls
from grader.vectors import FORMAT, save_npz, sha256, write_manifest
from reference import layer_utils, layers
from reference.cases import Case, all_cases

# Checks for which the expected values are statistics computed by the grader, not arrays.
STATISTICAL_CHECKS = {"dropout_train", "dropout_backward"}


def reference_namespace() -> dict[str, Any]:
    return {**vars(layer_utils), **vars(layers)}


def expected_outputs(case: Case) -> dict[str, np.ndarray]:
    spec = {"calls": case.calls, "outputs": case.outputs}
    values = run_calls(reference_namespace(), spec, case.inputs)
    out = {}
    for name, value in values.items():
        arr = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{case.id}: the reference gives non-finite {name}")
        out[name] = arr
    return out


def case_entry(case: Case, expected: dict[str, np.ndarray]) -> dict[str, Any]:
    # Dropout's mask is the student's own, so only the shape (x's) is fixed.
    shapes = {name: list(arr.shape) for name, arr in expected.items()} or {
        o["name"]: list(case.inputs["x"].shape) for o in case.outputs
    }
    return {
        "id": case.id,
        "function": case.function,
        "name": case.name,
        "split": case.split,
        "seed": case.seed,
        "file": f"{case.function}.npz",
        "inputs": {k: list(v.shape) for k, v in sorted(case.inputs.items())},
        "calls": case.calls,
        "outputs": [dict(o, shape=shapes.get(o["name"])) for o in case.outputs],
        "check": case.check,
        "params": case.params,
    }


def build(root: Path, assignment: str = "modular_layers") -> list[Path]:
    """Write ``root/<split>/`` for every split; return the files written."""
    written: list[Path] = []
    by_split: dict[str, list[Case]] = defaultdict(list)
    for case in all_cases():
        by_split[case.split].append(case)
    for split in SPLITS:
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.npz"):
            stale.unlink()
        files: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
        entries = []
        for case in by_split[split]:
            expected = {} if case.check in STATISTICAL_CHECKS else expected_outputs(case)
            entry = case_entry(case, expected)
            entries.append(entry)
            arrays = files[entry["file"]]
            arrays.update({f"{case.name}:in:{k}": v for k, v in case.inputs.items()})
            arrays.update({f"{case.name}:out:{k}": v for k, v in expected.items()})
        digests = {}
        for name, arrays in sorted(files.items()):
            path = folder / name
            save_npz(path, arrays)
            digests[name] = sha256(path)
            written.append(path)
        manifest = {
            "format": FORMAT,
            "assignment": assignment,
            "split": split,
            "numpy_version": np.__version__,
            "files": digests,
            "cases": entries,
        }
        written.append(write_manifest(folder, manifest))
    return written
