"""What one submission may use of the machine: CPU, memory, system calls, kernel state.

Control groups (grader/sandbox/cgroups.py) give each grading slot a core and a memory
budget of its own; the seccomp filter (grader/sandbox/syscalls.py) denies what no numpy
assignment needs. Each is tested where the machine has it, and the fallback without it.
Hostile submissions live in tests/zoo/hostile/; each file says what it attacks and what
must happen.
"""

from __future__ import annotations

import concurrent.futures
import csv
import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import ROOT, TEST_LIMITS, build_submission, function, write_rubric
from test_hostile import GRADE_TIMEOUT, TOTAL, assert_full_marks, grade, hostile

import grader.sandbox.worker as worker_module
from grader.api import grade_one
from grader.config.limits import Limits
from grader.config.rubric import load_rubric
from grader.report import json_report
from grader.sandbox.cgroups import (
    CPU_PERIOD_US,
    PREFIX,
    Hierarchy,
    SlotGroup,
    find_hierarchy,
    system_hierarchy,
)
from grader.sandbox.inside import cases
from grader.sandbox.runtime import discover_runtime
from grader.sandbox.worker import SandboxConfig

# Two lines of /proc/self/mountinfo and /proc/self/cgroup as this project's development
# machines have them (a v1 memory controller in a group of its own, an empty v2 mount).
MOUNTINFO_V1 = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
MEMBERSHIP_V1 = """\
8:pids:/
4:memory:/process_api/5a4e
1:cpu:/
0::/
"""


def probes(output: str) -> dict[str, tuple[int, int]]:
    """What a probing submission printed: call -> (result, errno)."""
    found = {}
    for line in output.splitlines():
        if line.startswith("PROBE "):
            _, name, result, number = line.split()
            found[name] = (int(result), int(number))
    return found


# Finding the hierarchy and writing a group's limits, on folders made to look like one ----


def test_v1_hierarchy_is_found_per_controller() -> None:
    hierarchy = find_hierarchy(MOUNTINFO_V1, MEMBERSHIP_V1)
    assert hierarchy == Hierarchy(
        1,
        {
            "cpu": Path("/sys/fs/cgroup/cpu"),
            "memory": Path("/sys/fs/cgroup/memory/process_api/5a4e"),
            "pids": Path("/sys/fs/cgroup/pids"),
        },
    )


def test_v1_without_the_pids_controller_gives_no_groups() -> None:
    mountinfo = "".join(line + "\n" for line in MOUNTINFO_V1.splitlines() if "pids" not in line)
    assert find_hierarchy(mountinfo, MEMBERSHIP_V1) is None


def test_a_group_outside_the_mounted_part_of_the_hierarchy_is_not_guessed() -> None:
    # The memory hierarchy is mounted from /other: the grader's group is not under it.
    mountinfo = MOUNTINFO_V1.replace(
        "0:31 / /sys/fs/cgroup/memory", "0:31 /other /sys/fs/cgroup/memory"
    )
    assert find_hierarchy(mountinfo, MEMBERSHIP_V1) is None


def fake_v2(tmp_path: Path, enabled: str) -> Path:
    own = tmp_path / "own"
    own.mkdir()
    (own / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (own / "cgroup.subtree_control").write_text(enabled)
    return own


def test_v2_is_preferred_where_it_delegates_the_controllers(tmp_path: Path) -> None:
    own = fake_v2(tmp_path, "cpu memory pids\n")
    mountinfo = f"40 31 0:36 / {tmp_path} rw - cgroup2 cgroup2 rw\n" + MOUNTINFO_V1
    hierarchy = find_hierarchy(mountinfo, MEMBERSHIP_V1.replace("0::/", "0::/own"))
    assert hierarchy == Hierarchy(2, dict.fromkeys(("cpu", "memory", "pids"), own))


def test_v2_controllers_are_handed_down_where_the_kernel_allows(tmp_path: Path) -> None:
    own = fake_v2(tmp_path, "")
    mountinfo = f"40 31 0:36 / {tmp_path} rw - cgroup2 cgroup2 rw\n"
    assert find_hierarchy(mountinfo, "0::/own\n") is not None
    assert (own / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"


def test_v1_group_limits(tmp_path: Path) -> None:
    own = {c: tmp_path / c for c in ("cpu", "memory", "pids")}
    for folder in own.values():
        folder.mkdir()
    group = SlotGroup(Hierarchy(1, own), "slot-7")
    try:
        folders = group.folders
        (folders["memory"] / "memory.memsw.limit_in_bytes").write_text(str(2**63 - 1))
        group.set_limits(Limits(group_memory_mb=300, processes=10, parallel_cases=3))
        quota = (folders["cpu"] / "cpu.cfs_quota_us").read_text()
        period = (folders["cpu"] / "cpu.cfs_period_us").read_text()
        assert period == str(CPU_PERIOD_US)
        assert quota == str(3 * CPU_PERIOD_US)  # a core per case running at once
        assert (folders["memory"] / "memory.limit_in_bytes").read_text() == str(300 << 20)
        assert (folders["memory"] / "memory.memsw.limit_in_bytes").read_text() == str(300 << 20)
        assert int((folders["pids"] / "pids.max").read_text()) >= 10
        assert folders["cpu"].parent.name == f"{PREFIX}{os.getpid()}"
        script = group.launcher()[2]
        for controller in ("cpu", "memory", "pids"):
            assert f"echo $$ > {folders[controller]}/cgroup.procs" in script
        assert script.endswith('exec "$@"')
    finally:
        for folder in group.folders.values():
            for f in folder.iterdir():
                f.unlink()
        group.remove()
    assert not any(folder.parent.exists() for folder in group.folders.values())


def test_a_slots_limits_are_written_once_while_they_stay_the_same(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    group = SlotGroup(Hierarchy(2, dict.fromkeys(("cpu", "memory", "pids"), own)), "slot-7")
    memory = group.folders["memory"] / "memory.max"
    group.set_limits(Limits(group_memory_mb=300))
    memory.write_text("changed behind our back")
    group.set_limits(Limits(group_memory_mb=300))  # the next worker, same rubric
    assert memory.read_text() == "changed behind our back"
    group.set_limits(Limits(group_memory_mb=200))  # another rubric
    assert memory.read_text() == str(200 << 20)


def test_v2_group_limits_and_oom_count(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    group = SlotGroup(Hierarchy(2, dict.fromkeys(("cpu", "memory", "pids"), own)), "slot-7")
    folder = group.folders["cpu"]
    group.set_limits(Limits(group_memory_mb=300, parallel_cases=1))
    assert (folder.parent / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (folder / "cpu.max").read_text() == f"{CPU_PERIOD_US} {CPU_PERIOD_US}"
    assert (folder / "memory.max").read_text() == str(300 << 20)
    assert group.oom_kills() == 0
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\n")
    assert group.oom_kills() == 2
    assert group.launcher()[2].count("echo $$") == 1  # one hierarchy, one join


# The seccomp filter ---------------------------------------------------------------------

ISOLATIONS = [
    pytest.param("bubblewrap", marks=pytest.mark.sandbox),
    pytest.param("container", marks=pytest.mark.container),
    "processes",
]


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_forbidden_system_calls_fail_with_eperm(tmp_path: Path, isolation: str) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("forbidden_syscalls"))
    cases = ["--cases", "public"] if isolation == "processes" else []
    result = grade(sub, rubric, "--isolation", isolation, *cases)
    assert_full_marks(result)
    assert "system-call filter" not in result["isolation_gaps"]
    found = probes(result["output"])
    expected = {"unshare_user", "ptrace", "mount", "memfd_create"}
    expected |= {"shmget", "semget", "msgget", "mq_open"}
    if os.uname().machine in ("x86_64", "aarch64"):
        expected |= {"add_key", "keyctl", "bpf", "perf_event_open", "io_uring_setup"}
    assert set(found) == expected, result["output"]
    grouped = "fair CPU share" not in result["isolation_gaps"]
    for name, (value, number) in found.items():
        if name == "memfd_create" and grouped:
            continue  # a control group counts its memory: allowed
        assert (value, number) == (-1, errno.EPERM), (name, result["output"])


@pytest.fixture
def no_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Grade as where libseccomp is not installed."""
    monkeypatch.setattr(worker_module, "filter_program", lambda deny_memfd: None)


@pytest.mark.sandbox
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="worker uids (whose keyrings are emptied) need root")
@pytest.mark.skipif(
    os.uname().machine not in ("x86_64", "aarch64"), reason="keyctl's number is known here"
)
def test_without_a_filter_no_key_outlives_its_submission(tmp_path: Path, no_filter: None) -> None:
    rubric = load_rubric(write_rubric(tmp_path))
    sub = build_submission(tmp_path, hostile("keyring_left_behind"))
    config = SandboxConfig.create("bubblewrap", discover_runtime())
    first = grade_one(sub, rubric, config, ("public",))
    second = grade_one(sub, rubric, config, ("public",))
    assert "system-call filter" in second.isolation_gaps
    # The first could add its key (no filter); the second, under the same uid, finds none.
    assert probes(first.output)["add_key"][0] > 0, first.output
    assert probes(second.output)["search"] == (-1, errno.ENOKEY), second.output


ORPHANED_INIT = """
import ctypes, os, sys, time
from grader.sandbox.cgroups import orphaned_inits
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER, as a grader running as root is
middle = os.fork()
if middle == 0:
    if libc.unshare(0x20000000) != 0:  # CLONE_NEWPID
        os._exit(3)
    if os.fork() == 0:  # the namespace's init: outlives its parent, then ends
        time.sleep(0.5)
        os._exit(0)
    os._exit(0)  # its parent leaves without reaping it, as bubblewrap may
assert os.waitpid(middle, 0)[1] == 0, "unshare failed"
end = time.monotonic() + 60
found = []
while not found and time.monotonic() < end:
    found = orphaned_inits()
    time.sleep(0.01)
print("found", len(found))
for pid in found:
    os.waitpid(pid, 0)
print("after", len(orphaned_inits()))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="a pid namespace of its own needs root here")
def test_an_orphaned_sandbox_init_is_found_and_reaped() -> None:
    """A sandbox's init whose bubblewrap left before reaping it becomes a zombie child of
    the grader (a child subreaper): it has left its control group's list but still counts
    against the group's process limit, so the grader finds it by what it is (pid 1 of a
    namespace) and reaps it."""
    proc = subprocess.run(
        [sys.executable, "-c", ORPHANED_INIT], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["found", "1", "after", "0"], proc.stdout


# CPU: a core per slot with control groups, CPU-time deadlines without ----------------------

SPIN_AND_SLEEP = """
import time as _time

def relu_forward(x):
    while True:
        pass

def svm_loss(x, y):
    _time.sleep(3600)
"""


@pytest.mark.sandbox
@pytest.mark.slow
def test_without_groups_cases_are_limited_by_their_cpu_time(tmp_path: Path) -> None:
    rubric = load_rubric(write_rubric(tmp_path))
    assert rubric.limits.case_seconds == 1
    sub = build_submission(tmp_path, SPIN_AND_SLEEP)
    config = SandboxConfig.create("bubblewrap", discover_runtime(), groups=False)
    assert config.case_wall_seconds(rubric.limits) == 3 * rubric.limits.case_seconds
    report = json_report.to_dict(grade_one(sub, rubric, config, ("public",)))
    assert "fair CPU share" in report["isolation_gaps"]
    spin, sleep = function(report, "relu_forward"), function(report, "svm_loss")
    assert spin["score"] == sleep["score"] == 0
    assert "used more than 1 s of CPU time" in spin["feedback"], spin["feedback"]
    # Sleeping uses no CPU: the wall-clock deadline, three times the CPU limit, ends it.
    assert "did not finish within 3 s" in sleep["feedback"], sleep["feedback"]
    # relu_backward's cases call relu_forward first.
    assert_full_marks(report, "relu_forward", "relu_backward", "svm_loss")


def stale_groups() -> Iterator[Path]:
    """Slot groups whose grader is gone."""
    hierarchy = system_hierarchy()
    assert hierarchy is not None
    for own in set(hierarchy.own.values()):
        for parent in own.glob(f"{PREFIX}*"):
            if not Path(f"/proc/{parent.name[len(PREFIX) :]}").exists():
                yield parent


@pytest.mark.sandbox
@pytest.mark.cgroups
@pytest.mark.slow
def test_a_busy_neighbour_does_not_cost_a_correct_submission(tmp_path: Path) -> None:
    rubric = write_rubric(tmp_path)
    klass = tmp_path / "class"
    klass.mkdir()
    # Graded first (the batch goes in order of names), beside the first of the others.
    build_submission(klass, hostile("busy_neighbours"), name="aaron")
    for name in ("alice", "bob", "carol"):
        build_submission(klass, name=name)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "batch", klass, "-o", out, "--rubric", rubric, "-j", "2"],
        capture_output=True,
        text=True,
        timeout=4 * GRADE_TIMEOUT,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "gradebook.csv", newline="") as f:
        totals = {row["student"]: float(row["total"]) for row in csv.DictReader(f)}
    assert {k: totals[k] for k in ("alice", "bob", "carol")} == dict.fromkeys(
        ("alice", "bob", "carol"), TOTAL
    ), proc.stderr[-3000:]
    assert "aaron" in totals
    assert not list(stale_groups())


SLOW_IMPORT = """
import time as _time

_time.sleep(1.5)
"""


@pytest.mark.sandbox
@pytest.mark.cgroups
@pytest.mark.slow
def test_a_worker_and_its_processes_run_in_the_slots_group(tmp_path: Path) -> None:
    rubric = load_rubric(write_rubric(tmp_path))
    sub = build_submission(tmp_path, SLOW_IMPORT)
    config = SandboxConfig.create("bubblewrap", discover_runtime())
    group = config.group
    assert group is not None
    members: set[int] = set()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        grading = pool.submit(grade_one, sub, rubric, config, ("public",))
        while not grading.done():
            members.update(group.members())
            time.sleep(0.05)
        result = grading.result()
    assert result.isolation_gaps == ()
    # bubblewrap, its init and the worker, at least, were seen in the group while importing.
    assert len(members) >= 3, members
    quota = group.folders["cpu"] / ("cpu.max" if group.version == 2 else "cpu.cfs_quota_us")
    # A core per case running at once.
    assert quota.read_text().split()[0] == str(rubric.limits.parallel_cases * CPU_PERIOD_US)
    assert group.members() == []  # nothing left running


# Memory outside any address space ---------------------------------------------------------


@pytest.mark.sandbox
@pytest.mark.cgroups
@pytest.mark.slow
def test_memfd_memory_counts_against_the_group(tmp_path: Path) -> None:
    rubric = write_rubric(tmp_path, limits=dict(TEST_LIMITS, group_memory_mb=256))
    sub = build_submission(tmp_path, hostile("memfd_hoard"))
    result = grade(sub, rubric)
    loss = function(result, "softmax_loss")
    assert loss["score"] == 0
    assert "used more than 256 MB together" in loss["feedback"], loss["feedback"]
    assert_full_marks(result, "softmax_loss")


@pytest.mark.sandbox
@pytest.mark.slow
def test_without_groups_memfd_is_denied(tmp_path: Path) -> None:
    rubric = load_rubric(write_rubric(tmp_path))
    sub = build_submission(tmp_path, hostile("memfd_hoard"))
    config = SandboxConfig.create("bubblewrap", discover_runtime(), groups=False)
    report = json_report.to_dict(grade_one(sub, rubric, config, ("public",)))
    loss = function(report, "softmax_loss")
    assert loss["score"] == 0
    assert "PermissionError" in loss["feedback"], loss["feedback"]
    assert_full_marks(report, "softmax_loss")


@pytest.mark.cgroups
@pytest.mark.slow
@pytest.mark.parametrize("isolation", ISOLATIONS[:2])
def test_a_case_that_kills_its_worker_costs_that_case_only(tmp_path: Path, isolation: str) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("kill_worker"))
    result = grade(sub, rubric, "--isolation", isolation, "--cases", "public")
    forward = function(result, "affine_forward")
    # Two public cases: the seed one is lost with its worker, the other passes.
    assert forward["score"] == 5, forward["feedback"]
    assert "the worker process died" in forward["feedback"]
    assert_full_marks(result, "affine_forward")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="a case's CPU time is read in /proc")
def test_a_case_past_its_deadline_that_computes_is_told_apart_from_one_that_waits() -> None:
    """A case whose wall-clock deadline passes gets it once more where it has been
    computing (a busy machine slowed it: it then reaches its CPU limit, and is told so,
    whatever the load), not where it has been waiting."""
    spinner, sleeper = os.fork(), 0
    if spinner == 0:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            pass
        os._exit(0)
    try:
        sleeper = os.fork()
        if sleeper == 0:
            time.sleep(60)
            os._exit(0)
        # However loaded the machine, the spinner gets a quarter of a second of CPU.
        end = time.monotonic() + 60
        while cases.cpu_seconds(spinner) < 0.3 and time.monotonic() < end:
            time.sleep(0.05)
        assert cases.computing(spinner, 0.0, seconds=1.0)
        assert not cases.computing(sleeper, 0.0, seconds=1.0)
    finally:
        for pid in (spinner, sleeper):
            if pid:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)


def test_a_computing_case_gets_its_deadline_once_more_and_only_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Child.overran, with the case's CPU time given: the worker's serving loop asks it
    when a case's deadline passes, and stops the case where it says so."""
    used = {"cpu": 0.0}
    monkeypatch.setattr(cases, "cpu_seconds", lambda pid: used["cpu"])
    child = object.__new__(cases.Child)
    child.pid, child.seconds, child.wall_seconds = 12345, 1.0, 3.0
    child.cpu_mark, child.extended, child.deadline = 0.0, False, 0.0
    # Waiting (no CPU time since the case started): stopped at its deadline.
    assert child.overran()
    # Computing (a third of its CPU limit in its wall time): its deadline comes again...
    used["cpu"] = 0.34
    assert not child.overran()
    assert child.extended and child.deadline > time.monotonic()
    # ...once: at the second, it is stopped, however busy it is.
    used["cpu"] = 0.9
    assert child.overran()
