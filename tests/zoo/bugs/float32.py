# expect: affine_forward.out=partial
# why: affine_forward converts its inputs to float32, so out is only accurate to about 1e-7 instead of the 1e-15 of float64.
import numpy as np


def affine_forward(x, w, b):
    N = x.shape[0]
    x_rows = x.reshape(N, -1).astype(np.float32)
    out = x_rows.dot(w.astype(np.float32)) + b.astype(np.float32)
    cache = (x, w, b)
    return out, cache
