# expect: affine_backward.dx=fail, affine_backward.dw=fail, affine_backward.db=fail
# why: affine_backward returns only (dx, dw) and forgets db, so the returned tuple has 2 items instead of 3.


def affine_backward(dout, cache):
    x, w, b = cache
    N = x.shape[0]
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(N, -1).T.dot(dout)
    return dx, dw
