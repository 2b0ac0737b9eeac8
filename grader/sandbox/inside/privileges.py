"""What the worker gives up before it loads student code: privilege gain, resources, root."""

from __future__ import annotations

import ctypes
import os
import resource
from collections.abc import Mapping

PR_SET_NO_NEW_PRIVS = 38


def drop_privileges(limits: Mapping[str, int], uid: int | None) -> None:
    """Forbid privilege gain, apply resource limits (RLIMIT_* name to value), and leave
    root for ``uid``."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), (value, value))
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
