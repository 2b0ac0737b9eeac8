"""Starting and stopping untrusted workers. The only module that starts student code.

With bubblewrap (bwrap.py), each worker runs in namespaces of its own with a read-only
view of the host. When the grader runs as root (with bubblewrap or in a container), the
worker, before it loads any student code, forbids privilege gain and switches to an
unprivileged uid of its own (uids.py), so that RLIMIT_NPROC applies. In container mode it
first leaves the network, and gets a /tmp of its own. The interpreter may live under a
folder that uid cannot traverse (a home folder of mode 700): bubblewrap's bind mounts are
made by root, so nothing on the host is loosened; without them the worker loads what
student code commonly imports before it drops root.

The grader enforces every deadline from outside and ends a worker by SIGKILL to its
process group (bubblewrap's ``--die-with-parent`` takes the whole pid namespace down).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.config.choices import Isolation
from grader.config.limits import Limits
from grader.errors import Closed, Deadline, SandboxError, TransportError
from grader.sandbox.bwrap import Mounts, SandboxPaths, bwrap_args, bwrap_path
from grader.sandbox.cgroups import SlotGroup, slot_group
from grader.sandbox.container import WORKER_TMP_PREFIX, open_to_group, reclaim, remove_owned
from grader.sandbox.environment import rlimits, worker_env
from grader.sandbox.fonts import bwrap_font_args, copy_font_list, font_list_inside
from grader.sandbox.inside.processes import have_proc
from grader.sandbox.job import INSIDE_PACKAGE, LIB, Job
from grader.sandbox.runtime import Runtime, notebook_site
from grader.sandbox.syscalls import filter_program
from grader.sandbox.transport import Reader, send
from grader.sandbox.uids import allocate_uid, clear_uid, processes_of
from grader.submission.stage import Submission

OUTPUT_CAP = 64 * 1024
# The worker's own setup (interpreter, numpy, inputs) takes well under a second.
STARTUP_SECONDS = 20.0
# How long a killed sandbox's processes may take to disappear.
TEARDOWN_SECONDS = 5.0
# How long a worker that answered everything may take to leave on its own: it kills what
# its cases left and reaps them, which takes milliseconds.
QUIT_SECONDS = 1.0
# A case's wall-clock deadline, as a multiple of its CPU time limit. A case shares the CPU
# with the other case its worker runs at once, and, where no control group gives the slot
# a share of its own, with whatever else runs: a slowdown of three from busy neighbours on
# a two-core machine (two slots, and the grader) still lets a correct case finish, and a
# case that spins reaches its CPU limit first (the student reads "used more than 1 s of
# CPU time", the same in every run: a case still computing at its deadline gets it once
# more, inside/cases.py).
WALL_FACTOR = 3.0
# Run with -c: puts the worker's package (argv[1]) first and numpy's folder (argv[2]) last
# on a path that otherwise holds the standard library only, then starts it.
BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); sys.path.append(sys.argv[2]); "
    f"from {INSIDE_PACKAGE}.main import main; sys.exit(main(sys.argv[3]))"
)


@dataclass(frozen=True)
class SandboxConfig:
    """How to isolate workers (see isolation.py), for one grading slot at a time."""

    mode: Isolation
    runtime: Runtime
    # The bubblewrap binary, in bubblewrap mode.
    bwrap: str | None = None
    # The unprivileged uid of this slot's workers when the grader runs as root.
    uid: int | None = None
    # The slot's control group, where the machine gives one (cgroups.py).
    group: SlotGroup | None = None

    @classmethod
    def create(cls, mode: Isolation, runtime: Runtime, groups: bool = True) -> SandboxConfig:
        """A slot: as root, with a worker uid of its own (see allocate_uid) and, unless
        ``groups`` is False, a control group where the machine has them."""
        bwrap = bwrap_path() if mode == "bubblewrap" else None
        if mode == "bubblewrap" and bwrap is None:
            raise SandboxError("bubblewrap isolation without a bwrap binary")
        uid = allocate_uid() if os.geteuid() == 0 else None
        if uid is not None:
            reclaim(uid)
        group = slot_group(f"slot-{uid}") if groups and uid is not None else None
        return cls(mode, runtime, bwrap, uid, group)

    def case_wall_seconds(self, limits: Limits) -> float:
        """A case's wall-clock deadline (its CPU time is limited to ``case_seconds``)."""
        return limits.case_seconds * WALL_FACTOR

    def admit(self, folder: Path) -> None:
        """Open a submission's staging ``folder`` to this slot's workers only."""
        if self.uid is not None:
            open_to_group(folder, self.uid)


def filter_pipe(program: bytes) -> int:
    """A pipe's reading end holding ``program`` (a few hundred bytes: within the pipe's
    buffer, so the write does not block)."""
    r, w = os.pipe()
    try:
        os.write(w, program)
    finally:
        os.close(w)
    return r


def worker_processes(limits: Limits, uid: int | None) -> int | None:
    """The RLIMIT_NPROC of a worker: the limit, for a uid of its own; else the processes
    the user already has plus the limit (the kernel counts them all), and none where they
    cannot be counted (no /proc)."""
    if uid is not None:
        return limits.processes
    if not have_proc():
        return None
    return processes_of(os.getuid()) + limits.processes


def submission_settings(
    limits: Limits, submission: Submission, case_wall_seconds: float, source: str
) -> dict[str, Any]:
    """What a worker is told of the submission it grades (``source``: where its staged code
    is, as the worker sees it)."""
    cells = submission.cells
    return {
        "module": submission.module,
        "case_seconds": limits.case_seconds,
        "case_wall_seconds": case_wall_seconds,
        "parallel": limits.parallel_cases,
        "cell_seconds": limits.cell_seconds,
        "notebook_seconds": limits.notebook_seconds,
        "source": source,
        "cells": f"{source}/{cells}" if cells else None,
        # A notebook may get its graded functions from the submission's own modules.
        "notebook": submission.mode != "module",
    }


def wait_exit(proc: subprocess.Popen[bytes], seconds: float) -> None:
    """Wait up to ``seconds`` for ``proc`` to end: woken by its end (a pidfd) where the
    kernel has them, rather than by Popen.wait's polling, which sleeps in steps."""
    if proc.returncode is not None:
        return
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=seconds)
        return
    try:
        poll = select.poll()
        poll.register(fd, select.POLLIN)
        poll.poll(seconds * 1000)
    finally:
        os.close(fd)
    proc.poll()


class Worker:
    """One running worker process for one submission. Use as a context manager."""

    def __init__(
        self,
        config: SandboxConfig,
        limits: Limits,
        job: Job,
        submission: Submission,
        *,
        hold: bool = False,
        zygote: int | None = None,
    ) -> None:
        """Start a worker for the staged ``submission``: for its module, or for the
        notebook whose code cells it lists. With ``hold``, the job may not be written yet:
        the worker starts Python and imports numpy meanwhile, then waits for ``release``.
        With ``zygote`` (a control socket's descriptor), the worker is a slot's zygote
        (zygote.py), and ``submission`` the slot's empty folder (with ``cells`` set, a
        zygote for executed notebooks)."""
        source, cells = submission.source, submission.cells
        root = os.geteuid() == 0
        self.uid = config.uid if root else None
        if root and self.uid is None:
            raise SandboxError("a grader running as root needs a worker uid (SandboxConfig.create)")
        self.started = False
        self.group = config.group
        self.oom_kills = 0
        self.group_members: set[int] = set()
        self.case_wall_seconds = config.case_wall_seconds(limits)
        self.network_cut: bool | None = config.mode == "bubblewrap"
        # Where no group counts memfd files, the filter denies them.
        program = filter_program(deny_memfd=config.group is None)
        self.filtered: bool | None = program is not None and config.mode == "bubblewrap"
        self.limits_skipped: tuple[str, ...] = ()
        nproc = worker_processes(limits, self.uid)
        # What this worker's isolation lacks whatever the worker reports: the machine's
        # /tmp, without bubblewrap (TMPDIR and HOME are its own); a process limit, where
        # the processes cannot be counted.
        self.known_gaps: tuple[str, ...] = ("shared /tmp",) if config.mode == "container" else ()
        if nproc is None:
            self.known_gaps += ("RLIMIT_NPROC",)
        if config.group is None:
            self.known_gaps += ("fair CPU share",)
        self.tmp: Path | None = None
        # matplotlib's font list, where the job made one for a class's notebooks.
        fonts = job.fonts.get(config.mode) if cells else None
        if config.mode == "bubblewrap":
            assert config.bwrap is not None
            extra = notebook_site() if cells else ()
            mounts = Mounts(job.path, source)
            argv, paths = bwrap_args(config.bwrap, config.runtime, mounts, limits, extra)
            if fonts is not None:
                argv[-1:-1] = bwrap_font_args(fonts)
            env = None
        else:
            argv = [str(config.runtime.executable)]
            runtime = config.runtime
            packages = [runtime.numpy_dir, *filter(None, [runtime.numpy_libs])]
            if cells:
                site = job.site_view("notebook", [*packages, *notebook_site()])
            else:
                site = job.site_view("module", packages)
            paths = SandboxPaths(job=str(job.path), source=str(source), site=str(site))
            if self.uid is not None:
                # A /tmp of its own: the machine's is shared with every other worker.
                self.tmp = Path(tempfile.mkdtemp(prefix=WORKER_TMP_PREFIX))
                if fonts is not None:
                    copy_font_list(fonts, self.tmp, self.uid)
                os.chown(self.tmp, self.uid, self.uid)
            home = str(self.tmp or source)
            env = dict(worker_env(home=home), TMPDIR=home)
        if config.group is not None:
            config.group.set_limits(limits)
            self.oom_kills = config.group.oom_kills()
        # The descriptors last: nothing that can fail stands between them and the worker.
        req_r, self.req_w = os.pipe()
        res_r, res_w = os.pipe()
        filter_fd = filter_pipe(program) if program is not None else None
        if filter_fd is not None and config.mode == "bubblewrap":
            argv[1:1] = ["--seccomp", str(filter_fd)]
        settings: dict[str, Any] = {
            "req_fd": req_r,
            "res_fd": res_w,
            "limits": rlimits(limits, nproc),
            "uid": self.uid,
            # bubblewrap installs the filter itself.
            "filter_fd": filter_fd if config.mode != "bubblewrap" else None,
            # Sweeping strays is safe where every process of the worker's uid is ours.
            "contain": config.mode == "bubblewrap" or self.uid is not None,
            # Without bubblewrap's bind mounts the worker's uid may not be able to read the
            # interpreter's files once it has dropped root.
            "preload": config.mode != "bubblewrap" and self.uid is not None,
            "cut_network": config.mode == "container",
            "job": paths.job,
            "hold": hold,
            **submission_settings(limits, submission, self.case_wall_seconds, paths.source),
        }
        if zygote is not None:
            # Its children set these, each for itself: the CPU time counts from zero in a
            # new process, and the processes are counted when it starts (zygote.py).
            for name in ("RLIMIT_CPU", "RLIMIT_NPROC"):
                settings["limits"].pop(name, None)
            settings["zygote"] = zygote
            # What it empties /tmp of after each submission, but the font list it shows.
            settings["keep"] = [font_list_inside(fonts)] if fonts is not None else []
        # -I -S: no environment, user site or site-packages; -u: what the student prints
        # reaches us even from a case that ends with os._exit.
        argv += ["-I", "-S", "-B", "-u", "-c", BOOTSTRAP]
        argv += [f"{paths.job}/{LIB}", paths.site, json.dumps(settings)]
        if config.group is not None:
            argv = config.group.launcher() + argv
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(req_r, res_w) + tuple(fd for fd in (filter_fd, zygote) if fd is not None),
                start_new_session=True,
                env=env,
                cwd=str(source) if config.mode != "bubblewrap" else None,
            )
        except BaseException:
            os.close(self.req_w)
            os.close(res_r)
            if self.tmp is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        finally:
            for child_end in (req_r, res_w, filter_fd):
                if child_end is not None:
                    os.close(child_end)
        # Where the worker finds the job and the submission.
        self.paths = paths
        self.reader = Reader(res_r)
        self.output = bytearray()
        self.output_dropped = 0
        assert self.proc.stdout is not None
        self._drain = threading.Thread(
            target=self._drain_output, args=(self.proc.stdout.fileno(),), daemon=True
        )
        self._drain.start()

    def _drain_output(self, fd: int) -> None:
        """Keep the first OUTPUT_CAP bytes of the worker's stdout/stderr, discard the rest."""
        for chunk in iter(lambda: os.read(fd, 1 << 16), b""):
            room = OUTPUT_CAP - len(self.output)
            self.output += chunk[:room]
            self.output_dropped += max(0, len(chunk) - room)

    def wait_started(self, seconds: float = STARTUP_SECONDS) -> None:
        """Wait for the worker's own setup (before any student code) to finish."""
        try:
            message = self.reader.read(time.monotonic() + seconds)
        except (Closed, Deadline, TransportError) as exc:
            self.kill()
            raise SandboxError(
                f"the worker did not start ({type(exc).__name__}); its output:\n"
                + self.output.decode("utf-8", "replace")[-2000:]
            ) from None
        header = message.header
        if header.get("type") != "started":
            self.kill()
            raise SandboxError(f"the worker sent {header!r:.200} before starting")
        self.started = True
        if self.group is not None:
            # bubblewrap's own processes, alive now: the grader reaps them once killed.
            self.group_members.update(self.group.members())
        # Written by the worker's own code, before any student code was loaded.
        if type(header.get("network_cut")) is bool:
            self.network_cut = header["network_cut"]
        if type(header.get("filtered")) is bool:
            self.filtered = header["filtered"]
        skipped = header.get("limits_skipped")
        if type(skipped) is list:
            self.limits_skipped = tuple(str(name)[:40] for name in skipped[:10])

    def release(self) -> None:
        """Let a worker started with ``hold`` go on: its job is written."""
        send(self.req_w, {"go": True})

    def request(self, case_id: str, check: bool = False) -> None:
        """Ask for a case, or (``check``) for its gradient check (inside/gradcheck.py)."""
        send(self.req_w, {"check" if check else "case": case_id})

    def kill(self) -> None:
        """End the worker and everything it started, whatever state it is in."""
        if self.group is not None:
            self.group_members.update(self.group.members())
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        # Killing bubblewrap ends the pid namespace, but the kernel tears its processes
        # down asynchronously; without bubblewrap, nothing ends a process that left the
        # worker's session. The uid is this grader's alone: end and reap all of its
        # processes (zombies of cases the worker never reaped included), so the next
        # worker starts from zero (and none holds the output pipe).
        if self.uid is not None and not clear_uid(self.uid, TEARDOWN_SECONDS):
            raise SandboxError(
                f"processes of worker uid {self.uid} outlived {TEARDOWN_SECONDS:g} s of "
                "SIGKILL: its next worker would share them; stopping"
            )
        # Then what is left in the group: bubblewrap's own (root's) processes.
        self.group_members.discard(self.proc.pid)  # reaped by Popen already
        if self.group is not None:
            if not self.group.clear(TEARDOWN_SECONDS, self.group_members):
                raise SandboxError(
                    f"processes of {self.group.folders['pids']} outlived {TEARDOWN_SECONDS:g} "
                    "s of SIGKILL: the next worker would share its limits; stopping"
                )
            self.group_members.clear()
        if self.uid is not None and self.tmp is not None:
            remove_owned(Path("/dev/shm"), self.uid)
        self._drain.join(timeout=5)

    def close(self, finished: bool = False) -> None:
        """Stop the worker. A ``finished`` one (it answered every request) gets a moment
        to end what its cases left and reap it (a container's init may never reap);
        then, finished or not, it is killed with whatever remains."""
        with contextlib.suppress(OSError):
            os.close(self.req_w)  # the worker reads this as the end of the requests
        self.req_w = -1  # closed: a second close must not close a reused descriptor
        if finished:
            wait_exit(self.proc, QUIT_SECONDS)
        with contextlib.suppress(OSError):
            os.close(self.reader.fd)
        self.reader.fd = -1
        self.kill()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def gaps(self) -> tuple[str, ...]:
        """What this worker's isolation could not take away."""
        network = () if self.network_cut else ("network",)
        filtered = () if self.filtered else ("system-call filter",)
        return network + self.known_gaps + filtered + self.limits_skipped

    def memory_killed(self) -> bool:
        """Whether the kernel has killed one of this worker's processes for the memory of
        its group since the last time we asked (or the worker started)."""
        if self.group is None:
            return False
        before, self.oom_kills = self.oom_kills, self.group.oom_kills()
        return self.oom_kills > before

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
