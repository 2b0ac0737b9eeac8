# Attacks: the process exits in the middle of a case: affine_backward calls os._exit(0) (no
# cleanup, exit code 0) and relu_backward calls sys.exit(0). A grader that trusted a clean
# exit code would count them as passing, and one that ran cases in its own process would stop.
# Must happen: affine_backward and relu_backward score 0 with feedback naming the exit, and
# every other function keeps full marks.
import os as _os
import sys as _sys


def affine_backward(dout, cache):
    _os._exit(0)


def relu_backward(dout, cache):
    _sys.exit(0)
