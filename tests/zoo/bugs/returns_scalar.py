# expect: affine_forward.out=fail, affine_backward.dx=fail, affine_backward.dw=fail, affine_backward.db=fail
# why: affine_forward returns a single float instead of the tuple (out, cache), and affine_backward is tested after calling affine_forward for its cache, so it fails too.


def affine_forward(x, w, b):
    N = x.shape[0]
    out = x.reshape(N, -1).dot(w) + b
    return float(out.sum())
