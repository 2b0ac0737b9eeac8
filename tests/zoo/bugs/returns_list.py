# expect: relu_forward.out=fail
# why: relu_forward returns its output as a Python list of lists instead of a numpy array (its cache is right, so relu_backward still works).
import numpy as np


def relu_forward(x):
    out = np.maximum(x, 0).tolist()
    cache = x
    return out, cache
