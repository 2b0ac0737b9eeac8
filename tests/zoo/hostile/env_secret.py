# Attacks: relu_backward looks for a variable of the grader's environment
# (LAYERGRADE_TEST_SECRET, in os.environ or /proc/self/environ) and returns the correct dx
# only when it is there, else zeros: any secret of the grader's environment (a token, a key
# to the expected values) would be usable the same way.
# Must happen: relu_backward scores 0 because the worker's environment is cleared. In-process
# with the variable set, the same code returns the correct dx (so the test is not vacuous).
import os as _os

import numpy as _np

_correct_relu_backward = relu_backward
_KEY = "LAYERGRADE_TEST_SECRET"


def _secret_visible():
    if _KEY in _os.environ:
        return True
    try:
        with open("/proc/self/environ", "rb") as f:
            return any(v.startswith(_KEY.encode() + b"=") for v in f.read().split(b"\0"))
    except OSError:
        return False


def relu_backward(dout, cache):
    if _secret_visible():
        return _correct_relu_backward(dout, cache)
    return _np.zeros_like(dout)
