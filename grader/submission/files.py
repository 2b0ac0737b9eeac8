"""Which files of a submission count, and copying them: one rule for every stage.

Editors, version control and operating systems leave folders that are never the
student's code (``__pycache__``, ``.git``, ``__MACOSX``, ``.ipynb_checkpoints`` ...):
they are skipped everywhere, as are hidden files and folders.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

from grader.errors import SubmissionError

# A real submission has a few dozen Python files of a few hundred KB at most; the caps
# stop a zip bomb or a stray dataset from filling the disk.
MAX_FILES = 2000
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_TOTAL_BYTES = 50 * 1024 * 1024
SKIP_DIRS = frozenset({"__pycache__", "__MACOSX", ".git", ".ipynb_checkpoints", "node_modules"})


def skipped(parts: Iterable[str]) -> bool:
    """Whether the path with these parts (relative to the submission) is never graded."""
    return any(part in SKIP_DIRS or part.startswith(".") for part in parts)


def regular(path: Path) -> bool:
    """A regular file, not a link: never a folder with a file's name, a FIFO (opening one
    blocks), a device or a socket."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def find(root: Path, pattern: str) -> list[Path]:
    """The regular files under ``root`` matching ``pattern``, outside skipped folders."""
    return sorted(
        p for p in root.rglob(pattern) if not skipped(p.relative_to(root).parts) and regular(p)
    )


def copy_python_tree(src: Path, dst: Path) -> None:
    """Copy every regular .py file under ``src`` to ``dst`` (rglob does not enter linked
    folders), with caps."""
    total = 0
    for count, path in enumerate(find(src, "*.py"), 1):
        rel = path.relative_to(src)
        size = path.stat().st_size
        total += size
        if count > MAX_FILES or size > MAX_FILE_BYTES or total > MAX_TOTAL_BYTES:
            raise SubmissionError(
                f"{src} holds too much Python code to grade (limits: {MAX_FILES} files, "
                f"{MAX_FILE_BYTES >> 20} MB each, {MAX_TOTAL_BYTES >> 20} MB in all)."
            )
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def open_tree(root: Path) -> None:
    """Make ``root`` and everything in it readable (folders enterable) by every user."""
    root.chmod(0o755)
    for path in root.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
