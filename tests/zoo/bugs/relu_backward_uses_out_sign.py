# expect: relu_backward.dx=fail
# why: relu_backward masks the gradient by the sign of dout instead of the sign of the forward input x.


def relu_backward(dout, cache):
    dx = dout * (dout > 0)
    return dx
