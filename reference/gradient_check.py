"""Numerical gradients and the course's error metric.

These are the tools students are given: the numerical gradient perturbs x in
place, one element at a time, with centered differences, and restores each
element afterwards (bit for bit: the original value is saved, not recomputed).
"""

import random

import numpy as np


def rel_error(x, y):
    """
    The course's relative error: max |x - y| / max(1e-8, |x| + |y|), in float64.

    Inputs:
    - x, y: Arrays (or scalars) of the same shape

    Returns:
    - The largest elementwise relative error, as a float
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """
    A naive implementation of the numerical gradient of f at x.

    Inputs:
    - f: A function that takes a single argument (an array of x's shape) and
      returns a scalar
    - x: The point at which to evaluate the gradient, an array of any shape;
      perturbed in place during the call and restored element by element
    - verbose: Print each index and its gradient value
    - h: The step of the centered difference

    Returns:
    - grad: The numerical gradient, an array of x's shape and dtype
    """
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        oldval = x[ix]
        x[ix] = oldval + h
        fxph = f(x)
        x[ix] = oldval - h
        fxmh = f(x)
        x[ix] = oldval

        grad[ix] = (fxph - fxmh) / (2 * h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """
    Numerical gradient of a function that returns an array, contracted with
    an upstream derivative: grad[ix] = sum((f(x + h) - f(x - h)) * df) / (2h).

    Inputs:
    - f: A function that takes a single argument (an array of x's shape) and
      returns an array of df's shape; its outputs are copied, so f may return
      a view of its input or of a buffer it reuses
    - x: The point at which to evaluate the gradient, an array of any shape;
      perturbed in place during the call and restored element by element
    - df: Upstream derivative, an array of f's output shape
    - h: The step of the centered difference

    Returns:
    - grad: The numerical gradient, an array of x's shape and dtype
    """
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        oldval = x[ix]
        x[ix] = oldval + h
        pos = np.array(f(x), copy=True)
        x[ix] = oldval - h
        neg = np.array(f(x), copy=True)
        x[ix] = oldval

        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=None):
    """
    Compares the analytic gradient with the numerical one at a few random
    elements, printing one line per element.

    Inputs:
    - f: A function that takes a single argument (an array of x's shape) and
      returns a scalar
    - x: The point at which to check, an array of any shape; perturbed in
      place during the call and restored element by element
    - analytic_grad: The gradient to check, an array of x's shape
    - num_checks: How many random elements to check
    - h: The step of the centered difference
    - seed: Seed for choosing the elements (None: a fresh random choice)

    Returns:
    - errors: List of num_checks relative errors, computed like rel_error
    """
    rng = random.Random(seed)
    errors = []
    for _ in range(num_checks):
        ix = tuple(rng.randrange(m) for m in x.shape)
        oldval = x[ix]
        x[ix] = oldval + h
        fxph = f(x)
        x[ix] = oldval - h
        fxmh = f(x)
        x[ix] = oldval

        grad_numerical = (fxph - fxmh) / (2 * h)
        grad_analytic = analytic_grad[ix]
        error = rel_error(grad_numerical, grad_analytic)
        errors.append(error)
        print(
            f"numerical: {float(grad_numerical):f} analytic: {float(grad_analytic):f}, "
            f"relative error: {error:e}"
        )
    return errors
