# expect: affine_backward.db=fail
# why: db sums dout over axis 1 (the classes) instead of axis 0 (the examples), so it has shape (N,) instead of (M,).


def affine_backward(dout, cache):
    x, w, b = cache
    N = x.shape[0]
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(N, -1).T.dot(dout)
    db = dout.sum(axis=1)
    return dx, dw, db
