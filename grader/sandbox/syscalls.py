"""The system calls no numpy assignment needs: a seccomp filter every worker runs under.

Built with libseccomp, through its own Python binding (Debian's python3-seccomp) or
pyseccomp (the same interface over ctypes, from PyPI), and exported as the kernel's BPF
program. Bubblewrap installs it before the worker starts (``--seccomp FD``); without
bubblewrap the worker installs it itself, after its own setup and before any student code
(inside/privileges.py). A denied call fails with EPERM, which Python reports as a
PermissionError the student can read; it does not kill the process.

Denied: the kernel keyrings (a key would outlive the submission under its worker uid),
tracing and reading other processes' memory, new namespaces (a user namespace would give
the submission every capability inside it), mounts, BPF, perf events, io_uring (whose
operations bypass this filter), System V shared memory, semaphores and message queues
and POSIX message queues (each outlives the process that made it, in the IPC namespace a
slot's successive submissions share, or the machine's without bubblewrap), and, where no
control group counts it, memory in memfd files.
"""

from __future__ import annotations

import errno
import functools
import tempfile
from typing import Any

DENIED = (
    "keyctl", "add_key", "request_key",
    "ptrace", "process_vm_readv", "process_vm_writev",
    "unshare", "setns",
    "mount", "umount2", "pivot_root", "fsopen", "fsmount", "fsconfig", "move_mount",
    "open_tree",
    "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "shmget", "semget", "msgget", "mq_open",
)  # fmt: skip
# clone's flags that create namespaces: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER,
# NEWPID and NEWNET (linux/sched.h).
NAMESPACE_FLAGS = (
    0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000,
)  # fmt: skip


def binding() -> Any:
    """libseccomp's Python interface, or None where neither binding (or the library)
    is installed."""
    try:
        import seccomp

        return seccomp
    except ImportError:
        pass
    try:
        import pyseccomp
    except (ImportError, OSError, RuntimeError):
        return None
    return pyseccomp


@functools.cache
def filter_program(deny_memfd: bool) -> bytes | None:
    """The filter as a BPF program, or None where libseccomp is not available."""
    sc = binding()
    if sc is None:
        return None
    denied = DENIED + (("memfd_create",) if deny_memfd else ())
    try:
        rules = sc.SyscallFilter(sc.ALLOW)
        for name in denied:
            try:
                rules.add_rule(sc.ERRNO(errno.EPERM), name)
            except (ValueError, RuntimeError, OSError):
                continue  # a call this architecture or library does not know
        for flag in NAMESPACE_FLAGS:
            rules.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        # clone3 passes its flags in memory, where no filter can read them: report it as
        # missing, and the C library falls back on clone.
        rules.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
        with tempfile.TemporaryFile() as f:
            rules.export_bpf(f)
            f.seek(0)
            return f.read()
    except (ValueError, RuntimeError, OSError):
        return None
