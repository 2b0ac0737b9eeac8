"""Name the mistake behind a failing case.

Two sources, in order:

1. Fingerprints (staff side, ``vectors/mistakes/``): what each catalogued mistake
   returns, raises or changes on this very case. A student's case that does the same (within
   ``MATCH``) gets that mistake's hint. Dropout's random cases are matched by a statistic
   of the student's own output instead (``STATISTICS``).
2. Structural signatures, on public cases only, where no fingerprint matched: an output
   off by a constant factor (the batch size, a sign), by a constant offset, by the same
   amounts in every row (a bias), wrong only where an input is <= 0 (or > 0), or only on
   the border of each image. On hidden cases
   these would hand out the expected values, so they stay silent there.

A diagnosis never fires on correct work: only cases short of full credit are diagnosed,
and a fingerprint differs from the answer by far more than ``MATCH`` (reference/build.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from grader.config.choices import DropoutMeaning
from grader.grading.compare import Check, rel_error
from grader.grading.dropout import DROPOUT_FRACTION_TOLERANCE, keep_probability
from grader.sandbox.results import CaseOutcome
from grader.vectors import CaseVector, Fingerprint, error_signature

# Two computations of the same formula in float64 agree to about 1e-12 whatever the order
# of their operations; a fingerprint stored by the builder differs from the answer by more
# than 1e-5. 1e-6 sits well between.
MATCH = 1e-6


@dataclass(frozen=True)
class Diagnosis:
    hint: str
    # The catalogue's name of the mistake; None for a structural signature.
    mistake: str | None = None


def close(got: np.ndarray | None, want: np.ndarray) -> bool:
    """``got`` is ``want`` up to MATCH, with the same non-finite values in the same places."""
    if got is None or got.shape != want.shape or got.dtype.kind not in "biuf":
        return False
    got = got.astype(np.float64)
    finite = np.isfinite(want)
    same_specials = np.array_equal(np.isfinite(got), finite) and np.array_equal(
        got[~finite], want[~finite], equal_nan=True
    )
    return same_specials and bool((rel_error(got[finite], want[finite]) <= MATCH).all())


def dropout_mask(values: Mapping[str, np.ndarray]) -> np.ndarray | None:
    out = values.get("out")
    return None if out is None or out.ndim < 2 else out != 0


def kept_as_asked(mask: np.ndarray, keep: float) -> bool:
    """The mask keeps about the share of units it should (not none, not all)."""
    return abs(float(mask.mean()) - keep) <= DROPOUT_FRACTION_TOLERANCE


def shared_mask(case: CaseVector, values: Mapping[str, np.ndarray], keep: float) -> bool:
    mask = dropout_mask(values)
    if mask is None or len(mask) < 2 or not 0.0 < float(mask.mean()) < 1.0:
        return False
    return bool((mask == mask[:1]).all())


def p_as_drop(case: CaseVector, values: Mapping[str, np.ndarray], keep: float) -> bool:
    mask = dropout_mask(values)
    if mask is None or abs(keep - 0.5) <= 2 * DROPOUT_FRACTION_TOLERANCE:
        return False
    return abs(float(mask.mean()) - (1.0 - keep)) <= DROPOUT_FRACTION_TOLERANCE


def not_inverted(case: CaseVector, values: Mapping[str, np.ndarray], keep: float) -> bool:
    mask, x = dropout_mask(values), case.inputs["x"]
    if mask is None or keep >= 1.0 or mask.shape != x.shape or not kept_as_asked(mask, keep):
        return False
    return close(values["out"][mask], x[mask])


def backward_unscaled(case: CaseVector, values: Mapping[str, np.ndarray], keep: float) -> bool:
    """dx is dout masked, not scaled, after a forward that did scale (after one that did
    not, an unscaled dx is that forward's right gradient)."""
    mask, dx = dropout_mask(values), values.get("dx")
    x, dout = case.inputs["x"], case.inputs.get("dout")
    if mask is None or dx is None or dout is None or keep >= 1.0 or mask.shape != dout.shape:
        return False
    scaled = bool(mask.any()) and close(values["out"][mask], x[mask] / keep)
    return scaled and close(dx, dout * mask)


Statistic = Callable[[CaseVector, Mapping[str, np.ndarray], float], bool]
# Catalogued dropout mistakes, by name, and the statistic of the student's own output that
# shows each (the mask is random, so there is nothing stored to compare with).
STATISTICS: dict[str, Statistic] = {
    "dropout_shared_mask": shared_mask,
    "dropout_p_as_drop": p_as_drop,
    "dropout_not_inverted": not_inverted,
    "dropout_backward_unscaled": backward_unscaled,
}


def matches(
    fp: Fingerprint, case: CaseVector, outcome: CaseOutcome, p_means: DropoutMeaning
) -> bool:
    if fp.statistic:
        test = STATISTICS.get(fp.mistake)
        if test is None or outcome.failure is not None:
            return False
        return test(case, outcome.values, keep_probability(case, p_means))
    if fp.error is not None:
        failure = outcome.failure
        return failure is not None and error_signature(failure.message) == fp.error
    if outcome.failure is not None:
        return False
    values = outcome.values
    if fp.outputs:
        # One output is enough: a student's version of the mistake may leave the others
        # right (an svm that counts the correct class in its loss but not in its dx).
        return any(close(values.get(name), want) for name, want in fp.outputs.items())
    if fp.mutated:
        return all(m in outcome.mutated for m in fp.mutated)
    return bool(fp.float32) and all(
        name in values and values[name].dtype == np.float32 for name in fp.float32
    )


def batch_size(case: CaseVector) -> int | None:
    x = case.inputs.get("x")
    return int(x.shape[0]) if x is not None and x.ndim >= 1 else None


def factor_hint(name: str, got: np.ndarray, want: np.ndarray, n: int | None) -> str | None:
    scale = float(np.dot(want.ravel(), want.ravel()))
    if scale == 0.0:
        return None
    c = float(np.dot(got.ravel(), want.ravel())) / scale
    if abs(c - 1.0) <= MATCH or not (rel_error(got, c * want) <= MATCH).all():
        return None
    if n is not None and n > 1 and abs(c - n) <= MATCH * n:
        return f"{name} is N = {n} times too large everywhere: average over the batch (divide by N)"
    if n is not None and n > 1 and abs(c * n - 1.0) <= MATCH:
        return f"{name} is N = {n} times too small everywhere: it is divided by N once too often"
    if abs(c + 1.0) <= MATCH:
        return f"{name} has the wrong sign everywhere"
    return f"{name} is off by the same factor ({c:.4g}) everywhere: a missing or extra scale"


def offset_hint(name: str, got: np.ndarray, want: np.ndarray) -> str | None:
    difference = got - want
    k = float(difference.mean())
    spread = float(np.ptp(difference))
    size = float(np.abs(want).max())
    if abs(k) <= MATCH * size or spread > MATCH * max(size, abs(k)):
        return None
    return f"{name} is off by the same constant ({k:.4g}) everywhere"


def row_hint(name: str, got: np.ndarray, want: np.ndarray) -> str | None:
    """The same difference in every row (every example): a bias added wrongly, or not."""
    if got.ndim != 2 or len(got) < 2:
        return None
    difference = got - want
    size = float(np.abs(want).max())
    if float(np.ptp(difference, axis=0).max()) > MATCH * size:
        return None
    return (
        f"{name} is off by the same amounts in every row (for every example): "
        "is the bias added, and added once?"
    )


def region_hint(name: str, off: np.ndarray, case: CaseVector) -> str | None:
    x = case.inputs.get("x")
    # Only where x has both signs: otherwise "only where x > 0" would say nothing.
    if x is not None and x.shape == off.shape and (x > 0).any() and (x <= 0).any():
        if not off[x > 0].any():
            return f"{name} is wrong only where x <= 0"
        if not off[x <= 0].any():
            return f"{name} is wrong only where x > 0"
    if off.ndim == 4 and min(off.shape[2:]) >= 3 and not off[:, :, 1:-1, 1:-1].any():
        return f"{name} is wrong only on the border of each image: check the padding"
    return None


def structural(check: Check, case: CaseVector, values: Mapping[str, np.ndarray]) -> str | None:
    """A pattern in how one output is off (public cases only: it uses the expected value)."""
    got, want = values.get(check.output), case.expected.get(check.output)
    if got is None or want is None or got.shape != want.shape or want.size < 2:
        return None
    got = got.astype(np.float64)
    if not np.isfinite(got).all():
        return None
    off = rel_error(got, want) > MATCH
    if off.all() or not off.any():
        return (
            factor_hint(check.output, got, want, batch_size(case))
            or offset_hint(check.output, got, want)
            or row_hint(check.output, got, want)
        )
    return region_hint(check.output, off, case) or row_hint(check.output, got, want)


def diagnose(
    case: CaseVector, outcome: CaseOutcome, checks: tuple[Check, ...], p_means: DropoutMeaning
) -> tuple[Diagnosis, ...]:
    """Why this case fell short, as far as it can be named; nothing for a case that passes
    (an input changed in place is named even then: it passes with a warning)."""
    passed = outcome.failure is None and all(c.credit >= 1.0 for c in checks)
    found = [
        fp
        for fp in case.mistakes
        if (not passed or (fp.mutated and not fp.outputs)) and matches(fp, case, outcome, p_means)
    ]
    # The mistake behind the first output that fails first: the one the reason names.
    first = next((c.output for c in checks if c.credit < 1.0), None)
    found.sort(key=lambda fp: first not in fp.outputs)
    named = tuple(Diagnosis(fp.hint, fp.mistake) for fp in found)
    if named or passed or case.split != "public" or outcome.failure is not None:
        return named
    patterns = [structural(c, case, outcome.values) for c in checks if c.credit < 1.0]
    return tuple(Diagnosis(hint) for hint in dict.fromkeys(h for h in patterns if h))
