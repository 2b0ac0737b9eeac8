# Attacks: softmax_loss allocates 20 GB (np.ones) before answering.
# Must happen: the allocation fails inside the worker's memory limit, softmax_loss scores 0,
# the other functions keep full marks and the grader itself is unaffected.
import numpy as _np

_correct_softmax_loss = softmax_loss


def softmax_loss(x, y):
    hog = _np.ones((20 << 30) // 8)
    hog[::4096] = 2.0
    return _correct_softmax_loss(x, y)
