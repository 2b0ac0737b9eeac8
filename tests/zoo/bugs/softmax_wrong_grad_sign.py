# expect: softmax_loss.dx=fail
# why: the gradient is computed as (one-hot labels - probabilities) / N, the negative of the right (probabilities - one-hot labels) / N.
import numpy as np


def softmax_loss(x, y):
    N = x.shape[0]
    shifted = x - np.max(x, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    probs = np.exp(log_probs)
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = -probs
    dx[np.arange(N), y] += 1
    dx /= N
    return loss, dx
