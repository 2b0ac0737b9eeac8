"""Tests of reference.layers: backward passes against numerical gradients of the
forward passes, forward passes against published values and independent
computations, and the contract's statistics and purity rules."""

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from scipy import signal

from reference.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)
from reference.layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    conv_backward_naive,
    conv_forward_naive,
    dropout_backward,
    dropout_forward,
    layernorm_backward,
    layernorm_forward,
    max_pool_backward_naive,
    max_pool_forward_naive,
    relu_backward,
    relu_forward,
    softmax_loss,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
    svm_loss,
)

Arrays = dict[str, np.ndarray]


def away_from_zero(a: np.ndarray, gap: float = 0.01) -> np.ndarray:
    """Moves every element at least `gap` away from 0, keeping its sign, so a
    step of h = 1e-5 never crosses a ReLU kink."""
    return a + np.copysign(gap, a)


def distinct_values(rs: np.random.RandomState, shape: tuple[int, ...]) -> np.ndarray:
    """Values 0.1 apart in random order: no max-pool window has a tie, or a
    near-tie that a step of h = 1e-5 could reorder."""
    return rs.permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 1.0


@dataclass(frozen=True)
class GradCase:
    """A backward function checked against the numerical gradient of its forward.

    `inputs` builds the differentiable inputs in the backward's return order;
    `forward(**inputs)` returns (out, cache) with fresh parameters on every call.
    """

    name: str
    bound: float
    why: str
    inputs: Callable[[np.random.RandomState], Arrays]
    forward: Callable[..., tuple[np.ndarray, Any]]
    backward: Callable[[np.ndarray, Any], Any]


def _affine_inputs(rs: np.random.RandomState) -> Arrays:
    return {"x": rs.randn(4, 2, 3), "w": rs.randn(6, 5), "b": rs.randn(5)}


def _bn_inputs(rs: np.random.RandomState) -> Arrays:
    return {"x": 3 * rs.randn(8, 4) + 2, "gamma": rs.randn(4), "beta": rs.randn(4)}


def _bn_test_forward(x, gamma, beta):
    bn_param = {
        "mode": "test",
        "running_mean": np.array([0.5, -1.0, 2.0, 0.0]),
        "running_var": np.array([2.0, 0.5, 1.5, 4.0]),
    }
    return batchnorm_forward(x, gamma, beta, bn_param)


def _conv_inputs(rs: np.random.RandomState) -> Arrays:
    return {"x": rs.randn(2, 3, 5, 5), "w": rs.randn(3, 3, 3, 3), "b": rs.randn(3)}


def _gn_inputs(gamma_shape: tuple[int, ...]) -> Callable[[np.random.RandomState], Arrays]:
    def build(rs: np.random.RandomState) -> Arrays:
        return {
            "x": 2 * rs.randn(2, 4, 3, 3) + 1,
            "gamma": rs.randn(*gamma_shape),
            "beta": rs.randn(*gamma_shape),
        }

    return build


EXACT_LINEAR = "linear in each input: centered differences are exact, only rounding remains"
NORMALISING = (
    "dx sums to 0 over each normalised group, so some entries are small (~3e-3) against "
    "the numerical gradient's ~1e-10 absolute rounding floor"
)

GRAD_CASES = [
    GradCase(
        "affine_backward",
        1e-8,
        EXACT_LINEAR,
        _affine_inputs,
        affine_forward,
        affine_backward,
    ),
    GradCase(
        "relu_backward",
        1e-9,
        "piecewise linear and no input within 0.01 of the kink",
        lambda rs: {"x": away_from_zero(rs.randn(5, 6))},
        relu_forward,
        lambda dout, cache: (relu_backward(dout, cache),),
    ),
    GradCase(
        "batchnorm_backward train",
        1e-7,
        NORMALISING,
        _bn_inputs,
        lambda x, gamma, beta: batchnorm_forward(x, gamma, beta, {"mode": "train"}),
        batchnorm_backward,
    ),
    GradCase(
        "batchnorm_backward test",
        1e-8,
        "test mode is a fixed affine map of x, gamma and beta",
        _bn_inputs,
        _bn_test_forward,
        batchnorm_backward,
    ),
    GradCase(
        "batchnorm_backward_alt train",
        1e-7,
        NORMALISING,
        _bn_inputs,
        lambda x, gamma, beta: batchnorm_forward(x, gamma, beta, {"mode": "train"}),
        batchnorm_backward_alt,
    ),
    GradCase(
        "batchnorm_backward_alt test",
        1e-8,
        "test mode is a fixed affine map of x, gamma and beta",
        _bn_inputs,
        _bn_test_forward,
        batchnorm_backward_alt,
    ),
    GradCase(
        "layernorm_backward",
        1e-7,
        NORMALISING,
        lambda rs: {"x": 3 * rs.randn(4, 8) - 1, "gamma": rs.randn(8), "beta": rs.randn(8)},
        lambda x, gamma, beta: layernorm_forward(x, gamma, beta, {}),
        layernorm_backward,
    ),
    GradCase(
        "dropout_backward train",
        1e-9,
        "a fixed seed makes the mask constant: linear in x",
        lambda rs: {"x": rs.randn(6, 7)},
        lambda x: dropout_forward(x, {"mode": "train", "p": 0.6, "seed": 123}),
        lambda dout, cache: (dropout_backward(dout, cache),),
    ),
    GradCase(
        "dropout_backward test",
        1e-9,
        "test mode is the identity",
        lambda rs: {"x": rs.randn(6, 7)},
        lambda x: dropout_forward(x, {"mode": "test", "p": 0.6}),
        lambda dout, cache: (dropout_backward(dout, cache),),
    ),
    GradCase(
        "conv_backward_naive stride 1 pad 1",
        1e-8,
        "linear, but each output sums 27 products: a larger rounding floor than affine's",
        _conv_inputs,
        lambda x, w, b: conv_forward_naive(x, w, b, {"stride": 1, "pad": 1}),
        conv_backward_naive,
    ),
    GradCase(
        "conv_backward_naive stride 2 pad 1",
        1e-6,
        "each dw entry sums only 18 products of mixed sign and one cancels to 1.7e-4, where "
        "the numerical gradient's ~2e-10 absolute rounding floor is 1e-6 relative",
        _conv_inputs,
        lambda x, w, b: conv_forward_naive(x, w, b, {"stride": 2, "pad": 1}),
        conv_backward_naive,
    ),
    GradCase(
        "max_pool_backward_naive 2x2 stride 2",
        1e-9,
        "piecewise linear and no window has a near-tie that a step could reorder",
        lambda rs: {"x": distinct_values(rs, (2, 3, 4, 4))},
        lambda x: max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2}),
        lambda dout, cache: (max_pool_backward_naive(dout, cache),),
    ),
    GradCase(
        "max_pool_backward_naive 3x2 stride 1",
        1e-9,
        "overlapping windows, still piecewise linear with no near-ties",
        lambda rs: {"x": distinct_values(rs, (2, 2, 5, 4))},
        lambda x: max_pool_forward_naive(x, {"pool_height": 3, "pool_width": 2, "stride": 1}),
        lambda dout, cache: (max_pool_backward_naive(dout, cache),),
    ),
    GradCase(
        "spatial_batchnorm_backward",
        1e-7,
        NORMALISING,
        lambda rs: {"x": 2 * rs.randn(3, 2, 3, 3) + 1, "gamma": rs.randn(2), "beta": rs.randn(2)},
        lambda x, gamma, beta: spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"}),
        spatial_batchnorm_backward,
    ),
    GradCase(
        "spatial_groupnorm_backward gamma (C,)",
        1e-7,
        NORMALISING,
        _gn_inputs((4,)),
        lambda x, gamma, beta: spatial_groupnorm_forward(x, gamma, beta, 2, {}),
        spatial_groupnorm_backward,
    ),
    GradCase(
        "spatial_groupnorm_backward gamma (1, C, 1, 1)",
        1e-7,
        NORMALISING,
        _gn_inputs((1, 4, 1, 1)),
        lambda x, gamma, beta: spatial_groupnorm_forward(x, gamma, beta, 2, {}),
        spatial_groupnorm_backward,
    ),
]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.name for c in GRAD_CASES])
def test_backward_matches_numerical_gradient(case: GradCase) -> None:
    rs = np.random.RandomState(231)
    inputs = case.inputs(rs)
    out, cache = case.forward(**inputs)
    dout = rs.randn(*out.shape)
    analytic = case.backward(dout, cache)
    assert len(analytic) == len(inputs)

    for (name, value), grad in zip(inputs.items(), analytic, strict=True):
        assert grad.shape == value.shape, f"{case.name}: d{name} shape"

        def f(v: np.ndarray, name: str = name) -> np.ndarray:
            return case.forward(**{**inputs, name: v})[0]

        numerical = eval_numerical_gradient_array(f, value.copy(), dout)
        error = rel_error(numerical, grad)
        assert error < case.bound, f"{case.name}: d{name} error {error:.2e} ({case.why})"


@pytest.mark.parametrize("loss_fn", [svm_loss, softmax_loss])
def test_loss_gradient_matches_numerical_gradient(loss_fn) -> None:
    # Scores of size 0.001 keep every SVM margin near 1, far from its kink at 0.
    rs = np.random.RandomState(0)
    x = 0.001 * rs.randn(50, 10)
    y = rs.randint(10, size=50)
    _, dx = loss_fn(x, y)
    numerical = eval_numerical_gradient(lambda s: loss_fn(s, y)[0], x.copy(), verbose=False)
    # Both losses are smooth (or linear) here; every gradient entry is at least 0.1/50,
    # and rounding of the O(1) loss over 2h keeps errors below 1e-10 absolute.
    assert rel_error(numerical, dx) < 1e-7


def test_affine_forward_matches_published_values() -> None:
    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
    input_size = num_inputs * int(np.prod(input_shape))
    weight_size = output_dim * int(np.prod(input_shape))
    x = np.linspace(-0.1, 0.5, num=input_size).reshape(num_inputs, *input_shape)
    w = np.linspace(-0.2, 0.3, num=weight_size).reshape(int(np.prod(input_shape)), output_dim)
    b = np.linspace(-0.3, 0.1, num=output_dim)
    out, _ = affine_forward(x, w, b)
    correct_out = np.array(
        [[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]]
    )
    assert out.shape == (2, 3)
    assert rel_error(out, correct_out) < 1e-8


def test_relu_forward_matches_published_values() -> None:
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    out, _ = relu_forward(x)
    correct_out = np.array(
        [
            [0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.04545455, 0.13636364],
            [0.22727273, 0.31818182, 0.40909091, 0.5],
        ]
    )
    # The published values have 8 decimals: 0.04545455 for 1/22 is 4.5e-9 off, a
    # relative error of 5e-8, which is what the course notebook itself reports.
    assert rel_error(out, correct_out) < 5.5e-8


def test_losses_at_small_scores_match_notebook_expectations() -> None:
    rs = np.random.RandomState(1)
    x = 0.001 * rs.randn(50, 10)
    y = rs.randint(10, size=50)
    # With all scores near 0 every wrong class contributes a margin near 1, and the
    # softmax is near uniform over 10 classes.
    assert abs(svm_loss(x, y)[0] - 9.0) < 0.01
    assert abs(softmax_loss(x, y)[0] - np.log(10)) < 0.01


def test_svm_loss_hand_worked() -> None:
    # Row 0: margins 2 - 1 + 1 = 2 and 3 - 1 + 1 = 3. Row 1: margins 0 and 0.5.
    x = np.array([[1.0, 2.0, 3.0], [3.0, 1.0, 2.5]])
    loss, dx = svm_loss(x, np.array([0, 0]))
    assert loss == pytest.approx((5.0 + 0.5) / 2, abs=1e-15)
    np.testing.assert_allclose(dx, np.array([[-2.0, 1.0, 1.0], [-1.0, 0.0, 1.0]]) / 2, atol=1e-15)


def test_softmax_loss_hand_worked() -> None:
    # Probabilities 1/4 and 3/4, so the loss of label 1 is log(4/3).
    x = np.array([[0.0, np.log(3.0)]])
    loss, dx = softmax_loss(x, np.array([1]))
    assert loss == pytest.approx(np.log(4.0 / 3.0), rel=1e-14)
    np.testing.assert_allclose(dx, [[0.25, -0.25]], rtol=1e-14)


def test_softmax_loss_is_stable_for_large_logits() -> None:
    rs = np.random.RandomState(2)
    x = rs.randn(20, 7)
    y = rs.randint(7, size=20)
    loss, dx = softmax_loss(x, y)
    big_loss, big_dx = softmax_loss(x + 1000.0, y)
    assert np.isfinite(big_loss) and np.all(np.isfinite(big_dx))
    # Shift invariance; 1000 + x keeps only about 13 significant digits of x.
    assert big_loss == pytest.approx(loss, rel=1e-11)
    assert rel_error(big_dx, dx) < 1e-9

    hand_loss, hand_dx = softmax_loss(np.array([[1000.0, 1000.0 + np.log(3.0)]]), np.array([1]))
    assert hand_loss == pytest.approx(np.log(4.0 / 3.0), rel=1e-12)
    np.testing.assert_allclose(hand_dx, [[0.25, -0.25]], rtol=1e-12)


def test_batchnorm_train_normalises_each_feature() -> None:
    rs = np.random.RandomState(3)
    x = 5 * rs.randn(200, 3) + np.array([10.0, -4.0, 0.5])
    gamma = np.array([1.0, 2.0, 3.0])
    beta = np.array([0.0, -1.0, 11.0])
    out, _ = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-12)
    # eps = 1e-5 against a variance near 25 shrinks the std by a factor 1 - 2e-7.
    np.testing.assert_allclose(out.std(axis=0), gamma, rtol=1e-6)


def test_batchnorm_running_stats_follow_the_contract_formula() -> None:
    rs = np.random.RandomState(4)
    x = 2 * rs.randn(30, 4) + 1
    gamma, beta = np.ones(4), np.zeros(4)
    old_mean = np.array([0.1, 0.2, 0.3, 0.4])
    old_var = np.array([1.0, 2.0, 3.0, 4.0])
    bn_param = {"mode": "train", "momentum": 0.8, "running_mean": old_mean, "running_var": old_var}
    batchnorm_forward(x, gamma, beta, bn_param)
    batch_mean = np.sum(x, axis=0) / 30
    batch_var = np.sum((x - batch_mean) ** 2, axis=0) / 30
    np.testing.assert_allclose(bn_param["running_mean"], 0.8 * old_mean + 0.2 * batch_mean)
    np.testing.assert_allclose(bn_param["running_var"], 0.8 * old_var + 0.2 * batch_var)

    defaults: dict[str, Any] = {"mode": "train"}
    batchnorm_forward(x.astype(np.float32), gamma, beta, defaults)
    np.testing.assert_allclose(defaults["running_mean"], 0.1 * batch_mean, rtol=1e-5)
    np.testing.assert_allclose(defaults["running_var"], 0.1 * batch_var, rtol=1e-5)
    assert defaults["running_mean"].dtype == np.float32
    assert defaults["running_var"].dtype == np.float32


def test_batchnorm_test_mode_uses_running_stats() -> None:
    rs = np.random.RandomState(5)
    x = rs.randn(6, 3)
    gamma, beta = np.array([2.0, 0.5, 1.0]), np.array([1.0, 0.0, -1.0])
    running_mean, running_var = np.array([1.0, -2.0, 0.0]), np.array([4.0, 0.25, 9.0])
    bn_param = {"mode": "test", "running_mean": running_mean, "running_var": running_var}
    out, _ = batchnorm_forward(x, gamma, beta, bn_param)
    expected = gamma * (x - running_mean) / np.sqrt(running_var + 1e-5) + beta
    np.testing.assert_allclose(out, expected, rtol=1e-13)
    assert bn_param["running_mean"] is running_mean and bn_param["running_var"] is running_var


def test_batchnorm_running_stats_converge_for_test_mode() -> None:
    rs = np.random.RandomState(6)
    w1 = rs.randn(5, 4)
    bn_param: dict[str, Any] = {"mode": "train"}
    for _ in range(100):
        batchnorm_forward(rs.randn(100, 5) @ w1 + 3.0, np.ones(4), np.zeros(4), bn_param)
    bn_param["mode"] = "test"
    out, _ = batchnorm_forward(rs.randn(500, 5) @ w1 + 3.0, np.ones(4), np.zeros(4), bn_param)
    # Sampling noise of 500 points and running averages over ~10 batches of 100.
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=0.2)
    np.testing.assert_allclose(out.std(axis=0), 1.0, atol=0.2)


def test_batchnorm_backward_alt_equals_staged_backward() -> None:
    rs = np.random.RandomState(7)
    x = 4 * rs.randn(10, 6) + 2
    out, cache = batchnorm_forward(x, rs.randn(6), rs.randn(6), {"mode": "train"})
    dout = rs.randn(*out.shape)
    for staged, alt in zip(
        batchnorm_backward(dout, cache), batchnorm_backward_alt(dout, cache), strict=True
    ):
        assert rel_error(staged, alt) < 1e-12


@pytest.mark.parametrize("forward", [batchnorm_forward, spatial_batchnorm_forward])
@pytest.mark.parametrize("mode", ["Train", "eval", None])
def test_batchnorm_rejects_bad_mode(forward, mode) -> None:
    x = np.ones((2, 3)) if forward is batchnorm_forward else np.ones((2, 3, 2, 2))
    bn_param = {} if mode is None else {"mode": mode}
    with pytest.raises(ValueError, match=repr(mode)):
        forward(x, np.ones(3), np.zeros(3), bn_param)


def test_layernorm_normalises_each_sample() -> None:
    rs = np.random.RandomState(8)
    x = 3 * rs.randn(4, 50) + np.array([[1.0], [-5.0], [20.0], [0.0]])
    out, _ = layernorm_forward(x, np.ones(50), np.zeros(50), {})
    np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=1), 1.0, rtol=1e-5)

    gamma, beta = rs.randn(50), rs.randn(50)
    out, _ = layernorm_forward(x, gamma, beta, {"eps": 1e-3})
    mu = np.sum(x, axis=1, keepdims=True) / 50
    var = np.sum((x - mu) ** 2, axis=1, keepdims=True) / 50
    np.testing.assert_allclose(out, gamma * (x - mu) / np.sqrt(var + 1e-3) + beta, rtol=1e-12)


DROPOUT_CASES = [(0.25, "keep", 0.25), (0.7, "keep", 0.7), (0.3, "drop", 0.7), (0.6, "drop", 0.4)]


@pytest.mark.parametrize(("p", "p_means", "keep"), DROPOUT_CASES)
def test_dropout_train_statistics(p: float, p_means: str, keep: float) -> None:
    rs = np.random.RandomState(9)
    x = rs.randn(500, 500) + 10
    out, _ = dropout_forward(x, {"mode": "train", "p": p, "seed": 0}, p_means=p_means)
    # 250000 draws: the kept fraction's standard deviation is below 0.001.
    assert abs(np.mean(out != 0) - keep) < 0.005
    assert abs(out.mean() - x.mean()) < 0.01 * abs(x.mean())
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / keep, rtol=1e-14)


@pytest.mark.parametrize(("p", "p_means", "keep"), DROPOUT_CASES)
def test_dropout_backward_masks_and_scales_like_forward(p, p_means, keep) -> None:
    rs = np.random.RandomState(10)
    x = rs.randn(40, 30) + 1
    dout = rs.randn(40, 30)
    param = {"mode": "train", "p": p, "seed": 17}
    out, cache = dropout_forward(x, param, p_means=p_means)
    dx = dropout_backward(dout, cache)
    dropped = out == 0
    assert np.all(dx[dropped] == 0)
    np.testing.assert_allclose(dx[~dropped], dout[~dropped] / keep, rtol=1e-14)
    # The same seed gives the same mask, so the forward applied to dout is dx.
    assert np.array_equal(dropout_forward(dout, param, p_means=p_means)[0], dx)


def test_dropout_test_mode_is_identity() -> None:
    x = np.random.RandomState(11).randn(20, 30)
    for p_means in ("keep", "drop"):
        out, cache = dropout_forward(x, {"mode": "test", "p": 0.3}, p_means=p_means)
        assert np.array_equal(out, x)
        dout = np.arange(600.0).reshape(20, 30)
        assert np.array_equal(dropout_backward(dout, cache), dout)


def test_dropout_seed_fixes_the_mask() -> None:
    x = np.ones((50, 60))
    first, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 42})
    again, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 42})
    other, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 43})
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_dropout_rejects_bad_arguments() -> None:
    x = np.ones((3, 3))
    with pytest.raises(ValueError, match="'maybe'"):
        dropout_forward(x, {"mode": "train", "p": 0.5}, p_means="maybe")
    with pytest.raises(ValueError, match="'eval'"):
        dropout_forward(x, {"mode": "eval", "p": 0.5})
    with pytest.raises(ValueError, match="probability"):
        dropout_forward(x, {"mode": "train", "p": 1.0}, p_means="drop")


def _conv_by_correlation(x, w, b, stride, pad):
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    out = []
    for n in range(x.shape[0]):
        # Correlating (C, H, W) with (C, HH, WW) in "valid" mode sums over channels.
        maps = [signal.correlate(x_pad[n], w[f], mode="valid")[0] for f in range(w.shape[0])]
        out.append(np.stack(maps)[:, ::stride, ::stride] + b[:, None, None])
    return np.stack(out)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("pad", [0, 1])
def test_conv_forward_matches_scipy_correlation(stride: int, pad: int) -> None:
    rs = np.random.RandomState(12)
    x = rs.randn(2, 3, 7, 7)
    w = rs.randn(4, 3, 3, 3)
    b = rs.randn(4)
    out, _ = conv_forward_naive(x, w, b, {"stride": stride, "pad": pad})
    expected = _conv_by_correlation(x, w, b, stride, pad)
    side = 1 + (7 + 2 * pad - 3) // stride
    assert out.shape == expected.shape == (2, 4, side, side)
    assert rel_error(out, expected) < 1e-12


def test_conv_forward_hand_worked() -> None:
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    b = np.array([0.5])
    out, _ = conv_forward_naive(x, w, b, {"stride": 1, "pad": 0})
    # out[0, 0] = 0*1 + 1*2 + 3*3 + 4*4 = 27, and each step right adds 10, down adds 30.
    assert np.array_equal(out, [[[[27.5, 37.5], [57.5, 67.5]]]])

    out, _ = conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})
    assert out.shape == (1, 1, 4, 4)
    # Corners see one input pixel each: x[0,0]*w[1,1], x[0,2]*w[1,0], x[2,0]*w[0,1], x[2,2]*w[0,0].
    assert out[0, 0, 0, 0] == 0.5 and out[0, 0, 0, 3] == 6.5
    assert out[0, 0, 3, 0] == 12.5 and out[0, 0, 3, 3] == 8.5
    assert np.array_equal(out[0, 0, 1:3, 1:3], [[27.5, 37.5], [57.5, 67.5]])

    block_sums, _ = conv_forward_naive(
        np.arange(16.0).reshape(1, 1, 4, 4),
        np.ones((1, 1, 2, 2)),
        np.zeros(1),
        {"stride": 2, "pad": 0},
    )
    assert np.array_equal(block_sums, [[[[10.0, 18.0], [42.0, 50.0]]]])


def test_conv_forward_rejects_uneven_tiling() -> None:
    with pytest.raises(ValueError, match="stride"):
        conv_forward_naive(
            np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), np.zeros(1), {"stride": 2, "pad": 1}
        )


def test_max_pool_forward_matches_block_reshape() -> None:
    rs = np.random.RandomState(13)
    x = rs.randn(3, 2, 6, 8)
    out, _ = max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    expected = x.reshape(3, 2, 3, 2, 4, 2).max(axis=(3, 5))
    assert np.array_equal(out, expected)

    hand, _ = max_pool_forward_naive(
        np.arange(16.0).reshape(1, 1, 4, 4), {"pool_height": 2, "pool_width": 2, "stride": 2}
    )
    assert np.array_equal(hand, [[[[5.0, 7.0], [13.0, 15.0]]]])


def test_max_pool_forward_overlapping_matches_sliding_windows() -> None:
    rs = np.random.RandomState(14)
    x = rs.randn(2, 3, 7, 6)
    out, _ = max_pool_forward_naive(x, {"pool_height": 3, "pool_width": 2, "stride": 2})
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 2), axis=(2, 3))
    assert np.array_equal(out, windows[:, :, ::2, ::2].max(axis=(4, 5)))


def test_spatial_batchnorm_normalises_each_channel() -> None:
    rs = np.random.RandomState(15)
    x = 4 * rs.randn(10, 3, 5, 5) + np.array([5.0, -2.0, 0.0])[None, :, None, None]
    gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, 3.0, -1.0])
    bn_param: dict[str, Any] = {"mode": "train"}
    out, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), beta, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), gamma, rtol=1e-6)
    np.testing.assert_allclose(bn_param["running_mean"], 0.1 * x.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(bn_param["running_var"], 0.1 * x.var(axis=(0, 2, 3)))

    bn_param["mode"] = "test"
    out, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    rm = bn_param["running_mean"][None, :, None, None]
    rv = bn_param["running_var"][None, :, None, None]
    g4, b4 = gamma[None, :, None, None], beta[None, :, None, None]
    expected = g4 * (x - rm) / np.sqrt(rv + 1e-5) + b4
    np.testing.assert_allclose(out, expected, rtol=1e-12)


@pytest.mark.parametrize("param_shape", [(6,), (1, 6, 1, 1)])
def test_groupnorm_special_cases(param_shape: tuple[int, ...]) -> None:
    rs = np.random.RandomState(16)
    x = 3 * rs.randn(2, 6, 4, 5) + 1
    gamma, beta = rs.randn(*param_shape), rs.randn(*param_shape)
    g4, b4 = gamma.reshape(1, 6, 1, 1), beta.reshape(1, 6, 1, 1)

    out, cache = spatial_groupnorm_forward(x, gamma, beta, 1, {})
    mu = x.mean(axis=(1, 2, 3), keepdims=True)
    var = x.var(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(out, g4 * (x - mu) / np.sqrt(var + 1e-5) + b4, rtol=1e-11)

    out, _ = spatial_groupnorm_forward(x, gamma, beta, 6, {"eps": 1e-3})
    mu = x.mean(axis=(2, 3), keepdims=True)
    var = x.var(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(out, g4 * (x - mu) / np.sqrt(var + 1e-3) + b4, rtol=1e-11)

    _, dgamma, dbeta = spatial_groupnorm_backward(rs.randn(*x.shape), cache)
    assert dgamma.shape == param_shape and dbeta.shape == param_shape


def test_groupnorm_rejects_g_not_dividing_c() -> None:
    with pytest.raises(ValueError, match="divides"):
        spatial_groupnorm_forward(np.ones((1, 6, 2, 2)), np.ones(6), np.zeros(6), 4, {})


def _forward_call(forward, *args):
    """A backward call built from a fresh forward call."""

    def build(rs):
        inputs = [a(rs) if callable(a) else a for a in args]
        out, cache = forward(*inputs)
        return [rs.randn(*out.shape), cache]

    return build


def _bn_param():
    return {
        "mode": "train",
        "momentum": 0.5,
        "running_mean": np.full(4, 0.5),
        "running_var": np.full(4, 2.0),
    }


def _spatial_bn_param():
    return {"mode": "train", "running_mean": np.zeros(3), "running_var": np.ones(3)}


def _randn(*shape):
    return lambda rs: rs.randn(*shape)


CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
DROP = {"mode": "train", "p": 0.5, "seed": 3}

PURITY_CASES: list[tuple[str, Callable[..., Any], Callable[[np.random.RandomState], list[Any]]]] = [
    ("affine_forward", affine_forward, lambda rs: [rs.randn(3, 2, 2), rs.randn(4, 5), rs.randn(5)]),
    (
        "affine_backward",
        affine_backward,
        _forward_call(affine_forward, _randn(3, 4), _randn(4, 5), _randn(5)),
    ),
    ("relu_forward", relu_forward, lambda rs: [rs.randn(3, 4)]),
    ("relu_backward", relu_backward, _forward_call(relu_forward, _randn(3, 4))),
    ("svm_loss", svm_loss, lambda rs: [rs.randn(5, 4), rs.randint(4, size=5)]),
    ("softmax_loss", softmax_loss, lambda rs: [rs.randn(5, 4) + 1000, rs.randint(4, size=5)]),
    (
        "batchnorm_forward",
        batchnorm_forward,
        lambda rs: [rs.randn(5, 4), rs.randn(4), rs.randn(4), _bn_param()],
    ),
    (
        "batchnorm_backward",
        batchnorm_backward,
        _forward_call(batchnorm_forward, _randn(5, 4), _randn(4), _randn(4), _bn_param()),
    ),
    (
        "batchnorm_backward_alt",
        batchnorm_backward_alt,
        _forward_call(batchnorm_forward, _randn(5, 4), _randn(4), _randn(4), _bn_param()),
    ),
    (
        "layernorm_forward",
        layernorm_forward,
        lambda rs: [rs.randn(5, 4), rs.randn(4), rs.randn(4), {"eps": 1e-5}],
    ),
    (
        "layernorm_backward",
        layernorm_backward,
        _forward_call(layernorm_forward, _randn(5, 4), _randn(4), _randn(4), {}),
    ),
    ("dropout_forward", dropout_forward, lambda rs: [rs.randn(6, 5), dict(DROP)]),
    ("dropout_backward", dropout_backward, _forward_call(dropout_forward, _randn(6, 5), DROP)),
    (
        "conv_forward_naive",
        conv_forward_naive,
        lambda rs: [rs.randn(2, 3, 4, 4), rs.randn(2, 3, 3, 3), rs.randn(2), dict(CONV)],
    ),
    (
        "conv_backward_naive",
        conv_backward_naive,
        _forward_call(conv_forward_naive, _randn(2, 3, 4, 4), _randn(2, 3, 3, 3), _randn(2), CONV),
    ),
    (
        "max_pool_forward_naive",
        max_pool_forward_naive,
        lambda rs: [rs.randn(2, 3, 4, 4), dict(POOL)],
    ),
    (
        "max_pool_backward_naive",
        max_pool_backward_naive,
        _forward_call(max_pool_forward_naive, _randn(2, 3, 4, 4), POOL),
    ),
    (
        "spatial_batchnorm_forward",
        spatial_batchnorm_forward,
        lambda rs: [rs.randn(2, 3, 2, 2), rs.randn(3), rs.randn(3), _spatial_bn_param()],
    ),
    (
        "spatial_batchnorm_backward",
        spatial_batchnorm_backward,
        _forward_call(
            spatial_batchnorm_forward, _randn(2, 3, 2, 2), _randn(3), _randn(3), _spatial_bn_param()
        ),
    ),
    (
        "spatial_groupnorm_forward",
        spatial_groupnorm_forward,
        lambda rs: [rs.randn(2, 4, 2, 2), rs.randn(1, 4, 1, 1), rs.randn(1, 4, 1, 1), 2, {}],
    ),
    (
        "spatial_groupnorm_backward",
        spatial_groupnorm_backward,
        _forward_call(spatial_groupnorm_forward, _randn(2, 4, 2, 2), _randn(4), _randn(4), 2, {}),
    ),
]


def _assert_same(before: Any, after: Any, where: str) -> None:
    assert type(before) is type(after), where
    if isinstance(before, np.ndarray):
        assert before.dtype == after.dtype and before.shape == after.shape, where
        assert np.array_equal(before, after), f"{where} was modified"
    elif isinstance(before, dict):
        assert before.keys() == after.keys(), f"{where} keys changed"
        for key in before:
            _assert_same(before[key], after[key], f"{where}[{key!r}]")
    elif isinstance(before, tuple | list):
        assert len(before) == len(after), where
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            _assert_same(b, a, f"{where}[{i}]")
    else:
        assert before == after, f"{where} changed"


@pytest.mark.parametrize(
    ("name", "function", "build"), PURITY_CASES, ids=[c[0] for c in PURITY_CASES]
)
def test_functions_do_not_modify_their_inputs(name, function, build) -> None:
    args = build(np.random.RandomState(17))
    before = copy.deepcopy(args)
    running = ("running_mean", "running_var")
    bn_params = [a for a in args if isinstance(a, dict) and "running_mean" in a]
    originals = [{k: p[k] for k in running} for p in bn_params]

    function(*args)

    for param, original in zip(bn_params, originals, strict=True):
        # The contract's one allowed write: new running statistics stored in bn_param.
        for key in running:
            assert param[key] is not original[key], f"{name}: {key} not updated"
            param[key] = original[key]
    _assert_same(before, args, name)
