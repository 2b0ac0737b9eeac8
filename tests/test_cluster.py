"""Batch grading on a Dask cluster: the same gradebook as a local batch, no submission
lost with a worker, hidden cases refused by a worker without isolation, and only bytes
out and plain JSON back."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from classroom import AT_LEAST, MARKER, build_class, correct_folder
from support import ROOT, processes, settle, with_marker, write_rubric

from grader import __version__
from grader.batch.cluster import ENTRY_BYTES, pack, parse_cluster, vector_files
from grader.batch.cluster_worker import Staff, grader_digest, prepare, unpack
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
    stream = proc.stderr
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    killed = None
    seen: list[str] = []
    deadline = time.monotonic() + BATCH_TIMEOUT
    try:
        while (line := lines.get(timeout=max(0.1, deadline - time.monotonic()))) is not None:
            seen.append(line)
            # Some graded, most not yet: kill one worker in the middle of the batch.
            if killed is None and line.startswith("[3/"):
                workers = worker_processes(proc.pid)
                assert workers, "".join(seen)
                killed = workers[0]
                os.kill(killed, signal.SIGKILL)
    except queue.Empty:
        proc.kill()
        pytest.fail("the batch did not finish in time:\n" + "".join(seen))
    lines_text = "".join(seen)
    assert proc.wait(timeout=60) == 0, lines_text
    assert killed is not None, lines_text
    book = rows(out)
    assert sorted(book) == students
    assert {row["total"] for row in book.values()} == {"55"}, lines_text


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
        code=grader_digest(),
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
    # The same version number, other code: refused too.
    with pytest.raises(SubmissionError, match="install the same version on every worker"):
        prepare(staff(tmp_path, code="0" * 64), tmp_path / "w0", 1)
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
    for i in range(5):
        (entry / f"{i}.py").write_text("")
    with pytest.raises(SubmissionError, match="or 3 files: too large"):
        pack(entry, most=3)
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


@pytest.mark.parametrize("fallback", [False, True])
def test_an_entry_cannot_write_through_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fallback: bool
) -> None:
    """A link to a folder outside, then a file below the link: refused, with or without
    the interpreter's extraction filters (Debian 12's Python has none)."""
    import io
    import tarfile

    if fallback:
        monkeypatch.delattr(tarfile, "tar_filter", raising=False)
    outside = tmp_path / "outside"
    outside.mkdir()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:") as tar:
        link = tarfile.TarInfo("alice/d")
        link.type, link.linkname = tarfile.SYMTYPE, str(outside)
        tar.addfile(link)
        inner = tarfile.TarInfo("alice/d/pwned.txt")
        inner.size = 1
        tar.addfile(inner, io.BytesIO(b"x"))
    (tmp_path / "in").mkdir()
    with pytest.raises(SubmissionError, match="holds a path 'alice/d/pwned.txt'"):
        unpack(buffer.getvalue(), tmp_path / "in")
    assert list(outside.iterdir()) == []


def test_an_entry_keeps_no_owner_and_no_duplicate(tmp_path: Path) -> None:
    import io
    import tarfile

    def archive(*names: str, uid: int = 0) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:") as tar:
            for name in names:
                info = tarfile.TarInfo(name)
                info.size, info.uid, info.mode = 1, uid, 0o4755
                tar.addfile(info, io.BytesIO(b"x"))
        return buffer.getvalue()

    (tmp_path / "a").mkdir()
    unpack(archive("alice/layers.py", uid=4242), tmp_path / "a")
    written = (tmp_path / "a" / "alice" / "layers.py").stat()
    assert written.st_uid == os.getuid() and written.st_mode & 0o7000 == 0
    (tmp_path / "b").mkdir()
    with pytest.raises(SubmissionError, match="holds a path 'alice/layers.py'"):
        unpack(archive("alice/layers.py", "alice/layers.py"), tmp_path / "b")
