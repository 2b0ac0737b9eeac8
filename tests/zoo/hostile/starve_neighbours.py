# Attacks: another submission graded at the same time on the same host. At import this one
# fills the process limit (RLIMIT_NPROC) of the worker uid, which every grading run shares,
# with children that become `sleep 4.{MARKER}`, then takes 2.5 s more to finish importing,
# keeping the limit full meanwhile. Its own functions are the correct ones.
# Must happen: a correct submission graded meanwhile still gets full marks: one submission's
# processes must not count against another's.
import os as _os
import time as _time


def _fill_quota():
    for _ in range(500):
        try:
            pid = _os.fork()
        except OSError:
            return
        if pid == 0:
            try:
                _os.execv("/bin/sleep", ["sleep", "4.{MARKER}"])
            finally:
                _os._exit(0)


_fill_quota()
_time.sleep(2.5)
