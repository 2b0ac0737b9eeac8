# expect: svm_loss.dx=fail
# why: svm_loss computes the right loss, but one entry of its dx is inf, so the gradient is not even a finite number.
import numpy as np


def svm_loss(x, y):
    N = x.shape[0]
    correct = x[np.arange(N), y][:, np.newaxis]
    margins = np.maximum(0, x - correct + 1.0)
    margins[np.arange(N), y] = 0
    loss = np.sum(margins) / N
    positive = (margins > 0).astype(float)
    positive[np.arange(N), y] = -np.sum(positive, axis=1)
    dx = positive / N
    dx[0, 0] = np.inf
    return loss, dx
