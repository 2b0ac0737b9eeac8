# expect: svm_loss.loss=fail, svm_loss.dx=fail
# why: the margin of the correct class (always exactly 1) is not excluded, so the loss is 1 too high and the gradient at the correct class counts one margin too many.
import numpy as np


def svm_loss(x, y):
    N = x.shape[0]
    correct = x[np.arange(N), y][:, np.newaxis]
    margins = np.maximum(0, x - correct + 1.0)
    loss = np.sum(margins) / N
    positive = (margins > 0).astype(float)
    positive[np.arange(N), y] = -np.sum(positive, axis=1)
    dx = positive / N
    return loss, dx
