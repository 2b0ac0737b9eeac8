"""Tests of reference.layer_utils: composites against their parts composed by
hand, and their backward passes against numerical gradients."""

from typing import Any

import numpy as np
import pytest

from reference.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)
from reference.layer_utils import (
    affine_bn_relu_backward,
    affine_bn_relu_forward,
    affine_relu_backward,
    affine_relu_forward,
    conv_relu_backward,
    conv_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
    two_layer_net,
)
from reference.layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_forward,
    conv_backward_naive,
    conv_forward_naive,
    max_pool_backward_naive,
    max_pool_forward_naive,
    relu_backward,
    relu_forward,
)

CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def assert_away_from_kinks(pre_activation: np.ndarray) -> None:
    """The data must keep every ReLU input clear of 0 by far more than h = 1e-5,
    or a centered difference would straddle the kink."""
    assert np.min(np.abs(pre_activation)) > 1e-3, "test data has a ReLU input near 0"


def assert_no_pool_near_ties(pooled_input: np.ndarray) -> None:
    """Non-overlapping 2x2 windows: a positive maximum must beat the runner-up
    by far more than h. (All-zero windows after a ReLU have zero gradient anyway.)"""
    N, C, H, W = pooled_input.shape
    windows = pooled_input.reshape(N, C, H // 2, 2, W // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    ordered = np.sort(windows.reshape(N, C, H // 2, W // 2, 4), axis=-1)
    gaps = (ordered[..., -1] - ordered[..., -2])[ordered[..., -1] > 0]
    assert np.min(gaps) > 1e-3, "test data has a max-pool near-tie"


def check_gradients(
    forward, inputs: dict[str, np.ndarray], analytic, dout, bound: float, zero: tuple[str, ...] = ()
):
    """Each gradient within `bound` relative error of the numerical one; the inputs
    named in `zero` have a gradient that is exactly 0 in exact arithmetic, where a
    relative error only compares rounding noise, so both must be near 0 instead."""
    for (name, value), grad in zip(inputs.items(), analytic, strict=True):
        assert grad.shape == value.shape, f"d{name} shape"

        def f(v: np.ndarray, name: str = name) -> np.ndarray:
            return forward(**{**inputs, name: v})[0]

        numerical = eval_numerical_gradient_array(f, value.copy(), dout)
        if name in zero:
            assert np.max(np.abs(grad)) < 1e-12, f"d{name} should be 0"
            assert np.max(np.abs(numerical)) < 1e-8, f"numerical d{name} should be 0"
            continue
        error = rel_error(numerical, grad)
        assert error < bound, f"d{name}: relative error {error:.2e}"


def test_affine_relu_is_affine_then_relu() -> None:
    rs = np.random.RandomState(0)
    x, w, b = rs.randn(4, 3, 2), rs.randn(6, 5), rs.randn(5)
    out, cache = affine_relu_forward(x, w, b)
    a, fc_cache = affine_forward(x, w, b)
    expected, relu_cache = relu_forward(a)
    assert np.array_equal(out, expected)
    assert len(cache) == 2 and np.array_equal(cache[1], relu_cache)

    dout = rs.randn(*out.shape)
    by_hand = affine_backward(relu_backward(dout, relu_cache), fc_cache)
    for got, want in zip(affine_relu_backward(dout, cache), by_hand, strict=True):
        assert np.array_equal(got, want)


def test_affine_relu_backward_matches_numerical_gradient() -> None:
    rs = np.random.RandomState(1)
    inputs = {"x": rs.randn(4, 3, 2), "w": rs.randn(6, 5), "b": rs.randn(5)}
    out, cache = affine_relu_forward(**inputs)
    assert_away_from_kinks(cache[1])
    dout = rs.randn(*out.shape)
    # Piecewise linear and clear of the kinks: only rounding remains.
    check_gradients(affine_relu_forward, inputs, affine_relu_backward(dout, cache), dout, 1e-8)


def test_affine_bn_relu_is_its_three_parts() -> None:
    rs = np.random.RandomState(2)
    x, w, b = rs.randn(6, 4), rs.randn(4, 5), rs.randn(5)
    gamma, beta = rs.randn(5), rs.randn(5)
    composite_param: dict[str, Any] = {"mode": "train"}
    hand_param: dict[str, Any] = {"mode": "train"}
    out, cache = affine_bn_relu_forward(x, w, b, gamma, beta, composite_param)

    a, fc_cache = affine_forward(x, w, b)
    a_bn, bn_cache = batchnorm_forward(a, gamma, beta, hand_param)
    expected, relu_cache = relu_forward(a_bn)
    assert np.array_equal(out, expected)
    assert len(cache) == 3
    for key in ("running_mean", "running_var"):
        assert np.array_equal(composite_param[key], hand_param[key])

    dout = rs.randn(*out.shape)
    da, dgamma, dbeta = batchnorm_backward(relu_backward(dout, relu_cache), bn_cache)
    by_hand = (*affine_backward(da, fc_cache), dgamma, dbeta)
    for got, want in zip(affine_bn_relu_backward(dout, cache), by_hand, strict=True):
        assert np.array_equal(got, want)


def test_affine_bn_relu_backward_matches_numerical_gradient() -> None:
    rs = np.random.RandomState(3)
    inputs = {
        "x": rs.randn(6, 4),
        "w": rs.randn(4, 5),
        "b": rs.randn(5),
        "gamma": rs.randn(5),
        "beta": rs.randn(5),
    }

    def forward(x, w, b, gamma, beta):
        return affine_bn_relu_forward(x, w, b, gamma, beta, {"mode": "train"})

    out, cache = forward(**inputs)
    assert_away_from_kinks(cache[2])
    dout = rs.randn(*out.shape)
    # Batchnorm's dx sums to 0 per feature, so some entries are small against the
    # ~1e-10 absolute rounding floor of the numerical gradient. Train-mode batchnorm
    # subtracts each feature's mean, so the affine bias has no effect: db is 0.
    analytic = affine_bn_relu_backward(dout, cache)
    check_gradients(forward, inputs, analytic, dout, 1e-7, zero=("b",))


def test_conv_relu_is_conv_then_relu() -> None:
    rs = np.random.RandomState(4)
    x, w, b = rs.randn(2, 3, 4, 4), rs.randn(2, 3, 3, 3), rs.randn(2)
    out, cache = conv_relu_forward(x, w, b, CONV)
    a, conv_cache = conv_forward_naive(x, w, b, CONV)
    expected, relu_cache = relu_forward(a)
    assert np.array_equal(out, expected)
    assert len(cache) == 2

    dout = rs.randn(*out.shape)
    by_hand = conv_backward_naive(relu_backward(dout, relu_cache), conv_cache)
    for got, want in zip(conv_relu_backward(dout, cache), by_hand, strict=True):
        assert np.array_equal(got, want)


def test_conv_relu_backward_matches_numerical_gradient() -> None:
    rs = np.random.RandomState(5)
    inputs = {"x": rs.randn(2, 2, 4, 4), "w": rs.randn(2, 2, 3, 3), "b": rs.randn(2)}

    def forward(x, w, b):
        return conv_relu_forward(x, w, b, CONV)

    out, cache = forward(**inputs)
    assert_away_from_kinks(cache[1])
    dout = rs.randn(*out.shape)
    # Linear pieces, but dw entries are sums of products of mixed sign that can
    # cancel to small values against the rounding floor.
    check_gradients(forward, inputs, conv_relu_backward(dout, cache), dout, 1e-7)


def test_conv_relu_pool_is_its_three_parts() -> None:
    rs = np.random.RandomState(6)
    x, w, b = rs.randn(2, 3, 4, 4), rs.randn(2, 3, 3, 3), rs.randn(2)
    out, cache = conv_relu_pool_forward(x, w, b, CONV, POOL)
    a, conv_cache = conv_forward_naive(x, w, b, CONV)
    s, relu_cache = relu_forward(a)
    expected, pool_cache = max_pool_forward_naive(s, POOL)
    assert np.array_equal(out, expected)
    assert len(cache) == 3

    dout = rs.randn(*out.shape)
    ds = max_pool_backward_naive(dout, pool_cache)
    by_hand = conv_backward_naive(relu_backward(ds, relu_cache), conv_cache)
    for got, want in zip(conv_relu_pool_backward(dout, cache), by_hand, strict=True):
        assert np.array_equal(got, want)


def test_conv_relu_pool_backward_matches_numerical_gradient() -> None:
    rs = np.random.RandomState(7)
    inputs = {"x": rs.randn(2, 2, 4, 4), "w": rs.randn(2, 2, 3, 3), "b": rs.randn(2)}

    def forward(x, w, b):
        return conv_relu_pool_forward(x, w, b, CONV, POOL)

    out, cache = forward(**inputs)
    assert_away_from_kinks(cache[1])
    assert_no_pool_near_ties(cache[2][0])
    dout = rs.randn(*out.shape)
    # As conv_relu: linear pieces with sums that can cancel.
    check_gradients(forward, inputs, conv_relu_pool_backward(dout, cache), dout, 1e-7)


def _two_layer_problem(seed: int):
    rs = np.random.RandomState(seed)
    X = rs.randn(5, 2, 2)
    y = rs.randint(3, size=5)
    params = {"W1": rs.randn(4, 6), "b1": rs.randn(6), "W2": rs.randn(6, 3), "b2": rs.randn(3)}
    return X, y, params


def _scores(X, params):
    hidden = np.maximum(0, X.reshape(len(X), -1) @ params["W1"] + params["b1"])
    return hidden @ params["W2"] + params["b2"]


@pytest.mark.parametrize("loss", ["svm", "softmax"])
def test_two_layer_net_loss_by_hand(loss: str) -> None:
    X, y, params = _two_layer_problem(8)
    reg = 0.3
    value, grads = two_layer_net(X, y, **params, reg=reg, loss=loss)
    scores = _scores(X, params)
    correct = scores[np.arange(5), y]
    if loss == "svm":
        margins = np.maximum(0, scores - correct[:, None] + 1)
        data_loss = (margins.sum() - 5.0) / 5  # each correct class adds a margin of exactly 1
    else:
        data_loss = np.mean(np.log(np.exp(scores).sum(axis=1)) - correct)
    reg_loss = 0.5 * reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    assert value == pytest.approx(data_loss + reg_loss, rel=1e-12)
    assert sorted(grads) == ["W1", "W2", "b1", "b2"]


@pytest.mark.parametrize("loss", ["svm", "softmax"])
def test_two_layer_net_gradients_match_numerical_gradient(loss: str) -> None:
    X, y, params = _two_layer_problem(9)
    assert_away_from_kinks(X.reshape(5, -1) @ params["W1"] + params["b1"])
    scores = _scores(X, params)
    margins = scores - scores[np.arange(5), y][:, None] + 1
    margins[np.arange(5), y] = 1.0
    assert np.min(np.abs(margins)) > 1e-3, "test data has an SVM margin near 0"

    reg = 0.3
    _, grads = two_layer_net(X, y, **params, reg=reg, loss=loss)
    for name, value in params.items():

        def f(v: np.ndarray, name: str = name) -> float:
            return two_layer_net(X, y, **{**params, name: v}, reg=reg, loss=loss)[0]

        numerical = eval_numerical_gradient(f, value.copy(), verbose=False)
        # Piecewise smooth and clear of every kink: rounding of an O(10) loss over 2h
        # against gradient entries that can be as small as a few 1e-3.
        assert rel_error(numerical, grads[name]) < 1e-7, name


def test_two_layer_net_rejects_unknown_loss() -> None:
    X, y, params = _two_layer_problem(10)
    with pytest.raises(ValueError, match="'hinge'"):
        two_layer_net(X, y, **params, reg=0.1, loss="hinge")
