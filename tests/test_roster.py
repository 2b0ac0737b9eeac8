"""Rosters (plain, or a Canvas gradebook export) and the per-student overrides file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from grader.batch.entries import Entry
from grader.batch.roster import Override, load_overrides, load_roster
from grader.errors import SubmissionError

# A Canvas gradebook export as Canvas writes it: a "Points Possible" row under the
# header, and an assignment column named with its id.
CANVAS_EXPORT = (
    "Student,ID,SIS User ID,SIS Login ID,Section,Assignment 2 (4711)\r\n"
    "    Points Possible,,,,,55\r\n"
    '"Doe, Jane",123,s1001,jdoe,CS231n Lab A,\r\n'
    '"Roe, Bob",789,s1002,broe,CS231n Lab B,12\r\n'
)


def test_a_canvas_gradebook_export_is_a_roster(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(CANVAS_EXPORT.encode("utf-8-sig"))
    roster = load_roster(path)
    assert roster.names == {"123": "Doe, Jane", "789": "Roe, Bob"}
    assert roster.canvas["789"] == ("s1002", "broe", "CS231n Lab B")


def test_a_plain_roster_has_no_canvas_ids(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("id,name\nalice,Alice A\n,nobody\n")
    roster = load_roster(path)
    assert roster.names == {"alice": "Alice A"} and roster.canvas == {}


def test_a_roster_without_the_columns_says_which_it_needs(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("login,full name\nalice,Alice A\n")
    with pytest.raises(SubmissionError, match="columns id and name, or is a Canvas"):
        load_roster(path)


def test_overrides_are_read_with_their_times(tmp_path: Path) -> None:
    path = tmp_path / "overrides.csv"
    path.write_text(
        "id,file,submitted_at,due\n"
        "alice,attempt2/layers.py,,\n"
        "bob,,2026-12-02T10:00:00+01:00,2026-12-05T23:59:00Z\n"
    )
    got = load_overrides(path)
    assert got["alice"] == Override(file="attempt2/layers.py")
    assert got["bob"].submitted == dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
    assert got["bob"].due == dt.datetime(2026, 12, 5, 23, 59, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,fiel\nalice,x.py\n", "unknown column 'fiel'"),
        ("student,file\nalice,x.py\n", "unknown column 'student'"),
        ("id,submitted_at\nalice,2026-12-02 10:00\n", "line 2: submitted_at: expected a time"),
        ("id,file\nalice,../bob/layers.py\n", "a path inside the student's entry"),
    ],
)
def test_a_bad_overrides_file_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "overrides.csv"
    path.write_text(text)
    with pytest.raises(SubmissionError, match=message):
        load_overrides(path)


def test_an_override_chooses_the_module_or_the_notebook(tmp_path: Path) -> None:
    entry = Entry("alice", tmp_path)
    (tmp_path / "attempt2").mkdir()
    (tmp_path / "attempt2" / "layers.py").write_text("")
    (tmp_path / "work.ipynb").write_text("{}")
    assert entry.overridden(Override(file="attempt2/layers.py")).module == "attempt2/layers.py"
    notebook = entry.overridden(Override(file="work.ipynb"))
    assert (notebook.path, notebook.module) == (tmp_path / "work.ipynb", None)
    with pytest.raises(SubmissionError, match="has no such file"):
        entry.overridden(Override(file="attempt3/layers.py"))


def test_an_override_of_a_zipped_entry_is_left_to_staging(tmp_path: Path) -> None:
    """Whether a zip holds the file is for staging to find out (and to say, for that
    student alone): it never stops the class."""
    archive = tmp_path / "alice.zip"
    archive.write_bytes(b"PK")
    entry = Entry("alice", archive).overridden(Override(file="final/layers.py"))
    assert (entry.path, entry.module) == (archive, "final/layers.py")
