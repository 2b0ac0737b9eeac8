# Attacks: the submission graded beside it. At import, and again in every case, it starts
# busy processes that leave its process group (setsid) and spin, as many as its process
# limit allows, and each affine_forward case takes 0.7 s. Its functions are correct.
# Must happen: where control groups give each grading slot a core of its own, a correct
# submission graded at the same time keeps full marks, within the same time limits.
import os as _os
import time as _time


def _spin_off(count, seconds=20.0):
    for _ in range(count):
        try:
            pid = _os.fork()
        except OSError:
            return
        if pid == 0:
            _os.setsid()
            end = _time.monotonic() + seconds
            while _time.monotonic() < end:
                pass
            _os._exit(0)


_spin_off(12)
_correct_affine_forward = affine_forward


def affine_forward(x, w, b):
    # More spinners, and time for the neighbour's grading to overlap with them.
    _spin_off(4)
    _time.sleep(0.7)
    return _correct_affine_forward(x, w, b)
