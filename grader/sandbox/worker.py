"""Starting and stopping untrusted workers. The only module that starts student code.

With bubblewrap (bwrap.py), each worker runs in namespaces of its own with a read-only
view of the host. When the grader runs as root, bubblewrap runs privileged (no user
namespace) and the worker, before it loads any student code, forbids privilege gain and
switches to an unprivileged uid of its own (uids.py), so that RLIMIT_NPROC applies. The
interpreter may live under a folder that uid cannot traverse (a home folder of mode
700): the bind mounts are made by root, so nothing on the host is loosened.

The grader enforces every deadline from outside and ends a worker by SIGKILL to its
process group (bubblewrap's ``--die-with-parent`` takes the whole pid namespace down).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any

from grader.config.limits import Limits
from grader.errors import Closed, Deadline, SandboxError, TransportError
from grader.sandbox.bwrap import Mounts, SandboxPaths, bwrap_args
from grader.sandbox.environment import rlimits, worker_env
from grader.sandbox.job import INSIDE_PACKAGE, LIB, Job
from grader.sandbox.runtime import Runtime, notebook_site
from grader.sandbox.transport import Reader, send
from grader.sandbox.uids import allocate_uid, kill_processes_of, processes_of
from grader.submission.stage import Submission

OUTPUT_CAP = 64 * 1024
# The worker's own setup (interpreter, numpy, inputs) takes well under a second.
STARTUP_SECONDS = 20.0
# How long a killed sandbox's processes may take to disappear.
TEARDOWN_SECONDS = 5.0
# Run with -c: puts the worker's package (argv[1]) first and numpy's folder (argv[2]) last
# on a path that otherwise holds the standard library only, then starts it.
BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); sys.path.append(sys.argv[2]); "
    f"from {INSIDE_PACKAGE}.main import main; sys.exit(main(sys.argv[3]))"
)


@dataclass(frozen=True)
class SandboxConfig:
    """How to isolate workers. ``bwrap`` None means process and rlimit isolation only."""

    bwrap: str | None
    runtime: Runtime
    # The unprivileged uid of this grader's workers when it runs as root (see allocate_uid).
    uid: int | None = None

    @classmethod
    def create(cls, bwrap: str | None, runtime: Runtime) -> SandboxConfig:
        return cls(bwrap, runtime, allocate_uid() if os.geteuid() == 0 else None)

    @property
    def sandboxed(self) -> bool:
        return self.bwrap is not None


class Worker:
    """One running worker process for one submission. Use as a context manager."""

    def __init__(
        self,
        config: SandboxConfig,
        limits: Limits,
        job: Job,
        submission: Submission,
    ) -> None:
        """Start a worker for the staged ``submission``: for its module, or for the
        notebook whose code cells it lists."""
        source, module, cells = submission.source, submission.module, submission.cells
        req_r, self.req_w = os.pipe()
        res_r, res_w = os.pipe()
        root = os.geteuid() == 0
        self.uid = config.uid if root else None
        if root and self.uid is None:
            raise SandboxError("a grader running as root needs a worker uid (SandboxConfig.create)")
        # RLIMIT_NPROC counts every process of the uid; when we cannot switch to a uid of
        # our own, allow the processes the user already has plus the limit.
        nproc = limits.processes if root else processes_of(os.getuid()) + limits.processes
        if config.bwrap is not None:
            extra = notebook_site() if cells else ()
            argv, paths = bwrap_args(
                config.bwrap, config.runtime, Mounts(job.path, source), limits, extra
            )
            env = None
        else:
            argv = [str(config.runtime.executable)]
            paths = SandboxPaths(
                job=str(job.path), source=str(source), site=str(config.runtime.numpy_dir.parent)
            )
            env = worker_env(home=str(source))
        settings: dict[str, Any] = {
            "req_fd": req_r,
            "res_fd": res_w,
            "limits": rlimits(limits, nproc),
            "uid": self.uid,
            "module": module,
            "case_seconds": limits.case_seconds,
            "parallel": limits.parallel_cases,
            # Sweeping strays is safe where every process of the worker's uid is ours.
            "contain": config.sandboxed or self.uid is not None,
            "preload": not config.sandboxed and self.uid is not None,
            "cell_seconds": limits.cell_seconds,
            "notebook_seconds": limits.notebook_seconds,
            "job": paths.job,
            "source": paths.source,
            "cells": f"{paths.source}/{cells}" if cells else None,
        }
        # -I -S: no environment, user site or site-packages; -u: what the student prints
        # reaches us even from a case that ends with os._exit.
        argv += ["-I", "-S", "-B", "-u", "-c", BOOTSTRAP]
        argv += [f"{paths.job}/{LIB}", paths.site, json.dumps(settings)]
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(req_r, res_w),
            start_new_session=True,
            env=env,
            cwd=str(source) if config.bwrap is None else None,
        )
        os.close(req_r)
        os.close(res_w)
        self.reader = Reader(res_r)
        self.output = bytearray()
        self.output_dropped = 0
        self._drain = threading.Thread(target=self._drain_output, daemon=True)
        self._drain.start()

    def _drain_output(self) -> None:
        """Keep the first OUTPUT_CAP bytes of the worker's stdout/stderr, discard the rest."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
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
        if message.header.get("type") != "started":
            self.kill()
            raise SandboxError(f"the worker sent {message.header!r:.200} before starting")

    def request(self, case_id: str) -> None:
        send(self.req_w, {"case": case_id})

    def kill(self) -> None:
        """End the worker and everything it started, whatever state it is in."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        if self.uid is not None:
            # Killing bubblewrap ends the pid namespace, but the kernel tears its processes
            # down asynchronously; without bubblewrap, nothing ends a process that left the
            # worker's session. The uid is this grader's alone: end all of its processes,
            # so the next worker starts from zero (and none holds the output pipe open).
            end = time.monotonic() + TEARDOWN_SECONDS
            while kill_processes_of(self.uid) and time.monotonic() < end:
                time.sleep(0.001)
        self._drain.join(timeout=5)

    def close(self) -> None:
        for fd in (self.req_w, self.reader.fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.kill()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
