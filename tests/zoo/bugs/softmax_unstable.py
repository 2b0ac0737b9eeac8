# expect: softmax_loss.loss=fail, softmax_loss.dx=fail
# why: the scores are not shifted by their row max before exp, which is fine for small scores like the notebook's 0.001-scale ones but overflows to inf on logits around 1000, making the loss and gradient nan.
import numpy as np


def softmax_loss(x, y):
    N = x.shape[0]
    exp_scores = np.exp(x)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx
