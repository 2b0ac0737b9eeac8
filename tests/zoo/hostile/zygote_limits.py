# Attacks: the zygote that forked it, from which every later submission in the slot is
# forked: at import, lowers the zygote's limit on open files (prlimit) and its priority
# (setpriority), which its later children would inherit; both are allowed between
# processes of one uid, whether or not the target is dumpable. Prints "ZYGOTE-LIMITED"
# and what it changed.
# Must happen: the zygote finds its attributes changed and says the slot is not clean;
# the grader ends it, and the next submission is forked from a new zygote, with full
# marks (this one's functions are the correct ones, and keep theirs).
import os as _zos
import resource as _zresource

_zchanged = []
try:
    _zresource.prlimit(_zos.getppid(), _zresource.RLIMIT_NOFILE, (16, 16))
    _zchanged.append("nofile")
except (OSError, ValueError) as _zexc:
    print(f"ZYGOTE-LIMITED prlimit failed: {_zexc}", flush=True)
try:
    _zos.setpriority(_zos.PRIO_PROCESS, _zos.getppid(), 19)
    _zchanged.append("priority")
except OSError as _zexc:
    print(f"ZYGOTE-LIMITED setpriority failed: {_zexc}", flush=True)
print(f"ZYGOTE-LIMITED {' '.join(_zchanged)}", flush=True)
