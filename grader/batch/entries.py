"""A class as it arrives: one entry per student (a folder, a .py, an .ipynb or a .zip),
in a folder or a zip of one; the student id is the entry's name without its extension."""

from __future__ import annotations

import csv
import hashlib
import math
import os
import re
import stat
from dataclasses import dataclass, replace
from pathlib import Path

from grader.batch.canvas import canvas_download, student_path
from grader.errors import SubmissionError
from grader.submission.archive import extract_zip
from grader.submission.budget import Budget
from grader.submission.files import skipped, walk

SUFFIXES = (".zip", ".py", ".ipynb")
# A class archive holds hundreds of submissions, each within the per-submission caps.
CLASS_FILES = 100_000
CLASS_BYTES = 4 << 30


@dataclass(frozen=True)
class Entry:
    student: str
    path: Path
    # The names of every entry with this student's id, when there are several: none of
    # them is graded (which one the student meant is theirs to say).
    clash: tuple[str, ...] = ()


def safe_id(student: str) -> str:
    """The student id as a file name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", student) or "_"


def student_id(path: Path) -> str:
    return path.name[: -len(path.suffix)] if path.suffix in SUFFIXES else path.name


def find_entries(submissions: Path, scratch: Path) -> list[Entry]:
    """One entry per student; a zip of the class is extracted into ``scratch`` first."""
    if submissions.is_file() and submissions.suffix == ".zip":
        # The staff's own archive: capped in size, but given all the time it takes.
        extract_zip(submissions, scratch, Budget.start(math.inf), CLASS_FILES, CLASS_BYTES)
        submissions = scratch
        inner = [p for p in submissions.iterdir() if not skipped((p.name,))]
        if len(inner) == 1 and inner[0].is_dir():
            submissions = inner[0]
    if not submissions.is_dir():
        raise SubmissionError(
            f"{submissions} is not a folder of submissions (or a zip of one).\n"
            "Hint: one entry per student: a folder, a .py, an .ipynb or a .zip."
        )
    listed = [p for p in sorted(submissions.iterdir()) if not skipped((p.name,))]
    canvas = canvas_download(listed)
    if canvas is not None:
        # Written after the listing: the scratch folder may be where the class was unpacked.
        folder = scratch / "canvas-students"
        return [Entry(user, student_path(files, folder)) for user, files in canvas.items()]
    by_id: dict[str, list[Entry]] = {}
    for p in listed:
        entry = Entry(student_id(p), p)
        by_id.setdefault(safe_id(entry.student), []).append(entry)
    return [
        same[0] if len(same) == 1 else replace(same[0], clash=tuple(e.path.name for e in same))
        for same in by_id.values()
    ]


def content_hash(path: Path, budget: Budget) -> str:
    """A hash of what a submission holds: every entry's name and kind, a regular file's
    bytes, a link's target, outside the folders that are never graded. Each part is
    length-prefixed, so that two different folders never hash alike; a FIFO, a device or
    a socket counts by its name only (reading one could block or never end). Raises
    OverBudget when hashing takes longer than ``budget``."""
    digest = hashlib.sha256()

    def part(kind: bytes, data: bytes) -> None:
        digest.update(kind + len(data).to_bytes(8, "big") + data)

    found = (Path(e.path) for e in walk(path, budget, "hashing")) if path.is_dir() else [path]
    for entry in found:
        # A single file counts by its kind, not its name: twins get the same key.
        name = entry.relative_to(path) if path.is_dir() else Path(entry.suffix)
        part(b"N", os.fsencode(name))
        info = os.lstat(entry)
        if stat.S_ISLNK(info.st_mode):
            part(b"L", os.fsencode(os.readlink(entry)))
        elif stat.S_ISREG(info.st_mode):
            # Read in blocks: a data file may be larger than memory.
            digest.update(b"F" + info.st_size.to_bytes(8, "big"))
            with open(entry, "rb") as f:
                while block := f.read(1 << 20):
                    budget.check("hashing")
                    digest.update(block)
        else:
            part(b"D" if stat.S_ISDIR(info.st_mode) else b"O", b"")
    return digest.hexdigest()


def load_roster(path: Path | None) -> dict[str, str]:
    """Student id to name, from a CSV with the columns id and name (none: no roster)."""
    if path is None:
        return {}
    try:
        # utf-8-sig: spreadsheets often save CSV with a byte order mark.
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise SubmissionError(f"cannot read the roster {path}: {exc.strerror}") from None
    if not rows or "id" not in rows[0] or "name" not in rows[0]:
        raise SubmissionError(f"{path}: a roster needs a header with the columns id and name.")
    return {row["id"].strip(): row["name"].strip() for row in rows if row.get("id")}
