# Attacks: relu_forward returns, as out, an object that is not an array: its __eq__ says
# True to anything, and its __array__ hands numpy WRONG values (all ones). A grader that
# compares with == or that converts with np.asarray/__array__ would be fooled or would score
# values the student never returned as an array.
# Must happen: relu_forward scores 0 with feedback naming the type and saying a numeric value
# is due. relu_backward is not disturbed: the cache is x.
import numpy as _np


class _AlwaysEqual:
    def __init__(self, shape):
        self.shape = shape

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = None

    def __array__(self, dtype=None, copy=None):
        return _np.ones(self.shape, dtype=dtype or float)


def relu_forward(x):
    return _AlwaysEqual(x.shape), x
