# expect: affine_forward.out=fail
# why: affine_forward returns out transposed, with shape (M, N) instead of (N, M).


def affine_forward(x, w, b):
    N = x.shape[0]
    out = x.reshape(N, -1).dot(w) + b
    cache = (x, w, b)
    return out.T, cache
