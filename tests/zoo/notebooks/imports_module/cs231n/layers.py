import numpy as np


def affine_forward(x, w, b):
    """
    Computes the forward pass for an affine (fully-connected) layer.

    The input x has shape (N, d_1, ..., d_k) and contains a minibatch of N
    examples, where each example x[i] has shape (d_1, ..., d_k). We will
    reshape each input into a vector of dimension D = d_1 * ... * d_k, and
    then transform it to an output vector of dimension M.

    Inputs:
    - x: A numpy array containing input data, of shape (N, d_1, ..., d_k)
    - w: A numpy array of weights, of shape (D, M)
    - b: A numpy array of biases, of shape (M,)

    Returns a tuple of:
    - out: output, of shape (N, M)
    - cache: (x, w, b)
    """
    N = x.shape[0]
    D = int(np.prod(x.shape[1:]))
    x_rows = x.reshape(N, D)
    out = x_rows.dot(w) + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    """
    Computes the backward pass for an affine layer.

    Inputs:
    - dout: Upstream derivative, of shape (N, M)
    - cache: Tuple of:
      - x: Input data, of shape (N, d_1, ... d_k)
      - w: Weights, of shape (D, M)
      - b: Biases, of shape (M,)

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, d1, ..., d_k)
    - dw: Gradient with respect to w, of shape (D, M)
    - db: Gradient with respect to b, of shape (M,)
    """
    x, w, b = cache
    N = x.shape[0]
    D = w.shape[0]
    x_rows = x.reshape(N, D)
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x_rows.T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def relu_forward(x):
    """
    Computes the forward pass for a layer of rectified linear units (ReLUs).

    Input:
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

    Input:
    - dout: Upstream derivatives, of any shape
    - cache: Input x, of same shape as dout

    Returns:
    - dx: Gradient with respect to x, of the same shape as dout
    """
    x = cache
    dx = np.where(x > 0, dout, 0.0)
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
    - loss: Scalar giving the loss
    - dx: Gradient of the loss with respect to x, of shape (N, C)
    """
    N, C = x.shape
    loss = 0.0
    dx = np.zeros((N, C))
    for i in range(N):
        correct_class = y[i]
        correct_score = x[i, correct_class]
        for j in range(C):
            if j == correct_class:
                continue
            margin = x[i, j] - correct_score + 1.0
            if margin > 0:
                loss += margin
                dx[i, j] += 1.0
                dx[i, correct_class] -= 1.0
    loss /= N
    dx /= N
    return loss, dx


def softmax_loss(x, y):
    """
    Computes the loss and gradient for softmax classification.

    Inputs:
    - x: Input data, of shape (N, C) where x[i, j] is the score for the jth
      class for the ith input.
    - y: Vector of labels, of shape (N,) where y[i] is the label for x[i] and
      0 <= y[i] < C

    Returns a tuple of:
    - loss: Scalar giving the loss
    - dx: Gradient of the loss with respect to x, of shape (N, C)
    """
    N, C = x.shape
    loss = 0.0
    dx = np.zeros((N, C))
    for i in range(N):
        # Subtracting the row's max leaves the probabilities unchanged and
        # keeps exp from overflowing.
        shifted = x[i] - np.max(x[i])
        log_sum_exp = np.log(np.sum(np.exp(shifted)))
        log_probs = shifted - log_sum_exp
        loss -= log_probs[y[i]]
        dx[i] = np.exp(log_probs)
        dx[i, y[i]] -= 1.0
    loss /= N
    dx /= N
    return loss, dx


def batchnorm_forward(x, gamma, beta, bn_param):
    """
    Forward pass for batch normalization.

    During training the sample mean and (uncorrected) sample variance are
    computed from minibatch statistics and used to normalize the incoming data.
    During training we also keep an exponentially decaying running mean of the
    mean and variance of each feature, and these averages are used to normalize
    data at test-time.

    At each timestep we update the running averages for mean and variance using
    an exponential decay based on the momentum parameter:

    running_mean = momentum * running_mean + (1 - momentum) * sample_mean
    running_var = momentum * running_var + (1 - momentum) * sample_var

    Input:
    - x: Data of shape (N, D)
    - gamma: Scale parameter of shape (D,)
    - beta: Shift paremeter of shape (D,)
    - bn_param: Dictionary with the following keys:
      - mode: 'train' or 'test'; required
      - eps: Constant for numeric stability
      - momentum: Constant for running mean / variance.
      - running_mean: Array of shape (D,) giving running mean of features
      - running_var Array of shape (D,) giving running variance of features

    Returns a tuple of:
    - out: of shape (N, D)
    - cache: A tuple of values needed in the backward pass
    """
    mode = bn_param['mode']
    eps = bn_param.get('eps', 1e-5)
    momentum = bn_param.get('momentum', 0.9)

    N, D = x.shape
    running_mean = bn_param.get('running_mean', np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get('running_var', np.zeros(D, dtype=x.dtype))

    if mode == 'train':
        # The forward pass as a chain of small steps, each undone in backward.
        mu = np.sum(x, axis=0) / N
        xmu = x - mu
        sq = xmu ** 2
        var = np.sum(sq, axis=0) / N
        sqrtvar = np.sqrt(var + eps)
        ivar = 1.0 / sqrtvar
        xhat = xmu * ivar
        gammax = gamma * xhat
        out = gammax + beta

        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var

        cache = ('train', xhat, gamma, xmu, ivar, sqrtvar, var, eps)
    elif mode == 'test':
        ivar = 1.0 / np.sqrt(running_var + eps)
        xhat = (x - running_mean) * ivar
        out = gamma * xhat + beta
        cache = ('test', xhat, gamma, None, ivar, None, None, eps)
    else:
        raise ValueError('Invalid forward batchnorm mode "%s"' % mode)

    # Store the updated running means back into bn_param
    bn_param['running_mean'] = running_mean
    bn_param['running_var'] = running_var

    return out, cache


def batchnorm_backward(dout, cache):
    """
    Backward pass for batch normalization, following the computational graph of
    the forward pass one node at a time.

    Inputs:
    - dout: Upstream derivatives, of shape (N, D)
    - cache: Variable of intermediates from batchnorm_forward.

    Returns a tuple of:
    - dx: Gradient with respect to inputs x, of shape (N, D)
    - dgamma: Gradient with respect to scale parameter gamma, of shape (D,)
    - dbeta: Gradient with respect to shift parameter beta, of shape (D,)
    """
    mode, xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    N, D = dout.shape

    # out = gammax + beta
    dbeta = np.sum(dout, axis=0)
    dgammax = dout
    # gammax = gamma * xhat
    dgamma = np.sum(dgammax * xhat, axis=0)
    dxhat = dgammax * gamma

    if mode == 'test':
        # The running statistics are constants: xhat = (x - mean) * ivar.
        return dxhat * ivar, dgamma, dbeta

    # xhat = xmu * ivar
    divar = np.sum(dxhat * xmu, axis=0)
    dxmu1 = dxhat * ivar
    # ivar = 1 / sqrtvar
    dsqrtvar = -1.0 / (sqrtvar ** 2) * divar
    # sqrtvar = sqrt(var + eps)
    dvar = 0.5 / np.sqrt(var + eps) * dsqrtvar
    # var = sum(sq) / N
    dsq = np.ones((N, D)) / N * dvar
    # sq = xmu ** 2
    dxmu2 = 2 * xmu * dsq
    # xmu = x - mu
    dx1 = dxmu1 + dxmu2
    dmu = -np.sum(dxmu1 + dxmu2, axis=0)
    # mu = sum(x) / N
    dx2 = np.ones((N, D)) / N * dmu

    dx = dx1 + dx2
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """
    Alternative backward pass for batch normalization: the gradient with respect
    to x simplified on paper into a single expression.

    Note: This implementation should expect to receive the same cache variable
    as batchnorm_backward.

    Inputs / outputs: Same as batchnorm_backward
    """
    mode, xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    N = dout.shape[0]

    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    if mode == 'test':
        return dxhat * ivar, dgamma, dbeta

    dx = (ivar / N) * (N * dxhat - np.sum(dxhat, axis=0)
                       - xhat * np.sum(dxhat * xhat, axis=0))
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, ln_param):
    """
    Forward pass for layer normalization.

    During both training and test-time, the incoming data is normalized per data
    point, before being scaled by gamma and beta parameters identical to that of
    batch normalization.

    Note that in contrast to batch normalization, the behavior during train and
    test-time for layer normalization are identical, and we do not need to keep
    track of running averages of any sort.

    Input:
    - x: Data of shape (N, D)
    - gamma: Scale parameter of shape (D,)
    - beta: Shift paremeter of shape (D,)
    - ln_param: Dictionary with the following keys:
        - eps: Constant for numeric stability

    Returns a tuple of:
    - out: of shape (N, D)
    - cache: A tuple of values needed in the backward pass
    """
    eps = ln_param.get('eps', 1e-5)
    N, D = x.shape
    xhat = np.zeros((N, D))
    ivar = np.zeros(N)
    for i in range(N):
        mu = np.mean(x[i])
        var = np.mean((x[i] - mu) ** 2)
        ivar[i] = 1.0 / np.sqrt(var + eps)
        xhat[i] = (x[i] - mu) * ivar[i]
    out = gamma * xhat + beta
    cache = (xhat, gamma, ivar)
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
    xhat, gamma, ivar = cache
    N, D = dout.shape
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    dx = np.zeros((N, D))
    for i in range(N):
        # Each row is normalized on its own, like one batchnorm column.
        dx[i] = (ivar[i] / D) * (D * dxhat[i] - np.sum(dxhat[i])
                                 - xhat[i] * np.sum(dxhat[i] * xhat[i]))
    return dx, dgamma, dbeta


def dropout_forward(x, dropout_param):
    """
    Performs the forward pass for (inverted) dropout.

    Inputs:
    - x: Input data, of any shape
    - dropout_param: A dictionary with the following keys:
      - p: Dropout parameter. We keep each neuron output with probability p.
      - mode: 'test' or 'train'. If the mode is train, then perform dropout;
        if the mode is test, then just return the input.
      - seed: Seed for the random number generator. Passing seed makes this
        function deterministic, which is needed for gradient checking but not
        in real networks.

    Outputs:
    - out: Array of the same shape as x.
    - cache: tuple (dropout_param, mask). In training mode, mask is the dropout
      mask that was used to multiply the input; in test mode, mask is None.
    """
    p, mode = dropout_param['p'], dropout_param['mode']
    if 'seed' in dropout_param:
        np.random.seed(dropout_param['seed'])

    if mode == 'train':
        mask = (np.random.rand(*x.shape) < p) / p
        out = x * mask
    elif mode == 'test':
        mask = None
        out = x.copy()
    else:
        raise ValueError('Invalid forward dropout mode "%s"' % mode)

    cache = (dropout_param, mask)
    out = out.astype(x.dtype, copy=False)
    return out, cache


def dropout_backward(dout, cache):
    """
    Perform the backward pass for (inverted) dropout.

    Inputs:
    - dout: Upstream derivatives, of any shape
    - cache: (dropout_param, mask) from dropout_forward.

    Returns:
    - dx: Gradient with respect to x, of the same shape as dout
    """
    dropout_param, mask = cache
    mode = dropout_param['mode']
    if mode == 'train':
        dx = dout * mask
    elif mode == 'test':
        dx = dout
    else:
        raise ValueError('Invalid backward dropout mode "%s"' % mode)
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

    During padding, 'pad' zeros should be placed symmetrically (i.e equally on
    both sides) along the height and width axes of the input. Be careful not to
    modfiy the original input x directly.

    Returns a tuple of:
    - out: Output data, of shape (N, F, H', W') where H' and W' are given by
      H' = 1 + (H + 2 * pad - HH) / stride
      W' = 1 + (W + 2 * pad - WW) / stride
    - cache: (x, w, b, conv_param)
    """
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = conv_param['stride'], conv_param['pad']
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride

    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode='constant')
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    top, left = i * stride, j * stride
                    window = x_pad[n, :, top:top + HH, left:left + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]

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
    x, w, b, conv_param = cache
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = conv_param['stride'], conv_param['pad']
    _, _, H_out, W_out = dout.shape

    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode='constant')
    dx_pad = np.zeros(x_pad.shape)
    dw = np.zeros(w.shape)
    db = np.zeros(b.shape)
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    top, left = i * stride, j * stride
                    g = dout[n, f, i, j]
                    window = x_pad[n, :, top:top + HH, left:left + WW]
                    dw[f] += g * window
                    dx_pad[n, :, top:top + HH, left:left + WW] += g * w[f]
                    db[f] += g

    dx = dx_pad[:, :, pad:pad + H, pad:pad + W]
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
    - cache: (x, pool_param)
    """
    N, C, H, W = x.shape
    ph, pw = pool_param['pool_height'], pool_param['pool_width']
    stride = pool_param['stride']
    H_out = 1 + (H - ph) // stride
    W_out = 1 + (W - pw) // stride

    out = np.zeros((N, C, H_out, W_out))
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    top, left = i * stride, j * stride
                    out[n, c, i, j] = np.max(x[n, c, top:top + ph, left:left + pw])

    cache = (x, pool_param)
    return out, cache


def max_pool_backward_naive(dout, cache):
    """
    A naive implementation of the backward pass for a max-pooling layer.

    Inputs:
    - dout: Upstream derivatives, of shape (N, C, H', W')
    - cache: A tuple of (x, pool_param) as in the forward pass.

    Returns:
    - dx: Gradient with respect to x, of shape (N, C, H, W)
    """
    x, pool_param = cache
    N, C, H, W = x.shape
    ph, pw = pool_param['pool_height'], pool_param['pool_width']
    stride = pool_param['stride']
    _, _, H_out, W_out = dout.shape

    dx = np.zeros(x.shape)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    top, left = i * stride, j * stride
                    window = x[n, c, top:top + ph, left:left + pw]
                    r, s = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, top + r, left + s] += dout[n, c, i, j]
    return dx


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """
    Computes the forward pass for spatial batch normalization.

    Inputs:
    - x: Input data of shape (N, C, H, W)
    - gamma: Scale parameter, of shape (C,)
    - beta: Shift parameter, of shape (C,)
    - bn_param: Dictionary with the following keys:
      - mode: 'train' or 'test'; required
      - eps: Constant for numeric stability
      - momentum: Constant for running mean / variance. momentum=0 means that
        old information is discarded completely at every time step, while
        momentum=1 means that new information is never incorporated. The
        default of momentum=0.9 should work well in most situations.
      - running_mean: Array of shape (C,) giving running mean of features
      - running_var Array of shape (C,) giving running variance of features

    Returns a tuple of:
    - out: Output data, of shape (N, C, H, W)
    - cache: Values needed for the backward pass
    """
    mode = bn_param['mode']
    eps = bn_param.get('eps', 1e-5)
    momentum = bn_param.get('momentum', 0.9)

    N, C, H, W = x.shape
    running_mean = bn_param.get('running_mean', np.zeros(C, dtype=x.dtype))
    running_var = bn_param.get('running_var', np.zeros(C, dtype=x.dtype))
    g = gamma.reshape(1, C, 1, 1)
    bt = beta.reshape(1, C, 1, 1)

    # Every channel is one feature, normalized over the batch and both spatial axes.
    if mode == 'train':
        mu = x.mean(axis=(0, 2, 3))
        var = ((x - mu.reshape(1, C, 1, 1)) ** 2).mean(axis=(0, 2, 3))
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    elif mode == 'test':
        mu, var = running_mean, running_var
    else:
        raise ValueError('Invalid forward batchnorm mode "%s"' % mode)

    ivar = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu.reshape(1, C, 1, 1)) * ivar.reshape(1, C, 1, 1)
    out = g * xhat + bt

    bn_param['running_mean'] = running_mean
    bn_param['running_var'] = running_var

    cache = (mode, xhat, gamma, ivar)
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
    mode, xhat, gamma, ivar = cache
    N, C, H, W = dout.shape
    M = N * H * W

    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * xhat).sum(axis=(0, 2, 3))
    dxhat = dout * gamma.reshape(1, C, 1, 1)
    iv = ivar.reshape(1, C, 1, 1)
    if mode == 'test':
        return dxhat * iv, dgamma, dbeta

    sum_dxhat = dxhat.sum(axis=(0, 2, 3)).reshape(1, C, 1, 1)
    sum_dxhat_xhat = (dxhat * xhat).sum(axis=(0, 2, 3)).reshape(1, C, 1, 1)
    dx = (iv / M) * (M * dxhat - sum_dxhat - xhat * sum_dxhat_xhat)
    return dx, dgamma, dbeta


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """
    Computes the forward pass for spatial group normalization.

    In contrast to layer normalization, group normalization splits each entry in
    the data into G contiguous pieces, which it then normalizes independently.
    Per-feature shifting and scaling are then applied to the data, in a manner
    identical to that of batch normalization and layer normalization.

    Inputs:
    - x: Input data of shape (N, C, H, W)
    - gamma: Scale parameter, of shape (1, C, 1, 1) (or (C,))
    - beta: Shift parameter, of shape (1, C, 1, 1) (or (C,))
    - G: Integer mumber of groups to split into, should be a divisor of C
    - gn_param: Dictionary with the following keys:
      - eps: Constant for numeric stability

    Returns a tuple of:
    - out: Output data, of shape (N, C, H, W)
    - cache: Values needed for the backward pass
    """
    eps = gn_param.get('eps', 1e-5)
    N, C, H, W = x.shape
    if C % G != 0:
        raise ValueError('G=%d does not divide C=%d' % (G, C))
    cg = C // G

    xhat = np.zeros((N, C, H, W))
    ivar = np.zeros((N, G))
    for n in range(N):
        for k in range(G):
            chans = slice(k * cg, (k + 1) * cg)
            group = x[n, chans]
            mu = np.mean(group)
            var = np.mean((group - mu) ** 2)
            ivar[n, k] = 1.0 / np.sqrt(var + eps)
            xhat[n, chans] = (group - mu) * ivar[n, k]

    out = gamma.reshape(1, C, 1, 1) * xhat + beta.reshape(1, C, 1, 1)
    cache = (xhat, gamma, ivar, G)
    return out, cache


def spatial_groupnorm_backward(dout, cache):
    """
    Computes the backward pass for spatial group normalization.

    Inputs:
    - dout: Upstream derivatives, of shape (N, C, H, W)
    - cache: Values from the forward pass

    Returns a tuple of:
    - dx: Gradient with respect to inputs, of shape (N, C, H, W)
    - dgamma: Gradient with respect to scale parameter, of gamma's shape
      ((1, C, 1, 1) or (C,))
    - dbeta: Gradient with respect to shift parameter, of gamma's shape
    """
    xhat, gamma, ivar, G = cache
    N, C, H, W = dout.shape
    cg = C // G
    M = cg * H * W

    dbeta = dout.sum(axis=(0, 2, 3)).reshape(gamma.shape)
    dgamma = (dout * xhat).sum(axis=(0, 2, 3)).reshape(gamma.shape)
    dxhat = dout * gamma.reshape(1, C, 1, 1)

    dx = np.zeros((N, C, H, W))
    for n in range(N):
        for k in range(G):
            chans = slice(k * cg, (k + 1) * cg)
            dxh = dxhat[n, chans]
            xh = xhat[n, chans]
            dx[n, chans] = (ivar[n, k] / M) * (M * dxh - np.sum(dxh)
                                               - xh * np.sum(dxh * xh))
    return dx, dgamma, dbeta
