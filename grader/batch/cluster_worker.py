"""A Dask worker's side of grading a class (see cluster.py).

``Setup`` is a worker plugin: Dask sends it once to every worker, also to one that joins
or restarts later. It writes the rubric's vectors to a private folder, verifies them
against their manifests and the driver's digest, chooses the worker's own isolation and
opens one grading slot per worker thread. ``grade_remote`` is the task: one submission's
bytes in, the plain JSON of its result out. A worker that cannot run the cases asked for
(hidden cases without isolation, another grader version, vectors that arrived changed)
refuses every task with the reason, which the driver records as an infrastructure error.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import queue
import shutil
import socket
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath

from distributed import Worker, WorkerPlugin, get_worker

from grader import __version__
from grader.api import graded_cases, isolation_slots
from grader.batch.entries import Entry
from grader.batch.runner import Graded, grade_entry
from grader.config.choices import IsolationChoice, Split
from grader.config.options import SourceOptions
from grader.config.rubric import Rubric
from grader.errors import SubmissionError
from grader.sandbox.isolation import DESCRIPTIONS, HIDDEN_OK, machine_isolation
from grader.sandbox.job import Job
from grader.sandbox.worker import SandboxConfig
from grader.vectors import CaseVector, load_vectors

PLUGIN = "layergrade"


@functools.cache
def grader_digest() -> str:
    """A digest of the grader's own code: a worker must grade with exactly the driver's
    (a version number stays the same between two changes of the code)."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Staff:
    """What every worker needs once: the grading settings and the vectors' files."""

    version: str
    # grader_digest() on the driver.
    code: str
    rubric: Rubric
    splits: tuple[Split, ...]
    # Path inside the vectors folder (public/manifest.json, hidden/svm_loss.npz, ...) to
    # the file's bytes.
    vectors: dict[str, bytes] = field(repr=False)
    digest: str
    isolation: IsolationChoice
    options: SourceOptions


@dataclass
class Ready:
    """A worker set up to grade: its cases, its slots and the job they read."""

    rubric: Rubric
    cases: tuple[CaseVector, ...]
    options: SourceOptions
    job: Job
    configs: queue.Queue[SandboxConfig]


def write_vectors(files: dict[str, bytes], folder: Path) -> None:
    for name, data in files.items():
        parts = PurePosixPath(name).parts
        if PurePosixPath(name).is_absolute() or ".." in parts or len(parts) != 2:
            raise SubmissionError(f"the vectors sent hold a file named {name!r}")
        path = folder.joinpath(*parts)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_bytes(data)


def prepare(staff: Staff, folder: Path, threads: int) -> Ready:
    """Set this worker up for ``staff``'s batch in ``folder`` (private to the grader's
    user); raise with the reason where it cannot grade it."""
    if staff.version != __version__ or staff.code != grader_digest():
        raise SubmissionError(
            f"this worker's layergrade ({__version__}, code {grader_digest()[:12]}) is not "
            f"the driver's ({staff.version}, code {staff.code[:12]}): install the same "
            "version on every worker"
        )
    write_vectors(staff.vectors, folder / "vectors")
    rubric = replace(staff.rubric, vectors=folder / "vectors")
    digest = load_vectors(rubric.vectors, staff.splits, {f.name for f in rubric.functions}).digest
    if digest != staff.digest:
        raise SubmissionError(
            "the vectors arrived changed (their digest differs from the driver's): "
            "grade the batch again"
        )
    cases = graded_cases(rubric, staff.splits)
    mode = machine_isolation(staff.isolation)
    if "hidden" in staff.splits and mode not in HIDDEN_OK:
        raise SubmissionError(
            f"the worker on {socket.gethostname()} has only {DESCRIPTIONS[mode]}, so it "
            "refuses hidden cases rather than grade them unsandboxed.\nHint: install "
            "bubblewrap on the workers, run them as root in containers, or grade public "
            "cases only with --cases public"
        )
    configs, _ = isolation_slots(mode, threads, [folder])
    slots: queue.Queue[SandboxConfig] = queue.Queue()
    for config in configs:
        slots.put(config)
    return Ready(rubric, cases, staff.options, Job(cases), slots)


class Setup(WorkerPlugin):
    name = PLUGIN

    def __init__(self, staff: Staff) -> None:
        self.staff = staff
        self.ready: Ready | None = None
        self.refusal: str | None = None
        self.folder: str | None = None

    def setup(self, worker: Worker) -> None:
        self.folder = tempfile.mkdtemp(prefix="layergrade-worker-")
        try:
            self.ready = prepare(self.staff, Path(self.folder), max(1, worker.state.nthreads))
        except Exception as exc:
            self.refusal = f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)

    def teardown(self, worker: Worker) -> None:
        if self.ready is not None:
            self.ready.job.close()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def refusal(dask_worker: Worker) -> str | None:
    """Why this worker will not grade the batch, if it will not (run by Client.run)."""
    setup = dask_worker.plugins.get(PLUGIN)
    return setup.refusal if isinstance(setup, Setup) else "the worker is not set up"


def unpack(archive: bytes, folder: Path) -> None:
    """Recreate an entry packed by cluster.pack in ``folder``: files, folders, symbolic
    links and FIFOs as they were (the grader judges them as it would have on the
    driver), nothing outside ``folder``, no device, no hard link, no set-id bit, every
    file the worker's own. Checked here, whatever extraction filters this Python has:
    each member's path is relative, appears once, and lies below folders only (never
    below a link, which could lead anywhere)."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        members: list[tarfile.TarInfo] = []
        kinds: dict[PurePosixPath, str] = {}
        for member in tar.getmembers():
            path = PurePosixPath(member.name)
            if path.is_absolute() or ".." in path.parts or path in kinds or not path.parts:
                raise SubmissionError(f"the entry sent holds a path {member.name!r}")
            for parent in path.parents:
                if parent != PurePosixPath(".") and kinds.get(parent, "dir") != "dir":
                    raise SubmissionError(f"the entry sent holds a path {member.name!r}")
            kinds[path] = "dir" if member.isdir() else "other"
            if not (member.isreg() or member.isdir() or member.issym() or member.isfifo()):
                continue
            member.mode &= 0o777
            member.uid, member.gid = os.getuid(), os.getgid()
            member.uname = member.gname = ""
            members.append(member)
        if hasattr(tarfile, "tar_filter"):
            tar.extractall(folder, members=members, filter="tar")
        else:
            # Interpreters before the extraction filters (Debian 12's 3.11.2): the checks
            # above are what keeps the members inside ``folder``.
            tar.extractall(folder, members=members)


def grade_remote(
    name: str, archive: bytes, module: str | None, submitted: str | None, due: str | None
) -> str:
    """The task: grade one entry (``name``, packed in ``archive``) on this worker; the
    result as JSON text: {"graded": Graded's fields, "seconds": grading time}."""
    import datetime as dt

    start = time.monotonic()
    setup = get_worker().plugins[PLUGIN]
    assert isinstance(setup, Setup)
    if setup.ready is None:
        graded = Graded(error=setup.refusal or "the worker is not set up", host_error=True)
        return json.dumps({"graded": asdict(graded), "seconds": 0.0})
    ready = setup.ready
    config = ready.configs.get()
    try:
        with tempfile.TemporaryDirectory(prefix="layergrade-entry-") as temp:
            unpack(archive, Path(temp))
            entry = Entry(
                name,
                Path(temp) / name,
                module=module,
                submitted=dt.datetime.fromisoformat(submitted) if submitted else None,
                due=dt.datetime.fromisoformat(due) if due else None,
            )
            args = (ready.rubric, ready.cases, config, ready.job, ready.options)
            graded = grade_entry(entry, *args, root=f"{temp}{os.sep}")
    finally:
        ready.configs.put(config)
    return json.dumps({"graded": asdict(graded), "seconds": time.monotonic() - start})
