# Attacks: relu_forward prints 50 MB to stdout before returning the correct answer, to fill
# the grader's memory or its report, or to stall it on a full pipe.
# Must happen: relu_forward (and relu_backward, whose cases call it) keep full marks, the
# report's "output" is capped at 64 KiB (plus a little) and grading completes promptly.
import sys as _sys

_correct_relu_forward = relu_forward
_FLOOD = "F" * (50 << 20)


def relu_forward(x):
    print(_FLOOD)
    _sys.stdout.flush()
    return _correct_relu_forward(x)
