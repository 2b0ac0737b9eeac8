"""Starter code for the modular-layers assignments.

Fill in the functions your assignment grades (`grade --list-assignments` names them).
`grade check . --assignment NAME` from the folder that holds cs231n/ runs the public checks
and tells you which functions pass.
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
    out = None
    cache = None
    ############################################################################
    # TODO: implement affine_forward, storing the result in out, cache.
    ############################################################################
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
    dx = None
    dw = None
    db = None
    ############################################################################
    # TODO: implement affine_backward, storing the result in dx, dw, db.
    ############################################################################
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
    out = None
    cache = None
    ############################################################################
    # TODO: implement relu_forward, storing the result in out, cache.
    ############################################################################
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
    dx = None
    ############################################################################
    # TODO: implement relu_backward, storing the result in dx.
    ############################################################################
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
    loss = None
    dx = None
    ############################################################################
    # TODO: implement svm_loss, storing the result in loss, dx.
    ############################################################################
    return loss, dx


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
    loss = None
    dx = None
    ############################################################################
    # TODO: implement softmax_loss, storing the result in loss, dx.
    ############################################################################
    return loss, dx


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
    out = None
    cache = None
    ############################################################################
    # TODO: implement batchnorm_forward, storing the result in out, cache.
    ############################################################################
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
    dx = None
    dgamma = None
    dbeta = None
    ############################################################################
    # TODO: implement batchnorm_backward, storing the result in dx, dgamma, dbeta.
    ############################################################################
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """
    Alternative backward pass for batch normalization: the gradient with respect
    to x simplified on paper into a single closed-form expression.

    Takes the same cache as batchnorm_backward and returns the same outputs.

    Inputs / outputs: Same as batchnorm_backward
    """
    dx = None
    dgamma = None
    dbeta = None
    ############################################################################
    # TODO: implement batchnorm_backward_alt, storing the result in dx, dgamma, dbeta.
    ############################################################################
    return dx, dgamma, dbeta


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
    out = None
    cache = None
    ############################################################################
    # TODO: implement layernorm_forward, storing the result in out, cache.
    ############################################################################
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
    dx = None
    dgamma = None
    dbeta = None
    ############################################################################
    # TODO: implement layernorm_backward, storing the result in dx, dgamma, dbeta.
    ############################################################################
    return dx, dgamma, dbeta


def dropout_forward(x, dropout_param):
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
    out = None
    cache = None
    ############################################################################
    # TODO: implement dropout_forward, storing the result in out, cache.
    ############################################################################
    return out, cache


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
    dx = None
    ############################################################################
    # TODO: implement dropout_backward, storing the result in dx.
    ############################################################################
    return dx


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
    out = None
    cache = None
    ############################################################################
    # TODO: implement conv_forward_naive, storing the result in out, cache.
    ############################################################################
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
    dx = None
    dw = None
    db = None
    ############################################################################
    # TODO: implement conv_backward_naive, storing the result in dx, dw, db.
    ############################################################################
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
    out = None
    cache = None
    ############################################################################
    # TODO: implement max_pool_forward_naive, storing the result in out, cache.
    ############################################################################
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
    dx = None
    ############################################################################
    # TODO: implement max_pool_backward_naive, storing the result in dx.
    ############################################################################
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
    out = None
    cache = None
    ############################################################################
    # TODO: implement spatial_batchnorm_forward, storing the result in out, cache.
    ############################################################################
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
    dx = None
    dgamma = None
    dbeta = None
    ############################################################################
    # TODO: implement spatial_batchnorm_backward, storing the result in dx, dgamma, dbeta.
    ############################################################################
    return dx, dgamma, dbeta


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
    out = None
    cache = None
    ############################################################################
    # TODO: implement spatial_groupnorm_forward, storing the result in out, cache.
    ############################################################################
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
    dx = None
    dgamma = None
    dbeta = None
    ############################################################################
    # TODO: implement spatial_groupnorm_backward, storing the result in dx, dgamma, dbeta.
    ############################################################################
    return dx, dgamma, dbeta
