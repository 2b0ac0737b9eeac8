"""The rubric's late policy: a due date, a grace period and a penalty per day late."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from grader.errors import RubricError

DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class LatePolicy:
    """``penalty_per_day`` is a fraction of the score per started day after ``due`` plus
    ``grace_minutes``; the score never goes below 0."""

    due: dt.datetime | None = None
    grace_minutes: float = 0.0
    penalty_per_day: float = 0.0

    def days_late(self, submitted: dt.datetime, due: dt.datetime | None = None) -> int:
        """Started days after the deadline (``due``, else the policy's), grace excluded."""
        deadline = due or self.due
        if deadline is None:
            return 0
        over = submitted - deadline - dt.timedelta(minutes=self.grace_minutes)
        return max(0, math.ceil(over / DAY))

    def penalty(self, days: int) -> float:
        return min(1.0, days * self.penalty_per_day)


def timestamp(value: Any, where: str) -> dt.datetime:
    """An ISO 8601 time with its UTC offset (a naive time would depend on the grader's
    time zone, which is not the students')."""
    moment: dt.datetime | None = value if isinstance(value, dt.datetime) else None
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
    if moment is None or moment.tzinfo is None:
        raise RubricError(
            f"{where}: expected a time with its UTC offset, such as 2026-12-01T23:59:00+01:00; "
            f"got {value!r}."
        )
    return moment


def parse_late(raw: Any, where: str) -> LatePolicy:
    if raw is None:
        return LatePolicy()
    if not isinstance(raw, dict):
        raise RubricError(f"{where}: expected {{due, grace_minutes, penalty_per_day}}.")
    known = {"due", "grace_minutes", "penalty_per_day"}
    for key in raw:
        if key not in known:
            raise RubricError(
                f"{where}: unknown key {key!r}. Known keys: {', '.join(sorted(known))}."
            )
    due = timestamp(raw["due"], f"{where}.due") if "due" in raw else None
    grace = raw.get("grace_minutes", 0)
    penalty = raw.get("penalty_per_day", 0)
    for key, value in (("grace_minutes", grace), ("penalty_per_day", penalty)):
        if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
            raise RubricError(f"{where}.{key}: expected a number >= 0, got {value!r}.")
    if penalty > 1:
        raise RubricError(f"{where}.penalty_per_day: a fraction of the score, at most 1.")
    return LatePolicy(due, float(grace), float(penalty))
