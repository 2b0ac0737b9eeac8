# Attacks: the per-case time limit. relu_forward moves its case's process into the worker's
# own process group (out of the group the worker kills when a case runs out of time) and
# then sleeps for 30 s.
# Must happen: relu_forward scores 0, and so does relu_backward, whose cases call
# relu_forward first (inherent); every other function keeps full marks, and grading ends
# within the time limits.
import os as _os
import time as _time


def relu_forward(x):
    try:
        _os.setpgid(0, _os.getpgid(_os.getppid()))
    except OSError:
        pass
    _time.sleep(30)
    return x, x
