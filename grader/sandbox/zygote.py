"""A class's slots keep their sandbox: one zygote per slot forks each submission's worker.

Starting a worker costs what starting any sandboxed Python with numpy costs, for every
student. In a class, each bubblewrap slot instead keeps one sandbox whose process, the
zygote (inside/zygote.py), has started Python, imported numpy, loaded the job and given
up what a worker gives up, and never runs student code. Each module submission gets a
fresh process forked from it, with pipes of its own, the submission's limits, and its
code, moved into the slot's folder (mounted read-only as the sandbox's /lg/sub) only once
the slot is clean: when the child has ended, the zygote kills and reaps every other
process of its uid and empties /tmp, and says so; where the slot has a control group,
the grader checks that only the zygote's own processes are left in it. Anything else (a
missed deadline, a crash, a zygote that does not answer or says the slot is not clean)
ends the whole sandbox, as it ends a worker, and the slot's next submission starts a new
one.

Executed notebooks get a zygote of their own kind, which shows the notebook packages
(and the class's matplotlib font list) and has imported IPython and pyplot, so that no
notebook pays for them; a slot switches kinds by ending its zygote. The other
isolations start a worker per submission as before.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

from grader.config.limits import Limits
from grader.errors import Closed, Deadline, SandboxError, TransportError
from grader.sandbox.environment import rlimits
from grader.sandbox.job import Job
from grader.sandbox.syscalls import filter_program
from grader.sandbox.transport import Reader
from grader.sandbox.worker import (
    QUIT_SECONDS,
    SandboxConfig,
    Worker,
    submission_settings,
    worker_processes,
)
from grader.submission.stage import STAGING_PREFIX, Submission

# The staged code's place in the slot's folder.
CODE = "code"
# How long a zygote may take to clear what a finished submission left: killing and
# reaping its processes and emptying /tmp take milliseconds, but the child's last sweep,
# its reaping and the zygote's each wait up to a second for killed processes
# (processes.py's SETTLE_SECONDS); a zygote that does not answer in time is ended.
CLEAN_SECONDS = QUIT_SECONDS + 4.0


class Zygote:
    """A slot's zygote, for the cases of ``job`` under ``limits``: for module submissions,
    or (``notebook``) for executed notebooks, with what their worker needs mounted and
    imported (IPython, matplotlib)."""

    def __init__(self, config: SandboxConfig, limits: Limits, job: Job, notebook: bool) -> None:
        self.config, self.limits, self.notebook = config, limits, notebook
        # Private to the grader (mkdtemp's mode 0700), as a staging folder is, then opened
        # to the slot's worker uid alone (a grader not running as root shares its uid with
        # its workers): a student's code is in it while graded, and stays in it where the
        # grader is killed.
        self.folder = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}slot-"))
        config.admit(self.folder)
        # The submission whose code is in the slot's folder, while one is.
        self.current: Submission | None = None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cells = "cells.json" if notebook else None
        empty = Submission(self.folder, self.folder, module="", module_file="", cells=cells)
        try:
            self.worker = Worker(config, limits, job, empty, zygote=theirs.fileno())
        except BaseException:
            ours.close()
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        finally:
            theirs.close()
        self.control = ours
        try:
            self.worker.wait_started()
        except BaseException:
            self.kill()
            raise
        # What the slot's group holds while nothing of a submission runs.
        self.members = set(config.group.members()) if config.group is not None else set()

    @property
    def alive(self) -> bool:
        return self.control.fileno() >= 0 and self.worker.proc.poll() is None

    def fork(self, limits: Limits, submission: Submission) -> ZygoteChild | None:
        """A worker for ``submission``, forked from this zygote; None where its code cannot
        be moved into the slot (another filesystem) and a worker of its own must start."""
        try:
            os.rename(submission.source, self.folder / CODE)
        except OSError:
            return None
        self.current = submission
        try:
            return ZygoteChild(self, limits, submission)
        except BaseException:
            self.kill()
            raise

    def give_back(self) -> None:
        """Move the code of the submission the slot holds back where it was staged (a
        worker of its own may need it for the cases left), and out of the slot."""
        if self.current is not None:
            with contextlib.suppress(FileNotFoundError):
                os.rename(self.folder / CODE, self.current.source)
            self.current = None

    def settle(self) -> bool:
        """Wait for the zygote to clear what the child that just ended left; whether the
        slot is clean (else the zygote is ended)."""
        try:
            message = self.worker.reader.read(time.monotonic() + CLEAN_SECONDS)
        except (Closed, Deadline, OSError, TransportError):
            message = None
        header = message.header if message is not None else {}
        clean = header.get("type") == "clean" and header.get("clean") is True
        if clean and self.config.group is not None:
            # Every process left in the slot's group is one the zygote had before.
            clean = set(self.config.group.members()) <= self.members
        if not clean:
            self.kill()
        return clean

    def kill(self) -> None:
        """End the zygote's sandbox and everything in it (Worker.kill), then give the
        submission it held its code back. Once."""
        if self.control.fileno() < 0:
            return
        with contextlib.suppress(OSError):
            self.control.close()
        try:
            self.worker.close()
        finally:
            self.give_back()
            shutil.rmtree(self.folder, ignore_errors=True)


class ZygoteChild(Worker):
    """A worker forked from a slot's zygote for one submission: a Worker to whoever runs
    cases on it (run.py), whose process is the zygote's child, not a sandbox of its own."""

    def __init__(self, zygote: Zygote, limits: Limits, submission: Submission) -> None:
        base = zygote.worker
        self.zygote = zygote
        self.uid, self.group = base.uid, base.group
        self.started = False
        self.oom_kills = self.group.oom_kills() if self.group is not None else 0
        self.group_members: set[int] = set()
        self.case_wall_seconds = zygote.config.case_wall_seconds(limits)
        self.network_cut, self.filtered = base.network_cut, base.filtered
        self.limits_skipped = ()
        self.known_gaps = base.known_gaps
        self.tmp = None
        self.paths = base.paths
        nproc = worker_processes(limits, self.uid)
        if nproc is not None and self.uid is not None:
            nproc += 1  # the zygote is one of the uid's processes
        source = f"{base.paths.source}/{CODE}"
        settings = dict(
            submission_settings(limits, submission, self.case_wall_seconds, source),
            limits=rlimits(limits, nproc),
        )
        req_r, self.req_w = os.pipe()
        res_r, res_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            request = json.dumps({"fork": settings}).encode()
            socket.send_fds(zygote.control, [request], [req_r, res_w, out_w])
        except BaseException:
            for fd in (self.req_w, res_r, out_r):
                os.close(fd)
            raise
        finally:
            for fd in (req_r, res_w, out_w):
                os.close(fd)
        self.reader = Reader(res_r)
        self.output = bytearray()
        self.output_dropped = 0
        self._drain = threading.Thread(target=self._drain_output, args=(out_r,), daemon=True)
        self._drain.start()

    def _drain_output(self, fd: int) -> None:
        try:
            super()._drain_output(fd)
        finally:
            os.close(fd)

    def kill(self) -> None:
        """End the submission: the zygote's whole sandbox goes with it."""
        try:
            self.zygote.kill()
        finally:
            self._drain.join(timeout=5)

    def close(self, finished: bool = False) -> None:
        """Stop the child. A ``finished`` one (it answered every request) leaves on its
        own, and the zygote clears the slot; anything else ends the sandbox."""
        with contextlib.suppress(OSError):
            os.close(self.req_w)
        self.req_w = -1
        with contextlib.suppress(OSError):
            os.close(self.reader.fd)
        self.reader.fd = -1
        if finished and self.zygote.settle():
            self.zygote.give_back()
            # Every writer of the output pipe is gone: the drain ends at once.
            self._drain.join(timeout=5)
        else:
            self.kill()


def zygote_child(
    config: SandboxConfig, limits: Limits, job: Job, submission: Submission
) -> ZygoteChild | None:
    """A worker for ``submission`` forked from the slot's zygote (started first where the
    slot has none, or one of another kind, or its zygote ended), or None where this
    submission needs a worker of its own: not bubblewrap. That worker ends every process of
    the slot's uid and group when it stops, so the slot's zygote is ended first."""
    # Without the filter, what outlives a process (System V IPC, message queues, keys)
    # would stay in the sandbox the slot's submissions share.
    usable = config.mode == "bubblewrap" and filter_program(config.group is None) is not None
    notebook = submission.cells is not None
    zygote = job.zygotes.get(id(config))
    if zygote is not None and not (
        usable and zygote.alive and zygote.limits == limits and zygote.notebook == notebook
    ):
        end_zygote(job, config)
        zygote = None
    if not usable:
        return None
    try:
        zygote = zygote or start_zygote(job, config, limits, notebook)
        child = zygote.fork(limits, submission)
    except (OSError, SandboxError):
        # The zygote ended between two submissions (killed from outside, out of memory):
        # one new start, as a worker of its own would need.
        end_zygote(job, config)
        child = start_zygote(job, config, limits, notebook).fork(limits, submission)
    if child is None:
        end_zygote(job, config)
    return child


def start_zygote(job: Job, config: SandboxConfig, limits: Limits, notebook: bool) -> Zygote:
    zygote = Zygote(config, limits, job, notebook)
    with job.lock:
        job.zygotes[id(config)] = zygote
    return zygote


def end_zygote(job: Job, config: SandboxConfig) -> None:
    with job.lock:
        zygote = job.zygotes.pop(id(config), None)
    if zygote is not None:
        zygote.kill()
