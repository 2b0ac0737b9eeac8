"""Batch grading on a Dask cluster: the same gradebook as a local batch, no submission
lost with a worker, hidden cases refused by a worker without isolation, and only bytes
out and plain JSON back."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from classroom import AT_LEAST, MARKER, build_class, correct_folder
from support import ROOT, processes, settle, with_marker, write_rubric

from grader import __version__
from grader.batch.cluster import ENTRY_BYTES, pack, parse_cluster, vector_files
from grader.batch.cluster_worker import Staff, prepare, unpack
from grader.config.options import SourceOptions
from grader.config.rubric import load_rubric
from grader.errors import SubmissionError, UsageError
from grader.vectors import load_vectors

pytest.importorskip("distributed", reason="the dask extra is not installed")

# A class of 30 and a cluster start: a minute at most on a slow machine.
BATCH_TIMEOUT = 300


def batch(klass: Path, out: Path, rubric: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grader", "batch", str(klass), "-o", str(out),
         "--rubric", str(rubric), *extra],
        capture_output=True, text=True, timeout=BATCH_TIMEOUT, cwd=ROOT,
    )  # fmt: skip


def rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


@pytest.mark.sandbox
@pytest.mark.slow
def test_the_cluster_gradebook_equals_the_local_one(tmp_path: Path) -> None:
    """The whole test class (hostile, broken, zipped, notebooks, a zip bomb, a dangling
    link, twins) on 2 local Dask workers and locally with -j 2."""
    klass = tmp_path / "class"
    build_class(klass)
    rubric = write_rubric(tmp_path)
    local = batch(klass, tmp_path / "local", rubric, "-j", "2")
    assert local.returncode == 0, local.stderr[-3000:]
    remote = batch(klass, tmp_path / "remote", rubric, "--cluster", "local:2")
    assert remote.returncode == 0, remote.stderr[-3000:]
    assert settle(lambda: with_marker(MARKER), 5) == []
    here, there = rows(tmp_path / "local"), rows(tmp_path / "remote")
    # The fork bomb's total depends on how far it got before its limits: at least this.
    for student, least in AT_LEAST.items():
        assert float(there.pop(student)["total"]) >= least
        here.pop(student)
    assert here == there
    names = [
        sorted(p.name for p in (tmp_path / side / "feedback").iterdir())
        for side in ("local", "remote")
    ]
    assert names[0] == names[1]
    # Where the class lies (here, or where a worker unpacked it) never shows in what
    # students see.
    for side, folder in (("local", str(klass)), ("remote", "layergrade-entry-")):
        for path in (tmp_path / side / "feedback").iterdir():
            assert folder not in path.read_text(), (side, path.name)
    summary = json.loads((tmp_path / "remote" / "summary.json").read_text())
    assert summary["graded"] + summary["errors"] == len(there) + len(AT_LEAST)


def worker_processes(driver: int) -> list[int]:
    """The Dask worker processes of a local cluster started by ``driver``: its children
    that multiprocessing spawned (the nannies run in the driver itself)."""
    return [p.pid for p in processes() if p.ppid == driver and "spawn_main" in p.cmdline]


@pytest.mark.sandbox
@pytest.mark.slow
def test_a_killed_worker_loses_no_submission(tmp_path: Path) -> None:
    klass = tmp_path / "class"
    students = [f"student_{i:02d}" for i in range(30)]
    for student in students:
        correct_folder(klass, student)
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "grader", "batch", str(klass), "-o", str(out),
        "--rubric", str(write_rubric(tmp_path)), "--cluster", "local:2",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    killed = None
    lines = []
    deadline = time.monotonic() + BATCH_TIMEOUT
    for line in proc.stderr:
        lines.append(line)
        # Some graded, most not yet: kill one worker in the middle of the batch.
        if killed is None and line.startswith("[3/"):
            workers = worker_processes(proc.pid)
            assert len(workers) == 2, (workers, "".join(lines))
            killed = workers[0]
            os.kill(killed, signal.SIGKILL)
        assert time.monotonic() < deadline, "".join(lines)
    assert proc.wait(timeout=60) == 0, "".join(lines)
    assert killed is not None, "".join(lines)
    book = rows(out)
    assert sorted(book) == students
    assert {row["total"] for row in book.values()} == {"55"}, "".join(lines)


@pytest.mark.slow
def test_a_worker_without_isolation_refuses_hidden_cases(tmp_path: Path) -> None:
    klass = tmp_path / "class"
    correct_folder(klass, "alice")
    correct_folder(klass, "bob")
    out = tmp_path / "out"
    proc = batch(
        klass, out, write_rubric(tmp_path), "--cluster", "local:1", "--isolation", "processes"
    )
    # Before any grading: nothing graded, nothing recorded as the students'.
    assert proc.returncode == 2, proc.stderr[-3000:]
    message = " ".join(proc.stderr.split())
    assert "1 of the cluster's workers will not grade this batch" in message
    assert "refuses hidden cases rather than grade them unsandboxed" in message
    assert not (out / "gradebook.csv").exists() and not list(out.glob("results/*"))


def staff(tmp_path: Path, **changes: object) -> Staff:
    rubric = load_rubric(write_rubric(tmp_path))
    splits = ("public",)
    base = Staff(
        version=__version__,
        rubric=rubric,
        splits=splits,
        vectors=vector_files(rubric, splits),
        digest=load_vectors(rubric.vectors, splits).digest,
        isolation="processes",
        options=SourceOptions(),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_a_worker_checks_the_version_and_the_vectors(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError, match="install the same version on every worker"):
        prepare(staff(tmp_path, version="0.0.0"), tmp_path / "w1", 1)
    sent = staff(tmp_path)
    changed = dict(sent.vectors)
    name = next(n for n in changed if n.endswith(".npz"))
    changed[name] = changed[name][:-1] + bytes([changed[name][-1] ^ 1])
    with pytest.raises(Exception, match="does not match its checksum"):
        prepare(dataclasses.replace(sent, vectors=changed), tmp_path / "w2", 1)
    with pytest.raises(SubmissionError, match="vectors arrived changed"):
        prepare(dataclasses.replace(sent, digest="0" * 64), tmp_path / "w3", 1)
    ready = prepare(sent, tmp_path / "w4", 2)
    try:
        assert ready.configs.qsize() == 2 and {c.split for c in ready.cases} == {"public"}
    finally:
        ready.job.close()


def test_an_entry_travels_as_it_is(tmp_path: Path) -> None:
    entry = tmp_path / "alice"
    (entry / "cs231n").mkdir(parents=True)
    (entry / "cs231n" / "layers.py").write_text("x = 1\n")
    os.symlink("/etc/shadow", entry / "secret.py")
    os.mkfifo(entry / "pipe")
    there = tmp_path / "there"
    there.mkdir()
    unpack(pack(entry), there)
    got = there / "alice"
    assert (got / "cs231n" / "layers.py").read_text() == "x = 1\n"
    # The link is sent as a link (never read on the driver) and the FIFO as a FIFO: the
    # worker's grader judges them as the driver's would.
    assert os.readlink(got / "secret.py") == "/etc/shadow"
    assert (got / "pipe").is_fifo()


def test_an_entry_too_large_to_send_is_refused(tmp_path: Path) -> None:
    entry = tmp_path / "big"
    entry.mkdir()
    (entry / "data.npy").write_bytes(bytes(1024))
    with pytest.raises(SubmissionError, match="too large to send to a grading worker"):
        pack(entry, cap=1000)
    assert ENTRY_BYTES >= 1 << 20


def test_cluster_names_are_checked() -> None:
    assert parse_cluster("local:3") == 3
    for bad in ("local", "local:0", "remote:2", "local:x"):
        with pytest.raises(UsageError, match="expected local:N"):
            parse_cluster(bad)


def test_an_entry_cannot_reach_outside_its_folder(tmp_path: Path) -> None:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:") as tar:
        info = tarfile.TarInfo("../escaped.py")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    (tmp_path / "in").mkdir()
    with pytest.raises(SubmissionError, match="holds a path '../escaped.py'"):
        unpack(buffer.getvalue(), tmp_path / "in")
    assert not (tmp_path / "escaped.py").exists()
