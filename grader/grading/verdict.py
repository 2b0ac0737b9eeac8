"""Where a failing backward's bug is: in the backward, or in the forward it differentiates.

For one case of each backward (and of each loss that returns its gradient) that fails, or
whose forward fails, the grader asks the worker for the numerical gradient of the
submission's OWN forward at a few coordinates (sandbox/inside/gradcheck.py). Set beside
the submission's own backward at the same coordinates, it tells the two kinds of bug
apart:

- they agree: the backward is the gradient of the forward the student wrote, so where the
  case fails, what is wrong is that forward;
- they disagree: the backward is not the gradient of that forward; where the forward
  passes its own checks, the bug is in the backward; where the backward's gradient passes
  its check, the bug is in how the forward uses that argument.

``agreement`` compares the student's own numbers only. ``verdict`` also reads which of the
case's outputs passed and whether the forward passes its own checks (what the report shows
anyway): it speaks only where the conclusion follows, and otherwise says nothing. No
expected value enters beyond those pass/fail statuses, so a verdict may be shown for a
hidden case too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from grader.grading.compare import Check
from grader.sandbox.inside.frames import at_key, numeric_key
from grader.sandbox.results import CaseOutcome
from grader.vectors import CaseVector

# Centred differences with h = 1e-5 in float64 agree with an exact gradient to about 1e-7
# or better on the assignment's cases (smooth, values of order one: the truncation error
# is of order h^2, the rounding error of order 1e-16 / h). Measured against the reference's
# backward (tests/test_verdict.py): 1e-8 or better on the cases that carry the check, 4e-7
# on the others but softmax's large-score ones (2e-5: a loss in the hundreds leaves more
# rounding error after dividing by h). A real bug is off by 1e-2 or more. In between,
# nothing is said.
AGREE = 1e-5
DISAGREE = 1e-3


@dataclass(frozen=True)
class Agreement:
    """How the student's backward compares with the numerical gradient of their forward."""

    kind: Literal["agree", "disagree"]
    # The course's relative error per output, at the sampled coordinates.
    errors: Mapping[str, float]


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    """The course's metric: max |x - y| / max(1e-8, |x| + |y|), in float64."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def agreement(
    analytic: Mapping[str, np.ndarray], numeric: Mapping[str, np.ndarray]
) -> Agreement | None:
    """Agree (every output within AGREE), disagree (one at DISAGREE or more), or None:
    in between, or nothing to compare. ``analytic`` is the student's backward and
    ``numeric`` the numerical gradient of their forward, per output, at the same
    coordinates."""
    errors = {
        name: rel_error(values, numeric[name])
        for name, values in analytic.items()
        if name in numeric and values.size and values.shape == numeric[name].shape
    }
    if not errors:
        return None
    worst = max(errors.values())
    if worst <= AGREE:
        return Agreement("agree", errors)
    if worst >= DISAGREE:
        return Agreement("disagree", errors)
    return None


def sampled(
    case: CaseVector, outcome: CaseOutcome, wrt: Mapping[str, str]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(the student's backward, the numerical gradient) at the coordinates the worker
    sampled, per output. The worker's arrays are checked first (it runs student code): an
    output whose partials, indices or returned gradient do not fit is left out."""
    analytic: dict[str, np.ndarray] = {}
    numeric: dict[str, np.ndarray] = {}
    for name, output in wrt.items():
        partials = outcome.numeric.get(numeric_key(output))
        at = outcome.numeric.get(at_key(output))
        value = outcome.values.get(output)
        x = case.inputs.get(name)
        if partials is None or at is None or value is None or x is None:
            continue
        if partials.ndim != 1 or at.shape != partials.shape or not partials.size:
            continue
        if partials.dtype.kind != "f" or at.dtype.kind not in "iu" or value.dtype.kind not in "iuf":
            continue
        # A gradient of x's size: flat indices into x are indices into it (a missing
        # reshape or a size-1 axis too many leaves the values comparable).
        if value.size != x.size or at.min() < 0 or at.max() >= x.size:
            continue
        mine = value.reshape(-1)[at].astype(np.float64)
        theirs = partials.astype(np.float64)
        if np.isfinite(mine).all() and np.isfinite(theirs).all():
            analytic[output], numeric[output] = mine, theirs
    return analytic, numeric


def sample_saw(
    case: CaseVector, outcome: CaseOutcome, wrt: Mapping[str, str], failing: set[str]
) -> bool:
    """Whether the sampled coordinates include an element where a failing output is
    wrong: agreement elsewhere says nothing of the elements that fail."""
    for output in wrt.values():
        at = outcome.numeric.get(at_key(output))
        value, want = outcome.values.get(output), case.expected.get(output)
        if output not in failing or at is None or value is None or want is None:
            continue
        if at.dtype.kind not in "iu" or value.size != want.size or not at.size:
            continue
        if at.min() < 0 or at.max() >= want.size or value.dtype.kind not in "iuf":
            continue
        if rel_error(value.reshape(-1)[at], want.reshape(-1)[at]) > AGREE:
            return True
    return False


@dataclass(frozen=True)
class Checked:
    """A case that computed a gradcheck: what came back, and the case's own checks."""

    case: CaseVector
    outcome: CaseOutcome
    checks: Sequence[Check]


def verdicts(checked: Sequence[Checked], passes: Mapping[str, bool]) -> dict[str, str]:
    """A sentence per function that does not pass, where one follows from ``checked``:
    for a backward or a loss, from its own case; for a forward, from the case of a backward
    that differentiates it. ``passes`` says, per function the rubric grades, whether it
    passes."""
    said: dict[str, str] = {}
    for item in checked:
        if passes.get(item.case.function) is False:
            sentence = verdict(item.case, item.outcome, item.checks, passes)
            if sentence is not None:
                said[item.case.function] = sentence
    for item in checked:
        plan = gradcheck_plan(item.case)
        if plan is None:
            continue
        own = item.case.calls[plan["forward"]]["fn"]
        if own != item.case.function and passes.get(own) is False and own not in said:
            sentence = forward_verdict(item.case, item.outcome, item.checks)
            if sentence is not None:
                said[own] = sentence
    return said


def wanted(case: CaseVector, outcome: CaseOutcome, passes: Mapping[str, bool]) -> bool:
    """Whether ``verdicts`` could say anything from ``case``'s gradcheck: it has one, it
    gave values, and its function or the forward it differentiates does not pass
    (``passes``; see score.gradchecks_wanted, which asks the worker for no other)."""
    plan = gradcheck_plan(case)
    if plan is None or outcome.failure is not None:
        return False
    own = case.calls[plan["forward"]]["fn"]
    return passes.get(case.function) is False or passes.get(own) is False


def gradcheck_plan(case: CaseVector) -> Mapping[str, Any] | None:
    plan: Mapping[str, Any] | None = case.spec(gradcheck=True).get("gradcheck")
    return plan


def compared(case: CaseVector, outcome: CaseOutcome, checks: Sequence[Check]) -> Agreement | None:
    """The case's agreement, where the case gave values (not a failure) and one of its
    checks found numbers that differ (not only a shape or a None)."""
    plan = gradcheck_plan(case)
    if plan is None or outcome.failure is not None:
        return None
    if not any(c.status != "pass" and c.rel_error is not None for c in checks):
        return None
    return agreement(*sampled(case, outcome, plan["wrt"]))


def verdict(
    case: CaseVector,
    outcome: CaseOutcome,
    checks: Sequence[Check],
    passes: Mapping[str, bool],
) -> str | None:
    """Where the bug of ``case``'s function (a backward, or a loss) is, from the case's
    gradcheck; None where the case passes, had no gradcheck, or the conclusion would not
    follow. ``checks`` are the case's own; ``passes`` says, per function the rubric
    grades, whether it passes."""
    found = compared(case, outcome, checks)
    plan = gradcheck_plan(case)
    if found is None or plan is None:
        return None
    failing = {c.output for c in checks if c.status != "pass"}
    blamed = [o for o, e in found.errors.items() if e >= DISAGREE and o in failing]
    worst = max(blamed, key=lambda o: found.errors[o]) if blamed else None
    forward = case.calls[plan["forward"]]
    if forward["fn"] == case.function:
        # A loss: its own first return is the scalar its gradient is of.
        loss = next(
            (o.name for o in case.outputs if o.source.get("var") == forward["returns"][0]), None
        )
        return loss_verdict(found, worst, loss is not None and loss not in failing)
    backward, own = case.function, forward["fn"]
    own_passes = passes.get(own)
    if found.kind == "agree":
        if own_passes or not sample_saw(case, outcome, plan["wrt"], failing):
            # The forward passes, yet the case fails where the sample agrees: the sample
            # missed what is wrong.
            return None
        return (
            f"your {backward} agrees with the numerical gradient of your own {own}, "
            f"so the bug is in {own}"
        )
    if worst is None:
        return None
    where = f"{worst}: rel error {found.errors[worst]:.0e}"
    if own_passes is False:
        return (
            f"your {backward} disagrees with the numerical gradient of your own {own} "
            f"({where}), but {own} fails its own checks too: fix it first, then check "
            f"{backward} again"
        )
    return (
        f"your {backward} disagrees with the numerical gradient of your own {own} ({where}): "
        f"the bug is in {backward}"
    )


def loss_verdict(found: Agreement, worst: str | None, loss_passes: bool) -> str | None:
    """The verdict on a loss that returns its gradient: ``worst`` is the gradient that
    disagrees and fails its check, if any."""
    if found.kind == "agree":
        if loss_passes:
            return None
        names = " and ".join(found.errors)
        return f"{names} is the gradient of your own loss, so the bug is in the loss"
    if worst is not None:
        return (
            f"{worst} is not the gradient of your own loss "
            f"(rel error {found.errors[worst]:.0e}): fix {worst}"
        )
    if loss_passes:
        return None
    # The gradient passes its checks but is not the gradient of this loss: the loss is off.
    name = max(found.errors, key=lambda o: found.errors[o])
    return (
        f"{name} is right, but it is not the gradient of your own loss "
        f"(rel error {found.errors[name]:.0e}): the bug is in the loss"
    )


def forward_verdict(case: CaseVector, outcome: CaseOutcome, checks: Sequence[Check]) -> str | None:
    """What a backward's case says of the forward it differentiates, where that forward
    fails: a gradient the backward gets right (its check passes) that disagrees with the
    numerical gradient of the forward shows how the forward goes wrong, through which
    argument. None otherwise."""
    plan = gradcheck_plan(case)
    if plan is None or outcome.failure is not None:
        return None
    found = agreement(*sampled(case, outcome, plan["wrt"]))
    if found is None or found.kind == "agree":
        return None
    passing = {c.output for c in checks if c.status == "pass"}
    right = [o for o, e in found.errors.items() if e >= DISAGREE and o in passing]
    if not right:
        return None
    worst = max(right, key=lambda o: found.errors[o])
    argument = next(a for a, o in plan["wrt"].items() if o == worst)
    own = case.calls[plan["forward"]]["fn"]
    return (
        f"{case.function}'s {worst} is right, yet it disagrees with the numerical gradient of "
        f"your own {own} (rel error {found.errors[worst]:.0e}): the bug is in how {own} "
        f"uses {argument}"
    )
