"""What /proc says about processes: owners, parents, and who descends from whom.

The grader reads it to find its worker uid's processes; the worker, to kill what a
finished case left running. Where there is no /proc (macOS), nothing is found: only a
grader running as root relies on it, and only on Linux.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Iterable

# How long killed processes may take to disappear (or become zombies) before we go on.
SETTLE_SECONDS = 1.0
PR_SET_CHILD_SUBREAPER = 36
LINUX = sys.platform.startswith("linux")


def pids() -> list[int]:
    """Every process visible here (none without /proc)."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    return [int(name) for name in names if name.isdigit()]


def have_proc() -> bool:
    return os.path.isdir("/proc/self")


def pids_of(uid: int) -> list[int]:
    """The processes visible here that belong to ``uid``."""
    found = []
    for pid in pids():
        with contextlib.suppress(OSError):
            if os.stat(f"/proc/{pid}").st_uid == uid:
                found.append(pid)
    return found


def stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None when the
    process is gone. The name is skipped by its last ")": it may hold spaces and brackets."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2 :].split()
    except (OSError, ValueError):
        return None


def parent_map() -> dict[int, int]:
    parents: dict[int, int] = {}
    for pid in pids():
        fields = stat_fields(pid)
        if fields is not None and len(fields) > 1:
            parents[pid] = int(fields[1])
    return parents


def children_of(pid: int) -> set[int]:
    """The children of ``pid`` (zombies included), from /proc/PID/task/*/children; none
    where it cannot be read."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with (
                contextlib.suppress(OSError, ValueError),
                open(f"/proc/{pid}/task/{task}/children") as f,
            ):
                found.update(int(child) for child in f.read().split())
    return found


def ancestors_of(pid: int) -> set[int]:
    """``pid`` and the processes it descends from (in a notebook run, the holder)."""
    parents, found = parent_map(), {pid}
    while parents.get(pid, 0) > 0 and parents[pid] not in found:
        pid = parents[pid]
        found.add(pid)
    return found


def descendants_of(roots: set[int]) -> set[int]:
    """The processes visible here whose parent chain reaches one of ``roots``."""
    parents = parent_map()
    keep = set(roots)
    changed = True
    while changed:
        grown = {pid for pid, parent in parents.items() if parent in keep}
        changed = not grown <= keep
        keep |= grown
    return keep


def gone(pid: int) -> bool:
    """The process has exited: it no longer exists, or is a zombie waiting to be reaped
    (which still holds its place under RLIMIT_NPROC until then)."""
    fields = stat_fields(pid)
    return fields is None or fields[0] == b"Z"


def kill_all(victims: Iterable[int]) -> list[int]:
    """SIGKILL each of ``victims``; return those that were still there to kill."""
    killed = []
    for pid in victims:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


def settle(victims: Iterable[int], seconds: float = SETTLE_SECONDS) -> None:
    """Wait until every one of ``victims`` is gone, for at most ``seconds``."""
    waiting = list(victims)
    end = time.monotonic() + seconds
    while waiting and time.monotonic() < end:
        waiting = [pid for pid in waiting if not gone(pid)]
        if waiting:
            time.sleep(0.001)


def adopt_orphans() -> None:
    """Become the parent of every descendant whose own parent dies (Linux): what a case
    leaves running is ours to reap, not init's, which in a container may never reap."""
    if LINUX:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap_all(seconds: float = SETTLE_SECONDS) -> None:
    """Reap every child as it exits, until none is left or ``seconds`` pass."""
    end = time.monotonic() + seconds
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > end:
                return
            time.sleep(0.001)


def sweep(running: set[int]) -> None:
    """Kill every process of our uid that neither descends from ``running`` nor is one of
    our ancestors, and wait until they are gone.

    What a finished case started (in its process group or not) would otherwise hold the
    process limit or the CPU that later cases need. Safe only where every process of the
    uid is this worker's (a uid or a pid namespace of its own).
    """
    # Listed before the family tree is read: a process a running case forks meanwhile (a
    # gradient check's) is either not listed or, listed, found in the tree as its child.
    listed = pids_of(os.getuid())
    keep = descendants_of(running) | ancestors_of(os.getpid())
    settle(kill_all(pid for pid in listed if pid not in keep))
