"""A Canvas "Download Submissions" folder graded as a class: files named
lastfirst_[late_]USERID_SUBMISSIONID_filename, grouped by user id, the latest upload of
each file name kept."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from support import CORRECT_LAYERS, ROOT, write_rubric

from grader.batch.canvas import canvas_download, latest, parse
from grader.batch.entries import find_entries

STUB = (ROOT / "assignments" / "starter" / "cs231n" / "layers.py").read_text()


def test_canvas_names_are_parsed_and_renamed_uploads_recognised(tmp_path: Path) -> None:
    first = tmp_path / "doejane_late_123_456_layers.py"
    again = tmp_path / "doejane_late_123_789_layers-1.py"
    for path in (first, again):
        path.write_text("")
    a, b = parse(first), parse(again)
    assert a is not None and b is not None
    assert (a.user, a.submission, a.name, a.late) == ("123", 456, "layers.py", True)
    assert (b.name, b.submission) == ("layers.py", 789)
    assert latest([b, a]) == [b]


def test_a_folder_of_other_names_is_not_a_canvas_download(tmp_path: Path) -> None:
    (tmp_path / "doejane_123_456_layers.py").write_text("")
    (tmp_path / "alice").mkdir()
    assert canvas_download(sorted(tmp_path.iterdir())) is None


def test_each_user_id_is_one_entry(tmp_path: Path) -> None:
    klass = tmp_path / "class"
    klass.mkdir()
    (klass / "doejane_123_456_layers.py").write_text("one")
    (klass / "roebob_late_789_10_layers.py").write_text("old")
    (klass / "roebob_late_789_11_layers-1.py").write_text("new")
    (klass / "roebob_late_789_11_notes.txt").write_text("notes")
    entries = {e.student: e.path for e in find_entries(klass, tmp_path / "scratch")}
    assert set(entries) == {"123", "789"}
    assert entries["123"].name == "layers.py" and entries["123"].read_text() == "one"
    bob = entries["789"]
    assert bob.is_dir() and sorted(p.name for p in bob.iterdir()) == ["layers.py", "notes.txt"]
    assert (bob / "layers.py").read_text() == "new"


@pytest.mark.sandbox
@pytest.mark.slow
def test_a_canvas_download_is_graded_by_user_id(tmp_path: Path) -> None:
    klass = tmp_path / "class"
    klass.mkdir()
    (klass / "doejane_123_456_layers.py").write_text(CORRECT_LAYERS.read_text())
    # Bob's first upload is the untouched starter; his second, renamed by Canvas, is right.
    (klass / "roebob_late_789_10_layers.py").write_text(STUB)
    (klass / "roebob_late_789_11_layers-1.py").write_text(CORRECT_LAYERS.read_text())
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader",
            "batch",
            klass,
            "-o",
            out,
            "--rubric",
            write_rubric(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "gradebook.csv", newline="") as f:
        totals = {row["student"]: float(row["total"]) for row in csv.DictReader(f)}
    assert totals == {"123": 55, "789": 55}
