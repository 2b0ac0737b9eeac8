"""Every error the grader raises, in one place, by who has to act on it.

Usage errors (exit 2) are the user's to fix: the message names the problem and ends
with a hint. Sandbox errors (exit 3) are the host's. Transport errors are what a
worker's malformed answer becomes; they never leave the sandbox stage, which turns them
into the submission's recorded outcome. Student code never raises into the grader: what
it does becomes an outcome, not an exception.
"""

from __future__ import annotations

import errno

# An OSError with one of these is the grader's host failing (its disk, its memory), not
# the submission: recorded as the host's, and tried again on the next run.
HOST_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.ENOMEM})


def host_failure(exc: OSError) -> bool:
    return exc.errno in HOST_ERRNOS


class UsageError(Exception):
    """The command line asks for something that cannot be done as given."""


class RubricError(UsageError):
    """The rubric is invalid; the message names the key and the fix."""


class VectorError(UsageError):
    """The stored vectors are missing, corrupt or do not match their manifest."""


class SubmissionError(UsageError):
    """The submission cannot be graded as given; the message says what to change."""


class NotebookError(SubmissionError):
    """The notebook cannot be graded as given; the message names the problem and the fix."""


class OverBudget(SubmissionError):
    """Reading the submission took longer than the rubric allows; the message names the
    step that was cut off, the limit and what to submit instead."""


class SandboxError(Exception):
    """The sandbox or the worker's own setup failed: a problem of the grader's host."""


class TransportError(Exception):
    """The worker sent something that is not a well-formed message."""


class Deadline(Exception):
    """No complete message arrived in time."""


class Closed(Exception):
    """The worker closed its end (it exited or was killed)."""
