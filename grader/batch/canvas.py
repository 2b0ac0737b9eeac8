"""A class as Canvas delivers it: "Download Submissions" gives a flat folder of files named
``lastfirst_[late_]USERID_SUBMISSIONID_filename``.

Each student's files become one entry keyed by the Canvas user id (what a Canvas
gradebook export and the import CSV use): the file itself when there is one, else a
folder of them under their own names. Canvas renames a file uploaded again under the same
name to ``name-1.py``, ``name-2.py``: the latest submission of each name is kept, under
the name the student gave it.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

CANVAS_NAME = re.compile(
    r"^(?P<who>[^_]+)(?P<late>_late)?_(?P<user>\d+)_(?P<submission>\d+)_(?P<file>.+)$"
)
# Canvas's suffix for a file uploaded again under the same name: layers-1.py.
RENAMED = re.compile(r"-\d+(?=\.[^.]+$)")


@dataclass(frozen=True)
class CanvasFile:
    path: Path
    user: str
    submission: int
    name: str
    late: bool


def parse(path: Path) -> CanvasFile | None:
    match = CANVAS_NAME.match(path.name)
    if match is None or match["file"] in (".", "..") or not path.is_file():
        return None
    name = RENAMED.sub("", match["file"])
    return CanvasFile(path, match["user"], int(match["submission"]), name, bool(match["late"]))


def canvas_download(paths: list[Path]) -> dict[str, list[CanvasFile]] | None:
    """The files of each Canvas user id, where every path is a Canvas download's file;
    None otherwise (a folder of entries as usual)."""
    parsed = [parse(p) for p in paths]
    if not parsed or any(p is None for p in parsed):
        return None
    by_user: dict[str, list[CanvasFile]] = {}
    for item in parsed:
        assert item is not None
        by_user.setdefault(item.user, []).append(item)
    return by_user


def latest(files: list[CanvasFile]) -> list[CanvasFile]:
    """Per file name, the one from the latest submission."""
    chosen: dict[str, CanvasFile] = {}
    for item in sorted(files, key=lambda f: f.submission):
        chosen[item.name] = item
    return sorted(chosen.values(), key=lambda f: f.name)


def student_path(files: list[CanvasFile], scratch: Path) -> Path:
    """What to grade of one student: their single file under its own name, or a folder
    of their files."""
    kept = latest(files)
    folder = scratch / kept[0].user
    folder.mkdir(parents=True)
    for item in kept:
        shutil.copyfile(item.path, folder / item.name)
    return folder / kept[0].name if len(kept) == 1 else folder
