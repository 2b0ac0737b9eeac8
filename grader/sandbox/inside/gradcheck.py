"""The numerical gradient of a submission's own forward, to set beside its own backward.

A backward case (the forward, then the backward on the forward's cache) or a loss that
returns (loss, dx) may carry a ``gradcheck`` entry (see ``plan``). Where the grader asks
for it, a child of the worker runs the case's forward on fresh copies of its arguments,
one element moved by +-H at a time (centred differences with the course's step, as its
eval_numerical_gradient does), at up to SAMPLES coordinates of each input it
differentiates, and sends the partials back:
``numeric:dx`` (float64) and ``numeric:dx:at`` (their flat indices into x).

The grader sets them beside the submission's own backward to say where a bug lies
(grader/grading/verdict.py); they never earn credit, and they are computed here, where
student code runs: feedback only. Nothing in them comes from expected values, which the
worker never has. The grader asks for a case's check only once every case has answered,
and only where a verdict could use it (a function that fails): a submission that passes
pays for none. The check runs in a child of its own (cases.py), like a case, but its
answer only ever adds feedback: whatever the forward does there (raise, exit, crash,
hang, run out of memory) drops the check, never a case.
"""

from __future__ import annotations

import io
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .calls import resolve
from .frames import at_key, npy_bytes, numeric_key

# The course's step for centred differences.
H = 1e-5
# Coordinates sampled per differentiated input.
SAMPLES = 10
# The share of a case's seconds the check may take.
SHARE = 1 / 3
# Beyond its share, how long the check's process may take to answer before it is killed
# (the check starts no call of the forward that could end past its share).
MARGIN_SECONDS = 0.5

# Bound before any student code runs, which may replace these.
_monotonic, _process_time = time.monotonic, time.process_time


class Discard(io.TextIOBase):
    """A text stream that keeps nothing."""

    def write(self, text: str) -> int:
        return len(text)


class Skip(Exception):
    """The forward's value cannot be differenced (not float64, not of dout's shape ...)."""


def plan(
    function: str, calls: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """The gradcheck of a case of ``function``, derived from its calls and outputs; None
    where there is none to make.

    Returns {"forward": index of the call to difference, "wrt": {array argument of that
    call: the case's output holding its gradient}, "scalar": {"return": i, "dot": key}}:
    the scalar is the forward's i-th return value, dotted with the input ``key`` (the
    upstream gradient) where there is one. Two shapes of case qualify:

    - a backward: the graded call takes one input array (dout) and one value returned by
      an earlier call of another function (the cache); that call, whose arguments come from
      the inputs alone, is the forward; its first return (out) is dotted with dout;
    - a loss: the graded call is the case's only call and returns, after its first value
      (the loss), the gradient ``d<name>`` of some of its array arguments.

    Gradients are matched to arguments by the assignment's naming: x -> dx, w -> dw,
    gamma -> dgamma. A composite (no call of ``function`` itself) has none.
    """
    graded = [i for i, call in enumerate(calls) if call["fn"] == function]
    if len(graded) != 1:
        return None
    g = graded[0]
    call = calls[g]
    by_var = {o["from"]["var"]: o["name"] for o in outputs if "var" in o["from"]}

    def wrt(forward: Mapping[str, Any]) -> dict[str, str]:
        arrays = [a["array"] for a in forward["args"] if "array" in a]
        return {
            a: by_var[f"d{a}"] for a in arrays if f"d{a}" in call["returns"] and f"d{a}" in by_var
        }

    cached = [a["var"] for a in call["args"] if "var" in a]
    upstream = [a["array"] for a in call["args"] if "array" in a]
    if len(calls) == 1 and not cached and len(call["returns"]) > 1:
        grads = wrt(call)
        if grads and call["returns"][0] not in {f"d{a}" for a in grads}:
            return {"forward": g, "wrt": grads, "scalar": {"return": 0}}
        return None
    if len(cached) != 1 or len(upstream) != 1:
        return None
    makers = [i for i in range(g) if cached[0] in calls[i]["returns"]]
    if not makers:
        return None
    f = makers[-1]
    forward = calls[f]
    if forward["fn"] == function or len(forward["returns"]) < 2:
        return None
    if any(not pure(a) for a in forward["args"]):
        return None
    grads = wrt(forward)
    if not grads:
        return None
    return {"forward": f, "wrt": grads, "scalar": {"return": 0, "dot": upstream[0]}}


def pure(spec: Mapping[str, Any]) -> bool:
    """The argument is made from the inputs alone (no value an earlier call returned)."""
    if "var" in spec:
        return False
    if "dict" in spec:
        return all(pure(v) for v in spec["dict"].values())
    return True


def check_seconds(seconds: float) -> float:
    """The CPU time, and the wall-clock time, a check's process has, where a case has
    ``seconds``: a forward that hangs costs that, not a case's deadline."""
    return seconds * SHARE + MARGIN_SECONDS


def clock() -> tuple[float, float]:
    """Now, in wall-clock and in this process's CPU time."""
    return _monotonic(), _process_time()


def numeric_gradients(
    namespace: Mapping[str, Any],
    case: Mapping[str, Any],
    inputs: Mapping[str, np.ndarray],
    seconds: float,
) -> dict[str, bytes]:
    """The case's gradcheck, as .npy arrays for its answer ({} where it has none or it
    could not run). The check stops sampling before SHARE of ``seconds`` have gone since
    it started, in wall-clock or in CPU time."""
    check = case.get("gradcheck")
    if not check:
        return {}
    started = clock()
    streams = sys.stdout, sys.stderr
    try:
        # What the forward prints was printed once by the case itself: not sixty times more.
        sys.stdout = sys.stderr = Discard()
        call = case["calls"][check["forward"]]
        arrays = sample(namespace, call, check, inputs, seconds, started)
        return {name: npy_bytes(array) for name, array in arrays.items()}
    except BaseException:
        return {}
    finally:
        sys.stdout, sys.stderr = streams


class OutOfTime(Exception):
    """The next call of the forward could take the check past its share of a case."""


def sample(
    namespace: Mapping[str, Any],
    call: Mapping[str, Any],
    check: Mapping[str, Any],
    inputs: Mapping[str, np.ndarray],
    seconds: float,
    started: tuple[float, float],
) -> dict[str, np.ndarray]:
    fn = namespace[call["fn"]]
    index = int(check["scalar"]["return"])
    key = check["scalar"].get("dot")
    dout = None if key is None else np.asarray(inputs[key], dtype=np.float64)
    budget = seconds * SHARE

    def used() -> float:
        wall, cpu = clock()
        return max(wall - started[0], cpu - started[1])

    # The longest call of the forward so far: the next may take as long.
    slowest = 0.0

    def value(arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """The forward's scalar (a loss) or its out, from fresh arguments."""
        nonlocal slowest
        before = used()
        if before + slowest > budget:
            raise OutOfTime
        returned = fn(*[resolve(a, arrays, {}) for a in call["args"]])
        slowest = max(slowest, used() - before)
        if len(call["returns"]) > 1:
            if type(returned) is not tuple or len(returned) != len(call["returns"]):
                raise Skip("not the tuple the case expects")
            returned = returned[index]
        if dout is not None:
            if type(returned) is not np.ndarray or returned.shape != dout.shape:
                raise Skip("out is not an array of dout's shape")
        elif type(returned) not in (float, np.float64, np.ndarray):
            raise Skip("the loss is not a float")
        out = np.array(returned, copy=True)
        # Differences of float32 values at this step are mostly rounding.
        if out.dtype != np.float64 or (dout is None and out.size != 1):
            raise Skip("not float64")
        return out

    # A forward that does not give the same value twice (random) cannot be differenced.
    try:
        if not np.array_equal(value(inputs), value(inputs)):
            return {}
    except OutOfTime:
        return {}
    coordinates = {}
    for name, output in check["wrt"].items():
        x = inputs[name]
        if x.dtype != np.float64 or x.size == 0:
            continue
        coordinates[output] = (name, spread(x.size, SAMPLES))
    partials: dict[str, list[float]] = {output: [] for output in coordinates}
    try:
        # Round robin over the inputs, so that a slow forward still gets a few of each.
        for k in range(SAMPLES):
            for output, (name, at) in coordinates.items():
                if k < len(at):
                    partials[output].append(partial(value, inputs, name, int(at[k]), dout))
    except OutOfTime:
        pass
    return message(partials, coordinates)


def spread(size: int, n: int) -> np.ndarray:
    """``n`` distinct flat indices below ``size`` (all of them if fewer), sorted, spread over
    rows and columns alike: steps of about size / golden ratio, coprime to ``size``. Fixed,
    like the seeded draw it replaces, without importing numpy.random into every worker."""
    if size <= n:
        return np.arange(size)
    step = max(1, round(size * 0.6180339887))
    while math.gcd(step, size) != 1:
        step += 1
    return np.sort(np.arange(n) * step % size)


def partial(
    value: Callable[[Mapping[str, np.ndarray]], np.ndarray],
    inputs: Mapping[str, np.ndarray],
    name: str,
    at: int,
    dout: np.ndarray | None,
) -> float:
    """The centred difference of the scalar along element ``at`` (flat) of input ``name``:
    (f(x + h) - f(x - h)) / 2h, with f(x) = sum(out * dout) for a layer."""
    moved = dict(inputs)
    x = np.array(inputs[name], copy=True, order="C")
    flat = x.reshape(-1)
    old = flat[at]
    moved[name] = x
    flat[at] = old + H
    plus = value(moved)
    flat[at] = old - H
    minus = value(moved)
    if dout is None:
        return float(plus.reshape(-1)[0] - minus.reshape(-1)[0]) / (2 * H)
    return float(np.sum((plus - minus) * dout)) / (2 * H)


def message(
    partials: Mapping[str, list[float]], coordinates: Mapping[str, tuple[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    arrays = {}
    for output, values in partials.items():
        if values:
            arrays[numeric_key(output)] = np.array(values, dtype=np.float64)
            arrays[at_key(output)] = coordinates[output][1][: len(values)].astype(np.int64)
    return arrays
