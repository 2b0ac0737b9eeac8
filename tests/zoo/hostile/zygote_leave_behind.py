# Attacks: the submission graded next in the same slot, forked from the same zygote. At
# import, leaves behind what the next one could find: a secret in /tmp (a file, a hidden
# file, a folder of mode 000 holding another, a FIFO and a symlink), the same file tried in
# every other place it might write, and a process detached from the worker (double fork,
# setsid, SIGTERM and SIGHUP ignored) that becomes `sleep 300.{MARKER}`. Its module also
# holds the secret as a constant, for a next submission that would read the slot's code.
# Prints "ZYGOTE-LEFT " and a JSON object: where the file could be written (or the errno
# name), and the pid and command line of the detached process once it runs the sleep.
# Must happen: the next submission in the slot sees none of it (no process of this one, an
# empty /tmp, no trace of the secret), no process with the marker outlives the grading, and
# both keep full marks (the functions are the correct ones).
import json as _lj
import os as _los
import signal as _lsignal
import time as _ltime

_ZYGOTE_SECRET = "zygote-secret-{MARKER}"


def _zygote_write(path):
    with open(path, "w") as f:
        f.write(_ZYGOTE_SECRET)


def _zygote_detach():
    """The pid of a process out of this one's session that runs the marked sleep."""
    read_end, write_end = _los.pipe()
    pid = _los.fork()
    if pid == 0:
        try:
            _los.close(read_end)
            _los.setsid()
            grandchild = _los.fork()
            if grandchild == 0:
                _los.close(write_end)
                _lsignal.signal(_lsignal.SIGTERM, _lsignal.SIG_IGN)
                _lsignal.signal(_lsignal.SIGHUP, _lsignal.SIG_IGN)
                for sleep in ("/bin/sleep", "/usr/bin/sleep"):
                    try:
                        _los.execv(sleep, ["sleep", "300.{MARKER}"])
                    except OSError:
                        continue
            else:
                _los.write(write_end, str(grandchild).encode())
        finally:
            _los._exit(0)
    _los.close(write_end)
    _los.waitpid(pid, 0)
    grandchild = int(_los.read(read_end, 64).decode())
    _los.close(read_end)
    end = _ltime.monotonic() + 5
    cmdline = ""
    while "{MARKER}" not in cmdline and _ltime.monotonic() < end:
        try:
            with open(f"/proc/{grandchild}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode()
        except OSError:
            break
        _ltime.sleep(0.01)
    return grandchild, cmdline


def _zygote_leave_behind():
    written = {}
    for folder in ("/tmp", "/dev/shm", "/dev", "/lg/sub", "/lg/sub/code", "/lg", "/lg/job",
                   "/", "/var/tmp", "/run", "/usr"):
        try:
            _zygote_write(f"{folder}/left-{MARKER}")
            written[folder] = "written"
        except OSError as exc:
            written[folder] = _los.strerror(exc.errno) if exc.errno else str(exc)
    _zygote_write("/tmp/.hidden-{MARKER}")
    _los.mkdir("/tmp/locked-{MARKER}")
    _zygote_write("/tmp/locked-{MARKER}/inside")
    _los.chmod("/tmp/locked-{MARKER}", 0)
    _los.mkfifo("/tmp/fifo-{MARKER}")
    _los.symlink("/lg/sub/code", "/tmp/link-{MARKER}")
    pid, cmdline = _zygote_detach()
    print("ZYGOTE-LEFT " + _lj.dumps({"written": written, "pid": pid, "cmdline": cmdline}), flush=True)


_zygote_leave_behind()
