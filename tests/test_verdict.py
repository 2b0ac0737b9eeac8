"""Telling a forward bug from a backward bug: the numerical gradient of the student's own
forward, computed in the worker, set beside the student's own backward.

The expected verdicts follow from the bugs planted by hand: a backward that doubles db is
not the gradient of any forward that adds b once; a loss that sums instead of averaging,
with a gradient that averages, is off by the batch size N everywhere (rel error
(N - 1) / (N + 1), 0.96 for N = 50, which prints as 1e+00); a forward that subtracts b
has -sum(dout) as its db, against the backward's +sum(dout) (rel error exactly 1).
"""

from __future__ import annotations

import io
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from support import ROOT, build_submission, function, grade_json, write_rubric

import reference.layers
from grader.grading.verdict import AGREE, DISAGREE, agreement
from grader.sandbox.inside.calls import run_calls
from grader.sandbox.inside.gradcheck import (
    SAMPLES,
    at_key,
    numeric_gradients,
    numeric_key,
)
from grader.sandbox.job import gradcheck_cases
from grader.vectors import CaseVector, load_vectors
from reference.gradient_check import rel_error

VECTORS = ROOT / "assignments" / "modular_layers" / "vectors"
ALL_RUBRIC = ROOT / "assignments" / "all" / "rubric.yaml"
BATCHNORM = {
    "batchnorm_forward": {"points": 15},
    "batchnorm_backward": {"points": 15},
    "batchnorm_backward_alt": {"points": 10},
}


def roomy_rubric(folder: Path, **overrides: Any) -> Path:
    """The test rubric with 10 s per case: the check takes at most a third of a case's
    seconds, and a verdict needs its samples even on a slow, loaded machine."""
    path = write_rubric(folder, **overrides)
    data = yaml.safe_load(path.read_text())
    data["limits"]["case_seconds"] = 10
    path.write_text(yaml.safe_dump(data))
    return path


def numeric(
    namespace: dict[str, Any], case: CaseVector, seconds: float = 5.0
) -> dict[str, np.ndarray]:
    """The worker's numeric routine, run here on ``namespace``, its arrays decoded."""
    sent = numeric_gradients(namespace, case.spec(gradcheck=True), case.inputs, seconds)
    return {k: np.load(io.BytesIO(v), allow_pickle=False) for k, v in sent.items()}


def verdicts(result: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["verdict"] for f in result["functions"] if f["verdict"] is not None}


# --- which cases carry the check, and what the worker is asked ----------------------------


def test_one_case_per_backward_and_loss_carries_the_check() -> None:
    cases = load_vectors(VECTORS).cases
    assert gradcheck_cases(cases) == {
        "affine_backward.seed",
        "relu_backward.seed",
        "svm_loss.seed",
        "softmax_loss.seed",
        "batchnorm_backward.train",
        "batchnorm_backward_alt.train",
        "spatial_batchnorm_backward.train",
        "layernorm_backward.rand",
        "conv_backward_naive.s2p1",
        "max_pool_backward_naive.2x2s2",
        "spatial_groupnorm_backward.g2",
    }
    # Without public cases, the first hidden one.
    hidden = load_vectors(VECTORS, ("hidden",)).cases
    assert "affine_backward.rand2d" in gradcheck_cases(hidden)


def test_the_spec_names_the_forward_the_inputs_and_the_scalar() -> None:
    by_id = {c.id: c for c in load_vectors(VECTORS, ("public",)).cases}
    assert by_id["affine_backward.seed"].spec(gradcheck=True)["gradcheck"] == {
        "forward": 0,
        "wrt": {"x": "dx", "w": "dw", "b": "db"},
        "scalar": {"return": 0, "dot": "dout"},
    }
    assert by_id["svm_loss.seed"].spec(gradcheck=True)["gradcheck"] == {
        "forward": 0,
        "wrt": {"x": "dx"},
        "scalar": {"return": 0},
    }
    # Not asked: forwards, composites, and no case unless chosen.
    for name in ("affine_forward.seed", "affine_relu.seed", "two_layer_net.seed"):
        assert "gradcheck" not in by_id[name].spec(gradcheck=True)
    assert "gradcheck" not in by_id["affine_backward.seed"].spec()


# --- the worker's numeric routine, in this process ------------------------------------------


def test_the_numerical_gradient_matches_the_references_backward() -> None:
    """On every case that can carry a check, the centred differences of the reference's
    forward match the reference's own backward: within AGREE on the cases chosen, and well
    below DISAGREE on all of them."""
    cases = load_vectors(VECTORS).cases
    chosen = gradcheck_cases(cases)
    namespace = vars(reference.layers)
    checked = 0
    for case in cases:
        spec = case.spec(gradcheck=True)
        if "gradcheck" not in spec or case.check != "elementwise":
            continue
        analytic = run_calls(namespace, spec, case.inputs)
        found = numeric(namespace, case)
        for name, output in spec["gradcheck"]["wrt"].items():
            at = found[at_key(output)]
            partials = found[numeric_key(output)]
            assert len(at) == min(SAMPLES, case.inputs[name].size) == len(set(at.tolist()))
            assert partials.dtype == np.float64 and at.min() >= 0
            mine = np.asarray(analytic[output]).reshape(-1)[at]
            error = rel_error(mine, partials)
            assert error < (AGREE if case.id in chosen else DISAGREE / 10), (case.id, output)
            checked += 1
    assert checked > 40


def test_a_check_that_cannot_run_sends_nothing() -> None:
    case = next(c for c in load_vectors(VECTORS, ("public",)).cases if c.id == "svm_loss.seed")
    calls = []

    def raises_the_second_time(x, y):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("only once")
        return reference.layers.svm_loss(x, y)

    def exits(x, y):
        sys.exit(3)

    def random_loss(x, y):
        return float(np.random.rand()), np.zeros_like(x)

    def float32_loss(x, y):
        loss, dx = reference.layers.svm_loss(x, y)
        return np.float32(loss), dx

    for fn in (raises_the_second_time, exits, random_loss, float32_loss):
        assert numeric({"svm_loss": fn}, case) == {}, fn.__name__


def test_the_check_keeps_to_its_share_of_the_case() -> None:
    case = next(c for c in load_vectors(VECTORS, ("public",)).cases if c.id == "relu_backward.seed")

    calls = []

    def slow_relu(x):
        calls.append(1)
        time.sleep(0.05)
        return reference.layers.relu_forward(x)

    found = numeric({"relu_forward": slow_relu}, case, seconds=0.6)
    # A third of 0.6 s holds at most 4 calls of at least 0.05 s each (a loaded machine
    # only makes them slower, so fewer): the two first calls and one difference.
    assert 2 <= len(calls) <= 4
    assert len(found.get(numeric_key("dx"), [])) < SAMPLES


def test_agreement_thresholds() -> None:
    exact = {"dx": np.array([1.0, -2.0, 0.5])}
    near = {"dx": exact["dx"] * (1 + 2e-6)}  # rel error 1e-6
    between = {"dx": exact["dx"] * (1 + 2e-4)}  # 1e-4
    off = {"dx": exact["dx"] * 1.5}  # 0.2
    assert agreement(exact, near) is not None and agreement(exact, near).kind == "agree"
    assert agreement(exact, between) is None
    found = agreement(exact, off)
    assert found is not None and found.kind == "disagree"
    assert math.isclose(found.errors["dx"], 0.2)
    assert agreement({}, {}) is None


# --- end to end, in the sandbox ---------------------------------------------------------------


@pytest.mark.sandbox
def test_a_correct_submission_gets_no_verdict(tmp_path: Path) -> None:
    functions = yaml.safe_load(ALL_RUBRIC.read_text())["functions"]
    result = grade_json(build_submission(tmp_path), roomy_rubric(tmp_path, functions=functions))
    assert result["score"] == result["max_score"]
    assert all(f["verdict"] is None for f in result["functions"])


AFFINE_BACKWARD_DB_DOUBLED = """
def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = 2 * np.sum(dout, axis=0)
    return dx, dw, db
"""


@pytest.mark.sandbox
def test_a_backward_bug_is_placed_in_the_backward(tmp_path: Path) -> None:
    result = grade_json(
        build_submission(tmp_path, AFFINE_BACKWARD_DB_DOUBLED), roomy_rubric(tmp_path)
    )
    # db: 2s against s, |2s - s| / (|2s| + |s|) = 1/3.
    assert verdicts(result) == {
        "affine_backward": "your affine_backward disagrees with the numerical gradient of "
        "your own affine_forward (db: rel error 3e-01): the bug is in affine_backward"
    }


@pytest.mark.sandbox
def test_a_relu_backward_without_its_mask_is_blamed(tmp_path: Path) -> None:
    snippet = "def relu_backward(dout, cache):\n    return dout.copy()\n"
    result = grade_json(build_submission(tmp_path, snippet), roomy_rubric(tmp_path))
    # Where x < 0 (45 of the 100 elements), dout against 0: rel error 1.
    assert verdicts(result) == {
        "relu_backward": "your relu_backward disagrees with the numerical gradient of your "
        "own relu_forward (dx: rel error 1e+00): the bug is in relu_backward"
    }


@pytest.mark.sandbox
def test_a_forward_bug_that_leaves_the_cache_alone(tmp_path: Path) -> None:
    """out = xw - b, with the right cache: the backward still passes, but its db is the
    opposite of the forward's own, which points at how the forward uses b."""
    snippet = """
def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w - b
    return out, (x, w, b)
"""
    result = grade_json(build_submission(tmp_path, snippet), roomy_rubric(tmp_path))
    assert function(result, "affine_backward")["status"] == "pass"
    assert verdicts(result) == {
        "affine_forward": "affine_backward's db is right, yet it disagrees with the numerical "
        "gradient of your own affine_forward (rel error 1e+00): the bug is in how "
        "affine_forward uses b"
    }


@pytest.mark.sandbox
def test_a_forward_bug_the_backward_follows_is_placed_in_the_forward(tmp_path: Path) -> None:
    """A column-major flatten in both passes: the backward is the exact gradient of the
    forward, and both differ from the assignment's."""
    snippet = """
def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1, order="F") @ w + b
    return out, (x, w, b)

def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape, order="F")
    dw = x.reshape(x.shape[0], -1, order="F").T @ dout
    return dx, dw, np.sum(dout, axis=0)
"""
    result = grade_json(build_submission(tmp_path, snippet), roomy_rubric(tmp_path))
    assert verdicts(result) == {
        "affine_backward": "your affine_backward agrees with the numerical gradient of your "
        "own affine_forward, so the bug is in affine_forward"
    }


SVM_HEAD = """
def svm_loss(x, y):
    N = x.shape[0]
    rows = np.arange(N)
    margins = np.maximum(0, x - x[rows, y][:, None] + 1.0)
    margins[rows, y] = 0
    dx = (margins > 0).astype(float)
    dx[rows, y] = -dx.sum(axis=1)
"""


@pytest.mark.sandbox
def test_loss_verdicts(tmp_path: Path) -> None:
    """svm: the loss summed and dx averaged (dx is right, the loss is not); softmax: both
    summed (dx follows the loss)."""
    snippet = (
        SVM_HEAD
        + "    return margins.sum(), dx / N\n"
        + """
def softmax_loss(x, y):
    N = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    dx = p.copy()
    dx[np.arange(N), y] -= 1
    return -np.log(p[np.arange(N), y]).sum(), dx
"""
    )
    result = grade_json(build_submission(tmp_path, snippet), roomy_rubric(tmp_path))
    assert verdicts(result) == {
        "svm_loss": "dx is right, but it is not the gradient of your own loss "
        "(rel error 1e+00): the bug is in the loss",
        "softmax_loss": "dx is the gradient of your own loss, so the bug is in the loss",
    }


@pytest.mark.sandbox
def test_a_gradient_that_does_not_follow_a_right_loss(tmp_path: Path) -> None:
    """svm: the loss averaged, dx summed: dx is N times its loss's gradient everywhere."""
    snippet = SVM_HEAD + "    return margins.sum() / N, dx\n"
    result = grade_json(build_submission(tmp_path, snippet), roomy_rubric(tmp_path))
    assert verdicts(result) == {
        "svm_loss": "dx is not the gradient of your own loss (rel error 1e+00): fix dx"
    }


BATCHNORM_UNBIASED = """
def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D))
    running_var = bn_param.get("running_var", np.zeros(D))
    if mode == "train":
        mu = x.mean(axis=0)
        xmu = x - mu
        var = np.sum(xmu ** 2, axis=0) / (N - 1)
        sqrtvar = np.sqrt(var + eps)
        ivar = 1.0 / sqrtvar
        xhat = xmu * ivar
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        cache = ("train", xhat, gamma, xmu, ivar, sqrtvar, var, eps)
    else:
        ivar = 1.0 / np.sqrt(running_var + eps)
        xhat = (x - running_mean) * ivar
        cache = ("test", xhat, gamma, None, ivar, None, None, eps)
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return gamma * xhat + beta, cache
"""

# The same mistake carried through: var's gradient divided by N - 1 as well.
BATCHNORM_BACKWARD_UNBIASED = """
def batchnorm_backward(dout, cache):
    mode, xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    if mode == "test":
        return dxhat * ivar, dgamma, dbeta
    dvar = -0.5 * ivar ** 3 * (dxhat * xmu).sum(axis=0)
    dxmu = dxhat * ivar + 2 * xmu * dvar / (N - 1)
    return dxmu - dxmu.mean(axis=0), dgamma, dbeta
"""


@pytest.mark.sandbox
def test_batchnorm_with_the_unbiased_variance(tmp_path: Path) -> None:
    """The forward divides the variance by N - 1. batchnorm_backward carries the mistake
    through (it is that forward's gradient); batchnorm_backward_alt is the assignment's
    formula, right for the right forward, so not the gradient of this one."""
    sub = build_submission(tmp_path, BATCHNORM_UNBIASED + BATCHNORM_BACKWARD_UNBIASED)
    result = grade_json(sub, roomy_rubric(tmp_path, functions=BATCHNORM))
    found = verdicts(result)
    assert set(found) == {"batchnorm_backward", "batchnorm_backward_alt"}
    assert found["batchnorm_backward"] == (
        "your batchnorm_backward agrees with the numerical gradient of your own "
        "batchnorm_forward, so the bug is in batchnorm_forward"
    )
    assert re.fullmatch(
        r"your batchnorm_backward_alt disagrees with the numerical gradient of your own "
        r"batchnorm_forward \(dx: rel error \de[-+]\d\d\), but batchnorm_forward fails its "
        r"own checks too: fix it first, then check batchnorm_backward_alt again",
        found["batchnorm_backward_alt"],
    )


@pytest.mark.sandbox
def test_a_check_that_raises_changes_nothing(tmp_path: Path) -> None:
    """A forward that works once per input (the case's own call) and raises when called
    again on the same x: the gradcheck is dropped, and the case is graded exactly as
    without it. (A function's cases share a process: a plain call counter would also
    fail the function's later cases.)"""
    once = """
_seen = set()

def affine_forward(x, w, b):
    if x.tobytes() in _seen:
        raise RuntimeError("called twice")
    _seen.add(x.tobytes())
    return x.reshape(x.shape[0], -1) @ w + b, (x, w, b)
"""
    plain = grade_json(
        build_submission(tmp_path, AFFINE_BACKWARD_DB_DOUBLED, "plain"), roomy_rubric(tmp_path)
    )
    raising = grade_json(
        build_submission(tmp_path, AFFINE_BACKWARD_DB_DOUBLED + once, "raising"),
        roomy_rubric(tmp_path),
    )
    mine, theirs = function(raising, "affine_backward"), function(plain, "affine_backward")
    assert mine["verdict"] is None and theirs["verdict"] is not None
    for got, want in zip(mine["cases"], theirs["cases"], strict=True):
        for key in ("id", "credit", "feedback", "failure", "checks"):
            assert got[key] == want[key], key
    assert mine["score"] == theirs["score"]


# Backwards that fail, so that the grader asks for their forwards' gradient checks.
FAILING_BACKWARDS = (
    AFFINE_BACKWARD_DB_DOUBLED + "def relu_backward(dout, cache):\n    return dout.copy()\n"
)
# Forwards that work once per process (the case's own call) and, called again, in the
# check: one ends the worker (or, where it cannot, its own process), one hangs.
SECOND_CALL_ENDS_THE_WORKER = """
_calls = []
_relu_forward, _affine_forward = relu_forward, affine_forward


def relu_forward(x):
    _calls.append(1)
    if len(_calls) > 1:
        import os
        import signal

        try:
            os.kill(os.getppid(), signal.SIGKILL)
        finally:
            os._exit(0)
    return _relu_forward(x)
"""
SECOND_CALL_HANGS = """
_calls = []
_affine_forward = affine_forward


def affine_forward(x, w, b):
    _calls.append(1)
    while len(_calls) > 1:
        pass
    return _affine_forward(x, w, b)
"""


@pytest.mark.sandbox
@pytest.mark.slow
@pytest.mark.parametrize("forward", [SECOND_CALL_ENDS_THE_WORKER, SECOND_CALL_HANGS])
def test_a_check_that_dies_or_hangs_costs_the_cases_nothing(tmp_path: Path, forward: str) -> None:
    """The checks run once every case has answered, each in a process of its own: one
    that hangs, or that ends the worker, drops its check (no verdict), and every case is
    graded exactly as without it."""
    rubric = write_rubric(tmp_path)
    results = [
        grade_json(build_submission(tmp_path, snippet, name), rubric, "--cases", "public")
        for name, snippet in (("plain", FAILING_BACKWARDS), ("odd", FAILING_BACKWARDS + forward))
    ]
    dropped = "relu_backward" if forward is SECOND_CALL_ENDS_THE_WORKER else "affine_backward"
    for name in ("affine_backward", "relu_backward"):
        theirs, mine = (function(r, name) for r in results)
        assert theirs["verdict"] is not None, name
        if name == dropped:
            assert mine["verdict"] is None, name
        assert mine["status"] != "pass" and mine["score"] == theirs["score"], name
        for got, want in zip(mine["cases"], theirs["cases"], strict=True):
            for key in ("id", "credit", "feedback", "failure", "checks"):
                assert got[key] == want[key], key
    assert results[1]["score"] == results[0]["score"]


def test_a_worker_gone_before_the_checks_are_asked_for_changes_nothing() -> None:
    """The worker may end between its last answer and the grader's requests for checks:
    the checks are dropped, the cases' outcomes stay."""
    from grader.sandbox.results import CaseOutcome
    from grader.sandbox.run import run_checks

    class Gone:
        case_wall_seconds = 3.0

        def request(self, case_id: str, check: bool = False) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    case = next(c for c in load_vectors(VECTORS, ("public",)).cases if c.id == "svm_loss.seed")
    outcomes = [CaseOutcome(case.id, 0.1, values=dict(case.expected))]
    before = list(outcomes)
    assert run_checks(Gone(), [case], time.monotonic() + 60, outcomes) is False  # type: ignore[arg-type]
    assert outcomes == before


# Each call of svm_loss says so on the worker's stderr, below Python's streams (which the
# check silences): the grader's output counts the calls.
SVM_COUNTED = """
_svm_loss = svm_loss


def svm_loss(x, y):
    import os

    os.write(2, b"svm_loss called\\n")
    loss, dx = _svm_loss(x, y)
    return loss, DX_SCALE * dx
"""


@pytest.mark.sandbox
def test_only_a_failing_function_pays_for_its_check(tmp_path: Path) -> None:
    """A passing svm_loss is not differenced at all; one whose dx fails is, once: two
    calls to see that the loss is not random, and two per sampled coordinate (its only
    differentiated input has more than SAMPLES elements)."""
    rubric = roomy_rubric(tmp_path, functions={"svm_loss": {"points": 10}})
    calls = {}
    for scale in (1, 2):
        sub = build_submission(tmp_path, f"DX_SCALE = {scale}\n" + SVM_COUNTED, f"x{scale}")
        result = grade_json(sub, rubric, "--cases", "public")
        assert function(result, "svm_loss")["status"] == ("pass" if scale == 1 else "partial")
        calls[scale] = result["output"].count("svm_loss called")
    assert calls[1] > 0
    assert calls[2] - calls[1] == 2 + 2 * SAMPLES


def test_agreement_away_from_the_wrong_elements_blames_no_one() -> None:
    """A backward wrong at one element, sampled elsewhere: that it agrees with the forward
    there says nothing of the element that fails, so no verdict; sampled there, the
    forward (which fails too) is blamed."""
    from grader.grading.compare import Check
    from grader.grading.verdict import verdict
    from grader.sandbox.results import CaseOutcome

    case = next(c for c in load_vectors(VECTORS, ("public",)).cases if c.id == "relu_backward.seed")
    want = case.expected["dx"]
    wrong = want.copy().reshape(-1)
    wrong[0] += 1.0
    wrong = wrong.reshape(want.shape)
    failing = [Check("dx", 0.0, "dx is off", rel_error=0.5)]

    def said(at: list[int]) -> str | None:
        where = np.array(at, dtype=np.int64)
        outcome = CaseOutcome(
            case.id,
            0.0,
            values={"dx": wrong},
            numeric={
                numeric_key("dx"): wrong.reshape(-1)[where],
                numeric_key("dx") + ":at": where,
            },
        )
        return verdict(case, outcome, failing, {"relu_forward": False, "relu_backward": False})

    assert said([3, 5, 7]) is None
    assert said([0, 5, 7]) == (
        "your relu_backward agrees with the numerical gradient of your own relu_forward, "
        "so the bug is in relu_forward"
    )


# --- which checks the grader asks for -------------------------------------------------------


def test_the_grader_asks_only_for_the_checks_a_verdict_could_use() -> None:
    """Every case answered with the expected values: no check. A failing backward, or a
    failing forward its backward differentiates, asks for that backward's check; a case
    that raised gives nothing to set its check beside."""
    from grader.config.rubric import load_rubric
    from grader.grading.score import gradchecks_wanted
    from grader.sandbox.results import CaseOutcome, Failure

    rubric = load_rubric(ROOT / "rubric.yaml")
    cases = load_vectors(VECTORS, ("public",)).cases
    right = {c.id: CaseOutcome(c.id, 0.0, values=dict(c.expected)) for c in cases}

    def asked(**changed: CaseOutcome) -> list[str]:
        return gradchecks_wanted(rubric, cases, list({**right, **changed}.values()))

    def off(case_id: str, output: str) -> CaseOutcome:
        values = dict(right[case_id].values)
        values[output] = values[output] + 1.0
        return CaseOutcome(case_id, 0.0, values=values)

    assert asked() == []
    assert asked(**{"affine_backward.seed": off("affine_backward.seed", "db")}) == [
        "affine_backward.seed"
    ]
    assert asked(**{"affine_forward.seed": off("affine_forward.seed", "out")}) == [
        "affine_backward.seed"
    ]
    assert asked(**{"svm_loss.seed": off("svm_loss.seed", "loss")}) == ["svm_loss.seed"]
    raised = CaseOutcome("svm_loss.seed", 0.0, failure=Failure("error", "ValueError"))
    assert asked(**{"svm_loss.seed": raised}) == []


def test_which_checks_are_asked_for_says_nothing_of_the_hidden_cases() -> None:
    """A function that fails hidden cases only is asked for no check: what the worker is
    asked is decided from the public cases, whose expected values students have."""
    from grader.config.rubric import load_rubric
    from grader.grading.score import gradchecks_wanted
    from grader.sandbox.results import CaseOutcome

    rubric = load_rubric(ROOT / "rubric.yaml")
    cases = load_vectors(VECTORS).cases
    hidden = next(c for c in cases if c.function == "affine_backward" and c.split == "hidden")
    outcomes = {c.id: CaseOutcome(c.id, 0.0, values=dict(c.expected)) for c in cases}
    values = dict(outcomes[hidden.id].values)
    values["db"] = values["db"] + 1.0
    outcomes[hidden.id] = CaseOutcome(hidden.id, 0.0, values=values)
    assert gradchecks_wanted(rubric, cases, list(outcomes.values())) == []


def test_a_checks_answer_counts_only_where_it_is_that_checks() -> None:
    from grader.sandbox.run import numeric_from
    from grader.sandbox.transport import Message

    case = next(c for c in load_vectors(VECTORS, ("public",)).cases if c.id == "svm_loss.seed")
    arrays = {numeric_key("dx"): np.ones(3), at_key("dx"): np.arange(3), "numeric:dq": np.ones(1)}

    def answer(**header: object) -> Message:
        base = {"type": "result", "case": case.id, "status": "ok"}
        return Message(dict(base, **header), arrays, {})

    assert set(numeric_from(case, answer())) == {numeric_key("dx"), at_key("dx")}
    assert numeric_from(case, answer(case="svm_loss.other")) == {}
    assert numeric_from(case, answer(status="error", error="could not start a process")) == {}
