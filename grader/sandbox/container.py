"""Container isolation's filesystem side: what a worker uid must not read, made unreadable.

Without namespaces a worker sees the machine's files with the permissions of its uid,
which owns none of them and belongs to no group: only the "other" permission bits count.
Before grading, the staff files (everything in the course's checkout but the grader and
what workers need: the rubric, every stored vector, the reference, the example solutions,
the history in .git) and the class's folders are made unreadable to other users where
they are not already; a submission's staging folder is opened to its own worker's group
only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from grader.config.staff import CHECKOUT, PACKAGE, staff_checkout
from grader.submission.stage import STAGING_PREFIX

# A worker's own /tmp, without bubblewrap.
WORKER_TMP_PREFIX = "layergrade-tmp-"


def readable_by_others(path: Path) -> bool:
    """Whether a user who owns nothing here and is in no group could reach ``path``: every
    folder above it must let others pass, and ``path`` itself let them read (or, for a
    folder, pass: a file whose name is known needs nothing more)."""
    try:
        for folder in reversed(path.parents):
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                return False
        return bool(os.stat(path).st_mode & (stat.S_IROTH | stat.S_IXOTH))
    except OSError:
        return False


def staff_paths(extra: Iterable[Path], needed: Iterable[Path]) -> list[Path]:
    """What a worker must not read: everything in the checkout the grader runs from (when
    it runs from one) but the grader package, and ``extra`` (the rubric in use, its
    vectors, a class's submissions and results). Never what holds a path workers
    ``needed`` (the interpreter, its standard library, numpy's folder: a venv may live in
    the checkout), the installed package, or a folder at the top of the filesystem."""
    found = [Path(p).resolve() for p in extra]
    if staff_checkout() is not None:
        found += [child for child in CHECKOUT.iterdir() if child != PACKAGE]
    keep = [Path(p).resolve() for p in needed]
    return [
        p
        for p in dict.fromkeys(found)
        if p.exists()
        and len(p.parts) > 2
        and not (p.is_relative_to(PACKAGE) or PACKAGE.is_relative_to(p))
        and not any(k.is_relative_to(p) for k in keep)
    ]


def lock(paths: Iterable[Path]) -> list[Path]:
    """Take every permission of other users off each of ``paths`` that they could read;
    return those changed. A folder's own bits are enough: nothing below it can be reached.
    A link is not followed: what it points to is locked only if named itself."""
    changed = []
    for path in paths:
        if not path.is_symlink() and readable_by_others(path):
            os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) & ~0o007)
            changed.append(path)
    return changed


def reclaim(uid: int) -> list[Path]:
    """Remove what a killed grader left to ``uid``, whose lock this grader now holds: the
    staging folders opened to its group (other students' code) and its workers' /tmp
    folders. Return what was removed."""
    removed = []
    tmp = Path(tempfile.gettempdir())
    for pattern in (f"{STAGING_PREFIX}*", f"{WORKER_TMP_PREFIX}*"):
        for folder in tmp.glob(pattern):
            with contextlib.suppress(OSError):
                info = folder.lstat()
                if stat.S_ISDIR(info.st_mode) and uid in (info.st_gid, info.st_uid):
                    shutil.rmtree(folder)
                    removed.append(folder)
    return removed


def open_to_group(folder: Path, gid: int) -> None:
    """Let the group ``gid`` (one worker's) read and enter ``folder``, and nobody else but
    its owner: the submission's staged code, for its own worker alone."""
    os.chown(folder, -1, gid)
    os.chmod(folder, 0o750)


def remove_owned(folder: Path, uid: int) -> None:
    """Delete what ``uid`` left directly in ``folder`` (the machine's /dev/shm, shared
    without bubblewrap: a file there would outlive the worker, charged to the next
    one's memory and readable by it)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_uid == uid:
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
