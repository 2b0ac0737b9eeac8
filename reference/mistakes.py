"""A catalogue of realistic student mistakes, each a small variant of one reference layer.

Every variant is a plain module-level function with the signature of the reference
function it replaces, written the way a student would get it wrong. Its body uses only
``np`` and names defined at module level in ``reference/layers.py``, so that
``Mistake.source()`` appended to a copy of that file makes a runnable buggy submission.
``namespace(m)`` gives the reference namespace with that one function swapped in, to run
the grader's cases on directly.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from reference import layer_utils, layers
from reference.layers import (
    _bn_mode,
    _channel_param,
    _output_size,
    batchnorm_backward,
    batchnorm_forward,
)

# affine_forward


def affine_no_reshape(x, w, b):
    out = x @ w + b  # the mistake: x is not flattened to (N, D) first
    cache = (x, w, b)
    return out, cache


def affine_float32(x, w, b):
    x32 = x.reshape(x.shape[0], -1).astype(np.float32)  # the mistake: single precision
    out = x32 @ w.astype(np.float32) + b.astype(np.float32)
    cache = (x, w, b)
    return out, cache


# affine_backward


def affine_dx_not_reshaped(dout, cache):
    x, w, _ = cache
    dx = dout @ w.T  # the mistake: dx stays (N, D) instead of x's shape
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def affine_db_wrong_axis(dout, cache):
    x, w, _ = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = np.sum(dout, axis=1)  # the mistake: sums over the classes, not the examples
    return dx, dw, db


def affine_dw_transposed(dout, cache):
    x, w, _ = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = dout.T @ x.reshape(x.shape[0], -1)  # the mistake: (M, D) instead of (D, M)
    db = dout.sum(axis=0)
    return dx, dw, db


# relu_forward


def relu_forward_in_place(x):
    x[x < 0] = 0  # the mistake: overwrites the caller's array
    out = x
    cache = x
    return out, cache


# relu_backward


def relu_backward_mask_from_dout(dout, cache):
    dx = dout * (dout > 0)  # the mistake: the mask comes from dout, not from the cached x
    return dx


def relu_backward_times_output(dout, cache):
    x = cache
    dx = dout * np.maximum(x, 0)  # the mistake: multiplies by relu(x), not by (x > 0)
    return dx


# svm_loss


def svm_counts_correct_class(x, y):
    N = x.shape[0]
    rows = np.arange(N)
    correct = x[rows, y][:, np.newaxis]
    margins = np.maximum(0, x - correct + 1.0)  # the mistake: margins[rows, y] not zeroed
    loss = margins.sum() / N

    positive = (margins > 0).astype(x.dtype)
    positive[rows, y] = -positive.sum(axis=1)
    dx = positive / N
    return float(loss), dx


def svm_no_mean(x, y):
    N = x.shape[0]
    rows = np.arange(N)
    correct = x[rows, y][:, np.newaxis]
    margins = np.maximum(0, x - correct + 1.0)
    margins[rows, y] = 0
    loss = margins.sum()  # the mistake: not divided by N, and neither is dx

    dx = (margins > 0).astype(x.dtype)
    dx[rows, y] = -dx.sum(axis=1)
    return float(loss), dx


def svm_grad_missing_correct_class(x, y):
    N = x.shape[0]
    rows = np.arange(N)
    correct = x[rows, y][:, np.newaxis]
    margins = np.maximum(0, x - correct + 1.0)
    margins[rows, y] = 0
    loss = margins.sum() / N

    dx = (margins > 0).astype(x.dtype) / N  # the mistake: the correct class keeps 0
    return float(loss), dx


# softmax_loss


def softmax_no_max_shift(x, y):
    N = x.shape[0]
    # The mistake: no shift by the row max. It agrees with the reference to rounding on
    # small scores and gives nan on the cases with logits around 1000, where exp overflows.
    exp_scores = np.exp(x)
    probs = exp_scores / exp_scores.sum(axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(N), y]).sum() / N

    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return float(loss), dx


def softmax_grad_missing_minus_one(x, y):
    N = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(N), y].sum() / N

    dx = np.exp(log_probs) / N  # the mistake: the correct class is not decreased by 1
    return float(loss), dx


def softmax_no_mean(x, y):
    N = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(N), y].sum()  # the mistake: summed, not averaged over N

    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    return float(loss), dx


def softmax_log_of_probs(x, y):
    N = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(N), y] + 1e-8).sum() / N  # the mistake: log of a probability

    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return float(loss), dx


def softmax_missing_keepdims(x, y):
    N = x.shape[0]
    shifted = x - np.max(x, axis=1)  # the mistake: no keepdims, (N, C) minus (N,)
    probs = np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(N), y]).sum() / N

    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return float(loss), dx


def softmax_shift_in_place(x, y):
    N = x.shape[0]
    x -= x.max(axis=1, keepdims=True)  # the mistake: shifts the caller's scores in place
    log_probs = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(N), y].sum() / N

    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    dx /= N
    return float(loss), dx


# batchnorm_forward


def batchnorm_unbiased_var(x, gamma, beta, bn_param):
    mode = _bn_mode(bn_param)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    if mode == "train":
        mean = x.mean(axis=0)
        var = x.var(axis=0, ddof=1)  # the mistake: unbiased variance, N - 1
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        mean = running_mean
        var = running_var

    x_hat = (x - mean) / np.sqrt(var + eps)
    out = gamma * x_hat + beta
    cache = (x, x_hat, mean, var, eps, gamma, mode)
    return out, cache


def batchnorm_test_uses_batch_stats(x, gamma, beta, bn_param):
    mode = _bn_mode(bn_param)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    mean = x.mean(axis=0)  # the mistake: batch statistics in test mode too
    var = x.var(axis=0)
    if mode == "train":
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var

    x_hat = (x - mean) / np.sqrt(var + eps)
    out = gamma * x_hat + beta
    cache = (x, x_hat, mean, var, eps, gamma, mode)
    return out, cache


def batchnorm_test_ignores_gamma_beta(x, gamma, beta, bn_param):
    mode = _bn_mode(bn_param)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    if mode == "train":
        mean = x.mean(axis=0)
        var = x.var(axis=0)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
        x_hat = (x - mean) / np.sqrt(var + eps)
        out = gamma * x_hat + beta
    else:
        mean = running_mean
        var = running_var
        x_hat = (x - mean) / np.sqrt(var + eps)
        out = x_hat  # the mistake: no scale and shift at test time

    cache = (x, x_hat, mean, var, eps, gamma, mode)
    return out, cache


def batchnorm_eps_outside_sqrt(x, gamma, beta, bn_param):
    mode = _bn_mode(bn_param)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    if mode == "train":
        mean = x.mean(axis=0)
        var = x.var(axis=0)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        mean = running_mean
        var = running_var

    x_hat = (x - mean) / (np.sqrt(var) + eps)  # the mistake: eps added after the root
    out = gamma * x_hat + beta
    cache = (x, x_hat, mean, var, eps, gamma, mode)
    return out, cache


def batchnorm_momentum_swapped(x, gamma, beta, bn_param):
    mode = _bn_mode(bn_param)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    if mode == "train":
        mean = x.mean(axis=0)
        var = x.var(axis=0)
        # the mistake: momentum weighs the batch statistic instead of the running one
        bn_param["running_mean"] = momentum * mean + (1 - momentum) * running_mean
        bn_param["running_var"] = momentum * var + (1 - momentum) * running_var
    else:
        mean = running_mean
        var = running_var

    x_hat = (x - mean) / np.sqrt(var + eps)
    out = gamma * x_hat + beta
    cache = (x, x_hat, mean, var, eps, gamma, mode)
    return out, cache


def batchnorm_running_stats_not_stored(x, gamma, beta, bn_param):
    mode = _bn_mode(bn_param)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    if mode == "train":
        mean = x.mean(axis=0)
        var = x.var(axis=0)
        # the mistake: the updated statistics are never written back into bn_param
        running_mean = momentum * running_mean + (1 - momentum) * mean
        running_var = momentum * running_var + (1 - momentum) * var
    else:
        mean = running_mean
        var = running_var

    x_hat = (x - mean) / np.sqrt(var + eps)
    out = gamma * x_hat + beta
    cache = (x, x_hat, mean, var, eps, gamma, mode)
    return out, cache


# batchnorm_backward and batchnorm_backward_alt


def batchnorm_backward_missing_mean_term(dout, cache):
    x, x_hat, mean, var, eps, gamma, mode = cache
    N = x.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma

    std = np.sqrt(var + eps)
    centred = x - mean
    dstd = -(dx_hat * centred).sum(axis=0) / std**2
    dvar = dstd / (2 * std)
    dx = dx_hat / std + dvar * 2 * centred / N  # the mistake: the path through the mean is lost
    return dx, dgamma, dbeta


def batchnorm_dgamma_uses_x(dout, cache):
    x, x_hat, mean, var, eps, gamma, mode = cache
    N = x.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x).sum(axis=0)  # the mistake: x where the normalised x_hat belongs
    dx_hat = dout * gamma

    std = np.sqrt(var + eps)
    centred = x - mean
    dstd = -(dx_hat * centred).sum(axis=0) / std**2
    dvar = dstd / (2 * std)
    dcentred = dx_hat / std + dvar * 2 * centred / N
    dx = dcentred - dcentred.sum(axis=0) / N
    return dx, dgamma, dbeta


def batchnorm_alt_missing_n(dout, cache):
    _, x_hat, _, var, eps, gamma, mode = cache
    N = x_hat.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    inv_std = 1.0 / np.sqrt(var + eps)
    dx = (gamma * inv_std / N) * (dout - dbeta - x_hat * dgamma)  # the mistake: dout, not N * dout
    return dx, dgamma, dbeta


# layernorm_forward and layernorm_backward


def layernorm_over_batch_axis(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mean = x.mean(axis=0, keepdims=True)  # the mistake: statistics over the batch, as batchnorm
    inv_std = 1.0 / np.sqrt(x.var(axis=0, keepdims=True) + eps)
    x_hat = (x - mean) * inv_std
    out = gamma * x_hat + beta
    cache = (x_hat, inv_std, gamma)
    return out, cache


def layernorm_missing_keepdims(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mean = x.mean(axis=1)  # the mistake: no keepdims, (N, D) minus (N,)
    inv_std = 1.0 / np.sqrt(x.var(axis=1) + eps)
    x_hat = (x - mean) * inv_std
    out = gamma * x_hat + beta
    cache = (x_hat, inv_std, gamma)
    return out, cache


def layernorm_backward_batch_axis(dout, cache):
    x_hat, inv_std, gamma = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    # the mistake: batchnorm's backward, averaging over the batch instead of the features
    dx = inv_std * (
        dx_hat - dx_hat.mean(axis=0) - x_hat * (dx_hat * x_hat).mean(axis=0, keepdims=True)
    )
    return dx, dgamma, dbeta


# dropout_forward and dropout_backward


def dropout_not_inverted(x, dropout_param, p_means="keep"):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if mode == "test":
        return x.copy(), (dropout_param, None)
    keep = p if p_means == "keep" else 1 - p
    mask = (np.random.rand(*x.shape) < keep).astype(x.dtype)  # the mistake: no 1 / keep
    out = x * mask
    return out, (dropout_param, mask)


def dropout_p_as_drop(x, dropout_param, p_means="keep"):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if mode == "test":
        return x.copy(), (dropout_param, None)
    # the mistake: p is always taken as the probability of dropping a unit
    mask = (np.random.rand(*x.shape) >= p) / (1 - p)
    out = x * mask
    return out, (dropout_param, mask)


def dropout_shared_mask(x, dropout_param, p_means="keep"):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if mode == "test":
        return x.copy(), (dropout_param, None)
    keep = p if p_means == "keep" else 1 - p
    mask = (np.random.rand(*x.shape[1:]) < keep) / keep  # the mistake: one mask for all rows
    out = x * mask
    return out, (dropout_param, mask)


def dropout_backward_unscaled(dout, cache):
    dropout_param, mask = cache
    if dropout_param["mode"] == "test":
        return dout.copy()
    dx = dout * (mask > 0)  # the mistake: masked but not scaled like the forward pass
    return dx


# conv_forward_naive


def conv_ignores_padding(x, w, b, conv_param):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride = conv_param["stride"]
    H_out = 1 + (H - HH) // stride  # the mistake: pad is never applied
    W_out = 1 + (W - WW) // stride

    out = np.zeros((N, F, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride : i * stride + HH, j * stride : j * stride + WW]
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    cache = (x, w, b, conv_param)
    return out, cache


def conv_flipped_kernel(x, w, b, conv_param):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = conv_param["stride"], conv_param["pad"]
    H_out = _output_size(H, HH, pad, stride, "conv_forward_naive height")
    W_out = _output_size(W, WW, pad, stride, "conv_forward_naive width")

    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    w_flipped = w[:, :, ::-1, ::-1]  # the mistake: a true convolution, not cross-correlation
    out = np.zeros((N, F, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            window = x_pad[:, :, i * stride : i * stride + HH, j * stride : j * stride + WW]
            out[:, :, i, j] = np.tensordot(window, w_flipped, axes=([1, 2, 3], [1, 2, 3])) + b
    cache = (x, w, b, conv_param)
    return out, cache


# conv_backward_naive


def conv_backward_pad_slice(dout, cache):
    x, w, _, conv_param = cache
    _, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    stride, pad = conv_param["stride"], conv_param["pad"]

    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for i in range(H_out):
        for j in range(W_out):
            rows = slice(i * stride, i * stride + HH)
            cols = slice(j * stride, j * stride + WW)
            d = dout[:, :, i, j]
            dw += np.tensordot(d, x_pad[:, :, rows, cols], axes=([0], [0]))
            dx_pad[:, :, rows, cols] += np.tensordot(d, w, axes=([1], [0]))
    dx = dx_pad[:, :, pad:-pad, pad:-pad]  # the mistake: empty when pad is 0
    return dx, dw, db


def conv_backward_ignores_stride(dout, cache):
    x, w, _, conv_param = cache
    _, _, H, W = x.shape
    _, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    pad = conv_param["pad"]

    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for i in range(H_out):
        for j in range(W_out):
            rows = slice(i, i + HH)  # the mistake: the window steps by 1, not by stride
            cols = slice(j, j + WW)
            d = dout[:, :, i, j]
            dw += np.tensordot(d, x_pad[:, :, rows, cols], axes=([0], [0]))
            dx_pad[:, :, rows, cols] += np.tensordot(d, w, axes=([1], [0]))
    dx = dx_pad[:, :, pad : pad + H, pad : pad + W]
    return dx, dw, db


def conv_backward_dw_assigned(dout, cache):
    x, w, _, conv_param = cache
    _, _, H, W = x.shape
    _, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    stride, pad = conv_param["stride"], conv_param["pad"]

    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for i in range(H_out):
        for j in range(W_out):
            rows = slice(i * stride, i * stride + HH)
            cols = slice(j * stride, j * stride + WW)
            d = dout[:, :, i, j]
            dw = np.tensordot(d, x_pad[:, :, rows, cols], axes=([0], [0]))  # the mistake: = not +=
            dx_pad[:, :, rows, cols] += np.tensordot(d, w, axes=([1], [0]))
    dx = dx_pad[:, :, pad : pad + H, pad : pad + W]
    return dx, dw, db


# max_pool_forward_naive


def max_pool_height_for_width(x, pool_param):
    N, C, H, W = x.shape
    ph, pw = pool_param["pool_height"], pool_param["pool_width"]
    stride = pool_param["stride"]
    H_out = 1 + (H - ph) // stride
    W_out = 1 + (W - pw) // stride

    out = np.zeros((N, C, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            # the mistake: the window is pool_height wide instead of pool_width
            window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + ph]
            out[:, :, i, j] = window.max(axis=(2, 3))
    cache = (x, pool_param)
    return out, cache


# max_pool_backward_naive


def max_pool_backward_whole_window(dout, cache):
    x, pool_param = cache
    ph, pw = pool_param["pool_height"], pool_param["pool_width"]
    stride = pool_param["stride"]
    _, _, H_out, W_out = dout.shape

    dx = np.zeros_like(x)
    for i in range(H_out):
        for j in range(W_out):
            # the mistake: every position of the window gets the gradient, not just the max
            dx[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw] += dout[
                :, :, i, j, None, None
            ]
    return dx


def max_pool_backward_average(dout, cache):
    x, pool_param = cache
    ph, pw = pool_param["pool_height"], pool_param["pool_width"]
    stride = pool_param["stride"]
    _, _, H_out, W_out = dout.shape

    dx = np.zeros_like(x)
    for i in range(H_out):
        for j in range(W_out):
            # the mistake: the gradient of average pooling, spread evenly over the window
            dx[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw] += dout[
                :, :, i, j, None, None
            ] / (ph * pw)
    return dx


def max_pool_backward_assigned(dout, cache):
    x, pool_param = cache
    N, C, _, _ = x.shape
    ph, pw = pool_param["pool_height"], pool_param["pool_width"]
    stride = pool_param["stride"]
    _, _, H_out, W_out = dout.shape

    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * stride : i * stride + ph, j * stride : j * stride + pw]
                    r, s = np.unravel_index(window.argmax(), window.shape)
                    # the mistake: = where overlapping windows must add up (+=)
                    dx[n, c, i * stride + r, j * stride + s] = dout[n, c, i, j]
    return dx


# spatial_batchnorm_forward and spatial_batchnorm_backward


def spatial_batchnorm_no_transpose(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    flat = x.reshape(-1, C)  # the mistake: reshaped without moving C last first
    out_flat, cache = batchnorm_forward(flat, gamma, beta, bn_param)
    out = out_flat.reshape(N, C, H, W)
    return out, cache


def spatial_batchnorm_backward_no_transpose(dout, cache):
    N, C, H, W = dout.shape
    dflat = dout.reshape(-1, C)  # the mistake: reshaped without moving C last first
    dx_flat, dgamma, dbeta = batchnorm_backward(dflat, cache)
    dx = dx_flat.reshape(N, C, H, W)
    return dx, dgamma, dbeta


# spatial_groupnorm_forward and spatial_groupnorm_backward


def groupnorm_per_pixel(x, gamma, beta, G, gn_param):
    N, C, H, W = x.shape
    eps = gn_param.get("eps", 1e-5)
    gamma4 = _channel_param(gamma, C, "gamma")
    beta4 = _channel_param(beta, C, "beta")

    grouped = x.reshape(N, G, C // G, H, W)
    mean = grouped.mean(axis=2, keepdims=True)  # the mistake: over the channels only, per pixel
    inv_std = 1.0 / np.sqrt(grouped.var(axis=2, keepdims=True) + eps)
    x_hat = ((grouped - mean) * inv_std).reshape(N, C, H, W)
    out = gamma4 * x_hat + beta4
    cache = (x_hat.reshape(N, G, -1), inv_std, gamma, beta.shape, G)
    return out, cache


def groupnorm_backward_ignores_gamma(dout, cache):
    x_hat, inv_std, gamma, beta_shape, G = cache
    N, C, H, W = dout.shape
    x_hat4 = x_hat.reshape(N, C, H, W)
    dbeta = dout.sum(axis=(0, 2, 3)).reshape(beta_shape)
    dgamma = (dout * x_hat4).sum(axis=(0, 2, 3)).reshape(gamma.shape)
    dx_hat = dout.reshape(N, G, -1)  # the mistake: not multiplied by gamma
    dx = inv_std * (
        dx_hat
        - dx_hat.mean(axis=2, keepdims=True)
        - x_hat * (dx_hat * x_hat).mean(axis=2, keepdims=True)
    )
    return dx.reshape(N, C, H, W), dgamma, dbeta


@dataclass(frozen=True)
class Mistake:
    """One mistake: ``variant`` (the module-level function called ``name``) stands in for
    the reference's ``function``; ``hint`` names the mistake and its fix for a student."""

    name: str
    function: str
    hint: str
    variant: Callable[..., Any]

    def source(self) -> str:
        """The variant's source code with its def renamed to ``function`` (so that it can
        be appended to a copy of reference/layers.py and make a buggy submission)."""
        text = textwrap.dedent(inspect.getsource(self.variant))
        old = f"def {self.name}("
        if not text.startswith(old):
            raise ValueError(f"{self.name}: the variant's source does not start with {old!r}")
        return f"def {self.function}(" + text[len(old) :]


def _m(function: str, variant: Callable[..., Any], hint: str) -> Mistake:
    return Mistake(variant.__name__, function, hint, variant)


MISTAKES: tuple[Mistake, ...] = (
    _m(
        "affine_forward",
        affine_no_reshape,
        "x is used without reshaping: flatten each example with x.reshape(N, -1) before x @ w.",
    ),
    _m(
        "affine_forward",
        affine_float32,
        "The arrays are cast to single precision, which loses accuracy: compute in the inputs' "
        "own double precision.",
    ),
    _m(
        "affine_backward",
        affine_dx_not_reshaped,
        "dx keeps the flattened (N, D) shape: reshape it back to x.shape before returning it.",
    ),
    _m(
        "affine_backward",
        affine_db_wrong_axis,
        "db is summed over the wrong axis: sum dout over the examples, dout.sum(axis=0).",
    ),
    _m(
        "affine_backward",
        affine_dw_transposed,
        "dw comes out transposed as dout.T @ x: compute it as x_flat.T @ dout, of w's shape.",
    ),
    _m(
        "relu_forward",
        relu_forward_in_place,
        "relu_forward overwrites its input in place: compute np.maximum(x, 0) into a new array.",
    ),
    _m(
        "relu_backward",
        relu_backward_mask_from_dout,
        "The ReLU mask is taken from dout: pass the gradient where the cached input x is > 0.",
    ),
    _m(
        "relu_backward",
        relu_backward_times_output,
        "dout is multiplied by the ReLU's output: multiply by the mask (x > 0) instead.",
    ),
    _m(
        "svm_loss",
        svm_counts_correct_class,
        "The correct class's own margin is counted: set the margin of j == y[i] to zero.",
    ),
    _m(
        "svm_loss",
        svm_no_mean,
        "The hinge losses (or their gradient) are summed over the batch, not averaged: "
        "divide by N.",
    ),
    _m(
        "svm_loss",
        svm_grad_missing_correct_class,
        "The correct class gets no gradient: subtract, at y[i], the number of positive margins.",
    ),
    _m(
        "softmax_loss",
        softmax_no_max_shift,
        "The scores are exponentiated unshifted and overflow: subtract each row's max first.",
    ),
    _m(
        "softmax_loss",
        softmax_grad_missing_minus_one,
        "The gradient is missing the -1 on the correct class: subtract 1 from dx[i, y[i]].",
    ),
    _m(
        "softmax_loss",
        softmax_no_mean,
        "The cross-entropy (or its gradient) is summed over the batch, not averaged: divide by N.",
    ),
    _m(
        "softmax_loss",
        softmax_log_of_probs,
        "The loss takes the log of a probability that can underflow: use the log-probabilities, "
        "shifted scores minus the log of the sum of their exponentials.",
    ),
    _m(
        "softmax_loss",
        softmax_missing_keepdims,
        "The row max is subtracted without keepdims=True, so it does not line up with the rows: "
        "use x.max(axis=1, keepdims=True).",
    ),
    _m(
        "softmax_loss",
        softmax_shift_in_place,
        "The scores are shifted in place with -=, which changes the caller's array: "
        "write shifted = x - x.max(axis=1, keepdims=True) instead.",
    ),
    _m(
        "batchnorm_forward",
        batchnorm_unbiased_var,
        "The variance is the unbiased one (ddof=1): normalise with the biased x.var(axis=0).",
    ),
    _m(
        "batchnorm_forward",
        batchnorm_test_uses_batch_stats,
        "Test mode normalises with the batch's statistics: use the running mean and variance.",
    ),
    _m(
        "batchnorm_forward",
        batchnorm_test_ignores_gamma_beta,
        "Test mode forgets to scale and shift: return gamma * x_hat + beta in both modes.",
    ),
    _m(
        "batchnorm_forward",
        batchnorm_eps_outside_sqrt,
        "eps is added outside the square root: divide by np.sqrt(var + eps).",
    ),
    _m(
        "batchnorm_forward",
        batchnorm_momentum_swapped,
        "The momentum weighs the wrong term: running = momentum * running + "
        "(1 - momentum) * batch statistic.",
    ),
    _m(
        "batchnorm_forward",
        batchnorm_running_stats_not_stored,
        "The updated running statistics are never stored: write them back into "
        "bn_param['running_mean'] and bn_param['running_var'].",
    ),
    _m(
        "batchnorm_backward",
        batchnorm_backward_missing_mean_term,
        "dx misses the gradient that flows through the batch mean: subtract its mean over "
        "the batch.",
    ),
    _m(
        "batchnorm_backward",
        batchnorm_dgamma_uses_x,
        "dgamma multiplies dout by x: use the normalised x_hat, (dout * x_hat).sum(axis=0).",
    ),
    _m(
        "batchnorm_backward_alt",
        batchnorm_alt_missing_n,
        "The closed form is missing a factor N: it is gamma / (N * std) * (N * dout - dbeta "
        "- x_hat * dgamma).",
    ),
    _m(
        "layernorm_forward",
        layernorm_over_batch_axis,
        "The statistics are taken over the batch axis: normalise each example over its "
        "features, axis=1.",
    ),
    _m(
        "layernorm_forward",
        layernorm_missing_keepdims,
        "The per-example mean is subtracted without keepdims=True and does not broadcast: "
        "use x.mean(axis=1, keepdims=True).",
    ),
    _m(
        "layernorm_backward",
        layernorm_backward_batch_axis,
        "The backward averages over the batch axis as batchnorm does: average over the "
        "features, axis=1, with keepdims=True.",
    ),
    _m(
        "dropout_forward",
        dropout_not_inverted,
        "The kept units are not rescaled at train time: divide the mask by the keep probability.",
    ),
    _m(
        "dropout_forward",
        dropout_p_as_drop,
        "p is read the other way round (keep for drop, or drop for keep): use it as the "
        "assignment's dropout_forward docstring defines it.",
    ),
    _m(
        "dropout_forward",
        dropout_shared_mask,
        "One mask is shared by every example: draw the mask with x's full shape, "
        "np.random.rand(*x.shape).",
    ),
    _m(
        "dropout_backward",
        dropout_backward_unscaled,
        "dx is masked but not rescaled: multiply dout by the same scaled mask as the forward pass.",
    ),
    _m(
        "conv_forward_naive",
        conv_ignores_padding,
        "The input is never zero-padded: pad H and W by pad on each side with np.pad first.",
    ),
    _m(
        "conv_forward_naive",
        conv_flipped_kernel,
        "The kernel is flipped, a true convolution: the layer is a cross-correlation, use w "
        "as it is.",
    ),
    _m(
        "conv_backward_naive",
        conv_backward_pad_slice,
        "dx_pad[:, :, pad:-pad, pad:-pad] is empty when pad is 0: slice pad:pad + H and "
        "pad:pad + W instead.",
    ),
    _m(
        "conv_backward_naive",
        conv_backward_ignores_stride,
        "The backward steps the window by one pixel: move it by stride as the forward pass does.",
    ),
    _m(
        "conv_backward_naive",
        conv_backward_dw_assigned,
        "dw is assigned at each position, keeping only the last window: accumulate it with +=.",
    ),
    _m(
        "max_pool_forward_naive",
        max_pool_height_for_width,
        "The window's width uses pool_height: slice the columns with pool_width.",
    ),
    _m(
        "max_pool_backward_naive",
        max_pool_backward_whole_window,
        "The gradient goes to the whole window: route it only to the position of the max.",
    ),
    _m(
        "max_pool_backward_naive",
        max_pool_backward_average,
        "The gradient is averaged over the window as in average pooling: route it all to the "
        "position of the max.",
    ),
    _m(
        "max_pool_backward_naive",
        max_pool_backward_assigned,
        "The gradient is assigned with =, so overlapping windows overwrite each other: "
        "accumulate it with +=.",
    ),
    _m(
        "spatial_batchnorm_forward",
        spatial_batchnorm_no_transpose,
        "x is reshaped to (-1, C) without moving the channels last: transpose to "
        "(N, H, W, C) before reshaping, and back after.",
    ),
    _m(
        "spatial_batchnorm_backward",
        spatial_batchnorm_backward_no_transpose,
        "dout is reshaped to (-1, C) without moving the channels last: transpose to "
        "(N, H, W, C) before reshaping, and back after.",
    ),
    _m(
        "spatial_groupnorm_forward",
        groupnorm_per_pixel,
        "Each pixel is normalised on its own: take the statistics over each group's channels "
        "and all of H and W together.",
    ),
    _m(
        "spatial_groupnorm_backward",
        groupnorm_backward_ignores_gamma,
        "The gradient of x_hat forgets gamma: multiply dout by gamma before normalising back.",
    ),
)

_BY_NAME = {m.name: m for m in MISTAKES}


def by_name(name: str) -> Mistake:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no mistake named {name!r}") from None


def namespace(mistake: Mistake) -> dict[str, Any]:
    """The reference namespace ({**vars(reference.layer_utils), **vars(reference.layers)})
    with mistake.function replaced by mistake.variant."""
    return {**vars(layer_utils), **vars(layers), mistake.function: mistake.variant}
