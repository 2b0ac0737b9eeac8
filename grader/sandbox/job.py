"""A job: what every worker of a grading run reads, written once to a private folder.

    job.json                  the cases' calls and output names (no expected values), for
                              one case per backward or loss its gradcheck, and where each
                              input lies in inputs.bin (dtype, shape, offset)
    inputs.bin                the cases' inputs, each C-ordered and aligned: the worker
                              reads the file once and views its arrays without a copy
    lib/layergrade_inside/    the worker's own code: a copy of inside/, and nothing else
                              (with its bytecode)
    site-module/              without bubblewrap: links to numpy, the only package on a
    site-notebook/            module's worker's path; and for notebooks, with what they need

The folder is readable by the worker's uid and mounted read-only into each sandbox: it
is the only code of the grader's that a worker can see.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import py_compile
import shutil
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.sandbox import inside

# numpy is imported where inputs are written: a worker starts before the grader imports it.
if TYPE_CHECKING:
    import numpy as np

    from grader.vectors import CaseVector

INSIDE = Path(inside.__file__).parent
INSIDE_PACKAGE = "layergrade_inside"
# The folder of the job that goes on the worker's sys.path.
LIB = "lib"
# Where each array of inputs.bin starts: a multiple of this (a cache line).
ALIGN = 64


def inside_files() -> list[Path]:
    """The files of the worker's package: every module of inside/."""
    return sorted(INSIDE.glob("*.py"))


def gradcheck_cases(cases: Iterable[CaseVector]) -> set[str]:
    """The cases whose numerical gradient of the submission's own forward the grader may
    ask for (inside/gradcheck.py): per backward or loss, one, its first public case (else
    its first case) where a check can be derived. Never a case of a function with a
    statistical check (dropout, whose forward is random), nor a composite's."""
    by_function: dict[str, list[CaseVector]] = {}
    for case in cases:
        by_function.setdefault(case.function, []).append(case)
    chosen = set()
    for mine in by_function.values():
        if any(c.check != "elementwise" for c in mine):
            continue
        able = [c for c in mine if "gradcheck" in c.spec(gradcheck=True)]
        public = [c for c in able if c.split == "public"]
        if able:
            chosen.add((public or able)[0].id)
    return chosen


def write_inputs(path: Path, arrays: Mapping[str, np.ndarray]) -> dict[str, list[Any]]:
    """Write ``arrays`` one after the other to ``path``; return their index: key ->
    [dtype, shape, offset]. Reading an .npz in the worker imported zipfile (and pathlib,
    shutil, bz2, lzma ...) and copied every array: a tenth of a module worker's start."""
    import numpy as np

    index: dict[str, list[Any]] = {}
    offset = 0
    with open(path, "wb") as f:
        for key in sorted(arrays):
            array = np.asarray(arrays[key], order="C")
            if array.dtype.hasobject:
                raise ValueError(f"input {key} holds Python objects")
            offset = -(-offset // ALIGN) * ALIGN
            f.seek(offset)
            f.write(array.tobytes())
            index[key] = [array.dtype.str, list(array.shape), offset]
            offset += array.nbytes
    return index


def copy_module(source: Path, target: Path) -> None:
    """Copy a module with its bytecode: the worker runs the same interpreter with -B, and
    would otherwise compile every module at every start. The grader's own bytecode where it
    is current (same magic number, and the source's mtime and size, which the copy keeps),
    else compiled here, once per job."""
    shutil.copy2(source, target)
    cached = Path(importlib.util.cache_from_source(str(source)))
    pyc = Path(importlib.util.cache_from_source(str(target)))
    pyc.parent.mkdir(exist_ok=True)
    stat = source.stat()
    current = b"".join(
        (
            importlib.util.MAGIC_NUMBER,
            bytes(4),  # a timestamp-checked pyc
            (int(stat.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little"),
            (stat.st_size & 0xFFFFFFFF).to_bytes(4, "little"),
        )
    )
    try:
        with open(cached, "rb") as f:
            if f.read(16) == current:
                shutil.copyfile(cached, pyc)
                return
    except OSError:
        pass
    py_compile.compile(str(target), cfile=str(pyc), doraise=True)


class Job:
    """The inputs of a set of cases and the worker's code, in a folder a worker can read.

    ``Job()`` holds the code only, enough to start a worker that waits (Worker's ``hold``);
    ``write`` adds the cases before it is released."""

    def __init__(self, cases: Sequence[CaseVector] | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="layergrade-job-")
        self.path = Path(self._dir.name)
        self.cases: tuple[CaseVector, ...] = ()
        # matplotlib's font list for notebook workers, by isolation, once made (fonts.py).
        self.fonts: dict[str, Path | None] = {}
        # A class's slots' zygotes, by slot (zygote.py): ended with the job.
        self.zygotes: dict[int, Any] = {}
        self.lock = threading.Lock()
        package = self.path / LIB / INSIDE_PACKAGE
        package.mkdir(parents=True)
        for file in inside_files():
            copy_module(file, package / file.name)
        for p in self.path.rglob("*"):
            p.chmod(0o755 if p.is_dir() else 0o644)
        self.path.chmod(0o755)
        if cases is not None:
            self.write(cases)

    def write(self, cases: Sequence[CaseVector]) -> None:
        """The cases' specs (job.json) and their inputs (inputs.bin), once."""
        if (self.path / "job.json").exists():
            raise ValueError("the job's cases are written already")
        checked = gradcheck_cases(cases)
        specs = [c.spec(gradcheck=c.id in checked) for c in cases]
        arrays = {f"{c.id}:{k}": v for c in cases for k, v in c.inputs.items()}
        index = write_inputs(self.path / "inputs.bin", arrays)
        (self.path / "job.json").write_text(json.dumps({"cases": specs, "inputs": index}))
        for name in ("inputs.bin", "job.json"):
            (self.path / name).chmod(0o644)
        self.cases = tuple(cases)

    def site_view(self, name: str, packages: Iterable[Path]) -> Path:
        """A folder of links to ``packages``, to put on a worker's path in place of the
        site-packages that holds them (and maybe the grader): where bubblewrap does not
        mount them one by one. One per set of packages (``name``), so that what a worker
        can import never depends on what was graded before; slots sharing the job may
        make it at the same time."""
        view = self.path / f"site-{name}"
        view.mkdir(exist_ok=True)
        view.chmod(0o755)
        for package in packages:
            with contextlib.suppress(FileExistsError):
                (view / package.name).symlink_to(package)
        return view

    def close(self) -> None:
        with self.lock:
            zygotes, self.zygotes = list(self.zygotes.values()), {}
        error: Exception | None = None
        try:
            for zygote in zygotes:
                try:
                    zygote.kill()
                except Exception as exc:  # the others are ended all the same
                    error = error or exc
        finally:
            self._dir.cleanup()
        if error is not None:
            raise error

    def __enter__(self) -> Job:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
