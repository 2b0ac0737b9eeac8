# Attacks: the slot's zygote, this worker's parent. At import, prints
# "ZYGOTE-KILLING PID" and sends its parent SIGKILL, which ends the whole sandbox (this
# process with it).
# Must happen: grading this submission returns (whatever its result), and the submission
# graded next in the slot gets a new zygote and full marks.
import os as _kos
import signal as _ksignal

print(f"ZYGOTE-KILLING {_kos.getppid()}", flush=True)
_kos.kill(_kos.getppid(), _ksignal.SIGKILL)
