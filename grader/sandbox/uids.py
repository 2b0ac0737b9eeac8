"""Worker uids for a grader running as root: one per grading slot, free of processes.

RLIMIT_NPROC is not enforced for root, so a root grader runs its workers under an
unprivileged uid of its own; the kernel then counts, limits and (through /proc) lets us
find and kill every process of that uid. A killed process stays a zombie, counted against
RLIMIT_NPROC, until its parent reaps it: the grader makes itself the parent of every
orphan its workers leave (a child subreaper), so that it can reap them all, whatever the
container's init does.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import stat
import time
from pathlib import Path

from grader.errors import SandboxError
from grader.sandbox.inside.processes import adopt_orphans, gone, kill_all, pids_of

# Worker uids when the grader runs as root: a range no distribution hands out to users.
UID_RANGE = range(61000, 61256)
# Only root allocates, so the locks live where only root can write.
UID_LOCKS = Path("/run/layergrade-uids")
_held_locks: list[int] = []


def processes_of(uid: int) -> int:
    """The processes of ``uid``, zombies included: each holds a place under its limit."""
    return len(pids_of(uid))


def clear_uid(uid: int, seconds: float) -> bool:
    """Kill every process of ``uid`` and reap those that are ours to reap; whether none
    is left after at most ``seconds``."""
    end = time.monotonic() + seconds
    while True:
        found = pids_of(uid)
        if not found:
            return True
        kill_all(pid for pid in found if not gone(pid))
        for pid in found:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > end:
            return False
        time.sleep(0.001)


def allocate_uid() -> int:
    """Reserve, for the life of this process, a worker uid that no other grader uses.

    The reservation is an exclusive lock on a file per uid, released by the kernel when
    the process ends however it ends; a uid that still owns processes is skipped.
    """
    UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(UID_LOCKS)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise SandboxError(f"{UID_LOCKS} must be a folder owned by root and writable by root only")
    for uid in UID_RANGE:
        with contextlib.suppress(KeyError):
            pwd.getpwuid(uid)
            continue  # a real account: never run workers as it, never kill its processes
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        fd = os.open(UID_LOCKS / f"{uid}.lock", flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if processes_of(uid) == 0:
            _held_locks.append(fd)
            # Orphans of this uid's workers become ours to reap (clear_uid).
            adopt_orphans()
            return uid
        os.close(fd)
    raise SandboxError(f"every worker uid in {UID_RANGE.start}-{UID_RANGE.stop - 1} is in use")
