"""Which files of a submission count, and copying them: one rule for every stage.

Editors, version control and operating systems leave folders that are never the
student's code (``__pycache__``, ``.git``, ``__MACOSX``, ``.ipynb_checkpoints`` ...):
they are skipped everywhere, as are hidden files and folders.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from fnmatch import fnmatchcase
from pathlib import Path

from grader.errors import SubmissionError
from grader.submission.budget import Budget, Step

# A real submission has a few dozen Python files of a few hundred KB at most; the caps
# stop a zip bomb or a stray dataset from filling the disk.
MAX_FILES = 2000
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_TOTAL_BYTES = 50 * 1024 * 1024
SKIP_DIRS = frozenset({"__pycache__", "__MACOSX", ".git", ".ipynb_checkpoints", "node_modules"})
# Deeper than any real submission; a folder nested thousands of levels would exhaust the
# recursion of every tool that walks it (the cleanup of the staging folder included).
MAX_DEPTH = 64


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


def too_deep(where: Path, name: str) -> SubmissionError:
    return SubmissionError(
        f"{where} nests folders more than {MAX_DEPTH} deep ({name[:80]!r}...); the limit is "
        f"{MAX_DEPTH}.\nHint: submit the folder that holds your code, not a copy of a disk."
    )


def walk(root: Path, budget: Budget, step: Step) -> Iterator[os.DirEntry[str]]:
    """Every entry under ``root`` but the skipped ones, in the order of
    ``sorted(root.rglob("*"))``; linked folders are not entered, nor folders that cannot be
    read. Checks ``budget`` at every entry; raises SubmissionError past MAX_DEPTH."""
    # One iterator per open folder, without recursion: the depth is that of the stack.
    folders = [iter(entries(root, budget, step))]
    while folders:
        entry = next(folders[-1], None)
        if entry is None:
            folders.pop()
            continue
        budget.check(step)
        if len(folders) > MAX_DEPTH:
            raise too_deep(root, os.path.relpath(entry.path, root))
        yield entry
        if entry.is_dir(follow_symlinks=False):
            folders.append(iter(entries(entry.path, budget, step)))


def entries(folder: Path | str, budget: Budget, step: Step) -> list[os.DirEntry[str]]:
    """The folder's entries that are not skipped, by name (none when it cannot be read),
    checking ``budget`` at each: one folder may hold millions."""
    kept = []
    try:
        with os.scandir(folder) as found:
            for entry in found:
                budget.check(step)
                if not skipped((entry.name,)):
                    kept.append(entry)
    except PermissionError:
        return []
    return sorted(kept, key=lambda entry: entry.name)


def find(root: Path, pattern: str, budget: Budget) -> list[Path]:
    """The regular files under ``root`` matching ``pattern``, outside skipped folders."""
    return [
        Path(entry.path)
        for entry in walk(root, budget, "copying")
        # Not following links: a regular file, as regular() says.
        if fnmatchcase(entry.name, pattern) and entry.is_file(follow_symlinks=False)
    ]


def copy_python_tree(src: Path, dst: Path, budget: Budget) -> None:
    """Copy every regular .py file under ``src`` to ``dst`` (linked folders are not
    entered), with caps."""
    total = 0
    for count, path in enumerate(find(src, "*.py", budget), 1):
        rel = path.relative_to(src)
        size = path.stat().st_size
        total += size
        if count > MAX_FILES or size > MAX_FILE_BYTES or total > MAX_TOTAL_BYTES:
            raise too_much_code(src)
        budget.check("copying")
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def too_much_code(src: Path) -> SubmissionError:
    return SubmissionError(
        f"{src} holds too much Python code to grade (limits: {MAX_FILES} files, "
        f"{MAX_FILE_BYTES >> 20} MB each, {MAX_TOTAL_BYTES >> 20} MB in all)."
    )


def open_tree(root: Path) -> None:
    """Make ``root`` and everything in it readable (folders enterable) by every user."""
    root.chmod(0o755)
    for path in root.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
