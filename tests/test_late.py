"""The rubric's late policy, worked by hand on fixed times (never the grading time)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from support import ROOT, run_grade, write_rubric

from grader.config.late import LatePolicy, parse_late
from grader.errors import RubricError

UTC = dt.UTC
DUE = dt.datetime(2026, 12, 1, 23, 59, tzinfo=UTC)
POLICY = LatePolicy(DUE, grace_minutes=15, penalty_per_day=0.25)


@pytest.mark.parametrize(
    ("submitted", "days", "penalty"),
    [
        (dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC), 0, 0.0),  # early
        (dt.datetime(2026, 12, 2, 0, 14, tzinfo=UTC), 0, 0.0),  # inside the grace
        (dt.datetime(2026, 12, 2, 0, 15, 1, tzinfo=UTC), 1, 0.25),  # a second past it
        (dt.datetime(2026, 12, 3, 0, 14, tzinfo=UTC), 1, 0.25),  # exactly one day over
        (dt.datetime(2026, 12, 3, 0, 15, tzinfo=UTC), 2, 0.5),
        (dt.datetime(2026, 12, 9, 0, 0, tzinfo=UTC), 7, 1.0),  # never below zero
    ],
)
def test_days_late_and_penalty(submitted: dt.datetime, days: int, penalty: float) -> None:
    assert POLICY.days_late(submitted) == days
    assert POLICY.penalty(days) == penalty


def test_a_time_zone_is_required() -> None:
    with pytest.raises(RubricError, match="with its UTC offset"):
        parse_late({"due": "2026-12-01T23:59:00"}, "late")
    policy = parse_late({"due": "2026-12-01T23:59:00Z", "penalty_per_day": 0.1}, "late")
    assert policy.due == DUE


def test_a_penalty_above_the_whole_score_is_refused() -> None:
    with pytest.raises(RubricError, match="at most 1"):
        parse_late({"penalty_per_day": 1.5}, "late")


@pytest.mark.sandbox
@pytest.mark.slow
def test_grade_submitted_at_applies_the_policy(tmp_path: Path) -> None:
    rubric = write_rubric(tmp_path)
    data = yaml.safe_load(rubric.read_text())
    data["late"] = {"due": "2026-12-01T23:59:00+00:00", "grace_minutes": 15, "penalty_per_day": 0.1}
    rubric.write_text(yaml.safe_dump(data))
    correct = ROOT / "assignments" / "modular_layers" / "examples" / "correct"
    proc = run_grade(
        correct, "--rubric", rubric, "--format", "json", "--cases", "public",
        "--submitted-at", "2026-12-03T10:00:00+00:00",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    # 34 h 01 min past the deadline, 33 h 46 min past its 15 minutes of grace: 2 started
    # days, 20% off 55.
    assert (result["late_days"], result["penalty"], result["score"]) == (2, 0.2, 44)
