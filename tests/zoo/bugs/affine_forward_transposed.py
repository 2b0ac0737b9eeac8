# expect: affine_forward.out=fail
# why: affine_forward computes x times w correctly through transposes but never adds the bias b, so every output is off by b.


def affine_forward(x, w, b):
    N = x.shape[0]
    x_rows = x.reshape(N, -1)
    out = w.T.dot(x_rows.T).T
    cache = (x, w, b)
    return out, cache
