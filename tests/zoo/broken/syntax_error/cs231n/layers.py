# error-line: 6
import numpy as np


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b)
    return out, (x, w, b)
