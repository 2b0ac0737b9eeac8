"""Who is in the class, and what staff decided for single students.

The roster is a CSV with the columns ``id`` and ``name``, or a Canvas gradebook export
as Canvas gives it (``Student, ID, SIS User ID, SIS Login ID, Section, ...``, whose
"Points Possible" row is not a student): its ids and sections go into the Canvas import.

The overrides file is a CSV with an ``id`` column and any of ``file`` (which file of the
student's entry to grade, when it holds several candidates), ``submitted_at`` (their
submission time, for a late policy) and ``due`` (their own deadline: an extension).
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.config.late import timestamp
from grader.errors import RubricError, SubmissionError

CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
OVERRIDE_COLUMNS = ("id", "file", "submitted_at", "due")


@dataclass(frozen=True)
class Roster:
    # Student id to name.
    names: dict[str, str]
    # Student id to (SIS User ID, SIS Login ID, Section), from a Canvas gradebook export.
    canvas: dict[str, tuple[str, str, str]]
    # A Canvas student's SIS User ID and SIS Login ID to their Canvas ID: Gradescope
    # names students by those.
    aliases: dict[str, str] = field(default_factory=dict)

    def canonical(self, student: str) -> str:
        """The roster's id of ``student``, who may be named by an alias."""
        return student if student in self.names else self.aliases.get(student, student)


@dataclass(frozen=True)
class Override:
    file: str | None = None
    submitted: dt.datetime | None = None
    due: dt.datetime | None = None


def read_csv(path: Path, what: str) -> list[dict[str, str]]:
    try:
        # utf-8-sig: spreadsheets often save CSV with a byte order mark.
        with open(path, newline="", encoding="utf-8-sig") as f:
            return [
                {k.strip(): (v or "").strip() for k, v in r.items() if k} for r in csv.DictReader(f)
            ]
    except OSError as exc:
        raise SubmissionError(f"cannot read the {what} {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SubmissionError(
            f"{path}: not a CSV file ({exc}).\nHint: save it as CSV UTF-8."
        ) from None


def load_roster(path: Path | None) -> Roster:
    if path is None:
        return Roster({}, {})
    rows = read_csv(path, "roster")
    columns = set(rows[0]) if rows else set()
    if {"Student", "ID"} <= columns:
        # Canvas: the "Points Possible" row, and rows of settings indented with spaces.
        students = [r for r in rows if r["ID"] and r["Student"] != "Points Possible"]
        ids = {
            r["ID"]: (r.get("SIS User ID", ""), r.get("SIS Login ID", ""), r.get("Section", ""))
            for r in students
        }
        aliases = {alias: id for id, (user, login, _) in ids.items() for alias in (user, login)}
        aliases.pop("", None)
        return Roster({r["ID"]: r["Student"] for r in students}, ids, aliases)
    if {"id", "name"} <= columns:
        return Roster({r["id"]: r["name"] for r in rows if r["id"]}, {})
    raise SubmissionError(
        f"{path}: a roster needs a header with the columns id and name, or is a Canvas "
        "gradebook export (Student, ID, ...)."
    )


def load_overrides(path: Path | None) -> dict[str, Override]:
    if path is None:
        return {}
    rows = read_csv(path, "overrides file")
    if not rows:
        return {}
    unknown = [c for c in rows[0] if c not in OVERRIDE_COLUMNS]
    if "id" not in rows[0] or unknown:
        problem = f"unknown column {unknown[0]!r}" if unknown else "no id column"
        raise SubmissionError(
            f"{path}: {problem}.\nHint: an overrides file has the columns "
            f"{', '.join(OVERRIDE_COLUMNS)}, all but id optional."
        )
    overrides = {}
    for line, row in enumerate(rows, start=2):
        where = f"{path.name}, line {line}"
        if not row["id"]:
            continue
        file = row.get("file") or None
        if file is not None and (
            PurePosixPath(file).is_absolute() or ".." in PurePosixPath(file).parts
        ):
            raise SubmissionError(
                f"{where}: file {file!r} must be a path inside the student's entry."
            )
        try:
            submitted = (
                timestamp(row["submitted_at"], f"{where}: submitted_at")
                if row.get("submitted_at")
                else None
            )
            due = timestamp(row["due"], f"{where}: due") if row.get("due") else None
        except RubricError as exc:
            raise SubmissionError(str(exc)) from None
        overrides[row["id"]] = Override(file, submitted, due)
    return overrides
