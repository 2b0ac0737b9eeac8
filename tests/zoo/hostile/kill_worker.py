# Attacks: the worker that serves the submission's cases. On affine_forward's seed case
# (its only 4-d input with 2 rows), the case waits for the case beside it to finish, then
# kills its parent, the worker, leaving that finished sibling unreaped.
# Must happen: that case fails; the grader starts a new worker for the rest, reaps what
# the dead one left (in its control group too), and every other function keeps full marks.
import os as _os
import signal as _signal
import time as _time

_correct_affine_forward = affine_forward


def affine_forward(x, w, b):
    if x.ndim == 4 and x.shape[0] == 2:
        _time.sleep(0.5)
        _os.kill(_os.getppid(), _signal.SIGKILL)
        _time.sleep(5)
    return _correct_affine_forward(x, w, b)
