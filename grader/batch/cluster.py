"""Grade a class on a Dask cluster (``grade batch --cluster local:N`` or ``--scheduler
ADDRESS``; the optional extra ``layergrade[dask]``).

The driver keeps everything that is not grading: the entries, their keys, the resumable
result store, the gradebook and the report, exactly as for a local batch. Each
submission to grade becomes one task: its bytes go out, packed and capped in size
(``pack``), and plain JSON comes back (cluster_worker.grade_remote); nothing from a
student's process crosses, no pickled object of theirs. The rubric and the vectors go
to each worker once, as a worker plugin, and are verified there. A task whose worker is
lost is run again once; lost a second time, it is recorded as an infrastructure failure
(graded again on the next run), never as the student's.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from grader import __version__
from grader.batch.entries import Entry
from grader.batch.runner import Graded
from grader.config.choices import IsolationChoice, Split
from grader.config.options import SourceOptions
from grader.config.rubric import Rubric
from grader.errors import SubmissionError, UsageError
from grader.vectors import MISTAKES_FOLDER

# What one submission may weigh on its way to a worker: a course's layers module and
# notebook are well under a megabyte; a notebook with plots, a few. 64 MB leaves room and
# keeps a class's tasks small beside a worker's memory.
ENTRY_BYTES = 64 << 20
# And its files: a course's submission has a few; each costs the archive a header.
ENTRY_FILES = 10_000
# A task's worker lost once is tried again; a second loss is the infrastructure's.
ALLOWED_FAILURES = 1
# Submissions in flight per worker thread: enough to keep each busy while results come
# back, few enough that the scheduler never holds a whole class.
WINDOW_PER_THREAD = 2
# How long a batch waits for its cluster's workers: starting 8 local worker processes
# takes a few seconds; a cluster's workers may be queued behind other jobs.
WORKER_WAIT = 120


def pack(path: Path, cap: int = ENTRY_BYTES, most: int = ENTRY_FILES) -> bytes:
    """``path`` (a file or a folder) as an uncompressed tar: symbolic links and FIFOs as
    such, never followed or read, so the worker sees the entry as the driver does."""
    total = count = 0
    folder = path.is_dir() and not path.is_symlink()
    for root, dirs, files in os.walk(path) if folder else [("", [], [str(path)])]:
        for name in files:
            info = os.lstat(os.path.join(root, name))
            total += info.st_size if stat.S_ISREG(info.st_mode) else 0
        count += len(files) + len(dirs)
        if total > cap or count > most:
            raise SubmissionError(
                f"{path.name} is larger than {cap >> 20} MB or {most} files: too large to "
                "send to a grading worker.\nHint: remove data files and outputs from the "
                "submission."
            )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:", format=tarfile.PAX_FORMAT) as tar:
        tar.add(path, arcname=path.name, recursive=True)
    return buffer.getvalue()


def vector_files(rubric: Rubric, splits: Sequence[Split]) -> dict[str, bytes]:
    """The files of the splits graded (and of the mistakes' fingerprints), by their path
    inside the vectors folder."""
    files = {}
    for folder in [*splits, MISTAKES_FOLDER]:
        source = rubric.vectors / folder
        if source.is_dir():
            for path in sorted(source.iterdir()):
                if path.is_file():
                    files[f"{folder}/{path.name}"] = path.read_bytes()
    return files


def parse_cluster(value: str) -> int:
    """``local:N``: the number of worker processes of a local cluster."""
    kind, _, count = value.partition(":")
    if kind != "local" or not count.isdigit() or int(count) < 1:
        raise UsageError(
            f"--cluster {value}: expected local:N, such as local:4 (N worker processes on "
            "this machine).\nHint: for a cluster of several machines, give its scheduler's "
            "address with --scheduler."
        )
    return int(count)


def dask_client(scheduler: str | None, workers: int | None) -> Any:
    """A client of the scheduler at ``scheduler``, or of a new local cluster of
    ``workers`` processes (one grading slot each)."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError(
            "grading on a cluster needs Dask distributed.\nHint: pip install 'layergrade[dask]'."
        ) from None
    dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES})
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=WORKER_WAIT)  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as exc:
            raise UsageError(
                f"cannot reach the Dask scheduler at {scheduler} ({exc}).\nHint: give the "
                "address it prints at start, such as tcp://head:8786."
            ) from None
    else:
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)  # type: ignore[no-untyped-call]
    try:
        # Every worker of a local cluster; of another, the first to come.
        client.wait_for_workers(workers or 1, timeout=WORKER_WAIT)
    except TimeoutError:
        close(client)
        raise UsageError(
            f"no Dask worker joined the scheduler {scheduler} within {WORKER_WAIT} s.\n"
            "Hint: start workers with `dask worker ADDRESS` where layergrade is installed."
        ) from None
    return client


class Cluster:
    """The grading of one batch's entries on a Dask cluster."""

    def __init__(
        self,
        client: Any,
        rubric: Rubric,
        splits: tuple[Split, ...],
        digest: str,
        isolation: IsolationChoice,
        options: SourceOptions,
    ) -> None:
        from grader.batch.cluster_worker import Setup, Staff, grader_digest, refusal

        self.client = client
        staff = Staff(
            version=__version__,
            code=grader_digest(),
            rubric=rubric,
            splits=splits,
            vectors=vector_files(rubric, splits),
            digest=digest,
            isolation=isolation,
            options=options,
        )
        try:
            client.register_plugin(Setup(staff))
            answers = client.run(refusal)
        except BaseException:
            self.close()
            raise
        refused = {worker: reason for worker, reason in answers.items() if reason is not None}
        if refused:
            self.close()
            worker, reason = sorted(refused.items())[0]
            raise UsageError(
                f"{len(refused)} of the cluster's workers will not grade this batch; "
                f"{worker}: {reason}"
            )

    def grade(self, entries: Sequence[Entry], root: str) -> Iterator[tuple[int, Graded, float]]:
        """(index, what grading gave, seconds) for each of ``entries``, as they finish."""
        import json

        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        from grader.batch.cluster_worker import grade_remote

        # At most this many submissions on their way at once: the scheduler holds each
        # one's bytes until it is graded.
        window = WINDOW_PER_THREAD * max(1, sum(self.client.nthreads().values()))
        waiting = iter(enumerate(entries))
        futures: dict[Any, int] = {}
        running = as_completed()  # type: ignore[no-untyped-call]

        def send() -> Iterator[tuple[int, Graded, float]]:
            """Submit the next entry; what cannot be sent is graded here, at once."""
            for i, entry in waiting:
                try:
                    archive = pack(entry.path)
                except (OSError, SubmissionError) as exc:
                    yield i, Graded.failed(exc, root), 0.0
                    continue
                times = [t.isoformat() if t else None for t in (entry.submitted, entry.due)]
                future = self.client.submit(
                    grade_remote, entry.path.name, archive, entry.module, *times, pure=False
                )
                futures[future] = i
                running.add(future)  # type: ignore[no-untyped-call]
                return

        for _ in range(window):
            yield from send()
        for future in running:
            yield from send()
            try:
                answer = json.loads(future.result())
                graded = Graded(**answer["graded"])
                seconds = float(answer["seconds"])
            except KilledWorker:
                graded = Graded(error=LOST, host_error=True)
                seconds = 0.0
            except Exception as exc:
                message = f"the cluster could not grade this submission ({type(exc).__name__})"
                graded, seconds = Graded(error=message, host_error=True), 0.0
            yield futures[future], graded, seconds

    def close(self) -> None:
        close(self.client)


def close(client: Any) -> None:
    """Close ``client``, and the local cluster it started, if it did."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


LOST = (
    "the grading worker was lost twice while grading this submission (an infrastructure "
    "failure, not the submission's): it is graded again on the next run"
)
