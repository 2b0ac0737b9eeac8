"""The numerical gradient of a submission's own forward, to set beside its own backward.

A backward case (the forward, then the backward on the forward's cache) or a loss that
returns (loss, dx) may carry a ``gradcheck`` entry (see ``plan``). After the case's calls
succeed, its child runs the forward again on fresh copies of its arguments, one element
moved by +-H at a time (centred differences with the course's step, as its
eval_numerical_gradient does), at up to SAMPLES coordinates of each input it
differentiates, and sends the partials back beside the case's outputs:
``numeric:dx`` (float64) and ``numeric:dx:at`` (their flat indices into x).

The grader sets them beside the submission's own backward to say where a bug lies
(grader/grading/verdict.py); they never earn credit, and they are computed here, where
student code runs: feedback only. Nothing in them comes from expected values, which the
worker never has. The check runs in a process of its own, forked from the case's child
once the case's outputs are in hand (``isolated``): whatever the forward does there
(raise, exit, crash, hang, run out of memory) drops the check, never the case.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import select
import signal
import struct
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
# The share of a case's seconds the check may take, counted from the case's start.
SHARE = 1 / 3

# What the check's process may send back: 2 arrays of SAMPLES per input, with headers.
MAX_BYTES = 1 << 20
# Beyond its share of the case, how long the check's process may take to be done.
MARGIN_SECONDS = 0.2
# How long the check waits for a process to come free under the worker's process limit
# (the worker reaps answered cases every few milliseconds).
FORK_WAIT = 0.5

# Bound before any student code runs, which may replace these.
_monotonic, _process_time, _sleep = time.monotonic, time.process_time, time.sleep
_fork, _exit, _kill, _waitpid = os.fork, os._exit, os.kill, os.waitpid
_pipe, _read, _write, _close, _select = os.pipe, os.read, os.write, os.close, select.select


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


def clock() -> tuple[float, float]:
    """Now, in wall-clock and in this process's CPU time."""
    return _monotonic(), _process_time()


def numeric_gradients(
    namespace: Mapping[str, Any],
    case: Mapping[str, Any],
    inputs: Mapping[str, np.ndarray],
    seconds: float,
    started: tuple[float, float],
) -> dict[str, bytes]:
    """The case's gradcheck, as .npy arrays for its result message ({} where it has none
    or it could not run). ``started`` is the case's start (``clock``); the check stops
    sampling before SHARE of ``seconds`` have gone, in wall-clock or in CPU time."""
    check = case.get("gradcheck")
    if not check:
        return {}
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
    """The next call of the forward could take the check past its share of the case."""


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

    # The case has run the forward once already: what it used bounds one call.
    slowest = used()

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


def spare_fork(seconds: float) -> int | None:
    """fork(), tried again for up to ``seconds`` (at most FORK_WAIT) while the process
    limit is full: the worker reaps the processes of cases that have answered as it goes;
    None where no process comes free."""
    end = _monotonic() + min(seconds, FORK_WAIT)
    while True:
        try:
            return _fork()
        except BlockingIOError:
            if _monotonic() > end:
                return None
            _sleep(0.005)
        except OSError:
            return None


def isolated(
    namespace: Mapping[str, Any],
    case: Mapping[str, Any],
    inputs: Mapping[str, np.ndarray],
    seconds: float,
    started: tuple[float, float],
) -> dict[str, bytes]:
    """``numeric_gradients`` in a process forked for it, waited for until the check's
    share of the case is up (and a margin): its arrays, or {} whatever became of it."""
    if not case.get("gradcheck"):
        return {}
    try:
        r, w = _pipe()
    except OSError:
        return {}
    pid = spare_fork(seconds * SHARE)
    if pid is None:
        # No process to spare (what a fork bomb left behind fills the limit): no check,
        # and the case's own result stands.
        _close(r)
        _close(w)
        return {}
    if pid == 0:
        try:
            _close(r)
            found = numeric_gradients(namespace, case, inputs, seconds, started)
            for name, array in found.items():
                key = name.encode()
                frame = struct.pack(">IQ", len(key), len(array)) + key + array
                while frame:
                    frame = frame[_write(w, frame) :]
        finally:
            _exit(0)
    _close(w)
    wall, cpu = clock()
    left = seconds * SHARE - max(wall - started[0], cpu - started[1]) + MARGIN_SECONDS
    deadline = _monotonic() + max(0.0, left)
    received = bytearray()
    try:
        while len(received) <= MAX_BYTES:
            remaining = deadline - _monotonic()
            if remaining <= 0 or not _select([r], [], [], remaining)[0]:
                return {}
            chunk = _read(r, 1 << 16)
            if not chunk:
                return frames(bytes(received))
            received += chunk
        return {}
    finally:
        _close(r)
        with contextlib.suppress(OSError):
            _kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            _waitpid(pid, 0)


def frames(data: bytes) -> dict[str, bytes]:
    """The arrays the check's process wrote ({} where its data is not whole)."""
    arrays = {}
    at = 0
    while at < len(data):
        if at + 12 > len(data):
            return {}
        size, length = struct.unpack(">IQ", data[at : at + 12])
        end = at + 12 + size + length
        if end > len(data):
            return {}
        try:
            name = data[at + 12 : at + 12 + size].decode()
        except UnicodeDecodeError:
            return {}
        arrays[name] = bytes(data[at + 12 + size : end])
        at = end
    return arrays
