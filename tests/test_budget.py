"""The deadline for reading a submission: the budget itself on a clock of the test's own,
each loop of staging and hashing cut off by it with the step named, and a batch in which
one student's submission spends its budget while the others are graded.

No test here measures time. A budget's clock is either set by hand or ticks one second
each time it is read, so that a submission spends its budget by the work it asks for (one
tick per file, zip member or cell), never by the speed of the machine.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from batch_support import grade_class_here
from notebook_support import CORRECT_NOTEBOOK, write_notebook
from support import CORRECT, TEST_LIMITS, write_rubric

from grader.api import grade_one
from grader.batch.entries import content_hash
from grader.config.rubric import load_rubric
from grader.errors import OverBudget, RubricError, SubmissionError
from grader.sandbox.runtime import discover_runtime
from grader.sandbox.worker import SandboxConfig
from grader.submission.archive import extract_zip
from grader.submission.budget import STEPS, Budget, Step
from grader.submission.extract import extract_module
from grader.submission.files import MAX_DEPTH
from grader.submission.notebook import read_notebook
from grader.submission.stage import stage

STUDENTS = ("ann", "bob", "cat")
LIMIT = "reading the submission took longer than {:g} s (staging_seconds in the rubric's limits)"


class Hand:
    """A clock that shows what the test sets."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Ticks:
    """A clock that moves on one second each time it is read."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return float(self.reads - 1)


def ticking(seconds: float) -> Budget:
    """A budget of ``seconds`` ticks: starting it reads the clock once, then checks pass
    until the clock has been read ``seconds`` times."""
    return Budget.start(seconds, clock=Ticks())


def over_budget(error: pytest.ExceptionInfo[OverBudget], seconds: float, doing: str) -> None:
    """The error names the limit, the step that was cut off and a hint."""
    message = str(error.value)
    assert message.startswith(f"{LIMIT.format(seconds)}: stopped while {doing}.\nHint: ")


def many_files(folder: Path, count: int) -> Path:
    """The correct submission with ``count`` data files beside its code."""
    shutil.copytree(CORRECT, folder)
    (folder / "data").mkdir()
    for i in range(count):
        (folder / "data" / f"{i}.txt").write_text("")
    return folder


def many_cells(path: Path, count: int) -> Path:
    """The correct notebook with ``count`` markdown cells after its code."""
    nb = json.loads(CORRECT_NOTEBOOK.read_text())
    nb["cells"] += [
        {"cell_type": "markdown", "id": f"note-{i}", "metadata": {}, "source": "A note."}
        for i in range(count)
    ]
    path.write_text(json.dumps(nb))
    return path


# The budget -------------------------------------------------------------------------------


def test_a_budget_holds_until_its_deadline() -> None:
    clock = Hand()
    budget = Budget.start(30, clock=clock)
    assert budget == Budget(130.0, 30, clock)
    clock.now = 129.9
    budget.check("copying")
    clock.now = 130.0
    with pytest.raises(OverBudget) as error:
        budget.check("copying")
    assert str(error.value) == (
        f"{LIMIT.format(30)}: stopped while finding and copying its Python files.\n"
        "Hint: submit only your code, without datasets, checkpoints or virtual environments."
    )


def test_a_budget_of_zero_seconds_is_spent_before_any_work() -> None:
    with pytest.raises(OverBudget):
        Budget.start(0, clock=Hand()).check("hashing")


@pytest.mark.parametrize("step", list(STEPS))
def test_every_step_is_named_with_a_hint(step: Step) -> None:
    doing, hint = STEPS[step]
    with pytest.raises(OverBudget) as error:
        Budget.start(0.5, clock=Ticks()).check(step)
    assert str(error.value).endswith(f"stopped while {doing}.\nHint: {hint}.")


def test_over_budget_is_a_submission_error() -> None:
    # So that a batch records it as the student's reason, as any other.
    assert issubclass(OverBudget, SubmissionError)


def test_the_limit_is_read_from_the_rubric_and_validated(tmp_path: Path) -> None:
    rubric = load_rubric(write_rubric(tmp_path, limits={**TEST_LIMITS, "staging_seconds": 2.5}))
    assert rubric.limits.staging_seconds == 2.5
    assert load_rubric(write_rubric(tmp_path)).limits.staging_seconds == 30
    with pytest.raises(RubricError) as error:
        load_rubric(write_rubric(tmp_path, limits={"staging_seconds": -1}))
    assert "limits.staging_seconds: expected a number >= 0.001, got -1." in str(error.value)
    with pytest.raises(RubricError) as error:
        load_rubric(write_rubric(tmp_path, limits={"staging_second": 3}))
    assert "Did you mean 'staging_seconds'?" in str(error.value)


# Each loop, cut off -----------------------------------------------------------------------


def test_copying_a_folder_of_many_files_is_cut_off(tmp_path: Path) -> None:
    sub = many_files(tmp_path / "sub", 500)
    private = tmp_path / "tmp"
    private.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        # A private temporary folder, to see that the staging folder is removed.
        patch.setattr(tempfile, "tempdir", str(private))
        with pytest.raises(OverBudget) as error:
            stage(sub, budget=ticking(100))
    over_budget(error, 100, "finding and copying its Python files")
    assert list(private.iterdir()) == []
    # The same submission, given the ticks it needs, stages: the budget stopped it.
    submission, folder = stage(sub, budget=ticking(10_000))
    folder.cleanup()
    assert submission.module == "cs231n.layers"


def test_unpacking_a_zip_of_many_members_is_cut_off(tmp_path: Path) -> None:
    archive = tmp_path / "sub.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(500):
            zf.writestr(f"notes/{i}.txt", "")
    (tmp_path / "out").mkdir()
    with pytest.raises(OverBudget) as error:
        extract_zip(archive, tmp_path / "out", ticking(100))
    over_budget(error, 100, "unpacking its zip")


def test_a_zip_larger_than_it_may_unpack_to_is_not_opened(tmp_path: Path) -> None:
    # Opening a zip reads its list of members whole, before any check could run.
    archive = tmp_path / "sub.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("data.bin", os.urandom(3 << 19))
    with pytest.raises(SubmissionError) as error:
        extract_zip(archive, tmp_path, ticking(100), max_bytes=1 << 20)
    assert str(error.value).startswith(f"{archive} is more than 1 MB; remove data files")


def test_reading_a_notebook_of_many_cells_is_cut_off(tmp_path: Path) -> None:
    path = many_cells(tmp_path / "notes.ipynb", 500)
    with pytest.raises(OverBudget) as error:
        read_notebook(path, ticking(100))
    over_budget(error, 100, "reading its notebook")
    with pytest.raises(OverBudget) as error:
        stage(path, budget=ticking(100))
    over_budget(error, 100, "reading its notebook")
    assert len(read_notebook(path, ticking(10_000)).cells) == 11


def test_extracting_definitions_is_cut_off(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "defs.ipynb", *[("code", f"x{i} = {i}\n") for i in range(50)])
    nb = read_notebook(path)
    with pytest.raises(OverBudget) as error:
        extract_module(nb, ticking(20))
    over_budget(error, 20, "extracting its notebook's definitions")
    source, _ = extract_module(nb, ticking(1000))
    assert "x49 = 49" in source


def test_hashing_is_cut_off_in_a_folder_and_in_a_large_file(tmp_path: Path) -> None:
    sub = many_files(tmp_path / "sub", 500)
    with pytest.raises(OverBudget) as error:
        content_hash(sub, ticking(100))
    over_budget(error, 100, "hashing its files")
    # A single file is read a megabyte at a time, the budget checked at each.
    large = tmp_path / "large.zip"
    large.write_bytes(bytes(5 << 20))
    with pytest.raises(OverBudget):
        content_hash(large, ticking(3))
    assert content_hash(large, ticking(10)) == content_hash(large, Budget.start(math.inf))


def test_a_deep_folder_is_refused_with_its_depth_not_a_recursion_error(tmp_path: Path) -> None:
    sub = many_files(tmp_path / "sub", 0)
    deep = sub.joinpath(*["d"] * (MAX_DEPTH + 1))
    deep.mkdir(parents=True)
    with pytest.raises(SubmissionError) as hashing:
        content_hash(sub, ticking(10_000))
    with pytest.raises(SubmissionError) as staging:
        stage(sub)
    for error in (hashing, staging):
        message = str(error.value)
        assert f"nests folders more than {MAX_DEPTH} deep ('d/d/d/" in message, message
        assert f"the limit is {MAX_DEPTH}.\nHint: " in message


def test_skipped_folders_are_not_walked(tmp_path: Path) -> None:
    # A .git folder holds no code: neither staging nor hashing spends ticks in it.
    sub = many_files(tmp_path / "sub", 0)
    git = sub / ".git" / "objects"
    git.mkdir(parents=True)
    for i in range(500):
        (git / str(i)).write_text("")
    before = content_hash(sub, ticking(100))
    shutil.rmtree(sub / ".git")
    assert content_hash(sub, ticking(100)) == before
    _, folder = stage(sub, budget=ticking(100))
    folder.cleanup()


# Both ways of grading ---------------------------------------------------------------------


def test_grading_one_submission_stages_within_the_rubrics_limit(tmp_path: Path) -> None:
    rubric = load_rubric(write_rubric(tmp_path))
    rubric = replace(rubric, limits=replace(rubric.limits, staging_seconds=0))
    config = SandboxConfig("processes", discover_runtime())
    with pytest.raises(OverBudget) as error:
        grade_one(CORRECT, rubric, config, ("public",))
    over_budget(error, 0, "finding and copying its Python files")


@pytest.mark.slow
def test_a_batch_records_the_submissions_over_budget_and_grades_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    klass = tmp_path / "class"
    klass.mkdir()
    shutil.copytree(CORRECT, klass / "ann")
    many_files(klass / "bob", 500)  # spends its budget while it is hashed
    many_cells(klass / "cat.ipynb", 500)  # hashed at once, then spends it in its cells
    # 200 ticks for hashing, and 200 for staging: the correct submission needs fewer than 30.
    limits = {**TEST_LIMITS, "staging_seconds": 200}
    rubric = load_rubric(write_rubric(tmp_path, limits=limits))
    start = Budget.start

    def ticking_start(cls: type[Budget], seconds: float, clock: object = None) -> Budget:
        return start(seconds, clock=Ticks())

    # Every budget the batch starts (hashing, then staging, per student) ticks on its own.
    monkeypatch.setattr(Budget, "start", classmethod(ticking_start))
    out = tmp_path / "graded"
    grade_class_here(klass, out, rubric, SandboxConfig.create("processes", discover_runtime()))
    records = {s: json.loads((out / "results" / f"{s}.json").read_text()) for s in STUDENTS}
    ann = records["ann"]
    assert ann["status"] == "graded" and ann["result"]["score"] == ann["result"]["max_score"]
    for student, doing in (("bob", "hashing its files"), ("cat", "reading its notebook")):
        record = records[student]
        assert record["status"] == "error" and record["host_error"] is False
        assert record["error"].startswith(f"{LIMIT.format(200)}: stopped while {doing}.")
        feedback = (out / "feedback" / f"{student}.txt").read_text()
        assert feedback == f"Not graded: {record['error']}\n"
    with open(out / "gradebook.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert rows["ann"]["status"] == "graded"
    assert rows["bob"]["status"] == rows["cat"]["status"] == "error"
    assert "stopped while hashing its files" in rows["bob"]["reason"]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["students"], summary["graded"], summary["errors"]) == (3, 1, 2)
    assert (out / "report.html").is_file()
