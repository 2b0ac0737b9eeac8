"""Convenience layers that chain the layers of ``reference.layers``, and the
two-layer network the assignment's notebook builds from them.

Each composite's cache is the tuple of its parts' caches, in forward order.
"""

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
    softmax_loss,
    svm_loss,
)


def affine_relu_forward(x, w, b):
    """
    Convenience layer that performs an affine transform followed by a ReLU.

    Inputs:
    - x: Input to the affine layer, of shape (N, d_1, ..., d_k)
    - w: Weights for the affine layer, of shape (D, M)
    - b: Biases for the affine layer, of shape (M,)

    Returns a tuple of:
    - out: Output from the ReLU, of shape (N, M)
    - cache: (fc_cache, relu_cache) to give to the backward pass
    """
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    cache = (fc_cache, relu_cache)
    return out, cache


def affine_relu_backward(dout, cache):
    """
    Backward pass for the affine-relu convenience layer.

    Inputs:
    - dout: Upstream derivatives, of shape (N, M)
    - cache: (fc_cache, relu_cache) from affine_relu_forward

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, d_1, ..., d_k)
    - dw: Gradient with respect to w, of shape (D, M)
    - db: Gradient with respect to b, of shape (M,)
    """
    fc_cache, relu_cache = cache
    da = relu_backward(dout, relu_cache)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db


def affine_bn_relu_forward(x, w, b, gamma, beta, bn_param):
    """
    Convenience layer that performs an affine transform, batch normalization
    and a ReLU.

    Inputs:
    - x: Input to the affine layer, of shape (N, d_1, ..., d_k)
    - w: Weights for the affine layer, of shape (D, M)
    - b: Biases for the affine layer, of shape (M,)
    - gamma: Scale parameter of the batchnorm layer, of shape (M,)
    - beta: Shift parameter of the batchnorm layer, of shape (M,)
    - bn_param: Dictionary of parameters for the batchnorm layer (see
      batchnorm_forward); its running statistics are updated in train mode

    Returns a tuple of:
    - out: Output from the ReLU, of shape (N, M)
    - cache: (fc_cache, bn_cache, relu_cache) to give to the backward pass
    """
    a, fc_cache = affine_forward(x, w, b)
    a_bn, bn_cache = batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(a_bn)
    cache = (fc_cache, bn_cache, relu_cache)
    return out, cache


def affine_bn_relu_backward(dout, cache):
    """
    Backward pass for the affine-batchnorm-relu convenience layer.

    Inputs:
    - dout: Upstream derivatives, of shape (N, M)
    - cache: (fc_cache, bn_cache, relu_cache) from affine_bn_relu_forward

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, d_1, ..., d_k)
    - dw: Gradient with respect to w, of shape (D, M)
    - db: Gradient with respect to b, of shape (M,)
    - dgamma: Gradient with respect to gamma, of shape (M,)
    - dbeta: Gradient with respect to beta, of shape (M,)
    """
    fc_cache, bn_cache, relu_cache = cache
    da_bn = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = batchnorm_backward(da_bn, bn_cache)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db, dgamma, dbeta


def conv_relu_forward(x, w, b, conv_param):
    """
    A convenience layer that performs a convolution followed by a ReLU.

    Inputs:
    - x: Input to the convolutional layer, of shape (N, C, H, W)
    - w: Filter weights, of shape (F, C, HH, WW)
    - b: Biases, of shape (F,)
    - conv_param: Dictionary with 'stride' and 'pad' (see conv_forward_naive)

    Returns a tuple of:
    - out: Output from the ReLU, of shape (N, F, H', W')
    - cache: (conv_cache, relu_cache) to give to the backward pass
    """
    a, conv_cache = conv_forward_naive(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    cache = (conv_cache, relu_cache)
    return out, cache


def conv_relu_backward(dout, cache):
    """
    Backward pass for the conv-relu convenience layer.

    Inputs:
    - dout: Upstream derivatives, of shape (N, F, H', W')
    - cache: (conv_cache, relu_cache) from conv_relu_forward

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, C, H, W)
    - dw: Gradient with respect to w, of shape (F, C, HH, WW)
    - db: Gradient with respect to b, of shape (F,)
    """
    conv_cache, relu_cache = cache
    da = relu_backward(dout, relu_cache)
    dx, dw, db = conv_backward_naive(da, conv_cache)
    return dx, dw, db


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """
    Convenience layer that performs a convolution, a ReLU, and a max pool.

    Inputs:
    - x: Input to the convolutional layer, of shape (N, C, H, W)
    - w: Filter weights, of shape (F, C, HH, WW)
    - b: Biases, of shape (F,)
    - conv_param: Dictionary with 'stride' and 'pad' (see conv_forward_naive)
    - pool_param: Dictionary with 'pool_height', 'pool_width' and 'stride'
      (see max_pool_forward_naive)

    Returns a tuple of:
    - out: Output from the pooling layer, of shape (N, F, H'', W'')
    - cache: (conv_cache, relu_cache, pool_cache) to give to the backward pass
    """
    a, conv_cache = conv_forward_naive(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_naive(s, pool_param)
    cache = (conv_cache, relu_cache, pool_cache)
    return out, cache


def conv_relu_pool_backward(dout, cache):
    """
    Backward pass for the conv-relu-pool convenience layer.

    Inputs:
    - dout: Upstream derivatives, of shape (N, F, H'', W'')
    - cache: (conv_cache, relu_cache, pool_cache) from conv_relu_pool_forward

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, C, H, W)
    - dw: Gradient with respect to w, of shape (F, C, HH, WW)
    - db: Gradient with respect to b, of shape (F,)
    """
    conv_cache, relu_cache, pool_cache = cache
    ds = max_pool_backward_naive(dout, pool_cache)
    da = relu_backward(ds, relu_cache)
    dx, dw, db = conv_backward_naive(da, conv_cache)
    return dx, dw, db


_LOSSES = {"svm": svm_loss, "softmax": softmax_loss}


def two_layer_net(X, y, W1, b1, W2, b2, reg, loss="svm"):
    """
    Loss and gradients of a two-layer fully-connected network:
    affine - relu - affine - loss, plus L2 regularization of the weights,
    0.5 * reg * (sum(W1 ** 2) + sum(W2 ** 2)). Biases are not regularized.

    Inputs:
    - X: Input data, of shape (N, d_1, ..., d_k), D = d_1 * ... * d_k
    - y: Labels, of shape (N,), with 0 <= y[i] < C
    - W1: First layer weights, of shape (D, H)
    - b1: First layer biases, of shape (H,)
    - W2: Second layer weights, of shape (H, C)
    - b2: Second layer biases, of shape (C,)
    - reg: Regularization strength (a float)
    - loss: "svm" or "softmax", the data loss on the class scores

    Returns a tuple of:
    - loss: Scalar value of the data loss plus the regularization loss
    - grads: Dictionary with keys "W1", "b1", "W2", "b2", each the gradient of
      the loss with respect to that parameter, of the parameter's shape
    """
    if loss not in _LOSSES:
        raise ValueError(f"loss is {loss!r}; expected one of {sorted(_LOSSES)}")
    hidden, hidden_cache = affine_relu_forward(X, W1, b1)
    scores, scores_cache = affine_forward(hidden, W2, b2)
    data_loss, dscores = _LOSSES[loss](scores, y)
    reg_loss = 0.5 * reg * (float((W1 * W1).sum()) + float((W2 * W2).sum()))

    dhidden, dW2, db2 = affine_backward(dscores, scores_cache)
    _, dW1, db1 = affine_relu_backward(dhidden, hidden_cache)
    grads = {"W1": dW1 + reg * W1, "b1": db1, "W2": dW2 + reg * W2, "b2": db2}
    return data_loss + reg_loss, grads
