"""The result store: ``results/<id>.json`` and ``feedback/<id>.txt`` under the output
folder, each written atomically the moment a student is graded."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from grader.batch.entries import safe_id
from grader.batch.records import StudentRecord


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: a reader sees the old file or the new, never part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    # Readable by the course's staff, as any file they write (mkstemp makes it 0600). Where
    # student code runs as another user, the output folder itself is closed to it.
    os.fchmod(fd, 0o644)
    # UTF-8 whatever the locale; a file name that is not valid UTF-8 keeps its bytes escaped.
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class ResultStore:
    def __init__(self, outdir: Path) -> None:
        self.results = outdir / "results"
        self.feedback = outdir / "feedback"
        for folder in (self.results, self.feedback):
            folder.mkdir(parents=True, exist_ok=True)

    def load(self, student: str) -> StudentRecord | None:
        """The stored record of ``student``; None when there is none or it is unreadable."""
        try:
            data = json.loads((self.results / f"{safe_id(student)}.json").read_text())
            return StudentRecord.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, record: StudentRecord) -> None:
        path = self.results / f"{safe_id(record.student)}.json"
        write_atomic(path, json.dumps(record.to_dict(), indent=1))

    def save_feedback(self, student: str, text: str, markdown: str | None = None) -> None:
        """The student's feedback as plain text and, where given, as Markdown (for an LMS
        comment); a submission that could not be graded gets its reason in both."""
        write_atomic(self.feedback / f"{safe_id(student)}.txt", text)
        write_atomic(self.feedback / f"{safe_id(student)}.md", markdown or text)
