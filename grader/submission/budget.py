"""A deadline for reading one submission, checked by every loop that a submission can make
long: walking and copying its files, unpacking its zip, reading its notebook cell by cell.

The check is cooperative: it runs between steps, so each single step (one file, one zip
member, one cell) is kept short by a size cap of its own, and the deadline bounds how many
of them one submission gets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from grader.config.limits import Limits
from grader.errors import OverBudget

Clock = Callable[[], float]
# The steps of reading a submission that the deadline can cut off.
Step = Literal["hashing", "copying", "unpacking", "reading", "extracting"]
CODE_ONLY = "submit only your code, without datasets, checkpoints or virtual environments"
NOTEBOOK_ONLY = (
    "clear the notebook's outputs in Jupyter (Edit > Clear Outputs of All Cells), keep "
    "only the assignment's cells, run shell commands (`!`) in a terminal, save and resubmit"
)
# What each step does, in the message's words, and what a student can do about it.
STEPS: dict[Step, tuple[str, str]] = {
    "hashing": ("hashing its files", CODE_ONLY),
    "copying": ("finding and copying its Python files", CODE_ONLY),
    "unpacking": ("unpacking its zip", "zip only your code, without data files"),
    "reading": ("reading its notebook", NOTEBOOK_ONLY),
    "extracting": ("extracting its notebook's definitions", NOTEBOOK_ONLY),
}


@dataclass(frozen=True)
class Budget:
    """The time left for reading one submission: ``deadline`` on ``clock``, in seconds,
    from a limit of ``seconds``."""

    deadline: float
    seconds: float
    clock: Clock = time.monotonic

    @classmethod
    def start(cls, seconds: float, clock: Clock = time.monotonic) -> Budget:
        """A budget of ``seconds`` from now."""
        return cls(clock() + seconds, seconds, clock)

    def check(self, step: Step) -> None:
        """Raise OverBudget, naming ``step``, once the deadline has passed (at it, so that
        a budget of 0 s is spent before any work, whatever the clock's resolution)."""
        if self.clock() >= self.deadline:
            doing, hint = STEPS[step]
            raise OverBudget(
                f"reading the submission took longer than {self.seconds:g} s (staging_seconds "
                f"in the rubric's limits): stopped while {doing}.\nHint: {hint}."
            )


def default_budget() -> Budget:
    """A budget of the default limit, from now: for callers that were not given one."""
    return Budget.start(Limits().staging_seconds)
