"""gradebook.csv, one row per student with every column, and canvas.csv, the file that
Canvas's gradebook imports."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

from grader.batch.records import StudentRecord
from grader.batch.roster import CANVAS_COLUMNS, Roster
from grader.config.rubric import Rubric
from grader.report.hygiene import csv_cell as text


def table(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def late_days(record: StudentRecord) -> str:
    days = record.report.get("late_days", 0) if record.report else 0
    return str(days) if days else ""


def gradebook(records: Sequence[StudentRecord], roster: Mapping[str, str], rubric: Rubric) -> str:
    """Points per function, days late, status and reason; roster students without a
    submission get a row with blank points (no grade is not a zero) and status missing.
    Text cells (ids, names, reasons) come from students and rosters: ``text`` keeps a
    spreadsheet from reading them as formulas."""
    names = [f.name for f in rubric.functions]
    rows = [["student", "name", "total", *names, "late_days", "status", "reason"]]
    for r in sorted(records, key=lambda r: r.student):
        rows.append(
            [text(r.student), text(r.name or ""), f"{r.score:g}"]
            + [f"{r.points(n):g}" for n in names]
            + [late_days(r), r.status, text(r.reason)]
        )
    for student in sorted(set(roster) - {r.student for r in records}):
        rows.append(
            [text(student), text(roster[student]), ""] + [""] * len(names) + ["", "missing", ""]
        )
    return table(rows)


def canvas_import(records: Sequence[StudentRecord], roster: Roster, assignment: str) -> str:
    """The columns Canvas imports, with ``assignment`` as the grade's column: the student's
    Canvas ids from the roster when it is a Canvas gradebook export, and a blank grade for
    a student on the roster who handed nothing in or whose submission could not be graded
    (Canvas leaves a blank cell ungraded)."""
    rows = [[*CANVAS_COLUMNS, text(assignment)]]
    # Not graded (an archive too large, a lost worker): blank, never a zero to import.
    scores = {r.student: (r.name, f"{r.score:g}" if r.status == "graded" else "") for r in records}
    for student in sorted(set(scores) | set(roster.names)):
        name, score = scores.get(student, (None, ""))
        sis_user, sis_login, section = roster.canvas.get(student, ("", "", ""))
        who = roster.names.get(student) or name or student
        rows.append(
            [text(who), text(student), text(sis_user), text(sis_login), text(section), score]
        )
    return table(rows)
