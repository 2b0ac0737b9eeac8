"""What the worker gives up before it loads student code: the network, privilege gain,
resources, root. Linux has every one of them; other platforms (a student's Mac) have
the resource limits they implement, and the grader says which ones were not applied."""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import sys
from collections.abc import Mapping

PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2
CLONE_NEWNET = 0x40000000
LINUX = sys.platform.startswith("linux")
# keyctl's number (asm/unistd.h) where we know it; the C library has no wrapper for it.
KEYCTL = {"x86_64": 250, "aarch64": 219}
KEYCTL_CLEAR = 7
# The keyrings of the calling uid: its user keyring and its default session keyring.
KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING = -4, -5


class SockFprog(ctypes.Structure):
    """struct sock_fprog (linux/filter.h): a BPF program of ``len`` 8-byte instructions."""

    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def cut_network() -> bool:
    """Move this process into a network namespace of its own (loopback only, down); False
    when the kernel or a container's policy forbids it. Needs root, so: before the drop."""
    if not LINUX:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.unshare(CLONE_NEWNET) == 0)


def forbid_privilege_gain() -> None:
    if not LINUX:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


def apply_limits(limits: Mapping[str, int]) -> list[str]:
    """Set each resource limit (RLIMIT_* name to value), never above the hard limit the
    worker was started with; return the names this platform does not enforce."""
    skipped = []
    for name, value in limits.items():
        number = getattr(resource, name, None)
        if number is None:
            skipped.append(name)
            continue
        hard = resource.getrlimit(number)[1]
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        try:
            resource.setrlimit(number, (value, value))
        except (ValueError, OSError):
            skipped.append(name)
    return skipped


def drop_privileges(limits: Mapping[str, int], uid: int | None) -> list[str]:
    """Forbid privilege gain, apply resource limits, and leave root for ``uid``; return
    the limits this platform does not enforce."""
    forbid_privilege_gain()
    skipped = apply_limits(limits)
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    forbid_inspection()
    return skipped


def forbid_inspection() -> None:
    """Not dumpable (inherited by every case): a process of the same uid cannot open this
    one's descriptors through /proc/PID/fd, nor trace it."""
    if LINUX:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def clear_keyrings() -> None:
    """Empty this uid's keyrings: what an earlier submission under the same uid added
    (where no filter stopped it). Under bubblewrap's filter, keyctl is denied: nothing
    could have been added."""
    number = KEYCTL.get(platform.machine()) if LINUX else None
    if number is None:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for keyring in (KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING):
        libc.syscall(number, KEYCTL_CLEAR, keyring)


def install_filter(program: bytes) -> bool:
    """Install a seccomp filter (a BPF program the grader built with libseccomp) on this
    process and every process it starts; whether the kernel took it. Needs privilege gain
    forbidden first (forbid_privilege_gain)."""
    if not LINUX or not program or len(program) % 8:
        return False
    # The filter covers the calling thread (and what it starts) only: the worker has no
    # other thread yet (one BLAS thread, see environment.py); refuse rather than leave one.
    if len(os.listdir("/proc/self/task")) != 1:
        return False
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0)
