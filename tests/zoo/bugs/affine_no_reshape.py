# expect: affine_backward.dx=fail
# why: dx is left with shape (N, D) instead of being reshaped back to x's shape (N, d_1, ..., d_k).


def affine_backward(dout, cache):
    x, w, b = cache
    N = x.shape[0]
    dx = dout.dot(w.T)
    dw = x.reshape(N, -1).T.dot(dout)
    db = dout.sum(axis=0)
    return dx, dw, db
