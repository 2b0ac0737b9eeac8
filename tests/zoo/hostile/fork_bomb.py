# Attacks: svm_loss forks up to 500 children (ignoring errors), each of which replaces itself
# with `sleep 30.{MARKER}` (or sleeps 30 s in Python where exec fails), then returns the
# correct answer. The children hold every descriptor the case had, including its result pipe,
# and fill the worker uid's process limit.
# Must happen: grading finishes well within the test's timeout, svm_loss gets whatever it
# gets, and afterwards no process of a worker uid started by this grading run and no process
# whose command line holds the marker exists. The other functions' cases pass or are not run,
# never scored on wrong values (that they all keep full marks is the aim; fork_bomb_hold.py
# shows where it fails).
import os as _os
import time as _time

_correct_svm_loss = svm_loss


def _sleeper():
    try:
        _os.execv("/bin/sleep", ["sleep", "30.{MARKER}"])
    except BaseException:
        pass
    try:
        _time.sleep(30)
    finally:
        _os._exit(0)


def svm_loss(x, y):
    for _ in range(500):
        try:
            pid = _os.fork()
        except OSError:
            break
        if pid == 0:
            _sleeper()
    return _correct_svm_loss(x, y)
