"""A job: what every worker of a grading run reads, written once to a private folder.

    job.json                  the cases' calls and output names (no expected values), and
                              for one case per backward or loss, its gradcheck
    inputs.npz                the cases' inputs
    lib/layergrade_inside/    the worker's own code: a copy of inside/, and nothing else
    site-module/              without bubblewrap: links to numpy, the only package on a
    site-notebook/            module's worker's path; and for notebooks, with what they need

The folder is readable by the worker's uid and mounted read-only into each sandbox: it
is the only code of the grader's that a worker can see.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from grader.sandbox import inside
from grader.vectors import CaseVector, save_npz

INSIDE = Path(inside.__file__).parent
INSIDE_PACKAGE = "layergrade_inside"
# The folder of the job that goes on the worker's sys.path.
LIB = "lib"


def inside_files() -> list[Path]:
    """The files of the worker's package: every module of inside/."""
    return sorted(INSIDE.glob("*.py"))


def gradcheck_cases(cases: Iterable[CaseVector]) -> set[str]:
    """The cases that also compute the numerical gradient of the submission's own forward
    (inside/gradcheck.py): per backward or loss, one, its first public case (else its first
    case) where a check can be derived. Never a case of a function with a statistical check
    (dropout, whose forward is random), nor a composite's."""
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


class Job:
    """The inputs of a set of cases and the worker's code, in a folder a worker can read."""

    def __init__(self, cases: Sequence[CaseVector]) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="layergrade-job-")
        self.path = Path(self._dir.name)
        self.cases = tuple(cases)
        checked = gradcheck_cases(cases)
        specs = [c.spec(gradcheck=c.id in checked) for c in cases]
        (self.path / "job.json").write_text(json.dumps({"cases": specs}))
        arrays = {f"{c.id}:{k}": v for c in cases for k, v in c.inputs.items()}
        save_npz(self.path / "inputs.npz", arrays)
        package = self.path / LIB / INSIDE_PACKAGE
        package.mkdir(parents=True)
        for file in inside_files():
            shutil.copyfile(file, package / file.name)
        for p in self.path.rglob("*"):
            p.chmod(0o755 if p.is_dir() else 0o644)
        self.path.chmod(0o755)

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
        self._dir.cleanup()

    def __enter__(self) -> Job:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
