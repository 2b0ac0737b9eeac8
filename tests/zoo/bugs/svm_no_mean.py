# expect: svm_loss.loss=fail, svm_loss.dx=fail
# why: the loss and the gradient are summed over the N examples but never divided by N.
import numpy as np


def svm_loss(x, y):
    N = x.shape[0]
    correct = x[np.arange(N), y][:, np.newaxis]
    margins = np.maximum(0, x - correct + 1.0)
    margins[np.arange(N), y] = 0
    loss = np.sum(margins)
    positive = (margins > 0).astype(float)
    positive[np.arange(N), y] = -np.sum(positive, axis=1)
    dx = positive
    return loss, dx
