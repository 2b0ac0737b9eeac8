# error-line: 4
import numpy as np

print 'loaded my layers'


def relu_forward(x):
    return np.maximum(0, x), x
