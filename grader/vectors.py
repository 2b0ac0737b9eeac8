"""Stored test vectors: a manifest plus one ``.npz`` per function, per split.

Layout of a vectors folder::

    vectors/public/manifest.json   vectors/public/<function>.npz
    vectors/hidden/manifest.json   vectors/hidden/<function>.npz

Each ``.npz`` holds ``<case>:in:<name>`` (inputs) and ``<case>:out:<name>`` (expected
outputs). Staff checkouts also have ``vectors/mistakes/``: the fingerprints of the
catalogued mistakes (reference/mistakes.py) on each case, ``<case>:<mistake>:<output>``
in ``<function>.npz``, and a manifest with each mistake's hint. Like the hidden cases,
they never reach students.

The manifest lists every case (calls, outputs, shapes, seed) and the sha256 of every
file; loading refuses a file whose checksum does not match. Files are written
uncompressed with fixed timestamps so that rebuilding gives identical bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import zipfile
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast, get_args

import numpy as np

from grader.config.choices import SPLITS, Split
from grader.errors import VectorError
from grader.sandbox.inside.frames import npy_bytes
from grader.sandbox.inside.gradcheck import SAMPLES, plan

FORMAT = 1
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# How a case's outputs are judged: element by element against the expected arrays, or
# (dropout, whose mask is random) by statistics of the student's own output.
CheckKind = Literal["elementwise", "dropout_train", "dropout_backward"]
CHECK_KINDS: tuple[CheckKind, ...] = get_args(CheckKind)


@dataclass(frozen=True)
class Output:
    name: str
    source: Mapping[str, Any]
    shape: tuple[int, ...] | None


MISTAKES_FOLDER = "mistakes"


@dataclass(frozen=True)
class Fingerprint:
    """What one catalogued mistake does on one case, where the reference does otherwise:
    the outputs it gets wrong, the error it raises, the inputs it changes in place, the
    outputs it returns in float32."""

    mistake: str
    hint: str
    outputs: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False)
    error: str | None = None
    mutated: tuple[str, ...] = ()
    float32: tuple[str, ...] = ()
    # Dropout's cases are random: the grader recognises the mistake by a statistic of the
    # student's own output (grader.grading.diagnose.STATISTICS), not by stored values.
    statistic: bool = False


def error_signature(message: str) -> str:
    """What identifies an error the worker reported, across numpy's and Python's changes of
    wording: the exception's type, the function it reached (a backward's forward) and the
    numbers in it (the shapes that did not fit)."""
    return " ".join(re.findall(r"your \w+|\w+Error|\d+", message))


@dataclass(frozen=True)
class CaseVector:
    """One case as the grader sees it: inputs for the worker, expected values for itself."""

    id: str
    function: str
    name: str
    split: Split
    seed: int | None
    calls: tuple[Mapping[str, Any], ...]
    outputs: tuple[Output, ...]
    check: CheckKind
    params: Mapping[str, Any]
    inputs: Mapping[str, np.ndarray] = field(repr=False)
    expected: Mapping[str, np.ndarray] = field(repr=False)
    # Grader side only, like ``expected``: never in the spec sent to the worker.
    mistakes: tuple[Fingerprint, ...] = field(default=(), repr=False)

    def output(self, name: str) -> Output:
        """The output called ``name`` (dropout's backward also reads the forward's out)."""
        return next(o for o in self.outputs if o.name == name)

    @property
    def answer_cap(self) -> int:
        """Bytes a submission's answer to this case may take: four times the expected
        outputs in float64 (room for a wrong shape), plus 1 MB; and room for a gradcheck's
        partials and their indices (two small arrays per output, .npy headers included)."""
        values = sum(math.prod(o.shape) for o in self.outputs if o.shape is not None)
        gradcheck = len(self.outputs) * 2 * (256 + 8 * SAMPLES)
        return 4 * 8 * values + (1 << 20) + gradcheck

    def spec(self, gradcheck: bool = False) -> dict[str, Any]:
        """What the worker needs to run this case: no expected values. With ``gradcheck``
        (see inside/gradcheck.py), where the case is a backward's or a loss's: also
        how to compute the numerical gradient of the submission's own forward."""
        spec: dict[str, Any] = {
            "id": self.id,
            "function": self.function,
            "inputs": sorted(self.inputs),
            "calls": list(self.calls),
            "outputs": [{"name": o.name, "from": dict(o.source)} for o in self.outputs],
        }
        if gradcheck and self.check == "elementwise":
            check = plan(self.function, spec["calls"], spec["outputs"])
            if check is not None:
                spec["gradcheck"] = check
        return spec


@dataclass(frozen=True)
class VectorSet:
    cases: tuple[CaseVector, ...]
    digest: str
    # Every function the manifests have cases of, loaded or not.
    known: frozenset[str] = frozenset()

    def for_function(self, function: str) -> tuple[CaseVector, ...]:
        return tuple(c for c in self.cases if c.function == function)


def save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write an ``.npz`` whose bytes depend only on the arrays (sorted, stored, no clock)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy_bytes(arrays[key]))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(folder: Path, manifest: Mapping[str, Any]) -> Path:
    """Write ``folder/manifest.json`` (keys sorted, so that rewriting gives the same bytes)."""
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return path


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / "manifest.json"
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise VectorError(
            f"{path} is missing.\nHint: build the vectors with `grade vectors build`."
        ) from None
    except json.JSONDecodeError as exc:
        raise VectorError(f"{path} is not valid JSON ({exc}).") from None
    if manifest.get("format") != FORMAT:
        raise VectorError(
            f"{path} has format {manifest.get('format')!r}; this grader reads format {FORMAT}."
        )
    return manifest


def verify_files(
    folder: Path, manifest: Mapping[str, Any], names: Collection[str] | None = None
) -> None:
    """Check the files of the manifest (those of ``names`` only, where given)."""
    for name, digest in sorted(manifest["files"].items()):
        if names is not None and name not in names:
            continue
        path = folder / name
        if not path.is_file():
            raise VectorError(f"{path} is listed in the manifest but missing.")
        actual = sha256(path)
        if actual != digest:
            raise VectorError(
                f"{path} does not match its checksum in {folder / 'manifest.json'} "
                f"(sha256 {actual[:12]}..., manifest says {digest[:12]}...): the file was "
                "modified or corrupted.\nHint: restore it from version control or rebuild "
                "with `grade vectors build`."
            )


def load_split(
    folder: Path, functions: Collection[str] | None = None
) -> tuple[list[CaseVector], str, set[str]]:
    """The split's cases (of ``functions`` only, where given: only their files are read
    and verified), the manifest's digest, and every function the manifest has cases of."""
    manifest = read_manifest(folder)
    entries = [c for c in manifest["cases"] if functions is None or c["function"] in functions]
    files = {c["file"] for c in entries}
    verify_files(folder, manifest, files)
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for name in sorted(files):
        if name not in manifest["files"]:
            raise VectorError(f"{folder / 'manifest.json'} lists no file {name}.")
        with np.load(folder / name, allow_pickle=False) as npz:
            arrays[name] = {k: npz[k] for k in npz.files}
    cases = []
    for c in entries:
        if c["split"] not in SPLITS or c["check"] not in CHECK_KINDS:
            raise VectorError(
                f"{folder / 'manifest.json'}: case {c['id']} has split {c['split']!r} and check "
                f"{c['check']!r}; this grader knows {', '.join(SPLITS)} and "
                f"{', '.join(CHECK_KINDS)}.\nHint: rebuild with `grade vectors build`."
            )
        stored = arrays[c["file"]]
        prefix_in, prefix_out = f"{c['name']}:in:", f"{c['name']}:out:"
        cases.append(
            CaseVector(
                id=c["id"],
                function=c["function"],
                name=c["name"],
                split=cast(Split, c["split"]),
                seed=c["seed"],
                calls=tuple(c["calls"]),
                outputs=tuple(
                    Output(o["name"], o["from"], tuple(o["shape"]) if o["shape"] else None)
                    for o in c["outputs"]
                ),
                check=cast(CheckKind, c["check"]),
                params=c["params"],
                inputs={
                    k[len(prefix_in) :]: v for k, v in stored.items() if k.startswith(prefix_in)
                },
                expected={
                    k[len(prefix_out) :]: v for k, v in stored.items() if k.startswith(prefix_out)
                },
            )
        )
    digest = hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    return cases, digest, {c["function"] for c in manifest["cases"]}


def load_mistakes(
    folder: Path, functions: Collection[str] | None = None
) -> tuple[dict[str, tuple[Fingerprint, ...]], str]:
    """Fingerprints by case id (of ``functions``' cases only, where given), and the
    manifest's digest; none where ``folder`` is not there (a student's copy)."""
    if not folder.is_dir():
        return {}, ""
    manifest = read_manifest(folder)

    def wanted(name: str) -> bool:
        return functions is None or name.split(".", 1)[0] in functions

    files = {name for name in manifest["files"] if wanted(name)}
    verify_files(folder, manifest, files)
    arrays: dict[str, np.ndarray] = {}
    for name in sorted(files):
        with np.load(folder / name, allow_pickle=False) as npz:
            arrays.update({f"{name[: -len('.npz')]}.{k}": npz[k] for k in npz.files})
    hints = {name: m["hint"] for name, m in manifest["mistakes"].items()}
    found = {}
    for case_id, by_mistake in manifest["fingerprints"].items():
        if not wanted(case_id):
            continue
        found[case_id] = tuple(
            Fingerprint(
                mistake=name,
                hint=hints[name],
                outputs={o: arrays[f"{case_id}:{name}:{o}"] for o in f.get("outputs", [])},
                error=f.get("error"),
                mutated=tuple(f.get("mutated", ())),
                float32=tuple(f.get("float32", ())),
                statistic=bool(f.get("statistic", False)),
            )
            for name, f in sorted(by_mistake.items())
        )
    return found, hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()


def load_vectors(
    root: Path, splits: Iterable[str] = SPLITS, functions: Collection[str] | None = None
) -> VectorSet:
    """Load and verify the named splits under ``root`` (each split a subfolder): the cases
    of ``functions``, else every case. The digest covers every file either way (each
    manifest holds every file's checksum)."""
    cases: list[CaseVector] = []
    known: set[str] = set()
    digests = []
    for split in splits:
        if split == "hidden" and not (root / split).is_dir() and (root / "public").is_dir():
            raise VectorError(
                f"{root} has no hidden cases: they are staff files, which the package "
                "students install does not carry.\nHint: grade public cases only with "
                "--cases public (grade check does), or grade from the course's repository."
            )
        split_cases, digest, functions_there = load_split(root / split, functions)
        cases.extend(split_cases)
        known |= functions_there
        digests.append(f"{split}:{digest}")
    fingerprints, digest = load_mistakes(root / MISTAKES_FOLDER, functions)
    if fingerprints:
        cases = [replace(c, mistakes=fingerprints.get(c.id, ())) for c in cases]
        digests.append(f"{MISTAKES_FOLDER}:{digest}")
    digest = hashlib.sha256("\n".join(digests).encode()).hexdigest()
    return VectorSet(tuple(cases), digest, frozenset(known))
