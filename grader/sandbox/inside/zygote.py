"""A slot's zygote: one sandbox, Python and numpy started once for a class's submissions.

The zygote never runs student code. It has loaded the job (inputs only, the same for the
whole class) and given up what the worker gives up (main.py); a zygote for executed
notebooks has also imported what every notebook's worker imports (IPython, pyplot), and
emptied /tmp of what that wrote. Then, for each submission,
it forks one fresh child, which is that submission's worker: the child gets the pipes the
grader made for this submission alone (its requests, its answers, its output), passed with
the request over the zygote's control socket, applies the submission's limits and loads
its code. The zygote waits for the child to end, then leaves nothing of it: every other
process it may signal killed and reaped, /tmp emptied but for the read-only font list a
class's notebooks are shown (everything else the sandbox shows is
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
import ctypes
import importlib
import json
import os
import platform
import resource
import shutil
import signal
import socket
import stat
from collections.abc import Callable, Mapping
from typing import Any

from .frames import write_message
from .processes import ancestors_of, pids, reap_all

# Above any descriptor the zygote holds (its RLIMIT_NOFILE is 64).
MAX_FD = 1 << 16
TMP = "/tmp"


# What an executed notebook's worker imports in any case (cells.py), and what the
# course's notebooks import first (``%matplotlib inline`` imports pyplot, most of a
# notebook's start): imported once, by a zygote for executed notebooks.
NOTEBOOK_MODULES = (
    "IPython.core.interactiveshell",
    "traitlets.config",
    "matplotlib.pyplot",
    "matplotlib_inline.backend_inline",
)


def wipe(folder: str, keep: frozenset[str] = frozenset()) -> list[str]:
    """Remove everything in ``folder``, whatever modes a submission left on it, but the
    files in ``keep`` (read-only mounts) and the folders that hold them; return what else
    could not be removed."""
    held = held_folders(folder, keep)
    left: list[str] = []

    def unlisted(error: OSError) -> None:
        left.append(f"{error.filename}: {error.strerror}")

    for root, dirs, _ in os.walk(folder, onerror=unlisted):
        for name in dirs:
            path = os.path.join(root, name)
            if path not in held and not os.path.islink(path):
                with contextlib.suppress(OSError):
                    os.chmod(path, stat.S_IRWXU)  # before os.walk enters it
    for root, dirs, files in os.walk(folder, topdown=False, onerror=unlisted):
        for name in files:
            path = os.path.join(root, name)
            if path not in keep:
                with contextlib.suppress(OSError):
                    os.unlink(path)
        for name in dirs:
            path = os.path.join(root, name)
            if path in held:
                continue
            with contextlib.suppress(OSError):
                if os.path.islink(path):
                    os.unlink(path)
                else:
                    shutil.rmtree(path)
    for root, dirs, files in os.walk(folder, onerror=unlisted):
        paths = [os.path.join(root, name) for name in files + dirs]
        left += [path for path in paths if path not in keep and path not in held]
    return sorted(set(left))


def held_folders(folder: str, keep: frozenset[str]) -> set[str]:
    """The folders in ``folder`` that hold a file of ``keep``."""
    held = set()
    for path in keep:
        parent = os.path.dirname(path)
        while parent.startswith(folder + os.sep):
            held.add(parent)
            parent = os.path.dirname(parent)
    return held


def prepare(notebook: bool, keep: frozenset[str]) -> None:
    """What a zygote does once, before its first child: for executed notebooks, import
    what every notebook's worker imports (a module that fails to import is left to the
    notebook that needs it); then empty /tmp of what those imports wrote there (the
    caches matplotlib makes in its home), so that every child starts from the same one."""
    for name in NOTEBOOK_MODULES if notebook else ():
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    wipe(TMP, keep)


def attributes() -> dict[str, object]:
    """What of the zygote a process of its uid may change from outside, and every child
    would inherit: its resource limits (prlimit), priority, scheduling and CPUs."""
    found: dict[str, object] = {}
    for name in dir(resource):
        if name.startswith("RLIMIT_"):
            with contextlib.suppress(OSError, ValueError):
                found[name] = resource.getrlimit(getattr(resource, name))
    for name, read in (
        ("priority", lambda: os.getpriority(os.PRIO_PROCESS, 0)),
        ("scheduler", lambda: os.sched_getscheduler(0)),
        ("affinity", lambda: sorted(os.sched_getaffinity(0))),
        ("io priority", io_priority),
    ):
        with contextlib.suppress(OSError, AttributeError):
            found[name] = read()
    return found


def io_priority() -> int:
    """ioprio_get(IOPRIO_WHO_PROCESS, 0), where the call's number is known."""
    number = {"x86_64": 252, "aarch64": 31}.get(platform.machine())
    if number is None:
        raise OSError("ioprio_get's number is not known here")
    return int(ctypes.CDLL(None, use_errno=True).syscall(number, 1, 0))


def folder_state(path: str) -> tuple[object, ...]:
    """What of a folder a process may change and leave for the next one to read: its
    owner, mode and extended attributes, then its times (restored, not compared: where
    the folder is not the zygote's, a child can only have touched them by writing in it,
    and nobody can set them back)."""
    info = os.lstat(path)
    names: list[str] = []
    with contextlib.suppress(OSError):
        names = sorted(os.listxattr(path, follow_symlinks=False))
    return info.st_uid, info.st_mode, names, info.st_atime_ns, info.st_mtime_ns


def tidy(keep: frozenset[str], before: Mapping[str, object]) -> list[str]:
    """End what a finished child left and empty /tmp; what could not be cleared (none
    where the slot is clean). ``before``: the zygote's attributes and the state of /tmp's
    kept folders before its first child (snapshot)."""
    # Every process we may signal but the namespace's init and ourselves: whatever the
    # child left, wherever in the tree (a process that is not dumpable shows another owner
    # in /proc, so the kernel picks the victims, not a listing).
    with contextlib.suppress(OSError):
        os.kill(-1, signal.SIGKILL)
    reap_all()  # orphans came to us (we are their subreaper): reaped, not zombies
    mine = ancestors_of(os.getpid())
    left = [f"process {pid}" for pid in pids() if pid not in mine]
    try:
        restore(before)
        left += wipe(TMP, keep)
        restore(before)
    except OSError as exc:
        left.append(f"{TMP}: {exc.strerror}")
    now = snapshot(keep)
    left += [
        f"changed: {name}"
        for name in sorted(before)
        if compared(now.get(name)) != compared(before[name])
    ]
    return left


def compared(value: object) -> object:
    """What of a snapshot's entry must be the same after each child: all of it, but a
    folder's times (folder_state)."""
    return value[:3] if type(value) is tuple and len(value) == 5 else value


def snapshot(keep: frozenset[str]) -> dict[str, object]:
    """The zygote's attributes, and the state of /tmp and the folders that hold ``keep``."""
    found = attributes()
    for folder in held_folders(TMP, keep) | {TMP}:
        with contextlib.suppress(OSError):
            found[folder] = folder_state(folder)
    return found


def restore(before: Mapping[str, object]) -> None:
    """Give /tmp and the kept folders back the mode and times they had (a child of the
    same uid may have changed them: a mode that hides what it left from the wipe, times
    that carry a message); extended attributes a child added are removed."""
    for folder, state in before.items():
        if not folder.startswith("/") or type(state) is not tuple:
            continue
        _, mode, names, atime, mtime = state
        with contextlib.suppress(OSError):
            os.chmod(folder, stat.S_IMODE(mode))
        with contextlib.suppress(OSError):
            for name in set(os.listxattr(folder, follow_symlinks=False)) - set(names):
                os.removexattr(folder, name, follow_symlinks=False)
        with contextlib.suppress(OSError):
            os.utime(folder, ns=(atime, mtime), follow_symlinks=False)


def start_child(fds: list[int], ctl: int) -> None:
    """In the forked child: the submission's descriptors in place of the zygote's. Its
    output pipe becomes its stdout and stderr; nothing else of the zygote's stays open
    (not the control socket, not the zygote's own answer pipe)."""
    req, res, out = fds
    # Standard input afresh: the zygote's open /dev/null is shared with every child (a
    # lock on it would outlive this one).
    quiet = os.open(os.devnull, os.O_RDONLY)
    os.dup2(quiet, 0)
    os.close(quiet)
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
    *,
    notebook: bool,
    keep: frozenset[str],
) -> None:
    """Fork ``child(settings, req_fd, res_fd)`` once per request, one at a time, and
    report after each whether the slot is clean (``keep``: the files /tmp keeps, read-only
    mounts). ``notebook``: a zygote for executed notebooks (prepare). Returns when the
    grader closes the control socket, or sends what is not a request."""
    prepare(notebook, keep)
    before = snapshot(keep)
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
        left = tidy(keep, before)
        write_message(res_fd, {"type": "clean", "clean": not left, "left": left[:20]})
