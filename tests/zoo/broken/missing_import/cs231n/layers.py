import numpy as np

from cs231n.fast_layers import conv_forward_fast


def relu_forward(x):
    return np.maximum(0, x), x
