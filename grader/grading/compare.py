"""Compare one output with its expected value, in the course's own metric.

Order of judgement, as a student needs it: was a value returned at all and of a usable
type; does its shape match; is it finite; only then how far the numbers are off
(``rel_error``, float64) and where the worst element is. Hidden cases never show their
expected values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from grader.vectors import CaseVector

Credit = Callable[[float], float]
CheckStatus = Literal["pass", "partial", "fail"]


@dataclass(frozen=True)
class Check:
    """The verdict on one output of one case."""

    output: str
    credit: float
    message: str
    rel_error: float | None = None
    # The function returned None here: what a stub returns.
    none: bool = False

    @property
    def status(self) -> CheckStatus:
        return "pass" if self.credit >= 1.0 else "partial" if self.credit > 0 else "fail"


def rel_error(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The course's relative error, elementwise, in float64."""
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    errors: np.ndarray = np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))
    return errors


def fmt_index(index: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(i) for i in index) + ")" if index else "()"


def shape_hint(output: str, got: tuple[int, ...], want: tuple[int, ...], case: CaseVector) -> str:
    like = [name for name, arr in case.inputs.items() if arr.shape == want and name != "dout"]
    if len(got) == len(want) > 1 and sorted(got) == sorted(want):
        return ": the axes look transposed"
    if got and want and int(np.prod(got)) == int(np.prod(want)) and like:
        return f": reshape {output} back to {like[0]}'s shape"
    if like:
        return f" like {like[0]}"
    return ""


# Outputs whose size-1 axes may differ from the reference's (see compare_array).
SHAPE_FREE = ("dgamma", "dbeta", "running_mean", "running_var")
KIND_HINTS = {
    "None": " (is the function still a stub, or is a return statement missing?)",
    "a list": ": return a numpy array, not a list",
    "bool": ": return a number",
}


def usable(
    output: str, value: np.ndarray | None, kind: str | None, rejected: str | None
) -> Check | None:
    """A failing check when the value is missing or of a type that cannot count."""
    if rejected is not None:
        return Check(output, 0.0, f"{output} could not be read: {rejected}")
    if value is None:
        kind = kind or "nothing"
        return Check(
            output,
            0.0,
            f"{output} is {kind} where a numeric value is due{KIND_HINTS.get(kind, '')}",
            none=kind == "None",
        )
    return None


def compare_array(
    output: str,
    got: np.ndarray,
    want: np.ndarray,
    case: CaseVector,
    credit: Credit,
    reveal: bool,
    exact: bool | None = None,
) -> Check:
    """Compare one output. ``reveal`` shows expected values; ``exact`` (default: reveal)
    shows the relative error exactly rather than as an order of magnitude."""
    if want.ndim == 0 and got.size == 1:
        got = got.reshape(())
    # Group norm's gamma is documented as (C,) in some years and (1, C, 1, 1) in others;
    # running statistics kept by mean(..., keepdims=True) are (1, D) and broadcast exactly
    # like (D,).
    if (
        output in SHAPE_FREE
        and got.shape != want.shape
        and got.squeeze().shape == want.squeeze().shape
    ):
        got = got.reshape(want.shape)
    if got.shape != want.shape:
        return Check(
            output,
            0.0,
            f"{output} has shape {got.shape}, expected {want.shape}"
            + shape_hint(output, got.shape, want.shape, case),
        )
    bad = ~np.isfinite(got.astype(np.float64))
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0]) if got.ndim else ()
        return Check(
            output,
            0.0,
            f"{output} has {int(bad.sum())} non-finite value(s) (first {float(got[index])} at "
            f"{fmt_index(index)})" + dtype_note(output, got, case),
        )
    errors = rel_error(got, want)
    worst = float(errors.max()) if errors.size else 0.0
    fraction = credit(worst)
    # A student knows what their code returned, so an exact error on a hidden case would
    # give away the expected value: show hidden errors as an order of magnitude only.
    exact = reveal if exact is None else exact
    shown = worst if exact else magnitude(worst)
    text = f"{shown:.1e}" if exact else f"about {shown:.0e}"
    if fraction >= 1.0:
        return Check(output, fraction, f"{output} matches (rel error {text})", shown)
    flat = np.unravel_index(int(errors.argmax()), errors.shape) if errors.ndim else ()
    index = tuple(int(i) for i in flat)
    # Only a public case shows its expected value; the digits shown are then as many as it
    # takes for the two numbers to read differently. A hidden case shows the student's
    # own value at a fixed precision: more digits there would say where the two agree.
    if reveal:
        mine, theirs = differing(float(got[index]), float(want[index]))
        expected = f", expected {theirs}"
    else:
        mine, expected = f"{float(got[index]):.6g}", ""
    note = dtype_note(output, got, case)
    if got.ndim == 0:
        message = f"{output} is {mine}{expected} (rel error {text}){note}"
        return Check(output, fraction, message, shown)
    # Off means short of full credit under this rubric's tiers, not a fixed tolerance.
    levels, counts = np.unique(errors, return_counts=True)
    mismatched = sum(int(n) for e, n in zip(levels, counts, strict=True) if credit(float(e)) < 1)
    return Check(
        output,
        fraction,
        f"{output} rel error {text} ({mismatched} / {errors.size} elements off); worst at "
        f"{fmt_index(index)}: got {mine}{expected}{note}",
        shown,
    )


def differing(got: float, want: float) -> tuple[str, str]:
    """``got`` and ``want`` with the fewest significant digits, from 6 up to 17 (enough
    for any two distinct float64 values), at which they read differently."""
    for digits in range(6, 18):
        mine, theirs = f"{got:.{digits}g}", f"{want:.{digits}g}"
        if mine != theirs:
            break
    return mine, theirs


# The significant decimal digits a float narrower than float64 keeps, by its item size.
FLOAT_DIGITS = {2: 3, 4: 7}


def dtype_note(output: str, got: np.ndarray, case: CaseVector) -> str:
    """What a failing output's dtype says of the mistake: a float narrower than float64,
    or integers where fractions are due ("" when the dtype is not to blame)."""
    dtype = got.dtype
    name = dtype.name  # float32 whatever the byte order
    if dtype.kind == "f" and dtype.itemsize in FLOAT_DIGITS:
        floats = [a.dtype for a in case.inputs.values() if a.dtype.kind == "f"]
        theirs = " (the inputs' dtype)" if floats and all(d == np.float64 for d in floats) else ""
        return (
            f"; your {output} is {name}: compute in float64{theirs}, {name} keeps only "
            f"about {FLOAT_DIGITS[dtype.itemsize]} digits"
        )
    if dtype.kind in "iu":
        if got.ndim == 0:
            return f"; your {output} is an integer (dtype {name}): integer division somewhere?"
        return (
            f"; your {output} is an integer array (dtype {name}): integer division, or an "
            "array made with dtype=int?"
        )
    if dtype.kind == "b":
        what = "a boolean" if got.ndim == 0 else "a boolean array"
        return f"; your {output} is {what} (dtype bool), not numbers"
    return ""


def magnitude(value: float) -> float:
    """The power of ten at or below ``value`` (0 stays 0)."""
    return 10.0 ** math.floor(math.log10(value)) if value > 0 else 0.0
