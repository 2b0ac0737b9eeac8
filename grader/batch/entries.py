"""A class as it arrives: one entry per student (a folder, a .py, an .ipynb or a .zip),
in a folder or a zip of one; the student id is the entry's name without its extension.
A Canvas download (canvas.py) or a Gradescope export (gradescope.py) is recognised and
mapped to the platform's students."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from grader.batch.canvas import canvas_download, student_path
from grader.batch.gradescope import submitters
from grader.batch.roster import Override
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
    # What the platform says: the student's name, when they submitted, whether it marks
    # the submission late (Canvas, whose download carries no time).
    name: str | None = None
    submitted: dt.datetime | None = None
    marked_late: bool = False
    # Staff decisions from the overrides file: which file to grade, their own deadline.
    module: str | None = None
    due: dt.datetime | None = None

    def overridden(self, override: Override) -> Entry:
        """This entry with what staff decided for the student."""
        path, module = self.path, override.file
        # In a zip (not a folder), staging looks for the file, and says so if it is not there.
        if module is not None and self.path.is_dir():
            if not (self.path / module).is_file():
                raise SubmissionError(
                    f"the overrides name {module} for {self.student}, but their entry "
                    f"{self.path.name} has no such file.\nHint: give the path inside their "
                    "entry, such as cs231n/layers.py."
                )
            if module.endswith(".ipynb"):
                path, module = self.path / module, None
        return replace(
            self,
            path=path,
            module=module,
            submitted=override.submitted or self.submitted,
            due=override.due,
        )


def safe_id(student: str) -> str:
    """The student id as a file name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", student) or "_"


def student_id(path: Path) -> str:
    return path.name[: -len(path.suffix)] if path.suffix in SUFFIXES else path.name


def find_entries(
    submissions: Path, scratch: Path, canonical: Callable[[str], str] = str
) -> list[Entry]:
    """One entry per student, named by ``canonical`` (the roster's id of a platform's id)
    before entries of one student are told apart; a zip of the class is extracted into
    ``scratch`` first."""
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
        return [
            Entry(
                canonical(user), student_path(files, folder), marked_late=any(f.late for f in files)
            )
            for user, files in canvas.items()
        ]
    exported = submitters(submissions)
    if exported is None:
        candidates = [Entry(student_id(p), p) for p in listed]
    else:
        folders = {p.name: p for p in listed if p.is_dir()}
        candidates = [
            Entry(s.student, folders[s.folder], name=s.name, submitted=s.submitted)
            for s in exported
            if s.folder in folders
        ]
        # A folder the metadata does not list is still a submission, under its own name.
        named = {s.folder for s in exported}
        candidates += [Entry(n, p) for n, p in folders.items() if n not in named]
    by_id: dict[str, list[Entry]] = {}
    for entry in (replace(e, student=canonical(e.student)) for e in candidates):
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
