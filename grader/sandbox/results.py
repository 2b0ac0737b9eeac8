"""What running a submission gave, as values: the sandbox stage's output."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from grader.config.choices import Isolation

if TYPE_CHECKING:
    import numpy as np

# Why a call, an import or a whole run gave no usable value.
FailureStatus = Literal[
    "error",  # an exception
    "bad_return",  # a value of the wrong kind (None, a tuple of the wrong length ...)
    "timeout",  # over its time limit
    "killed",  # ended by a signal
    "exit",  # ended its own process
    "crash",  # the worker died, or sent what is not a message
    "protocol",  # the worker answered out of turn
    "import_error",  # the module could not be imported
    "notebook",  # the notebook could not be read
    "not_run",  # never started: an earlier failure or the time budget
]
# What the worker itself may say of a case or an import; the rest are the grader's own
# findings, which a message from the worker (student code runs there) must not claim.
WORKER_STATUSES: tuple[FailureStatus, ...] = (
    "error", "bad_return", "timeout", "killed", "exit", "import_error",
)  # fmt: skip


@dataclass(frozen=True)
class Failure:
    """Why the student's code did not produce a usable value."""

    status: FailureStatus
    message: str
    line: int | None = None
    file: str | None = None
    traceback: str | None = None


@dataclass(frozen=True)
class CaseOutcome:
    """What came back for one case. Only ``values`` is data the grader checks itself;
    ``kinds``, ``mutated``, ``numeric`` (and RunResult.functions) are the worker's
    description of the submission, computed where student code runs: they shape feedback,
    never credit beyond what ``values`` earns."""

    case_id: str
    seconds: float
    values: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False)
    kinds: Mapping[str, str] = field(default_factory=dict)
    rejected: Mapping[str, str] = field(default_factory=dict)
    failure: Failure | None = None
    # "function:argument" for each array argument the submission changed in place.
    mutated: tuple[str, ...] = ()
    # A gradcheck's numerical partials of the submission's own forward, as the worker
    # sent them ("numeric:dx", "numeric:dx:at", see inside/gradcheck.py): feedback only.
    numeric: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class CellError:
    """A notebook cell that raised (or ended its process): where, and what."""

    cell: int | None
    line: int | None
    error: str


@dataclass(frozen=True)
class NotebookRun:
    """What executing a notebook did, as the worker reported it: the cells that raised,
    and the numbers of those that timed out or never ran."""

    errors: tuple[CellError, ...] = ()
    timeouts: tuple[int, ...] = ()
    skipped: tuple[int, ...] = ()
    # (a module file of the submission, the graded functions the notebook lacked and got
    # from it): the notebook's imports loaded the module without binding them (a star
    # import whose chain failed part-way, or ``import cs231n.layers as L``).
    borrowed: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class RunResult:
    module: str
    isolation: Isolation
    outcomes: tuple[CaseOutcome, ...]
    import_failure: Failure | None
    functions: tuple[str, ...]
    # For an executed notebook: what running it did.
    notebook: NotebookRun | None
    output: str
    seconds: float
    # What the isolation could not take away on this machine ("network", "RLIMIT_AS" ...).
    gaps: tuple[str, ...] = ()
