"""Judge one case's outputs against the expected values, in the course's own metric.

Order of judgement, as a student needs it: was a value returned at all and of a usable
type; does its shape match; is it finite; only then how far the numbers are off
(``rel_error``, float64) and where the worst element is. Hidden cases never show their
expected values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from grader.vectors import CaseVector

Credit = Callable[[float], float]

# Dropout statistics (see LAYER_CONTRACTS.md). On 500x500 inputs the kept fraction has a
# standard deviation below 0.001, so 0.01 is a wide margin that still tells p from 1-p;
# the course asks for the mean to be preserved within about 1%.
DROPOUT_FRACTION_TOLERANCE = 0.01
DROPOUT_MEAN_TOLERANCE = 0.01
# The backward cases use 100x100 inputs (standard deviation of the kept fraction about
# 0.005): 0.05 only rules out a forward that is not dropout at all.
BACKWARD_FRACTION_TOLERANCE = 0.05
# Kept entries must be x / keep up to rounding.
DROPOUT_SCALE_TOLERANCE = 1e-7


@dataclass(frozen=True)
class Check:
    """The verdict on one output of one case."""

    output: str
    credit: float
    message: str
    rel_error: float | None = None

    @property
    def status(self) -> str:
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
    # Group norm's gamma is documented as (C,) in some years and (1, C, 1, 1) in others.
    if (
        output in ("dgamma", "dbeta")
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
            f"{fmt_index(index)})",
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
    expected = f", expected {float(want[index]):.6g}" if reveal else ""
    if got.ndim == 0:
        message = f"{output} is {float(got):.6g}{expected} (rel error {text})"
        return Check(output, fraction, message, shown)
    mismatched = int((errors > 1e-7).sum())
    return Check(
        output,
        fraction,
        f"{output} rel error {text} ({mismatched} / {errors.size} elements off); worst at "
        f"{fmt_index(index)}: got {float(got[index]):.6g}{expected}",
        shown,
    )


def magnitude(value: float) -> float:
    """The power of ten at or below ``value`` (0 stays 0)."""
    return 10.0 ** math.floor(math.log10(value)) if value > 0 else 0.0


def keep_probability(case: CaseVector, p_means: str) -> float:
    p = float(case.params["p"])
    return p if p_means == "keep" else 1.0 - p


def dropout_problem(
    x: np.ndarray, out: np.ndarray, keep: float, tolerance: float, p_text: str = ""
) -> str | None:
    """What makes ``out`` not an inverted-dropout output of ``x``, if anything."""
    if out.shape != x.shape:
        return f"out has shape {out.shape}, expected {x.shape} like x"
    if not np.all(np.isfinite(out)):
        return "out has non-finite values"
    kept = out != 0
    fraction = float(kept.mean())
    if abs(fraction - keep) > tolerance:
        return f"out keeps {fraction:.3f} of the inputs{p_text}; expected {keep:.3f}"
    scale_error = float(rel_error(out[kept], x[kept] / keep).max()) if kept.any() else 0.0
    if scale_error > DROPOUT_SCALE_TOLERANCE:
        return (
            f"kept values are not x / {keep:g} (rel error {scale_error:.1e}): inverted dropout "
            "scales at train time so test time needs no change"
        )
    return None


def dropout_train(case: CaseVector, out: np.ndarray, p_means: str) -> Check:
    x = case.inputs["x"]
    keep = keep_probability(case, p_means)
    p_text = f" with p={case.params['p']:g}"
    problem = dropout_problem(x, out, keep, DROPOUT_FRACTION_TOLERANCE, p_text)
    if problem is not None:
        if problem.startswith("out keeps"):
            meaning = "keep" if p_means == "keep" else "drop"
            problem += f" (p is the probability to {meaning} a unit)"
        return Check("out", 0.0, problem)
    drift = abs(float(out.mean()) - float(x.mean())) / max(abs(float(x.mean())), 1e-12)
    if drift > DROPOUT_MEAN_TOLERANCE:
        return Check("out", 0.0, f"the mean of out differs from the mean of x by {drift:.1%}")
    fraction = float((out != 0).mean())
    return Check(
        "out", 1.0, f"out keeps {fraction:.3f} (expected {keep:.3f}), mean within {drift:.2%}"
    )


def dropout_backward(
    case: CaseVector, values: Mapping[str, np.ndarray], credit: Credit, p_means: str
) -> Check:
    """dx must be dout masked and scaled exactly as the student's own forward did, and that
    forward must be a real inverted dropout (else zeros everywhere would pass)."""
    x, dout = case.inputs["x"], case.inputs["dout"]
    out, dx = values["out"], values["dx"]
    problem = dropout_problem(x, out, keep_probability(case, p_means), BACKWARD_FRACTION_TOLERANCE)
    if problem is not None:
        return Check("dx", 0.0, f"the forward pass is wrong, so dx cannot be judged: {problem}")
    # The reference here is derived from the student's own forward: nothing to hide but the
    # word "expected", which would suggest a stored answer.
    return compare_array("dx", dx, dout * (out / x), case, credit, reveal=False, exact=True)


def judge_case(
    case: CaseVector,
    values: Mapping[str, np.ndarray],
    kinds: Mapping[str, str],
    rejected: Mapping[str, str],
    credit: Credit,
    p_means: str,
) -> tuple[Check, ...]:
    reveal = case.split == "public"
    scored = ["dx"] if case.check == "dropout_backward" else [o.name for o in case.outputs]
    checks = []
    for name in scored:
        missing = usable(name, values.get(name), kinds.get(name), rejected.get(name))
        if missing is not None:
            checks.append(missing)
        elif case.check == "dropout_train":
            checks.append(dropout_train(case, values[name], p_means))
        elif case.check == "dropout_backward":
            if "out" not in values:
                checks.append(Check("dx", 0.0, "the forward's out is not a numeric array"))
            else:
                checks.append(dropout_backward(case, values, credit, p_means))
        else:
            checks.append(
                compare_array(name, values[name], case.expected[name], case, credit, reveal)
            )
    return tuple(checks)
