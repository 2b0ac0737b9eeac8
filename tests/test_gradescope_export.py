"""A class as Gradescope's "Export Submissions" gives it, graded end to end: students and
groups from ``submission_metadata.yml``, late penalties from its submission times, staff
overrides, and a Canvas gradebook export as the roster (Gradescope names students by
their SIS id, Canvas by its own ID).

Expected totals are worked by hand from the rubric below: 55 points, due
2026-12-01T23:59Z, 15 minutes' grace, 10% per started day late.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from batch_support import report_table
from support import CORRECT_LAYERS, ROOT, write_rubric

from grader.batch.entries import find_entries
from grader.batch.roster import load_roster
from grader.errors import SubmissionError

STARTER = ROOT / "assignments" / "starter" / "cs231n" / "layers.py"
LATE = {"due": "2026-12-01T23:59:00+00:00", "grace_minutes": 15, "penalty_per_day": 0.1}
FULL = 55

# As Gradescope writes it: Ruby symbols as keys, a Ruby-tagged score, nanosecond times.
METADATA = """\
submission_1001:
  :submitters:
  - :name: Jane Doe
    :sid: s1
    :email: jane@uni.test
  :created_at: 2026-12-02 00:10:00.000000000 +00:00
  :score: !ruby/object:BigDecimal 18:0.0
  :status: processed
submission_1002:
  :submitters:
  - :name: Bob Roe
    :sid: s2
    :email: bob@uni.test
  - :name: Carol Poe
    :sid: s3
    :email: carol@uni.test
  :created_at: 2026-12-03 13:00:00.000000000 +01:00
submission_1004:
  :submitters:
  - :name: Dan Moe
    :sid: s4
    :email: dan@uni.test
  :created_at: 2026-12-04 10:00:00.000000000 +00:00
"""

# Canvas's gradebook export: the "Points Possible" row, Canvas's ids, and the SIS ids
# that Gradescope uses. Eve is enrolled and handed nothing in.
CANVAS_ROSTER = (
    "Student,ID,SIS User ID,SIS Login ID,Section,Assignment 2 (4711)\r\n"
    "    Points Possible,,,,,55\r\n"
    '"Doe, Jane",9001,s1,jdoe,Lab A,\r\n'
    '"Roe, Bob",9002,s2,broe,Lab A,\r\n'
    '"Poe, Carol",9003,s3,cpoe,Lab B,\r\n'
    '"Moe, Dan",9004,s4,dmoe,Lab B,\r\n'
    '"Loe, Eve",9005,s5,eloe,Lab B,\r\n'
)

# Dan's extension, and which of his two files is his answer (by SIS id, as staff know him).
OVERRIDES = "id,file,submitted_at,due\ns4,final/layers.py,,2026-12-05T00:00:00Z\n"


def layers(folder: Path, source: Path, where: str = "cs231n/layers.py") -> None:
    path = folder / where
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source.read_text())


def export(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "submission_metadata.yml").write_text(METADATA)
    layers(folder / "submission_1001", CORRECT_LAYERS)
    layers(folder / "submission_1002", CORRECT_LAYERS)
    # Dan left the starter in the course layout and his work beside it.
    layers(folder / "submission_1004", STARTER)
    layers(folder / "submission_1004", CORRECT_LAYERS, "final/layers.py")
    # A folder the metadata does not list (added by hand): graded under its own name.
    layers(folder / "submission_1099", CORRECT_LAYERS)
    return folder


def test_the_metadata_names_every_submitter(tmp_path: Path) -> None:
    entries = find_entries(export(tmp_path / "export"), tmp_path / "scratch")
    got = {
        e.student: (e.path.name, e.name, e.submitted and e.submitted.isoformat()) for e in entries
    }
    assert got == {
        "s1": ("submission_1001", "Jane Doe", "2026-12-02T00:10:00+00:00"),
        "s2": ("submission_1002", "Bob Roe", "2026-12-03T13:00:00+01:00"),
        "s3": ("submission_1002", "Carol Poe", "2026-12-03T13:00:00+01:00"),
        "s4": ("submission_1004", "Dan Moe", "2026-12-04T10:00:00+00:00"),
        "submission_1099": ("submission_1099", None, None),
    }


def test_a_zip_of_the_export_is_the_same_class(tmp_path: Path) -> None:
    folder = export(tmp_path / "assignment_4711_export")
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(tmp_path).as_posix())

    def seen(entries: list) -> list[tuple[str, str | None, object]]:
        return sorted((e.student, e.name, e.submitted) for e in entries)

    assert seen(find_entries(archive, tmp_path / "unzipped")) == seen(
        find_entries(folder, tmp_path / "scratch")
    )


def test_unreadable_metadata_names_the_file_and_the_fix(tmp_path: Path) -> None:
    folder = export(tmp_path / "export")
    (folder / "submission_metadata.yml").write_text("submission_1001: [unclosed\n")
    with pytest.raises(SubmissionError, match=r"(?s)metadata\) cannot be read \(line 2: .*export"):
        find_entries(folder, tmp_path / "scratch")


def read(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    key = "student" if "student" in rows[0] else "ID"
    return {r[key]: r for r in rows}


@pytest.mark.sandbox
@pytest.mark.slow
def test_an_export_is_graded_with_late_penalties_overrides_and_canvas_ids(
    tmp_path: Path,
) -> None:
    klass = export(tmp_path / "export")
    roster = tmp_path / "canvas-gradebook.csv"
    roster.write_bytes(CANVAS_ROSTER.encode("utf-8-sig"))
    overrides = tmp_path / "overrides.csv"
    overrides.write_text(OVERRIDES)
    out = tmp_path / "out"
    column = "Assignment 2 (4711)"
    proc = subprocess.run(
        [
            sys.executable, "-m", "grader", "batch", klass, "-o", out,
            "--rubric", write_rubric(tmp_path, late=LATE), "--roster", roster,
            "--overrides", overrides, "--canvas", column,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    book = read(out / "gradebook.csv")
    got = {s: (r["name"], r["total"], r["late_days"], r["status"]) for s, r in book.items()}
    assert got == {
        # 11 minutes after the deadline: inside the grace period.
        "9001": ("Doe, Jane", "55", "", "graded"),
        # 12:00 UTC on the 3rd: 36 h 1 min late, 35 h 46 min past the grace, so 2 started
        # days, 20% off 55. Both members of the group get it.
        "9002": ("Roe, Bob", "44", "2", "graded"),
        "9003": ("Poe, Carol", "44", "2", "graded"),
        # His own deadline (the 5th) makes him on time, and his final/layers.py is graded
        # instead of the untouched starter in the course layout.
        "9004": ("Moe, Dan", "55", "", "graded"),
        "9005": ("Loe, Eve", "", "", "missing"),
        # Not in the metadata: no submission time, so no penalty.
        "submission_1099": ("", "55", "", "graded"),
    }
    assert "submission_metadata" not in " ".join(book)

    canvas = read(out / "canvas.csv")
    assert {i: (r["SIS User ID"], r["Section"], r[column]) for i, r in canvas.items()} == {
        "9001": ("s1", "Lab A", "55"),
        "9002": ("s2", "Lab A", "44"),
        "9003": ("s3", "Lab B", "44"),
        "9004": ("s4", "Lab B", "55"),
        "9005": ("s5", "Lab B", ""),
        "submission_1099": ("", "", "55"),
    }

    rows = report_table(out).by_student()
    assert rows["9002"]["days late"] == "2" and rows["9005"]["status"] == "missing"
    feedback = (out / "feedback" / "9002.txt").read_text()
    assert "late" in feedback.lower() and str(tmp_path) not in feedback


@pytest.mark.sandbox
@pytest.mark.slow
def test_canvas_late_marks_without_a_time_are_reported(tmp_path: Path) -> None:
    """Canvas's download says a file is late but not when it came: a penalty needs the
    time, so the grader says whose is missing, and applies the one staff give."""
    klass = tmp_path / "class"
    klass.mkdir()
    shutil.copy(CORRECT_LAYERS, klass / "doejane_late_123_456_layers.py")
    shutil.copy(CORRECT_LAYERS, klass / "roebob_late_789_10_layers.py")
    overrides = tmp_path / "overrides.csv"
    # 3 days 1 minute after the deadline, 2 days 23 h 46 min past the grace: 3 started
    # days, 30% off 55.
    overrides.write_text("id,submitted_at\n789,2026-12-05T00:00:00Z\n")
    proc = subprocess.run(
        [
            sys.executable, "-m", "grader", "batch", klass, "-o", tmp_path / "out",
            "--rubric", write_rubric(tmp_path, late=LATE), "--overrides", overrides,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    book = read(tmp_path / "out" / "gradebook.csv")
    assert {s: (r["total"], r["late_days"]) for s, r in book.items()} == {
        "123": ("55", ""),
        "789": ("38.5", "3"),
    }
    warning = " ".join(proc.stderr.split())
    assert "Canvas marks 1 submission(s) late (123) without their time" in warning


def test_one_student_under_two_platform_ids_is_one_entry(tmp_path: Path) -> None:
    """Gradescope names Jane once by her SIS id and once by her login; the Canvas roster
    knows both as Canvas ID 9001: one entry, whose two submissions are hers to choose
    between (none is graded over the other)."""
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "submission_metadata.yml").write_text(
        "submission_1:\n  :submitters:\n  - :name: Jane Doe\n    :sid: s1\n"
        "submission_2:\n  :submitters:\n  - :name: Jane Doe\n    :email: jdoe\n"
    )
    layers(folder / "submission_1", CORRECT_LAYERS)
    layers(folder / "submission_2", CORRECT_LAYERS)
    roster = tmp_path / "canvas.csv"
    roster.write_bytes(CANVAS_ROSTER.encode("utf-8-sig"))
    entries = find_entries(folder, tmp_path / "scratch", load_roster(roster).canonical)
    assert [(e.student, sorted(e.clash)) for e in entries] == [
        ("9001", ["submission_1", "submission_2"])
    ]
