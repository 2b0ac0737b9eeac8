"""A class's bubblewrap slots keep one sandbox each, the zygote (grader/sandbox/zygote.py),
which forks every module submission's worker: what one student leaves in the slot must not
reach the next.

Each test grades submissions one after the other through the same slot and the same job,
as the batch runner does (grade_submission with reuse=True), so that each is forked from
the zygote the one before used, unless that one ended it. The snippets in zoo/hostile/
zygote_*.py attack (each says at its top what must happen); zygote_observe.py prints, at
import, what a submission sees of the sandbox: its processes, /tmp, the slot's code, its
descriptors and limits, and which zygote it came from. Appended after an attack, it is the
attack's positive control (the attacker sees what it left); in the next submission, the
proof that none of it is left. Every submission is otherwise the correct layers, so each
must keep full marks.

Which zygote a submission came from is told from inside by its pid namespace, its parent's
pid and its parent's start time: pids (and namespace numbers) repeat in a new sandbox, the
start time of a zygote started later does not, as starting one takes far longer than the
clock's tick. The grader's own side says it too: the job's zygote for the slot.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from notebook_support import CORRECT_NOTEBOOK, write_notebook
from support import (
    CORRECT_LAYERS,
    build_submission,
    function,
    kill_all,
    processes,
    settle,
    with_marker,
    write_rubric,
)
from test_hostile import assert_full_marks, hostile

import grader.sandbox.worker as worker_module
import grader.sandbox.zygote as zygote_module
from grader.api import grade_submission, graded_cases
from grader.config.rubric import Rubric, load_rubric
from grader.report import json_report
from grader.sandbox.job import Job
from grader.sandbox.runtime import discover_runtime
from grader.sandbox.worker import SandboxConfig
from grader.sandbox.zygote import Zygote
from grader.vectors import CaseVector

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

OBSERVED = "ZYGOTE-OBSERVED "
LEFT = "ZYGOTE-LEFT "
# How long processes a grading run killed may take to disappear from the host's /proc.
GONE_SECONDS = 5.0


@dataclass
class Slot:
    """One grading slot of a class: its configuration and the job its submissions share."""

    rubric: Rubric
    cases: tuple[CaseVector, ...]
    config: SandboxConfig
    job: Job

    def grade(self, sub: Path) -> dict[str, Any]:
        """The JSON report of grading ``sub`` as the class's next submission in this slot."""
        result = grade_submission(
            sub, self.rubric, self.cases, self.config, self.job, in_class=True, reuse=True
        )
        return json_report.to_dict(result)

    def try_grade(self, sub: Path) -> tuple[dict[str, Any] | None, Exception | None]:
        """Grade ``sub`` and keep, rather than raise, what grading it raised: a test then
        checks the next submission in the slot before it fails for this one."""
        try:
            return self.grade(sub), None
        except Exception as exc:
            return None, exc

    @property
    def zygote(self) -> Zygote | None:
        """The slot's zygote, as the grader holds it (None before the first submission):
        the job's only one, as this slot is the only one grading with the job."""
        zygotes: list[Zygote] = list(self.job.zygotes.values())
        assert len(zygotes) <= 1, zygotes
        return zygotes[0] if zygotes else None


@contextmanager
def class_slot(folder: Path, groups: bool = True) -> Iterator[Slot]:
    """A slot grading a class's public cases with bubblewrap; once the block ends (and the
    job with it, which ends the zygote), no process of the slot's worker uid is left."""
    rubric = load_rubric(write_rubric(folder))
    cases = graded_cases(rubric, ("public",))
    config = SandboxConfig.create("bubblewrap", discover_runtime(), groups=groups)
    with Job(cases) as job:
        yield Slot(rubric, cases, config, job)
    if config.uid is not None:
        left = settle(lambda: [p for p in processes() if config.uid in p.uids], GONE_SECONDS)
        assert left == [], [(p.pid, p.cmdline[:80]) for p in left]


@pytest.fixture
def marker() -> str:
    """Twelve random digits: unique, and accepted by sleep(1) as part of a duration."""
    return str(10**11 + secrets.randbelow(9 * 10**11))


def observer(needle: str) -> str:
    """zygote_observe.py looking for ``needle``, which the snippet holds only in two parts."""
    return hostile("zygote_observe", HEAD=needle[:6], TAIL=needle[6:])


def submission(folder: Path, name: str, *snippets: str) -> Path:
    return build_submission(folder, "\n\n".join(snippets), name=name)


def printed_all(report: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """The JSON objects snippets printed after ``prefix``, in order: one per import of
    the submission (a worker that dies after its import is replaced, which imports again)."""
    lines = [line for line in report["output"].splitlines() if line.startswith(prefix)]
    return [json.loads(line[len(prefix) :]) for line in lines]


def printed(report: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The JSON object a snippet printed after ``prefix`` (exactly once)."""
    found = printed_all(report, prefix)
    assert len(found) == 1, report["output"][-3000:]
    return found[0]


def observed(report: dict[str, Any]) -> dict[str, Any]:
    return printed(report, OBSERVED)


def zygote_of(seen: dict[str, Any]) -> tuple[str, int, int]:
    """Which zygote forked the observing submission: its pid namespace, the zygote's pid
    there and the zygote's start time."""
    assert seen["parent_start"] is not None, seen
    return seen["ns"], seen["ppid"], seen["parent_start"]


def with_marker_seen(seen: dict[str, Any], marker: str) -> list[str]:
    """The command lines holding ``marker`` among the processes a submission saw."""
    return [p["cmdline"] for p in seen["processes"].values() if marker in p["cmdline"]]


def assert_alone(seen: dict[str, Any]) -> None:
    """The observing submission saw no process but itself and its ancestors: the zygote
    and bubblewrap's own."""
    visible = {int(pid) for pid in seen["processes"]}
    assert visible == set(seen["ancestors"]), seen["processes"]
    assert seen["ancestors"][:2] == [seen["pid"], seen["ppid"]], seen["ancestors"]


# Keeping students apart ---------------------------------------------------------------


@pytest.mark.parametrize("groups", [True, False], ids=["group", "no-group"])
def test_nothing_a_submission_leaves_reaches_the_next(
    tmp_path: Path, marker: str, groups: bool
) -> None:
    """With the slot's control group, the grader also checks that only the zygote's own
    processes are left in it; without one (a grader that is not root), the zygote's own
    clean-up is all there is."""
    attacker = submission(
        tmp_path, "attacker", hostile("zygote_leave_behind", MARKER=marker), observer(marker)
    )
    victim = submission(tmp_path, "victim", observer(marker))
    try:
        with class_slot(tmp_path, groups=groups) as slot:
            if groups and slot.config.group is None:
                pytest.skip(
                    "no control group for the slot on this machine (it needs a grader "
                    "running as root, with the cpu, memory and pids controllers): the "
                    "no-group case is what runs here"
                )
            first = slot.grade(attacker)
            zygote = slot.zygote
            assert zygote is not None and zygote.alive
            # The attack ran: the detached process runs the marked sleep, and the attacker
            # sees it, and what it left in /tmp, as the next submission would without the
            # zygote's clean-up.
            left = printed(first, LEFT)
            assert f"300.{marker}" in left["cmdline"], first["output"][-3000:]
            by_attacker = observed(first)
            assert with_marker_seen(by_attacker, marker), by_attacker["processes"]
            names = {f"{n}-{marker}" for n in ("left", ".hidden", "locked", "fifo", "link")}
            assert names <= set(by_attacker["tmp"]), by_attacker["tmp"]
            # /tmp is the only place it could write: the only one the zygote must empty.
            writable = {place for place, said in left["written"].items() if said == "written"}
            assert writable == {"/tmp"}, left["written"]
            # Gone from the host as soon as the attacker's grading returned, while the
            # zygote that forked it lives on for the next submission.
            assert settle(lambda: with_marker(marker), GONE_SECONDS) == []
            assert zygote.alive

            second = slot.grade(victim)
            seen = observed(second)
            # Forked from the same zygote, in the same sandbox: what the clean-up is for.
            assert slot.zygote is zygote and zygote.alive
            assert zygote_of(seen) == zygote_of(by_attacker)
            assert seen["pid"] != by_attacker["pid"]
            # None of the attacker's processes, nothing in /tmp, no trace of the secret.
            assert_alone(seen)
            assert with_marker_seen(seen, marker) == []
            assert seen["tmp"] == [] and seen["tmp_errors"] == [], seen["tmp"]
            assert seen["found"] == [], seen["found"]
            assert_full_marks(first)
            assert_full_marks(second)
        assert with_marker(marker) == []
    finally:
        kill_all(with_marker(marker))


def test_the_next_submission_sees_only_its_own_code(tmp_path: Path, marker: str) -> None:
    secret = f'_ZYGOTE_SECRET = "zygote-secret-{marker}"\n'
    attacker = submission(tmp_path, "attacker", secret, observer(marker))
    (attacker / "cs231n" / "only_in_attacker.py").write_text(secret)
    victim = submission(tmp_path, "victim", observer(marker))
    (victim / "cs231n" / "only_in_victim.py").write_text("HELPER = 1\n")
    with class_slot(tmp_path) as slot:
        first = slot.grade(attacker)
        second = slot.grade(victim)
    by_attacker, seen = observed(first), observed(second)
    assert zygote_of(seen) == zygote_of(by_attacker)
    # Control: the search finds the secret where it is, in the attacker's own code.
    code = "/lg/sub/code/cs231n"
    assert by_attacker["found"] == [f"{code}/layers.py", f"{code}/only_in_attacker.py"]
    # The next submission finds its own code in the slot, and nothing else.
    assert seen["found"] == [], seen["found"]
    assert seen["sub_top"] == ["code"]
    own = ["__init__.py", "layers.py", "only_in_victim.py"]
    assert seen["sub_files"] == [f"code/cs231n/{name}" for name in own], seen["sub_files"]
    assert_full_marks(first)
    assert_full_marks(second)


def test_each_submission_is_a_fresh_child_of_the_same_zygote(tmp_path: Path) -> None:
    """What makes the other tests meaningful: the sandbox is reused. Each submission is a
    new process forked from the one zygote, holding only the pipes made for it."""
    subs = [submission(tmp_path, f"student{i}", observer(secrets.token_hex(6))) for i in range(3)]
    with class_slot(tmp_path) as slot:
        reports = [slot.grade(subs[0])]
        zygote = slot.zygote
        assert zygote is not None and zygote.alive
        # The slot's folder, where each submission's code is while graded: closed to other
        # users, as a staging folder is (a grader not running as root shares its uid with
        # its workers; one running as root opens it to the slot's uid alone).
        assert zygote.folder.stat().st_mode & 0o007 == 0, oct(zygote.folder.stat().st_mode)
        for sub in subs[1:]:
            reports.append(slot.grade(sub))
            assert slot.zygote is zygote and zygote.alive
    seen = [observed(report) for report in reports]
    assert len({zygote_of(s) for s in seen}) == 1, [zygote_of(s) for s in seen]
    assert len({s["pid"] for s in seen}) == 3
    pipes: list[set[str]] = []
    for one, report in zip(seen, reports, strict=True):
        assert_full_marks(report)
        assert_alone(one)
        # Its parent is the zygote (the worker started with a control socket), which never
        # ran student code: its descriptors are not open to the child.
        assert '"zygote":' in one["parent_cmdline"], one["parent_cmdline"][-500:]
        assert isinstance(one["parent_fds"], str), one["parent_fds"]
        # Standard input, its output pipe (stdout and stderr), its requests and its answers:
        # nothing of the zygote's (its control socket, its own answer pipe).
        fds = one["fds"]
        assert len(fds) == 5, fds
        assert fds["0"] == "/dev/null" and fds["1"] == fds["2"], fds
        own = {target for fd, target in fds.items() if fd != "0"}
        assert all(target.startswith("pipe:") for target in own) and len(own) == 3, fds
        pipes.append(own)
    # New pipes for every submission.
    assert not (pipes[0] & pipes[1]) and not (pipes[1] & pipes[2]) and not (pipes[0] & pipes[2])


def test_each_child_has_the_cpu_limit_the_zygote_does_not(tmp_path: Path) -> None:
    """RLIMIT_CPU counts a process's CPU time from its start: set in each child, it is that
    submission's alone; the zygote, which serves the whole class, must not have it."""
    subs = [submission(tmp_path, f"student{i}", observer(secrets.token_hex(6))) for i in range(2)]
    with class_slot(tmp_path) as slot:
        reports = [slot.grade(sub) for sub in subs]
        backstop = int(slot.rubric.limits.submission_seconds) + 1
    seen = [observed(report) for report in reports]
    assert zygote_of(seen[0]) == zygote_of(seen[1])
    for one, report in zip(seen, reports, strict=True):
        assert_full_marks(report)
        soft, hard = one["cpu_limit"]
        assert hard != resource.RLIM_INFINITY and 0 < soft <= hard <= backstop, one["cpu_limit"]
        # /proc/PID/limits is readable by all, though the zygote is not dumpable; where a
        # kernel hides it, the child's own limit is what can be checked.
        if one["parent_cpu"] is not None:
            # The zygote has the grader's own limit, which it inherited, and no other.
            grader = [
                "unlimited" if v == resource.RLIM_INFINITY else str(v)
                for v in resource.getrlimit(resource.RLIMIT_CPU)
            ]
            assert one["parent_cpu"].split()[3:5] == grader, one["parent_cpu"]


# A submission that attacks the zygote itself or its clean-up -----------------------------


def test_a_submission_that_kills_its_zygote_costs_the_next_one_nothing(tmp_path: Path) -> None:
    before = submission(tmp_path, "before", observer(secrets.token_hex(6)))
    killer = submission(tmp_path, "killer", observer(secrets.token_hex(6)), hostile("zygote_kill"))
    after = submission(tmp_path, "after", observer(secrets.token_hex(6)))
    with class_slot(tmp_path) as slot:
        first = slot.grade(before)
        zygote = slot.zygote
        assert zygote is not None
        # Whatever the killer scores, grading it must return: checked last, once the next
        # submission has shown whether the slot still grades.
        killed, error = slot.try_grade(killer)
        assert not zygote.alive
        last = slot.grade(after)
        assert slot.zygote is not zygote and slot.zygote is not None and slot.zygote.alive
    assert_full_marks(first)
    assert_full_marks(last)
    seen = observed(last)
    assert zygote_of(seen) != zygote_of(observed(first))
    assert_alone(seen)
    assert error is None, f"grading the submission that killed its zygote raised {error!r}"
    assert killed is not None
    # The attack ran, on the zygote that forked it (the one the submission before had).
    # (It ran once more in each worker the grader started for the cases left: each of them
    # a new zygote's child, which it killed too.)
    by_killer = printed_all(killed, OBSERVED)[0]
    assert zygote_of(by_killer) == zygote_of(observed(first))
    assert f"ZYGOTE-KILLING {by_killer['ppid']}" in killed["output"], killed["output"][-2000:]


@pytest.mark.parametrize(
    ("attack", "done"),
    [("zygote_stop", "ZYGOTE-STOPPED T"), ("zygote_limits", "ZYGOTE-LIMITED nofile priority")],
    ids=["stopped", "limits"],
)
def test_a_submission_that_harms_its_zygote_costs_the_next_one_nothing(
    tmp_path: Path, attack: str, done: str
) -> None:
    """Stopped, the zygote never says the slot is clean; with its limits and priority
    lowered (which its later children would inherit), it finds them changed and says the
    slot is not clean. Either way the grader ends it, and the next submission comes from
    a new one."""
    attacker = submission(tmp_path, "attacker", observer(secrets.token_hex(6)), hostile(attack))
    after = submission(tmp_path, "after", observer(secrets.token_hex(6)))
    with class_slot(tmp_path) as slot:
        first = slot.grade(attacker)
        zygote = slot.zygote
        assert zygote is not None
        # The attack ran, on the zygote that forked it.
        assert done in first["output"], first["output"][-2000:]
        assert not zygote.alive
        last = slot.grade(after)
        assert slot.zygote is not zygote and slot.zygote is not None and slot.zygote.alive
    # The attacker answered every case before its zygote was ended.
    assert_full_marks(first)
    assert_full_marks(last)
    seen = observed(last)
    assert zygote_of(seen) != zygote_of(observed(first))
    assert_alone(seen)


def test_a_racing_process_chain_does_not_reach_the_next_submission(
    tmp_path: Path, marker: str
) -> None:
    """Without a control group (a grader that is not root has none), only the zygote's
    own clean-up, or the grader ending a slot it does not say is clean, stands between a
    process chain that a pass over /proc may miss and the next submission."""
    racer = submission(tmp_path, "racer", hostile("zygote_race", MARKER=marker))
    victim = submission(tmp_path, "victim", observer(marker))
    try:
        with class_slot(tmp_path, groups=False) as slot:
            assert slot.config.group is None
            raced = slot.grade(racer)
            # The chains ran while the racer was graded.
            racing = [line for line in raced["output"].splitlines() if "ZYGOTE-RACING" in line]
            assert racing and racing[0] != "ZYGOTE-RACING 0", raced["output"][-2000:]
            assert settle(lambda: with_marker(marker), GONE_SECONDS) == []
            second = slot.grade(victim)
            seen = observed(second)
            assert_alone(seen)
            assert with_marker_seen(seen, marker) == []
            assert seen["tmp"] == []
            assert_full_marks(second)
        assert with_marker(marker) == []
    finally:
        kill_all(with_marker(marker))


def test_a_case_that_kills_its_worker_costs_that_case_only_in_a_class(tmp_path: Path) -> None:
    """As graded alone (test_resources.py): the worker a case kills is the zygote's child;
    the grader ends that sandbox and gives the rest of the cases a new worker, which needs
    the submission's code; and the next submission in the slot is graded as usual."""
    victim = submission(tmp_path, "victim", hostile("kill_worker"))
    after = submission(tmp_path, "after", observer(secrets.token_hex(6)))
    with class_slot(tmp_path) as slot:
        result, error = slot.try_grade(victim)
        last = slot.grade(after)
    assert_full_marks(last)
    assert_alone(observed(last))
    assert error is None, f"grading the submission whose case killed its worker raised {error!r}"
    assert result is not None
    forward = function(result, "affine_forward")
    # Two public cases: the seed one is lost with its worker, the other passes.
    assert forward["score"] == 5, forward["feedback"]
    assert "the worker process died" in forward["feedback"]
    assert_full_marks(result, "affine_forward")


def test_a_slot_switches_kinds_by_ending_its_zygote(tmp_path: Path) -> None:
    """Executed notebooks get a zygote of their own kind (the notebook packages mounted,
    IPython and pyplot imported): a slot that grades a notebook after a module ends the
    module zygote first, and the next module ends the notebook zygote."""
    first = submission(tmp_path, "first", observer(secrets.token_hex(6)))
    last = submission(tmp_path, "last", observer(secrets.token_hex(6)))
    notebook = tmp_path / "notebook.ipynb"
    shutil.copy(CORRECT_NOTEBOOK, notebook)
    with class_slot(tmp_path) as slot:
        reports = [slot.grade(first)]
        modules = slot.zygote
        assert modules is not None and modules.alive and not modules.notebook
        reports.append(slot.grade(notebook))
        notebooks = slot.zygote
        assert notebooks is not None and notebooks.alive and notebooks.notebook
        assert not modules.alive
        reports.append(slot.grade(last))
        assert slot.zygote is not None and not slot.zygote.notebook and slot.zygote.alive
        assert not notebooks.alive
    for report in reports:
        assert_full_marks(report)
    assert zygote_of(observed(reports[0])) != zygote_of(observed(reports[2]))


# Before anything imports it (the zygote has): whether matplotlib is imported, what /tmp
# holds, what the home's matplotlib cache holds; then leaves files in both.
NOTEBOOK_LOOK = """
import os, sys
print("ZYGOTE-NB pyplot imported:", "matplotlib.pyplot" in sys.modules)
# Its own shell made ~/.ipython (the home is /tmp) before this cell: not listed.
tmp = sorted(os.path.relpath(os.path.join(root, name), "/tmp")
             for root, dirs, files in os.walk("/tmp") for name in files + dirs)
tmp = [path for path in tmp if path.split("/")[0] != ".ipython"]
print("ZYGOTE-NB tmp:", tmp)
open("/tmp/left-MARK", "w").write("secret")
os.makedirs("/tmp/.cache/matplotlib/tex.cache-MARK", exist_ok=True)
open("/tmp/.cache/matplotlib/left-MARK", "w").write("secret")
"""


def test_a_class_of_notebooks_shares_one_zygote_and_nothing_else(tmp_path: Path) -> None:
    """A notebook zygote has imported pyplot, which each notebook finds imported; what a
    notebook leaves in /tmp (its matplotlib cache folder included, beside the class's
    read-only font list) is gone for the next one, forked from the same zygote."""
    marker = secrets.token_hex(6)
    notebooks = []
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        look = ("code", NOTEBOOK_LOOK.replace("MARK", marker))
        layers = ("code", CORRECT_LAYERS.read_text())
        notebooks.append(write_notebook(folder / "work.ipynb", look, layers))
    with class_slot(tmp_path) as slot:
        first = slot.grade(notebooks[0])
        zygote = slot.zygote
        assert zygote is not None and zygote.notebook
        second = slot.grade(notebooks[1])
        assert slot.zygote is zygote and zygote.alive
        fonts = slot.job.fonts.get("bubblewrap")
    for report in (first, second):
        assert_full_marks(report)
        assert "ZYGOTE-NB pyplot imported: True" in report["output"], report["output"][-2000:]
    # What the second notebook finds in /tmp: the cache folders and the font list the
    # class's notebooks are shown (where the job made one), nothing the first one left.
    seen = [line for line in second["output"].splitlines() if line.startswith("ZYGOTE-NB tmp:")]
    assert len(seen) == 1 and marker not in seen[0], second["output"][-2000:]
    shown = [".cache", ".cache/matplotlib", f".cache/matplotlib/{fonts.name}"] if fonts else []
    assert seen[0] == f"ZYGOTE-NB tmp: {shown}", seen[0]


TMP_LOOK = """
import os as _los
_lstat = _los.stat("/tmp")
try:
    _lxattrs = _los.listxattr("/tmp")
except OSError:
    _lxattrs = []
print(f"ZYGOTE-TMP-SEEN {oct(_lstat.st_mode & 0o7777)} {int(_lstat.st_mtime)} "
      f"{sorted(_los.listdir('/tmp'))} {_lxattrs}", flush=True)
"""


def test_what_a_submission_does_to_tmp_itself_does_not_reach_the_next(
    tmp_path: Path, marker: str
) -> None:
    """/tmp is the submission's own where the grader is not root (its mode, times and
    extended attributes it may change): the zygote gives them back before the next one."""
    attacker = submission(tmp_path, "attacker", hostile("zygote_tmp_modes", MARKER=marker))
    after = submission(tmp_path, "after", TMP_LOOK)
    with class_slot(tmp_path) as slot:
        first = slot.grade(attacker)
        last = slot.grade(after)
    done = [line for line in first["output"].splitlines() if line.startswith("ZYGOTE-TMP ")]
    assert done, first["output"][-2000:]
    if os.geteuid() != 0:
        # Its own /tmp: the changes were made (an extended attribute where tmpfs has them).
        assert done[-1].endswith("times mode"), done
    seen = [line for line in last["output"].splitlines() if line.startswith("ZYGOTE-TMP-SEEN")]
    assert len(seen) == 1, last["output"][-2000:]
    mode, mtime, rest = seen[0].split(" ", 3)[1:]
    assert mode == "0o1777" and mtime != "1234567", seen[0]
    assert rest == "[] []", seen[0]
    assert_full_marks(first)
    assert_full_marks(last)


def test_without_a_filter_a_class_gets_a_worker_per_submission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without libseccomp, what outlives a process (System V IPC, message queues, keys)
    could pass from one submission to the next in a shared sandbox: no zygote then."""
    monkeypatch.setattr(worker_module, "filter_program", lambda deny_memfd: None)
    monkeypatch.setattr(zygote_module, "filter_program", lambda deny_memfd: None)
    subs = [submission(tmp_path, f"student{i}", observer(secrets.token_hex(6))) for i in range(2)]
    with class_slot(tmp_path) as slot:
        reports = [slot.grade(sub) for sub in subs]
        assert slot.zygote is None
    for report in reports:
        assert_full_marks(report)
        assert "system-call filter" in report["isolation_gaps"]
