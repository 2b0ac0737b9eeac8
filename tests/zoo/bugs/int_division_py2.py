# expect: svm_loss.loss=fail
# why: the loss is averaged with floor division (//), which rounds it down to a whole number the way Python 2's / rounded integers; dx is still divided normally.
import numpy as np


def svm_loss(x, y):
    N = x.shape[0]
    correct = x[np.arange(N), y][:, np.newaxis]
    margins = np.maximum(0, x - correct + 1.0)
    margins[np.arange(N), y] = 0
    total = np.sum(margins)
    loss = total // N
    positive = (margins > 0).astype(float)
    positive[np.arange(N), y] = -np.sum(positive, axis=1)
    dx = positive / N
    return loss, dx
