"""gradebook.csv: one row per student, for the course's spreadsheet or its LMS."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

from grader.batch.records import StudentRecord
from grader.config.rubric import Rubric
from grader.report.hygiene import csv_cell


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
    # Text cells (ids, names, reasons) come from students and rosters: csv_cell keeps a
    # spreadsheet from reading them as formulas.
    text = csv_cell
    if canvas:
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", text(canvas)])
        for r in rows:
            writer.writerow(
                [text(r.name or r.student), text(r.student), "", "", "", f"{r.score:g}"]
            )
        for student in missing:
            writer.writerow([text(roster[student]), text(student), "", "", "", "0"])
        return out.getvalue()
    writer.writerow(["student", "name", "total", *names, "status", "reason"])
    for r in rows:
        writer.writerow(
            [text(r.student), text(r.name or ""), f"{r.score:g}"]
            + [f"{r.points(n):g}" for n in names]
            + [r.status, text(r.reason)]
        )
    for student in missing:
        row = [text(student), text(roster[student]), "0"]
        writer.writerow(row + ["0"] * len(names) + ["missing", ""])
    return out.getvalue()
