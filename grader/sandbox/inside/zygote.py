"""A slot's zygote: one sandbox, Python and numpy started once for a class's submissions.

The zygote never runs student code. It has loaded the job (inputs only, the same for the
whole class) and given up what the worker gives up (main.py); then, for each submission,
it forks one fresh child, which is that submission's worker: the child gets the pipes the
grader made for this submission alone (its requests, its answers, its output), passed with
the request over the zygote's control socket, applies the submission's limits and loads
its code. The zygote waits for the child to end, then leaves nothing of it: every other
process it may signal killed and reaped, /tmp emptied (everything else the sandbox shows is
read-only, and the filter denies what would outlive a process elsewhere: keyrings,
System V IPC, message queues). Only then does it tell the grader the slot is clean; the
grader moves the next submission's code into the slot's folder after that.

Control socket (SOCK_SEQPACKET, one message per request):
  grader -> zygote   {"fork": SETTINGS} with three descriptors (requests, answers,
                     output), SETTINGS being what differs per submission (main.py)
  zygote -> grader   on its own answer pipe: {"type": "started", ...} once, then one
                     {"type": "clean", "clean": bool, "left": [...]} per child
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import stat
from collections.abc import Callable
from typing import Any

from .frames import write_message
from .processes import ancestors_of, pids, reap_all

# Above any descriptor the zygote holds (its RLIMIT_NOFILE is 64).
MAX_FD = 1 << 16
TMP = "/tmp"


def wipe(folder: str) -> list[str]:
    """Remove everything in ``folder``, whatever modes a submission left on it; return
    what could not be removed."""
    for root, dirs, _ in os.walk(folder):
        for name in dirs:
            path = os.path.join(root, name)
            try:
                if not os.path.islink(path):
                    os.chmod(path, stat.S_IRWXU)
            except OSError:
                pass
    for entry in os.scandir(folder):
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            pass
    return sorted(os.listdir(folder))


def tidy() -> list[str]:
    """End what a finished child left and empty /tmp; what could not be cleared (none
    where the slot is clean)."""
    # Every process we may signal but the namespace's init and ourselves: whatever the
    # child left, wherever in the tree (a process that is not dumpable shows another owner
    # in /proc, so the kernel picks the victims, not a listing).
    with contextlib.suppress(OSError):
        os.kill(-1, signal.SIGKILL)
    reap_all()  # orphans came to us (we are their subreaper): reaped, not zombies
    mine = ancestors_of(os.getpid())
    left = [f"process {pid}" for pid in pids() if pid not in mine]
    try:
        left += [f"{TMP}/{name}" for name in wipe(TMP)]
    except OSError as exc:
        left.append(f"{TMP}: {exc.strerror}")
    return left


def start_child(fds: list[int], ctl: int) -> None:
    """In the forked child: the submission's descriptors in place of the zygote's. Its
    output pipe becomes its stdout and stderr; nothing else of the zygote's stays open
    (not the control socket, not the zygote's own answer pipe)."""
    req, res, out = fds
    os.dup2(out, 1)
    os.dup2(out, 2)
    keep = sorted({0, 1, 2, req, res})
    for low, high in zip(keep, [*keep[1:], MAX_FD], strict=True):
        if high > low + 1:
            os.closerange(low + 1, high)
    # A session of its own, as a worker started by the grader has.
    os.setsid()


def serve_forks(
    ctl_fd: int,
    res_fd: int,
    started: dict[str, Any],
    child: Callable[[dict[str, Any], int, int], None],
) -> None:
    """Fork ``child(settings, req_fd, res_fd)`` once per request, one at a time, and
    report after each whether the slot is clean. Returns when the grader closes the
    control socket, or sends what is not a request."""
    write_message(res_fd, dict(started, type="started"))
    ctl = socket.socket(fileno=ctl_fd)
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(ctl, 1 << 16, 3)
        except OSError:
            return
        try:
            request = json.loads(data) if data else None
        except ValueError:
            request = None
        if type(request) is not dict or type(request.get("fork")) is not dict or len(fds) != 3:
            for fd in fds:
                os.close(fd)
            return
        pid = os.fork()
        if pid == 0:
            try:
                start_child(fds, ctl_fd)
                child(request["fork"], fds[0], fds[1])
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)
        os.waitpid(pid, 0)
        left = tidy()
        write_message(res_fd, {"type": "clean", "clean": not left, "left": left[:20]})
