"""One case in a forked child of the worker, with its own deadline.

The child runs the case's calls, writes one message and exits; the worker reads the
message, or kills the child when its deadline passes, and turns what happened into the
message it forwards to the grader. A crash, a hang or an exit costs that case only.

Each case has ``seconds`` of CPU time (RLIMIT_CPU on its process, and on each process it
starts), and a wall-clock deadline: the same ``seconds`` where the grader's control group
gives the worker a core of its own, a multiple of it where the CPU is shared with whatever
else runs (a busy neighbour then slows a case without making it fail).
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import signal
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from .calls import CallError, NotTested, error_message, result_message, run_calls
from .frames import MALFORMED, encode_message, message_length, write_message
from .gradcheck import clock, isolated

# Bound before any student code runs, which may replace the os module's functions.
_fork, _exit, _wait4 = os.fork, os._exit, os.wait4
_setrlimit = resource.setrlimit
# Above any descriptor a worker holds (its RLIMIT_NOFILE is 64).
MAX_FD = 1 << 16

# Children that answered and were killed, not yet reaped: waiting for an exiting process's
# teardown would put it on every case's critical path.
answered: list[int] = []


def reap_answered() -> None:
    for pid in list(answered):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            answered.remove(pid)


class Child:
    """The worker's side of one case running in a forked child."""

    def __init__(
        self,
        namespace: Mapping[str, Any],
        case: Mapping[str, Any],
        inputs: Mapping[str, np.ndarray],
        seconds: float,
        wall_seconds: float,
    ) -> None:
        """Fork the case's child. It keeps its own result channel and the standard streams,
        nothing else of the worker's: not the pipes to the grader, not the other cases'
        answers (the worker is not dumpable either, so /proc gives no way back to them)."""
        self.case_id = case["id"]
        self.seconds, self.wall_seconds = seconds, wall_seconds
        self.deadline = time.monotonic() + wall_seconds
        self.data = bytearray()
        self.complete = self.closed = self.timed_out = self.malformed = False
        self.fork_error: str | None = None
        r, w = os.pipe()
        try:
            self.pid = _fork()
        except OSError as exc:
            # Typically the process limit, filled by processes an earlier case left behind.
            self.pid, self.closed, self.fork_error = 0, True, str(exc)
        else:
            if self.pid == 0:
                os.closerange(3, w)
                os.closerange(w + 1, MAX_FD)
                # Its own process group, so that what the case starts can be ended with it.
                os.setpgid(0, 0)
                run_child(namespace, case, inputs, w, seconds)
        os.close(w)
        self.fd = r

    @property
    def finished(self) -> bool:
        return self.complete or self.closed or self.timed_out or self.malformed

    def read(self) -> None:
        chunk = os.read(self.fd, 1 << 20)
        self.data += chunk
        self.closed = not chunk
        length = message_length(self.data)
        if length == MALFORMED:
            self.malformed = True
        elif length is not None:
            del self.data[length:]
            self.complete = True

    def answer(self) -> bytes:
        """The message to forward: the child's own, or what became of it."""
        os.close(self.fd)
        base = {"type": "result", "case": self.case_id}
        if self.fork_error is not None:
            error = f"could not start a process for this case ({self.fork_error})"
            return encode_message(dict(base, status="error", error=error))
        for kill in (os.kill, os.killpg):
            with contextlib.suppress(OSError):
                kill(self.pid, signal.SIGKILL)
        if self.complete:
            answered.append(self.pid)
            return bytes(self.data)
        _, status, usage = _wait4(self.pid, 0)
        if self.malformed:
            return encode_message(
                dict(base, status="error", error="the case sent a garbled answer")
            )
        if self.timed_out:
            return encode_message(dict(base, status="timeout", seconds=self.wall_seconds))
        if os.WIFSIGNALED(status) and (
            os.WTERMSIG(status) == signal.SIGXCPU or usage.ru_utime + usage.ru_stime >= self.seconds
        ):
            return encode_message(dict(base, status="timeout", seconds=self.seconds, clock="cpu"))
        if os.WIFSIGNALED(status):
            sig = signal.Signals(os.WTERMSIG(status)).name
            return encode_message(dict(base, status="killed", signal=sig))
        code = os.WEXITSTATUS(status)
        error = f"the process exited (code {code}) instead of returning: os._exit?"
        return encode_message(dict(base, status="exit", error=error))


def limit_cpu(seconds: float) -> None:
    """At ``seconds`` of CPU time the kernel sends SIGXCPU, a second later SIGKILL."""
    soft = max(1, math.ceil(seconds))
    with contextlib.suppress(ValueError, OSError):
        _setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))


def first_to_go() -> None:
    """Make this case the kernel's first choice when the worker's group runs out of
    memory: the case, not the worker serving the others, pays for what it took."""
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")


def run_child(
    namespace: Mapping[str, Any],
    case: Mapping[str, Any],
    inputs: Mapping[str, np.ndarray],
    w: int,
    seconds: float,
) -> None:
    """The child's side: run the case, write one message, exit. Never returns."""
    started = clock()
    mutated: list[str] = []
    try:
        limit_cpu(seconds)
        first_to_go()
        header, arrays = result_message(run_calls(namespace, case, inputs, mutated))
        header["mutated"] = mutated
        # Beside the outputs, never instead of them: a check that fails sends nothing.
        arrays.update(isolated(namespace, case, inputs, seconds, started))
    except NotTested as exc:
        # Where the other function failed (its line), in the words of NotTested.
        header, arrays = dict(error_message(exc.__cause__ or exc), error=str(exc)[:500]), {}
    except CallError as exc:
        header, arrays = {"type": "result", "status": "bad_return", "error": str(exc)}, {}
    except SystemExit as exc:
        header, arrays = error_message(exc, "exit"), {}
    except BaseException as exc:
        header, arrays = error_message(exc), {}
    try:
        write_message(w, dict(header, case=case["id"]), arrays)
    finally:
        _exit(0)
