"""gradebook.csv: one row per student, for the course's spreadsheet or its LMS."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

from grader.batch.records import StudentRecord
from grader.config.rubric import Rubric


def gradebook(
    records: Sequence[StudentRecord],
    roster: Mapping[str, str],
    rubric: Rubric,
    canvas: str | None = None,
) -> str:
    """Points per function, status and reason; with ``canvas`` (the assignment's column
    name), the columns Canvas imports. Roster students without a submission get 0."""
    names = [f.name for f in rubric.functions]
    rows = sorted(records, key=lambda r: r.student)
    missing = sorted(set(roster) - {r.student for r in rows})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if canvas:
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", canvas])
        for r in rows:
            writer.writerow([r.name or r.student, r.student, "", "", "", f"{r.score:g}"])
        for student in missing:
            writer.writerow([roster[student], student, "", "", "", "0"])
        return out.getvalue()
    writer.writerow(["student", "name", "total", *names, "status", "reason"])
    for r in rows:
        writer.writerow(
            [r.student, r.name or "", f"{r.score:g}"]
            + [f"{r.points(n):g}" for n in names]
            + [r.status, r.reason]
        )
    for student in missing:
        writer.writerow([student, roster[student], "0"] + ["0"] * len(names) + ["missing", ""])
    return out.getvalue()
