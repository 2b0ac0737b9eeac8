"""The API checks the rubric against the stored cases before grading anything."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from support import CORRECT, Process, settle, with_marker, write_rubric

from grader import api
from grader.api import graded_cases, isolation_slots
from grader.config.choices import Split
from grader.config.rubric import Rubric, load_rubric
from grader.errors import RubricError
from grader.sandbox.isolation import machine_isolation
from grader.vectors import CaseVector


def rubric_with(tmp_path: Path, functions: dict) -> Path:
    path = write_rubric(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["functions"] = functions
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_check_the_function_does_not_return_is_an_error(tmp_path: Path) -> None:
    path = rubric_with(tmp_path, {"softmax_loss": {"points": 10, "checks": {"loss": 1, "dX": 2}}})
    rubric = load_rubric(path)
    with pytest.raises(
        RubricError, match="'dX', which softmax_loss does not return. Did you mean 'dx'"
    ):
        graded_cases(rubric, rubric.splits)


def test_a_function_without_cases_is_an_error(tmp_path: Path) -> None:
    rubric = load_rubric(rubric_with(tmp_path, {"affine_fwd": {"points": 10}}))
    with pytest.raises(RubricError, match="Did you mean 'affine_forward'"):
        graded_cases(rubric, rubric.splits)


def test_only_the_rubrics_functions_and_splits_are_graded(tmp_path: Path) -> None:
    rubric = load_rubric(rubric_with(tmp_path, {"relu_forward": {"points": 5}}))
    cases = graded_cases(rubric, ("public",))
    assert {c.function for c in cases} == {"relu_forward"}
    assert {c.split for c in cases} == {"public"}


@pytest.mark.sandbox
def test_the_worker_starts_while_the_cases_load_and_stops_when_they_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """grade_one starts the worker first (it imports numpy while the grader loads the
    cases); a rubric the cases refute still raises, and leaves no worker behind."""
    # A temporary folder of this test's own: in the command line of its workers only.
    folder = tmp_path / "temporary"
    folder.mkdir(mode=0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    running_while_loading: list[list[Process]] = []

    def loading(rubric: Rubric, splits: tuple[Split, ...]) -> tuple[CaseVector, ...]:
        running_while_loading.append(with_marker(str(folder)))
        return graded_cases(rubric, splits)

    monkeypatch.setattr(api, "graded_cases", loading)
    rubric = load_rubric(rubric_with(tmp_path, {"affine_fwd": {"points": 10}}))
    (config,), _ = isolation_slots(machine_isolation("auto"), 1, [])
    with pytest.raises(RubricError, match="Did you mean 'affine_forward'"):
        api.grade_one(CORRECT, rubric, config, rubric.splits)
    assert running_while_loading and running_while_loading[0], "no worker ran meanwhile"
    assert settle(lambda: with_marker(str(folder)), 5) == []
