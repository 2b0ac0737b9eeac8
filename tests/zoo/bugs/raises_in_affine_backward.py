# expect: affine_backward.dx=fail, affine_backward.dw=fail, affine_backward.db=fail
# why: affine_backward raises a ValueError instead of returning the gradients.


def affine_backward(dout, cache):
    x, w, b = cache
    raise ValueError("shapes %s and %s are not aligned" % (dout.shape, w.shape))
