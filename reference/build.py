"""Build the stored vectors from the case definitions by running the reference (staff only),
and the fingerprints of the catalogued mistakes (reference/mistakes.py) on the same cases."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from grader.config.choices import SPLITS
from grader.sandbox.inside.calls import CallError, NotTested, describe_exception, run_calls
from grader.vectors import (
    FORMAT,
    MISTAKES_FOLDER,
    error_signature,
    save_npz,
    sha256,
    write_manifest,
)
from reference import layer_utils, layers
from reference.cases import Case, all_cases
from reference.mistakes import MISTAKES, Mistake, namespace

# A mistake's output is part of its fingerprint where it is further than this from the
# reference's (the course's rel_error): ten times grader.grading.diagnose.MATCH, so that
# output within MATCH of the fingerprint is never within the pass tier (1e-7) of the answer.
DIFFERENT = 1e-5

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
    """Write ``root/<split>/`` for every split and the mistakes' fingerprints in
    ``root/mistakes/``; return the files written."""
    written: list[Path] = []
    by_split: dict[str, list[Case]] = defaultdict(list)
    for case in all_cases():
        by_split[case.split].append(case)
    computed: list[tuple[Case, dict[str, np.ndarray]]] = []
    for split in SPLITS:
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.npz"):
            stale.unlink()
        files: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
        entries = []
        for case in by_split[split]:
            expected = {} if case.check in STATISTICAL_CHECKS else expected_outputs(case)
            computed.append((case, expected))
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
    return written + build_mistakes(root / MISTAKES_FOLDER, computed)


def worker_error(exc: BaseException) -> str:
    """The error message the worker sends for ``exc`` (grader.sandbox.inside.cases)."""
    if isinstance(exc, NotTested | CallError):
        return str(exc)[:500]
    return describe_exception(exc)[:500]


def fingerprint(mistake: Mistake, case: Case, expected: dict[str, np.ndarray]) -> dict[str, Any]:
    """What ``mistake`` does on ``case`` that the reference does not: the outputs it gets
    wrong (with their values), the error it raises, the inputs it changes in place, the
    outputs it returns in float32. Empty where it behaves like the reference."""
    spec = {"function": case.function, "calls": case.calls, "outputs": case.outputs}
    mutated: list[str] = []
    try:
        with np.errstate(all="ignore"):
            values = run_calls(namespace(mistake), spec, case.inputs, mutated)
    except Exception as exc:
        return {"error": error_signature(worker_error(exc))}
    found: dict[str, Any] = {"outputs": {}, "mutated": sorted(set(mutated)), "float32": []}
    for name, value in values.items():
        arr = np.asarray(value)
        if arr.dtype == np.float32:
            found["float32"].append(name)
        want = expected[name]
        if arr.dtype.kind not in "biuf":
            continue
        arr = arr.astype(np.float64)
        if arr.shape != want.shape or not np.isfinite(arr).all():
            found["outputs"][name] = arr
            continue
        error = np.abs(arr - want) / np.maximum(1e-8, np.abs(arr) + np.abs(want))
        if error.size and float(error.max()) > DIFFERENT:
            found["outputs"][name] = arr
    return {k: v for k, v in found.items() if v}


def build_mistakes(folder: Path, cases: list[tuple[Case, dict[str, np.ndarray]]]) -> list[Path]:
    """Write ``folder``: per function, each mistake's fingerprint on each case that calls
    the function it is in (composites included), and a manifest with their hints."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.npz"):
        stale.unlink()
    files: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    prints: dict[str, dict[str, Any]] = {}
    for case, expected in cases:
        called = {c["fn"] for c in case.calls}
        for mistake in MISTAKES:
            if mistake.function not in called:
                continue
            if case.check in STATISTICAL_CHECKS:
                # Random: recognised by the grader from the student's own output.
                prints.setdefault(case.id, {})[mistake.name] = {"statistic": True}
                continue
            found = fingerprint(mistake, case, expected)
            if not found:
                continue
            outputs = found.pop("outputs", {})
            arrays = files[f"{case.function}.npz"]
            arrays.update({f"{case.name}:{mistake.name}:{k}": v for k, v in outputs.items()})
            prints.setdefault(case.id, {})[mistake.name] = dict(found, outputs=sorted(outputs))
    digests = {}
    written = []
    for name, arrays in sorted(files.items()):
        save_npz(folder / name, arrays)
        digests[name] = sha256(folder / name)
        written.append(folder / name)
    manifest = {
        "format": FORMAT,
        "files": digests,
        "mistakes": {m.name: {"function": m.function, "hint": m.hint} for m in MISTAKES},
        "fingerprints": prints,
    }
    written.append(write_manifest(folder, manifest))
    return written
