# Attacks: at import, double-fork and setsid so that a grandchild, out of the worker's
# session and process group and holding every inherited descriptor (the result pipe and
# stdout included), becomes `sleep 300.{MARKER}` and outlives the grading run.
# Must happen: once grading returns (sandboxed through `grade`, or without bubblewrap through
# the API), no process has the marker in its command line, and every function keeps full marks
# (the functions are the correct ones). The worker prints "escaped as pid N: CMDLINE" once the
# grandchild runs the marked sleep, so the test can see the escape ran.
import os as _os
import time as _time


def _running(pid):
    """The command line of ``pid`` once it has become the marked sleep ('' if it does not)."""
    end = _time.monotonic() + 2
    while _time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode().strip()
        except OSError:
            return ""
        if "{MARKER}" in cmdline:
            return cmdline
        _time.sleep(0.01)
    return ""


def _escape():
    read_end, write_end = _os.pipe()
    pid = _os.fork()
    if pid == 0:
        try:
            _os.close(read_end)
            _os.setsid()
            grandchild = _os.fork()
            if grandchild == 0:
                _os.close(write_end)
                for sleep in ("/bin/sleep", "/usr/bin/sleep"):
                    try:
                        _os.execv(sleep, ["sleep", "300.{MARKER}"])
                    except OSError:
                        continue
            else:
                _os.write(write_end, str(grandchild).encode())
        finally:
            _os._exit(0)
    _os.close(write_end)
    _os.waitpid(pid, 0)
    grandchild = int(_os.read(read_end, 64).decode())
    _os.close(read_end)
    print(f"escaped as pid {grandchild}: {_running(grandchild)}", flush=True)


_escape()
