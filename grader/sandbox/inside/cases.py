"""A function's cases in a forked child of the worker, each with its own deadline.

The child runs its cases one after the other, from the state the submission's import left
(each case's arguments are fresh copies), writes one message per case and exits (a
gradient check, gradcheck.py, runs the same way, in a child of its own); the
worker forwards each message, or kills the child when a case's deadline passes, and turns
what happened into the message of the case that was running. The cases after it run in a
new child: a crash, a hang or an exit costs that case only. One child per function rather
than per case: a fork, and the pages the child's first case copies from the worker, cost
more than a small case's calls.

Each case has ``seconds`` of CPU time (RLIMIT_CPU, counted from the case's start, on its
process and on each process it starts), and a wall-clock deadline, a multiple of
``seconds`` (the grader's choice, see worker.py): a busy neighbour slows a case without
making it fail.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import signal
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .calls import CallError, NotTested, error_message, result_message, run_calls
from .frames import MALFORMED, encode_message, message_length, write_message
from .gradcheck import check_seconds, numeric_gradients
from .processes import stat_fields

# Bound before any student code runs, which may replace the os module's functions.
_fork, _exit, _wait4 = os.fork, os._exit, os.wait4
_setrlimit, _process_time = resource.setrlimit, time.process_time
# Above any descriptor a worker holds (its RLIMIT_NOFILE is 64).
MAX_FD = 1 << 16
# A case past its deadline that used this share of its CPU limit was computing, not
# waiting: what a case that spins gets in its wall time (three times its CPU limit,
# WALL_FACTOR in grader/sandbox/worker.py) from a twelfth of a core.
BUSY = 0.25
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# Children that answered and were killed, not yet reaped: waiting for an exiting process's
# teardown would put it on every case's critical path.
answered: list[int] = []


def reap_answered() -> None:
    for pid in list(answered):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            answered.remove(pid)


class Child:
    """The worker's side of a forked child running a function's cases in order."""

    def __init__(
        self,
        namespace: Mapping[str, Any],
        cases: Sequence[Mapping[str, Any]],
        inputs: Mapping[str, np.ndarray],
        seconds: float,
        wall_seconds: float,
    ) -> None:
        """Fork the child for ``cases`` (``inputs`` holds all of theirs, by "case:name").
        It keeps its own result channel and the standard streams, nothing else of the
        worker's: not the pipes to the grader, not the other cases' answers (the worker is
        not dumpable either, so /proc gives no way back to them)."""
        self.cases = deque(cases)
        self.seconds, self.wall_seconds = seconds, wall_seconds
        self.deadline = time.monotonic() + wall_seconds
        # The CPU time the child had used when its running case started (a new process:
        # none), and whether that case's deadline was extended once (see overran).
        self.cpu_mark, self.extended = 0.0, False
        self.data = bytearray()
        # Whole messages read and not yet forwarded; how many were read.
        self.ready: deque[bytes] = deque()
        self.count = 0
        self.closed = self.timed_out = self.malformed = False
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
                # Its own process group, so that what the cases start can be ended with it.
                os.setpgid(0, 0)
                run_child(namespace, cases, inputs, w, seconds)
        os.close(w)
        self.fd = r

    @property
    def finished(self) -> bool:
        """Nothing more will come: every case answered, or the child failed."""
        return not self.cases or self.closed or self.timed_out or self.malformed

    def read(self) -> None:
        chunk = os.read(self.fd, 1 << 20)
        self.data += chunk
        self.closed = not chunk
        while self.cases and not self.malformed:
            length = message_length(self.data)
            if length is None:
                return
            if length == MALFORMED:
                self.malformed = True
                return
            message = bytes(self.data[:length])
            del self.data[:length]
            self.ready.append(message)
            self.cases.popleft()
            self.count += 1
            # The next case's deadline counts from the end of this one.
            self.deadline = time.monotonic() + self.wall_seconds
            self.cpu_mark, self.extended = cpu_seconds(self.pid), False

    def overran(self) -> bool:
        """Whether the running case, past its deadline, is to be stopped now: not where it
        has been computing and was only slowed by a busy machine (it used at least BUSY
        of its CPU limit). Such a case gets its deadline again, once, so that it reaches
        its CPU limit, as it would have on an idle machine, and is told so: whether a case
        that spins ran out of CPU time or of time does not depend on the load, unless the
        machine gives it less than a sixth of a core."""
        if self.extended or not computing(self.pid, self.cpu_mark, self.seconds):
            return True
        self.extended = True
        self.deadline = time.monotonic() + self.wall_seconds
        return False

    def answers(self) -> list[bytes]:
        """The messages to forward now: whole ones the child wrote; once it has failed on
        its first case, what became of that case. The cases left stay in ``cases``, for
        another child."""
        out = list(self.ready)
        self.ready.clear()
        if not self.finished:
            return out
        os.close(self.fd)
        for kill in (os.kill, os.killpg) if self.pid else ():
            with contextlib.suppress(OSError):
                kill(self.pid, signal.SIGKILL)
        if not self.cases or (self.count and self.fork_error is None):
            # Done; or failed after answering a case, when what failed may still be that
            # case (a thread it left, an exit after its answer): the cases left run again
            # in a fresh child, where only the case that runs first can be charged.
            answered.append(self.pid)
            return out
        case = self.cases.popleft()
        base = {"type": "result", "case": case["id"]}
        if self.fork_error is not None:
            error = f"could not start a process for this case ({self.fork_error})"
            return out + [encode_message(dict(base, status="error", error=error))]
        _, status, usage = _wait4(self.pid, 0)
        if self.malformed:
            error = "the case sent a garbled answer"
            return out + [encode_message(dict(base, status="error", error=error))]
        if self.timed_out:
            return out + [encode_message(dict(base, status="timeout", seconds=self.wall_seconds))]
        if os.WIFSIGNALED(status) and (
            os.WTERMSIG(status) == signal.SIGXCPU or usage.ru_utime + usage.ru_stime >= self.seconds
        ):
            timeout = dict(base, status="timeout", seconds=self.seconds, clock="cpu")
            return out + [encode_message(timeout)]
        if os.WIFSIGNALED(status):
            sig = signal.Signals(os.WTERMSIG(status)).name
            return out + [encode_message(dict(base, status="killed", signal=sig))]
        code = os.WEXITSTATUS(status)
        error = f"the process exited (code {code}) instead of returning: os._exit?"
        return out + [encode_message(dict(base, status="exit", error=error))]


def cpu_seconds(pid: int) -> float:
    """The CPU time ``pid`` has used so far (/proc/PID/stat's utime and stime), 0 where
    it cannot be read."""
    fields = stat_fields(pid) if pid else None
    try:
        return (int(fields[11]) + int(fields[12])) / TICKS if fields else 0.0
    except (IndexError, ValueError):
        return 0.0


def computing(pid: int, mark: float, seconds: float) -> bool:
    """Whether ``pid`` has used BUSY of a case's CPU limit (``seconds``) since it had used
    ``mark``."""
    return cpu_seconds(pid) - mark >= BUSY * seconds


def limit_cpu(seconds: float, hard: int, first: bool) -> None:
    """SIGXCPU after ``seconds`` of the case's CPU time, SIGKILL at ``hard``, the child's
    whole allowance (a hard limit can only be lowered: it is the same for all its cases).
    The limit counts whole seconds of the process's time: exact for the child's first case
    (a new process starts from zero), up to a second more for the cases after it, which
    are charged with nothing but run again as the first of a fresh child when they fail."""
    used = 0.0 if first else _process_time()
    soft = min(max(1, math.ceil(used + seconds)), hard)
    with contextlib.suppress(ValueError, OSError):
        _setrlimit(resource.RLIMIT_CPU, (soft, hard))


def first_to_go() -> None:
    """Make this child the kernel's first choice when the worker's group runs out of
    memory: the case, not the worker serving the others, pays for what it took."""
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")


def run_case(
    namespace: Mapping[str, Any],
    case: Mapping[str, Any],
    inputs: Mapping[str, np.ndarray],
    seconds: float,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """One case's message: its outputs, or what went wrong; for a check (``case`` with
    "check" set), the numerical gradient of the submission's own forward (gradcheck.py)."""
    if case.get("check"):
        return {"type": "result", "status": "ok"}, numeric_gradients(
            namespace, case, inputs, seconds
        )
    mutated: list[str] = []
    try:
        header, arrays = result_message(run_calls(namespace, case, inputs, mutated))
        header["mutated"] = mutated
    except NotTested as exc:
        # Where the other function failed (its line), in the words of NotTested.
        header, arrays = dict(error_message(exc.__cause__ or exc), error=str(exc)[:500]), {}
    except CallError as exc:
        header, arrays = {"type": "result", "status": "bad_return", "error": str(exc)}, {}
    except SystemExit as exc:
        header, arrays = error_message(exc, "exit"), {}
    except BaseException as exc:
        header, arrays = error_message(exc), {}
    return header, arrays


def run_child(
    namespace: Mapping[str, Any],
    cases: Sequence[Mapping[str, Any]],
    inputs: Mapping[str, np.ndarray],
    w: int,
    seconds: float,
) -> None:
    """The child's side: run the cases in order, one message each, then exit. Never
    returns."""
    try:
        first_to_go()
        hard = len(cases) * (math.ceil(seconds) + 1) + 1
        for k, case in enumerate(cases):
            limit_cpu(check_seconds(seconds) if case.get("check") else seconds, hard, first=k == 0)
            mine = {name: inputs[f"{case['id']}:{name}"] for name in case["inputs"]}
            header, arrays = run_case(namespace, case, mine, seconds)
            write_message(w, dict(header, case=case["id"]), arrays)
    finally:
        _exit(0)
