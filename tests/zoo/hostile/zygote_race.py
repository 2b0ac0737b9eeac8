# Attacks: the zygote's clean-up between two submissions, which must end every process the
# submission left, however fast they replace themselves. At import, starts process chains
# that a single pass over /proc may miss: each link starts the next in the background and exits at once (a
# shell that runs `sh -c SCRIPT &`, about a millisecond per link), under a reaper of their
# own (a child subreaper that waits for them, and starts a chain anew where a link could
# not fork). Every link's command line holds {MARKER}. The import then prints
# "ZYGOTE-RACING N", N the processes with the marker it sees once there are any, and waits
# a moment, so that the chains run while the cases do.
# Must happen: whether the clean-up catches them or the grader ends the sandbox because it
# did not, the next submission graded in the slot sees none of their processes, none with
# the marker outlives the grading, and the next submission keeps full marks.
import ctypes as _rctypes
import os as _ros
import time as _rtime

# $0 is the script itself, $1 the links left (the chain ends on its own after them).
_RACE = ': {MARKER}; [ "$1" -gt 0 ] && exec sh -c "$0" "$0" $(($1 - 1)) &'


def _zygote_chain():
    """A new chain, its output discarded (a link that cannot fork says so on stderr)."""
    if _ros.fork() == 0:
        try:
            quiet = _ros.open("/dev/null", _ros.O_WRONLY)
            _ros.dup2(quiet, 1)
            _ros.dup2(quiet, 2)
            _ros.execv("/bin/sh", ["sh", "-c", _RACE, _RACE, "100000"])
        finally:
            _ros._exit(0)


def _zygote_race(chains):
    if _ros.fork() != 0:
        return
    try:
        _ros.setsid()
        _rctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        for _ in range(chains):
            _zygote_chain()
        end = _rtime.monotonic() + 120
        while _rtime.monotonic() < end:
            try:
                _, status = _ros.waitpid(-1, 0)
            except ChildProcessError:
                _rtime.sleep(0.001)
                continue
            if _ros.WIFEXITED(status) and _ros.WEXITSTATUS(status) != 0:
                # A link that could not fork (the process limit) ended its chain: a new one.
                try:
                    _zygote_chain()
                except OSError:
                    pass
    finally:
        _ros._exit(0)


def _zygote_racing():
    """How many processes with the marker run, once one does (or 2 s have passed)."""
    end = _rtime.monotonic() + 2
    while True:
        seen = 0
        for name in _ros.listdir("/proc"):
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    seen += b"{MARKER}" in f.read()
            except OSError:
                pass
        if seen or _rtime.monotonic() > end:
            return seen
        _rtime.sleep(0.01)


_zygote_race(2)
print(f"ZYGOTE-RACING {_zygote_racing()}", flush=True)
_rtime.sleep(0.3)
