"""Choosing the isolation, and what each mode relies on: permissions in a container, the
limits a platform has, no /proc where there is none."""

from __future__ import annotations

import os
import resource
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from grader.errors import UsageError
from grader.sandbox import container
from grader.sandbox.inside import privileges, processes
from grader.sandbox.isolation import HIDDEN_OK, choose_isolation

LINUX_ROOT = {"root": True, "linux": True}
LINUX_USER = {"root": False, "linux": True}
MAC_USER = {"root": False, "linux": False}


@pytest.mark.parametrize(
    ("bwrap", "bwrap_ok", "machine", "chosen"),
    [
        ("/usr/bin/bwrap", True, LINUX_USER, "bubblewrap"),
        ("/usr/bin/bwrap", True, LINUX_ROOT, "bubblewrap"),
        # A Docker container: bwrap installed but forbidden to make namespaces.
        ("/usr/bin/bwrap", False, LINUX_ROOT, "container"),
        (None, False, LINUX_ROOT, "container"),
        (None, False, LINUX_USER, "processes"),
        ("/usr/bin/bwrap", False, LINUX_USER, "processes"),
        (None, False, MAC_USER, "processes"),
    ],
)
def test_auto_takes_the_strongest_isolation_the_machine_has(
    bwrap: str | None, bwrap_ok: bool, machine: dict[str, bool], chosen: str
) -> None:
    assert choose_isolation("auto", bwrap=bwrap, bwrap_ok=bwrap_ok, **machine) == chosen


def test_only_isolations_that_hide_the_expected_values_may_run_hidden_cases() -> None:
    assert set(HIDDEN_OK) == {"bubblewrap", "container"}


def test_a_requested_isolation_the_machine_lacks_is_refused_with_a_hint() -> None:
    with pytest.raises(UsageError, match="(?s)cannot create namespaces here.*Hint"):
        choose_isolation("bubblewrap", bwrap="/usr/bin/bwrap", bwrap_ok=False, **LINUX_ROOT)
    with pytest.raises(UsageError, match="(?s)is not installed.*apt-get install bubblewrap"):
        choose_isolation("bubblewrap", bwrap=None, bwrap_ok=False, **LINUX_USER)
    with pytest.raises(UsageError, match="needs a grader running as root on Linux"):
        choose_isolation("container", bwrap=None, bwrap_ok=False, **LINUX_USER)
    assert choose_isolation("processes", bwrap="/b", bwrap_ok=True, **LINUX_ROOT) == "processes"


# Container mode: permissions ----------------------------------------------------------------


def test_readable_by_others_follows_every_folder_on_the_way(open_tmp: Path) -> None:
    folder = open_tmp / "staff"
    folder.mkdir(mode=0o755)
    secret = folder / "hidden.npz"
    secret.write_bytes(b"x")
    secret.chmod(0o644)
    assert container.readable_by_others(secret) and container.readable_by_others(folder)
    folder.chmod(0o750)
    assert not container.readable_by_others(secret)
    folder.chmod(0o751)  # others may pass but not list: a known name is still reachable
    assert container.readable_by_others(secret)
    secret.chmod(0o640)
    assert not container.readable_by_others(secret)


def test_lock_closes_only_what_others_could_reach(open_tmp: Path) -> None:
    open_folder, closed_folder = open_tmp / "open", open_tmp / "closed"
    open_folder.mkdir(mode=0o755)
    closed_folder.mkdir(mode=0o700)
    (closed_folder / "file").write_text("x")
    assert container.lock([open_folder, closed_folder, closed_folder / "file"]) == [open_folder]
    assert stat.S_IMODE(open_folder.stat().st_mode) == 0o750
    assert stat.S_IMODE(closed_folder.stat().st_mode) == 0o700
    assert container.lock([open_folder]) == []


def test_everything_in_the_checkout_but_the_grader_and_its_runtime_is_staff(
    tmp_path: Path,
) -> None:
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text("x")
    venv = container.CHECKOUT / ".venv-of-the-workers"
    needed = [venv / "lib" / "site-packages" / "numpy"]
    venv.mkdir(exist_ok=True)
    try:
        paths = container.staff_paths([rubric, tmp_path / "missing"], needed=needed)
    finally:
        venv.rmdir()
    assert rubric in paths and tmp_path / "missing" not in paths
    for name in ("reference", "assignments", ".git", "README.md"):
        if (container.CHECKOUT / name).exists():
            assert container.CHECKOUT / name in paths, name
    # Never the grader, nor a folder holding what workers need (a venv kept in the checkout).
    assert not any(p.is_relative_to(container.PACKAGE) for p in paths)
    assert venv not in paths


def test_nothing_above_what_workers_need_is_ever_locked(tmp_path: Path) -> None:
    stdlib = Path("/usr/lib/python3.11")
    # A rubric in a folder a student controls could name any path as its vectors.
    chosen = [Path("/usr/lib"), Path("/etc"), Path("/"), container.PACKAGE / "assignments"]
    assert container.staff_paths(chosen, needed=[stdlib]) == container.staff_paths(
        [], needed=[stdlib]
    )


@pytest.mark.container
def test_a_staging_folder_opens_to_its_own_workers_group_only(tmp_path: Path) -> None:
    folder = tmp_path / "staging"
    folder.mkdir()
    container.open_to_group(folder, 61234)
    info = folder.stat()
    assert info.st_gid == 61234 and info.st_uid == os.geteuid()
    assert stat.S_IMODE(info.st_mode) == 0o750


# Processes mode: what a platform may lack --------------------------------------------------


def test_limits_a_platform_lacks_are_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(resource, "RLIMIT_NPROC")
    calls: list[tuple[int, tuple[int, int]]] = []
    monkeypatch.setattr(resource, "setrlimit", lambda n, v: calls.append((n, v)))
    skipped = privileges.apply_limits({"RLIMIT_NPROC": 16, "RLIMIT_CORE": 0})
    assert skipped == ["RLIMIT_NPROC"]
    assert calls == [(resource.RLIMIT_CORE, (0, 0))]


def test_a_limit_the_platform_refuses_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(number: int, values: tuple[int, int]) -> None:
        raise ValueError("not supported")  # macOS and RLIMIT_AS

    monkeypatch.setattr(resource, "setrlimit", refuse)
    assert privileges.apply_limits({"RLIMIT_AS": 1 << 29}) == ["RLIMIT_AS"]


def test_a_limit_never_exceeds_the_hard_limit_the_worker_inherits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "getrlimit", lambda n: (32, 32))
    monkeypatch.setattr(resource, "setrlimit", lambda n, v: calls.append(v))
    assert privileges.apply_limits({"RLIMIT_NOFILE": 64}) == []
    assert calls == [(32, 32)]


def test_without_proc_no_process_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_proc(path: str) -> list[str]:
        raise FileNotFoundError(path)

    monkeypatch.setattr(os, "listdir", no_proc)
    assert processes.pids() == [] and processes.pids_of(os.getuid()) == []


def test_off_linux_nothing_asks_for_prctl_or_namespaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(privileges, "LINUX", False)
    monkeypatch.setattr(privileges.ctypes, "CDLL", None)  # any use would raise TypeError
    privileges.forbid_privilege_gain()
    assert privileges.cut_network() is False


@pytest.mark.container
def test_a_new_grader_removes_what_a_killed_one_left_to_its_uid() -> None:
    mine, other = 61240, 61241
    tmp = Path(tempfile.gettempdir())
    left = Path(tempfile.mkdtemp(prefix="layergrade-sub-", dir=tmp))
    (left / "code").mkdir()
    container.open_to_group(left, mine)
    worker_tmp = Path(tempfile.mkdtemp(prefix="layergrade-tmp-", dir=tmp))
    os.chown(worker_tmp, mine, mine)
    someone_elses = Path(tempfile.mkdtemp(prefix="layergrade-sub-", dir=tmp))
    container.open_to_group(someone_elses, other)
    try:
        assert sorted(container.reclaim(mine)) == sorted([left, worker_tmp])
        assert not left.exists() and not worker_tmp.exists() and someone_elses.exists()
    finally:
        for folder in (left, worker_tmp, someone_elses):
            shutil.rmtree(folder, ignore_errors=True)


def test_a_sweep_spares_what_a_running_case_forks_while_it_looks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A case's gradient check is forked while the worker sweeps up after another case:
    the new process is listed with the rest, and must be recognised as the running case's
    child, not killed as a stray (it was, when the tree was read before the list)."""
    me, running, stray, check = 10, 20, 30, 40
    parents = {me: 1, running: me, stray: me}

    def listed(uid: int) -> list[int]:
        parents[check] = running  # forked just now
        return sorted(parents)

    killed: list[int] = []
    monkeypatch.setattr(processes, "pids_of", listed)
    monkeypatch.setattr(processes, "parent_map", lambda: dict(parents))
    monkeypatch.setattr(processes.os, "getpid", lambda: me)
    monkeypatch.setattr(processes, "kill_all", lambda pids: killed.extend(pids) or [])
    processes.sweep({running})
    assert killed == [stray]
