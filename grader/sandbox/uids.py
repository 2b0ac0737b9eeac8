"""Worker uids for a grader running as root: one per grading slot, free of processes.

RLIMIT_NPROC is not enforced for root, so a root grader runs its workers under an
unprivileged uid of its own; the kernel then counts, limits and (through /proc) lets us
find and kill every process of that uid.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import stat
from pathlib import Path

from grader.errors import SandboxError
from grader.sandbox.inside.processes import gone, kill_all, pids_of

# Worker uids when the grader runs as root: a range no distribution hands out to users.
UID_RANGE = range(61000, 61256)
# Only root allocates, so the locks live where only root can write.
UID_LOCKS = Path("/run/layergrade-uids")
_held_locks: list[int] = []


def processes_of(uid: int) -> int:
    """The live processes of ``uid``: a zombie holds nothing but its entry, until whoever
    inherited it (init, in a container) reaps it."""
    return sum(not gone(pid) for pid in pids_of(uid))


def kill_processes_of(uid: int) -> int:
    """SIGKILL every live process of ``uid``; return how many there were."""
    return len(kill_all(pid for pid in pids_of(uid) if not gone(pid)))


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
            return uid
        os.close(fd)
    raise SandboxError(f"every worker uid in {UID_RANGE.start}-{UID_RANGE.stop - 1} is in use")
