# Attacks: the slot's zygote, this worker's parent. At import, sends it SIGSTOP, so that it
# can neither clear the slot nor answer the grader once this submission ends, and prints
# "ZYGOTE-STOPPED " and the parent's state letter from /proc (T once stopped). The
# functions are the correct ones: this submission answers every case.
# Must happen: this submission keeps full marks; the grader ends the silent sandbox within
# seconds, and the submission graded next in the slot gets a new zygote and full marks.
import os as _sos
import signal as _ssignal
import time as _stime


def _zygote_stop():
    parent = _sos.getppid()
    _sos.kill(parent, _ssignal.SIGSTOP)
    state = "?"
    end = _stime.monotonic() + 5
    while state != "T" and _stime.monotonic() < end:
        with open(f"/proc/{parent}/stat", "rb") as f:
            data = f.read()
        state = data[data.rindex(b")") + 2 :].split()[0].decode()
        _stime.sleep(0.01)
    print(f"ZYGOTE-STOPPED {state}", flush=True)


_zygote_stop()
