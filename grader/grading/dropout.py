"""Dropout, whose mask is random: judged by statistics of the student's own output, and
its backward pass against the student's own forward."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from grader.config.choices import DropoutMeaning
from grader.grading.compare import Check, Credit, compare_array, rel_error
from grader.vectors import CaseVector

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


def keep_probability(case: CaseVector, p_means: DropoutMeaning) -> float:
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


def dropout_train(case: CaseVector, out: np.ndarray, p_means: DropoutMeaning) -> Check:
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
    case: CaseVector, values: Mapping[str, np.ndarray], credit: Credit, p_means: DropoutMeaning
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
