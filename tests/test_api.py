"""The API checks the rubric against the stored cases before grading anything."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support import write_rubric

from grader.api import graded_cases
from grader.config.rubric import load_rubric
from grader.errors import RubricError


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
