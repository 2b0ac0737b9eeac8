"""A class as it arrives: one entry per student (a folder, a .py, an .ipynb or a .zip),
in a folder or a zip of one; the student id is the entry's name without its extension."""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from grader.errors import SubmissionError
from grader.submission.archive import extract_zip
from grader.submission.files import skipped

SUFFIXES = (".zip", ".py", ".ipynb")
# A class archive holds hundreds of submissions, each within the per-submission caps.
CLASS_FILES = 100_000
CLASS_BYTES = 4 << 30


@dataclass(frozen=True)
class Entry:
    student: str
    path: Path


def safe_id(student: str) -> str:
    """The student id as a file name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", student) or "_"


def student_id(path: Path) -> str:
    return path.name[: -len(path.suffix)] if path.suffix in SUFFIXES else path.name


def find_entries(submissions: Path, scratch: Path) -> list[Entry]:
    """One entry per student; a zip of the class is extracted into ``scratch`` first."""
    if submissions.is_file() and submissions.suffix == ".zip":
        extract_zip(submissions, scratch, CLASS_FILES, CLASS_BYTES)
        submissions = scratch
        inner = [p for p in submissions.iterdir() if not skipped((p.name,))]
        if len(inner) == 1 and inner[0].is_dir():
            submissions = inner[0]
    if not submissions.is_dir():
        raise SubmissionError(
            f"{submissions} is not a folder of submissions (or a zip of one).\n"
            "Hint: one entry per student: a folder, a .py, an .ipynb or a .zip."
        )
    entries = [
        Entry(student_id(p), p) for p in sorted(submissions.iterdir()) if not skipped((p.name,))
    ]
    seen: Counter[str] = Counter(safe_id(e.student) for e in entries)
    clashes = sorted(s for s, n in seen.items() if n > 1)
    if clashes:
        raise SubmissionError(
            f"{submissions}: several entries map to the same student id: {', '.join(clashes)}."
            "\nHint: keep one entry per student."
        )
    return entries


def content_hash(path: Path) -> str:
    """A hash of what a submission holds (names and bytes); links count by their target."""
    digest = hashlib.sha256()
    files = [path] if not path.is_dir() else sorted(p for p in path.rglob("*") if not p.is_dir())
    for file in files:
        # A single file counts by its kind, not its name: twins get the same key.
        digest.update(str(file.relative_to(path) if path.is_dir() else file.suffix).encode())
        if file.is_symlink():
            digest.update(b"link:" + os.readlink(file).encode())
        else:
            digest.update(file.read_bytes())
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
