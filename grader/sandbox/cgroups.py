"""A control group per grading slot: a fair share of the CPU, and memory and processes
counted for all of a worker's processes together.

The per-process limits (environment.py) leave three holes that only the kernel's control
groups close: a submission's busy processes take the CPU from the submission graded beside
it; memory in memfd files, tmpfs and the page cache is not part of any address space; and
each of up to ``processes`` processes gets the full address-space limit. Every worker of a
slot runs in that slot's group: an equal share of the CPU (the scheduler's default
weights) and at most one core per case it runs at once, ``group_memory_mb`` of memory
(swap included where it is accounted) and a process count.

Version 2 where the grader's own group can hand the cpu, memory and pids controllers down
to groups of its own; version 1 where those controllers have hierarchies of their own (the
usual layout of container hosts that still mount v1). Creating groups needs root: without
them, the report says CPU fairness is not enforced, and case deadlines count CPU time
(see inside/cases.py) so that a busy neighbour cannot make a correct case time out.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from grader.config.limits import Limits
from grader.sandbox.inside.processes import children_of

CONTROLLERS = ("cpu", "memory", "pids")
# The scheduler's usual period; a quota of one period per period is one core.
CPU_PERIOD_US = 100_000
# Besides the submission's own processes, a group holds bubblewrap's two processes, the
# worker itself and the /bin/sh that joins it (gone by then), or, in a class, the slot's
# zygote as well as its child, the worker. pids.max counts threads too; RLIMIT_NPROC,
# which the worker's uid has as well, counts them alike.
OVERHEAD_PROCESSES = 4
PREFIX = "layergrade-"


@dataclass(frozen=True)
class Hierarchy:
    """Where this grader may create groups: per controller, the folder of the group it runs
    in (the same folder for all three in version 2)."""

    version: int
    own: dict[str, Path]


def parse_mounts(mountinfo: str) -> list[tuple[str, Path, str, set[str]]]:
    """(root within the hierarchy, mount point, type, super options) of each cgroup mount."""
    found = []
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3 or not tail[0].startswith("cgroup"):
            continue
        found.append((fields[3], Path(fields[4]), tail[0], set(tail[2].split(","))))
    return found


def parse_membership(text: str) -> dict[str, str]:
    """The group this process is in, by controller ("" for the version 2 hierarchy)."""
    groups: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                groups[controller] = parts[2]
    return groups


def inside(mount_root: str, mount_point: Path, group: str) -> Path | None:
    """The folder of ``group`` under a mount of its hierarchy's ``mount_root``."""
    if mount_root == "/":
        return mount_point / group.lstrip("/")
    if group == mount_root or group.startswith(mount_root.rstrip("/") + "/"):
        return mount_point / group[len(mount_root) :].lstrip("/")
    return None


def find_hierarchy(mountinfo: str, membership: str) -> Hierarchy | None:
    """The hierarchy to create slot groups in, from /proc/self/mountinfo and
    /proc/self/cgroup, or None. Version 2 first, where it has the controllers."""
    mounts, groups = parse_mounts(mountinfo), parse_membership(membership)
    for root, point, kind, _ in mounts:
        if kind == "cgroup2" and "" in groups:
            own = inside(root, point, groups[""])
            if own is not None and delegable_v2(own):
                return Hierarchy(2, dict.fromkeys(CONTROLLERS, own))
    own_v1: dict[str, Path] = {}
    for root, point, kind, options in mounts:
        for controller in CONTROLLERS:
            if kind == "cgroup" and controller in options and controller in groups:
                folder = inside(root, point, groups[controller])
                if folder is not None:
                    own_v1.setdefault(controller, folder)
    if set(own_v1) == set(CONTROLLERS):
        return Hierarchy(1, own_v1)
    return None


def delegable_v2(own: Path) -> bool:
    """Whether groups under ``own`` can get the three controllers: its subtree has them
    already, or can be given them (only possible where no process sits in ``own`` itself,
    or at the root)."""
    try:
        available = set((own / "cgroup.controllers").read_text().split())
        enabled = set((own / "cgroup.subtree_control").read_text().split())
    except OSError:
        return False
    if not set(CONTROLLERS) <= available:
        return False
    missing = [c for c in CONTROLLERS if c not in enabled]
    if not missing:
        return True
    try:
        (own / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))
    except OSError:
        return False  # processes in ``own``: the kernel's no-internal-process rule
    return True


def system_hierarchy() -> Hierarchy | None:
    """The hierarchy of this machine, for a grader running as root on Linux; else None."""
    if os.geteuid() != 0:
        return None
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
        membership = Path("/proc/self/cgroup").read_text()
    except OSError:
        return None
    return find_hierarchy(mountinfo, membership)


def write(path: Path, value: object) -> None:
    with open(path, "w") as f:
        f.write(str(value))


def orphaned_inits() -> list[int]:
    """The sandboxes' init processes (bubblewrap's, pid 1 of a namespace) that became
    zombie children of this grader: their bubblewrap reported the worker's end and left
    before reaping them, and the grader, a child subreaper, inherited them. A zombie has
    left its group's list but still counts against its ``pids.max``; an init that ended
    too soon after its worker started was never seen in the list (SlotGroup.clear)."""
    found = []
    for pid in children_of(os.getpid()):
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        spaces = fields.get("NSpid", "").split()
        if (
            fields.get("State", "").strip().startswith("Z")
            and len(spaces) > 1
            and spaces[-1] == "1"
        ):
            found.append(pid)
    return found


class SlotGroup:
    """The control group of one grading slot (one folder per controller in version 1)."""

    def __init__(self, hierarchy: Hierarchy, name: str) -> None:
        """Create ``name`` under this grader's own folder (``layergrade-PID``). Raises
        OSError where the kernel refuses; nothing is left behind then."""
        self.version = hierarchy.version
        parents = {c: own / f"{PREFIX}{os.getpid()}" for c, own in hierarchy.own.items()}
        self.folders = {c: parent / name for c, parent in parents.items()}
        self.created: list[Path] = []
        # The limits last written: every worker of a slot usually has the same ones.
        self.limited: Limits | None = None
        try:
            for controller in CONTROLLERS:
                for folder in (parents[controller], self.folders[controller]):
                    if not folder.is_dir():
                        folder.mkdir(mode=0o755)
                        self.created.append(folder)
            if self.version == 2:
                write(parents["cpu"] / "cgroup.subtree_control", "+cpu +memory +pids")
        except OSError:
            self.remove()
            raise
        atexit.register(self.remove)

    def set_limits(self, limits: Limits) -> None:
        """Limit the group for a worker graded under ``limits`` (a rubric's); nothing to
        write when they are the slot's last ones."""
        if limits == self.limited:
            return
        memory = limits.group_memory_mb << 20
        processes = limits.processes + OVERHEAD_PROCESSES
        # One core per case the worker runs at once: a quota of one core for two cases
        # throttled a lone slot for about a fifth of its time (cpu.stat's throttled_time)
        # while the other core stood idle. Slots share the machine by the scheduler's
        # equal weights; the quota bounds what one submission can take.
        quota = CPU_PERIOD_US * max(1, limits.parallel_cases)
        cpu, mem, pids = (self.folders[c] for c in CONTROLLERS)
        if self.version == 2:
            write(cpu / "cpu.max", f"{quota} {CPU_PERIOD_US}")
            write(mem / "memory.max", memory)
            if (mem / "memory.swap.max").exists():
                write(mem / "memory.swap.max", 0)
            write(pids / "pids.max", processes)
            self.limited = limits
            return
        write(cpu / "cpu.cfs_period_us", CPU_PERIOD_US)
        write(cpu / "cpu.cfs_quota_us", quota)
        memsw = mem / "memory.memsw.limit_in_bytes"
        # Memory and swap together, no more than the memory alone. The kernel wants
        # memory <= memory+swap at every step: lower the one first that keeps it so.
        steps = [(mem / "memory.limit_in_bytes", memory)]
        if memsw.exists():
            steps.append((memsw, memory))
            if memory > int(memsw.read_text()):
                steps.reverse()
        for path, value in steps:
            write(path, value)
        write(pids / "pids.max", processes)
        self.limited = limits

    def procs_files(self) -> list[Path]:
        return list(dict.fromkeys(folder / "cgroup.procs" for folder in self.folders.values()))

    def launcher(self) -> list[str]:
        """A command prefix that puts the process into this group before it becomes the
        worker: nothing of the worker runs outside it, children included."""
        joins = " && ".join(f"echo $$ > {shlex.quote(str(p))}" for p in self.procs_files())
        return ["/bin/sh", "-c", f'{joins} && exec "$@"', "sh"]

    def members(self) -> list[int]:
        try:
            text = (self.folders["pids"] / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def tasks(self) -> int:
        """The tasks the group's process count holds: zombies too, until reaped."""
        try:
            return int((self.folders["pids"] / "pids.current").read_text())
        except (OSError, ValueError):
            return len(self.members())

    def clear(self, seconds: float, known: set[int]) -> bool:
        """Kill every process in the group and reap those that become ours: bubblewrap's,
        whose orphans the grader adopts. A zombie leaves ``cgroup.procs`` but still counts
        against ``pids.max``, so ``known`` are members seen while they were alive. Whether
        the group is empty after at most ``seconds``."""
        end = time.monotonic() + seconds
        seen = set(known)
        while True:
            found = self.members()
            seen.update(found)
            for pid in found:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            for pid in list(seen):
                with contextlib.suppress(ChildProcessError):
                    if os.waitpid(pid, os.WNOHANG)[0]:
                        seen.discard(pid)
            for pid in orphaned_inits():
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
            if not found and self.tasks() == 0:
                return True
            if time.monotonic() > end:
                return False
            time.sleep(0.001)

    def oom_kills(self) -> int:
        """How many of the group's processes the kernel has killed for memory so far."""
        memory = self.folders["memory"]
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            lines = (memory / name).read_text().splitlines()
        except OSError:
            return 0
        for line in lines:
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def remove(self) -> None:
        """Remove the group's folders (the kernel refuses while processes remain)."""
        for folder in reversed(self.created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        self.created = []


def sweep_stale(hierarchy: Hierarchy) -> None:
    """Remove the empty groups of graders that are gone (killed before their exit)."""
    for own in set(hierarchy.own.values()):
        with contextlib.suppress(OSError):
            for parent in own.glob(f"{PREFIX}*"):
                pid = parent.name[len(PREFIX) :]
                if not pid.isdigit() or Path(f"/proc/{pid}").exists():
                    continue
                for folder in [*parent.iterdir(), parent]:
                    with contextlib.suppress(OSError):
                        if folder.is_dir():
                            folder.rmdir()


def slot_group(name: str) -> SlotGroup | None:
    """A group for a slot, or None where this machine gives none (see the module's doc)."""
    hierarchy = system_hierarchy()
    if hierarchy is None:
        return None
    sweep_stale(hierarchy)
    try:
        return SlotGroup(hierarchy, name)
    except OSError:
        return None
