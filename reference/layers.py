"""The correct layers of the modular-layers assignment.

Every forward returns ``(out, cache)`` and every backward takes ``(dout, cache)``
and returns one gradient per input, in argument order. No function modifies its
inputs; the one exception the contract asks for is batchnorm (and spatial
batchnorm) storing the updated running statistics back into ``bn_param``.
"""

import numpy as np


def affine_forward(x, w, b):
    """
    Computes the forward pass for an affine (fully-connected) layer.

    The input x has shape (N, d_1, ..., d_k) and contains a minibatch of N
    examples, where each example x[i] has shape (d_1, ..., d_k). Each example is
    reshaped to a vector of dimension D = d_1 * ... * d_k and then transformed
    to an output vector of dimension M.

    Inputs:
    - x: A numpy array containing input data, of shape (N, d_1, ..., d_k)
    - w: A numpy array of weights, of shape (D, M)
    - b: A numpy array of biases, of shape (M,)

    Returns a tuple of:
    - out: output, of shape (N, M)
    - cache: (x, w, b)
    """
    out = x.reshape(x.shape[0], -1) @ w + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    """
    Computes the backward pass for an affine layer.

    Inputs:
    - dout: Upstream derivative, of shape (N, M)
    - cache: Tuple of:
      - x: Input data, of shape (N, d_1, ..., d_k)
      - w: Weights, of shape (D, M)
      - b: Biases, of shape (M,)

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, d_1, ..., d_k)
    - dw: Gradient with respect to w, of shape (D, M)
    - db: Gradient with respect to b, of shape (M,)
    """
    x, w, _ = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    """
    Computes the forward pass for a layer of rectified linear units (ReLUs).

    Inputs:
    - x: Inputs, of any shape

    Returns a tuple of:
    - out: Output, of the same shape as x
    - cache: x
    """
    out = np.maximum(x, 0)
    cache = x
    return out, cache


def relu_backward(dout, cache):
    """
    Computes the backward pass for a layer of rectified linear units (ReLUs).

    Inputs:
    - dout: Upstream derivatives, of any shape
    - cache: Input x, of same shape as dout

    Returns:
    - dx: Gradient with respect to x, of the same shape as dout
    """
    x = cache
    dx = np.where(x > 0, dout, 0)
    return dx


def svm_loss(x, y):
    """
    Computes the loss and gradient for multiclass SVM classification.

    Inputs:
    - x: Input data, of shape (N, C) where x[i, j] is the score for the jth
      class for the ith input.
    - y: Vector of labels, of shape (N,) where y[i] is the label for x[i] and
      0 <= y[i] < C

    Returns a tuple of:
    - loss: Scalar giving the loss (the hinge loss with margin 1, averaged over N)
    - dx: Gradient of the loss with respect to x, of shape (N, C)
    """
    y = np.asarray(y)
    N = x.shape[0]
    rows = np.arange(N)
    correct = x[rows, y][:, np.newaxis]
    margins = np.maximum(0, x - correct + 1.0)
    margins[rows, y] = 0
    loss = margins.sum() / N

    positive = (margins > 0).astype(x.dtype)
    positive[rows, y] = -positive.sum(axis=1)
    dx = positive / N
    return float(loss), dx


def softmax_loss(x, y):
    """
    Computes the loss and gradient for softmax classification.

    The scores are shifted by their row maximum before exponentiating, so the
    loss stays finite for large logits.

    Inputs:
    - x: Input data, of shape (N, C) where x[i, j] is the score for the jth
      class for the ith input.
    - y: Vector of labels, of shape (N,) where y[i] is the label for x[i] and
      0 <= y[i] < C

    Returns a tuple of:
    - loss: Scalar giving the cross-entropy loss, averaged over N
    - dx: Gradient of the loss with respect to x, of shape (N, C)
    """
    y = np.asarray(y)
    N = x.shape[0]
    rows = np.arange(N)
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[rows, y].sum() / N

    dx = np.exp(log_probs)
    dx[rows, y] -= 1
    dx /= N
    return float(loss), dx


def _bn_mode(bn_param):
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(
            f"bn_param['mode'] is {mode!r}; expected 'train' or 'test'. "
            "Hint: set bn_param['mode'] before calling batchnorm."
        )
    return mode


def batchnorm_forward(x, gamma, beta, bn_param):
    """
    Forward pass for batch normalization.

    During training the sample mean and (biased) sample variance are computed
    from minibatch statistics and used to normalize the incoming data. During
    training we also keep an exponentially decaying running mean of the mean
    and variance of each feature, and these averages are used to normalize data
    at test-time:

    running_mean = momentum * running_mean + (1 - momentum) * sample_mean
    running_var = momentum * running_var + (1 - momentum) * sample_var

    In train mode the updated running_mean and running_var are stored back into
    bn_param (as new arrays; the arrays passed in are left unchanged).

    Input:
    - x: Data of shape (N, D)
    - gamma: Scale parameter of shape (D,)
    - beta: Shift parameter of shape (D,)
    - bn_param: Dictionary with the following keys:
      - mode: 'train' or 'test'; required
      - eps: Constant for numeric stability (default 1e-5)
      - momentum: Constant for running mean / variance (default 0.9)
      - running_mean: Array of shape (D,) giving running mean of features
        (default zeros of x's dtype)
      - running_var: Array of shape (D,) giving running variance of features
        (default zeros of x's dtype)

    Returns a tuple of:
    - out: of shape (N, D)
    - cache: A tuple of values needed in the backward pass:
      (x, x_hat, mean, var, eps, gamma, mode), where mean and var are the
      statistics used to normalize (the batch's in train mode, the running
      ones in test mode)
    """
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

    x_hat = (x - mean) / np.sqrt(var + eps)
    out = gamma * x_hat + beta
    cache = (x, x_hat, mean, var, eps, gamma, mode)
    return out, cache


def batchnorm_backward(dout, cache):
    """
    Backward pass for batch normalization, stage by stage through the
    computational graph of the forward pass.

    Inputs:
    - dout: Upstream derivatives, of shape (N, D)
    - cache: Variable of intermediates from batchnorm_forward.

    Returns a tuple of:
    - dx: Gradient with respect to inputs x, of shape (N, D)
    - dgamma: Gradient with respect to scale parameter gamma, of shape (D,)
    - dbeta: Gradient with respect to shift parameter beta, of shape (D,)
    """
    x, x_hat, mean, var, eps, gamma, mode = cache
    N = x.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma

    std = np.sqrt(var + eps)
    centred = x - mean
    dx = dx_hat / std
    if mode == "test":
        # The running statistics are constants: normalisation is a fixed affine map.
        return dx, dgamma, dbeta

    dstd = -(dx_hat * centred).sum(axis=0) / std**2
    dvar = dstd / (2 * std)
    dcentred = dx + dvar * 2 * centred / N
    dmean = -dcentred.sum(axis=0)
    dx = dcentred + dmean / N
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """
    Alternative backward pass for batch normalization: the gradient with respect
    to x simplified on paper into a single closed-form expression.

    Takes the same cache as batchnorm_backward and returns the same outputs.

    Inputs / outputs: Same as batchnorm_backward
    """
    _, x_hat, _, var, eps, gamma, mode = cache
    N = x_hat.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    inv_std = 1.0 / np.sqrt(var + eps)
    if mode == "test":
        return dout * gamma * inv_std, dgamma, dbeta
    dx = (gamma * inv_std / N) * (N * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta


def _normalize_backward(dx_hat, x_hat, inv_std, axis):
    """Gradient through x_hat = (x - mean) * inv_std, statistics over `axis`."""
    return inv_std * (
        dx_hat
        - dx_hat.mean(axis=axis, keepdims=True)
        - x_hat * (dx_hat * x_hat).mean(axis=axis, keepdims=True)
    )


def layernorm_forward(x, gamma, beta, ln_param):
    """
    Forward pass for layer normalization.

    Each data point is normalized with its own mean and (biased) variance over
    its D features, then scaled and shifted per feature. Train and test time
    behave the same, so there is no mode and no running statistics.

    Input:
    - x: Data of shape (N, D)
    - gamma: Scale parameter of shape (D,)
    - beta: Shift parameter of shape (D,)
    - ln_param: Dictionary with the following key:
      - eps: Constant for numeric stability (default 1e-5)

    Returns a tuple of:
    - out: of shape (N, D)
    - cache: (x_hat, inv_std, gamma), x_hat of shape (N, D), inv_std of
      shape (N, 1)
    """
    eps = ln_param.get("eps", 1e-5)
    mean = x.mean(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(x.var(axis=1, keepdims=True) + eps)
    x_hat = (x - mean) * inv_std
    out = gamma * x_hat + beta
    cache = (x_hat, inv_std, gamma)
    return out, cache


def layernorm_backward(dout, cache):
    """
    Backward pass for layer normalization.

    Inputs:
    - dout: Upstream derivatives, of shape (N, D)
    - cache: Variable of intermediates from layernorm_forward.

    Returns a tuple of:
    - dx: Gradient with respect to inputs x, of shape (N, D)
    - dgamma: Gradient with respect to scale parameter gamma, of shape (D,)
    - dbeta: Gradient with respect to shift parameter beta, of shape (D,)
    """
    x_hat, inv_std, gamma = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = _normalize_backward(dout * gamma, x_hat, inv_std, axis=1)
    return dx, dgamma, dbeta


def dropout_forward(x, dropout_param, p_means="keep"):
    """
    Forward pass for inverted dropout.

    In train mode each unit is kept with probability keep and the kept units
    are scaled by 1 / keep, so that test time needs no scaling and is the
    identity.

    The meaning of p changed between course years: from 2018 on p is the
    probability of KEEPING a unit (p_means="keep"); in 2016-2017 it is the
    probability of DROPPING one (p_means="drop").

    Inputs:
    - x: Input data, of any shape
    - dropout_param: A dictionary with the following keys:
      - p: Dropout parameter; see p_means.
      - mode: 'test' or 'train'. If the mode is train, then perform dropout;
        if the mode is test, then just return the input.
      - seed: Seed for the random number generator. When present,
        np.random.seed(seed) is called first, which makes this function
        deterministic (needed for gradient checking).
    - p_means: "keep" (keep with probability p) or "drop" (drop with
      probability p)

    Returns a tuple of:
    - out: Array of the same shape as x.
    - cache: tuple (dropout_param, mask). In training mode, mask is the array
      that multiplied the input: 0 for dropped units and 1 / keep for kept
      ones, of the same shape as x. In test mode, mask is None.
    """
    if p_means not in ("keep", "drop"):
        raise ValueError(f"p_means is {p_means!r}; expected 'keep' or 'drop'")
    p = dropout_param["p"]
    mode = dropout_param["mode"]
    if mode not in ("train", "test"):
        raise ValueError(f"dropout_param['mode'] is {mode!r}; expected 'train' or 'test'")
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])

    if mode == "test":
        return x.copy(), (dropout_param, None)

    keep = p if p_means == "keep" else 1 - p
    if not 0 < keep <= 1:
        raise ValueError(
            f"dropout_param['p'] is {p!r} with p_means={p_means!r}, which keeps units "
            f"with probability {keep!r}; that probability must be in (0, 1]"
        )
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    mask = ((np.random.rand(*x.shape) < keep) / keep).astype(dtype, copy=False)
    out = x * mask
    return out, (dropout_param, mask)


def dropout_backward(dout, cache):
    """
    Backward pass for inverted dropout.

    Inputs:
    - dout: Upstream derivatives, of any shape
    - cache: (dropout_param, mask) from dropout_forward.

    Returns:
    - dx: dout masked and scaled exactly as the forward pass did; in test mode
      dout itself (as a copy)
    """
    dropout_param, mask = cache
    if dropout_param["mode"] == "test":
        return dout.copy()
    return dout * mask


def _output_size(size, kernel, pad, stride, what):
    span = size + 2 * pad - kernel
    if span < 0 or span % stride != 0:
        raise ValueError(
            f"{what}: input size {size} with padding {pad}, window {kernel} and "
            f"stride {stride} does not tile evenly ({size} + 2*{pad} - {kernel} = {span} "
            f"is not a non-negative multiple of {stride}). Hint: change pad or stride."
        )
    return 1 + span // stride


def conv_forward_naive(x, w, b, conv_param):
    """
    A naive implementation of the forward pass for a convolutional layer.

    The input consists of N data points, each with C channels, height H and
    width W. We convolve each input with F different filters, where each filter
    spans all C channels and has height HH and width WW.

    Input:
    - x: Input data of shape (N, C, H, W)
    - w: Filter weights of shape (F, C, HH, WW)
    - b: Biases, of shape (F,)
    - conv_param: A dictionary with the following keys:
      - 'stride': The number of pixels between adjacent receptive fields in the
        horizontal and vertical directions.
      - 'pad': The number of pixels that will be used to zero-pad the input.

    During padding, 'pad' zeros are placed symmetrically (i.e equally on both
    sides) along the height and width axes of the input. The input x itself is
    not modified.

    Returns a tuple of:
    - out: Output data, of shape (N, F, H', W') where H' and W' are given by
      H' = 1 + (H + 2 * pad - HH) / stride
      W' = 1 + (W + 2 * pad - WW) / stride
      (a ValueError is raised when either division is not exact)
    - cache: (x, w, b, conv_param)
    """
    N, C, H, W = x.shape
    F, Cw, HH, WW = w.shape
    if Cw != C:
        raise ValueError(f"conv_forward_naive: x has {C} channels but w has {Cw}")
    stride, pad = conv_param["stride"], conv_param["pad"]
    H_out = _output_size(H, HH, pad, stride, "conv_forward_naive height")
    W_out = _output_size(W, WW, pad, stride, "conv_forward_naive width")

    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.empty((N, F, H_out, W_out), dtype=np.result_type(x, w, b))
    for i in range(H_out):
        for j in range(W_out):
            window = x_pad[:, :, i * stride : i * stride + HH, j * stride : j * stride + WW]
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    cache = (x, w, b, conv_param)
    return out, cache


def conv_backward_naive(dout, cache):
    """
    A naive implementation of the backward pass for a convolutional layer.

    Inputs:
    - dout: Upstream derivatives, of shape (N, F, H', W')
    - cache: A tuple of (x, w, b, conv_param) as in conv_forward_naive

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, C, H, W)
    - dw: Gradient with respect to w, of shape (F, C, HH, WW)
    - db: Gradient with respect to b, of shape (F,)
    """
    x, w, _, conv_param = cache
    _, _, H, W = x.shape
    _, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    stride, pad = conv_param["stride"], conv_param["pad"]

    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad = np.zeros(x_pad.shape, dtype=np.result_type(dout, w))
    dw = np.zeros(w.shape, dtype=np.result_type(dout, x))
    db = dout.sum(axis=(0, 2, 3))
    for i in range(H_out):
        for j in range(W_out):
            rows = slice(i * stride, i * stride + HH)
            cols = slice(j * stride, j * stride + WW)
            d = dout[:, :, i, j]
            dw += np.tensordot(d, x_pad[:, :, rows, cols], axes=([0], [0]))
            dx_pad[:, :, rows, cols] += np.tensordot(d, w, axes=([1], [0]))
    dx = dx_pad[:, :, pad : pad + H, pad : pad + W].copy()
    return dx, dw, db


def max_pool_forward_naive(x, pool_param):
    """
    A naive implementation of the forward pass for a max-pooling layer.

    Inputs:
    - x: Input data, of shape (N, C, H, W)
    - pool_param: dictionary with the following keys:
      - 'pool_height': The height of each pooling region
      - 'pool_width': The width of each pooling region
      - 'stride': The distance between adjacent pooling regions

    No padding is necessary here.

    Returns a tuple of:
    - out: Output data, of shape (N, C, H', W') where H' and W' are given by
      H' = 1 + (H - pool_height) / stride
      W' = 1 + (W - pool_width) / stride
      (a ValueError is raised when either division is not exact)
    - cache: (x, pool_param)
    """
    N, C, H, W = x.shape
    ph, pw = pool_param["pool_height"], pool_param["pool_width"]
    stride = pool_param["stride"]
    H_out = _output_size(H, ph, 0, stride, "max_pool_forward_naive height")
    W_out = _output_size(W, pw, 0, stride, "max_pool_forward_naive width")

    out = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]
            out[:, :, i, j] = window.max(axis=(2, 3))
    cache = (x, pool_param)
    return out, cache


def max_pool_backward_naive(dout, cache):
    """
    A naive implementation of the backward pass for a max-pooling layer.

    Each window's upstream derivative goes to the position of its maximum (the
    first one in row-major order if the maximum is tied).

    Inputs:
    - dout: Upstream derivatives, of shape (N, C, H', W')
    - cache: A tuple of (x, pool_param) as in the forward pass.

    Returns:
    - dx: Gradient with respect to x, of shape (N, C, H, W)
    """
    x, pool_param = cache
    N, C, _, _ = x.shape
    ph, pw = pool_param["pool_height"], pool_param["pool_width"]
    stride = pool_param["stride"]
    _, _, H_out, W_out = dout.shape

    dx = np.zeros(x.shape, dtype=np.result_type(dout, x))
    n_idx, c_idx = np.indices((N, C))
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]
            r, c = np.unravel_index(window.reshape(N, C, -1).argmax(axis=2), (ph, pw))
            dx[n_idx, c_idx, i * stride + r, j * stride + c] += dout[:, :, i, j]
    return dx


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """
    Computes the forward pass for spatial batch normalization.

    Each channel is normalized with statistics over the N, H and W axes; the
    running statistics in bn_param have shape (C,).

    Inputs:
    - x: Input data of shape (N, C, H, W)
    - gamma: Scale parameter, of shape (C,)
    - beta: Shift parameter, of shape (C,)
    - bn_param: Dictionary with the following keys:
      - mode: 'train' or 'test'; required
      - eps: Constant for numeric stability (default 1e-5)
      - momentum: Constant for running mean / variance (default 0.9)
      - running_mean: Array of shape (C,) giving running mean of features
      - running_var: Array of shape (C,) giving running variance of features

    Returns a tuple of:
    - out: Output data, of shape (N, C, H, W)
    - cache: Values needed for the backward pass (the batchnorm cache)
    """
    N, C, H, W = x.shape
    flat = x.transpose(0, 2, 3, 1).reshape(-1, C)
    out_flat, cache = batchnorm_forward(flat, gamma, beta, bn_param)
    out = out_flat.reshape(N, H, W, C).transpose(0, 3, 1, 2)
    return out, cache


def spatial_batchnorm_backward(dout, cache):
    """
    Computes the backward pass for spatial batch normalization.

    Inputs:
    - dout: Upstream derivatives, of shape (N, C, H, W)
    - cache: Values from the forward pass

    Returns a tuple of:
    - dx: Gradient with respect to inputs, of shape (N, C, H, W)
    - dgamma: Gradient with respect to scale parameter, of shape (C,)
    - dbeta: Gradient with respect to shift parameter, of shape (C,)
    """
    N, C, H, W = dout.shape
    dflat = dout.transpose(0, 2, 3, 1).reshape(-1, C)
    dx_flat, dgamma, dbeta = batchnorm_backward(dflat, cache)
    dx = dx_flat.reshape(N, H, W, C).transpose(0, 3, 1, 2)
    return dx, dgamma, dbeta


def _channel_param(param, C, name):
    if param.shape not in ((C,), (1, C, 1, 1)):
        raise ValueError(
            f"spatial_groupnorm_forward: {name} has shape {param.shape}; "
            f"expected ({C},) or (1, {C}, 1, 1)"
        )
    return param.reshape(1, C, 1, 1)


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """
    Computes the forward pass for spatial group normalization.

    The C channels are split into G groups of C // G consecutive channels; each
    data point is normalized with the mean and (biased) variance of each of its
    groups over the group's channels and all H, W positions. The result is then
    scaled and shifted per channel.

    Inputs:
    - x: Input data of shape (N, C, H, W)
    - gamma: Scale parameter, of shape (C,) or (1, C, 1, 1)
    - beta: Shift parameter, of shape (C,) or (1, C, 1, 1)
    - G: Integer number of groups to split into, should be a divisor of C
    - gn_param: Dictionary with the following key:
      - eps: Constant for numeric stability (default 1e-5)

    Returns a tuple of:
    - out: Output data, of shape (N, C, H, W)
    - cache: Values needed for the backward pass:
      (x_hat, inv_std, gamma, beta shape, G), x_hat of shape (N, G, C // G * H * W)
      and inv_std of shape (N, G, 1)
    """
    N, C, H, W = x.shape
    if not isinstance(G, int | np.integer) or G < 1 or C % G != 0:
        raise ValueError(
            f"spatial_groupnorm_forward: G is {G!r} but must be a positive integer "
            f"that divides the number of channels C = {C}"
        )
    eps = gn_param.get("eps", 1e-5)
    gamma4 = _channel_param(gamma, C, "gamma")
    beta4 = _channel_param(beta, C, "beta")

    grouped = x.reshape(N, G, -1)
    mean = grouped.mean(axis=2, keepdims=True)
    inv_std = 1.0 / np.sqrt(grouped.var(axis=2, keepdims=True) + eps)
    x_hat = (grouped - mean) * inv_std
    out = gamma4 * x_hat.reshape(N, C, H, W) + beta4
    cache = (x_hat, inv_std, gamma, beta.shape, G)
    return out, cache


def spatial_groupnorm_backward(dout, cache):
    """
    Computes the backward pass for spatial group normalization.

    Inputs:
    - dout: Upstream derivatives, of shape (N, C, H, W)
    - cache: Values from the forward pass

    Returns a tuple of:
    - dx: Gradient with respect to inputs, of shape (N, C, H, W)
    - dgamma: Gradient with respect to scale parameter, of gamma's shape,
      (C,) or (1, C, 1, 1)
    - dbeta: Gradient with respect to shift parameter, of beta's shape,
      (C,) or (1, C, 1, 1)
    """
    x_hat, inv_std, gamma, beta_shape, G = cache
    N, C, H, W = dout.shape
    x_hat4 = x_hat.reshape(N, C, H, W)
    dbeta = dout.sum(axis=(0, 2, 3)).reshape(beta_shape)
    dgamma = (dout * x_hat4).sum(axis=(0, 2, 3)).reshape(gamma.shape)
    dx_hat = (dout * gamma.reshape(1, C, 1, 1)).reshape(N, G, -1)
    dx = _normalize_backward(dx_hat, x_hat, inv_std, axis=2).reshape(N, C, H, W)
    return dx, dgamma, dbeta
