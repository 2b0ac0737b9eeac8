"""Which isolation this machine gives workers, chosen once, and what each one means.

bubblewrap   Linux with a working ``bwrap``: namespaces of its own, a read-only view
             of the system without the grader's files, no network, a private /tmp.
container    root where bubblewrap cannot make namespaces (the Docker containers of
             course platforms): an unprivileged uid of its own, resource limits, the
             staff files and other students' files unreadable to that uid, no network
             where the kernel allows.
processes    anything else (a student's laptop): resource limits where the platform
             has them, nothing more. Public cases only.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys

from grader.config.choices import Isolation, IsolationChoice
from grader.errors import UsageError
from grader.sandbox.bwrap import bwrap_path, namespace_flags

# The modes that may run hidden cases: the student cannot read the expected values.
HIDDEN_OK: tuple[Isolation, ...] = ("bubblewrap", "container")
# A working bubblewrap answers in milliseconds; one that hangs is not working.
PROBE_SECONDS = 10.0

DESCRIPTIONS: dict[Isolation, str] = {
    "bubblewrap": "bubblewrap: namespaces of its own, a read-only view of the system, "
    "no network, a private /tmp",
    "container": "container: an unprivileged uid of its own with resource limits; the "
    "staff files and other students' files are unreadable to it",
    "processes": "processes: resource limits only; the code can read your files and use "
    "the network",
}


@functools.cache
def bwrap_works(bwrap: str) -> bool:
    """Whether ``bwrap`` can make what a worker gets: its namespaces, a /proc and /dev of
    its own, a sized tmpfs (a container may forbid some; an old bubblewrap lacks --size)."""
    view = ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
    tmp = ["--perms", "1777", "--size", str(1 << 20), "--tmpfs", "/tmp"]
    try:
        proc = subprocess.run(
            [bwrap, "--die-with-parent", *namespace_flags(bwrap), *view, *tmp, "true"],
            capture_output=True,
            timeout=PROBE_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def choose_isolation(
    requested: IsolationChoice, *, bwrap: str | None, bwrap_ok: bool, root: bool, linux: bool
) -> Isolation:
    """The isolation for ``requested`` on a machine with these facts; ``auto`` takes the
    strongest there is. Raises UsageError when the requested one cannot be had."""
    if requested == "auto":
        if bwrap is not None and bwrap_ok:
            return "bubblewrap"
        return "container" if root and linux else "processes"
    if requested == "bubblewrap" and bwrap is None:
        raise UsageError(
            "bubblewrap (bwrap) is not installed.\nHint: install it (Debian: apt-get install "
            "bubblewrap), or choose --isolation auto."
        )
    if requested == "bubblewrap" and not bwrap_ok:
        raise UsageError(
            "bubblewrap (bwrap) cannot create namespaces here (a container that forbids "
            "them?).\nHint: choose --isolation auto, which isolates as a container when the "
            "grader runs as root."
        )
    if requested == "container" and not (root and linux):
        raise UsageError(
            "container isolation runs each worker as an unprivileged uid of its own, which "
            "needs a grader running as root on Linux.\nHint: choose --isolation auto."
        )
    return requested


def machine_isolation(requested: IsolationChoice) -> Isolation:
    """``choose_isolation`` with this machine's facts (bubblewrap probed only when asked)."""
    bwrap = bwrap_path()
    probe = requested in ("auto", "bubblewrap") and bwrap is not None
    return choose_isolation(
        requested,
        bwrap=bwrap,
        bwrap_ok=probe and bwrap is not None and bwrap_works(bwrap),
        root=os.geteuid() == 0,
        linux=sys.platform.startswith("linux"),
    )


def refuse_hidden(mode: Isolation) -> UsageError:
    """The error for hidden cases asked of a mode that may not run them."""
    return UsageError(
        f"hidden cases never run without isolation, and this run would have only "
        f"{DESCRIPTIONS[mode]}.\n"
        "Hint: install bubblewrap (Debian: apt-get install bubblewrap), run the grader as "
        "root in a container, or grade public cases only with --cases public."
    )
