"""Hostile submissions: attacks that would cheat (or take the grader down) if they worked.

Each snippet in zoo/hostile/ says at its top what it attacks and what must happen. They are
appended to the correct layers, so only the functions a snippet redefines can lose points;
every test also checks that the functions it did not attack keep full marks (the fork bomb
containment test says why it cannot).

Placeholders in the snippets, filled here with str.replace:
  {REPO}     the project root (the attacker is assumed to know the staff's layout)
  {PORT}     a TCP port on 127.0.0.1 where the test listens
  {MARKER}   a unique string of digits, for finding processes that outlived the grading
  {RUBRIC}   the rubric file the grader is given
  {OUT}      the report path passed with -o
  {VARIANT}  which malformed frame forged_frame.py writes

Where an attack can succeed when nothing blocks it, the test also runs a control: it loads the
built submission's layers.py in the test process and calls the attacked function on a stored
public case (or every stored case). The cheating answer there (the value read from the stored
vectors, the connection the listener accepts, the forged report on disk, ...) proves the attack
code works, so the 0 under the sandbox means the sandbox stopped it. (`grade --no-sandbox` is
no such control: a root grader's unsandboxed worker drops to a uid that, where the interpreter
lives in a folder other users cannot enter, as here and in CI, can import only the modules
loaded before the drop; what it can reach says nothing about the attack code.)

Grading without bubblewrap is covered too, mostly through the API (grade_one with a
SandboxConfig without bwrap, public cases only): a process that escapes the worker's session
must not outlive such a run, and the attacks that the grader's design defeats with or without
the sandbox (a patched numpy, a secret in the grader's environment) must fail there as well.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from support import (
    CORRECT_LAYERS,
    ROOT,
    WORKER_UIDS,
    ZOO,
    Process,
    build_submission,
    function,
    grade_json,
    kill_all,
    output_statuses,
    processes,
    run_grade,
    settle,
    ticks_now,
    with_marker,
    write_rubric,
)

from grader.api import grade_one
from grader.config.rubric import load_rubric
from grader.report import json_report
from grader.sandbox.runtime import discover_runtime, unreadable_by_others
from grader.sandbox.worker import OUTPUT_CAP, SandboxConfig

HOSTILE = ZOO / "hostile"
NOTEBOOKS = ZOO / "notebooks"
VECTORS = ROOT / "assignments" / "modular_layers" / "vectors"
POINTS = {
    "affine_forward": 10,
    "affine_backward": 15,
    "relu_forward": 5,
    "relu_backward": 5,
    "svm_loss": 10,
    "softmax_loss": 10,
}
TOTAL = sum(POINTS.values())
# The unprivileged uids a grader running as root gives its workers (one per grader).
# A bound for a whole grading run of a hostile submission (the short test limits make an
# honest run take well under a few seconds).
GRADE_TIMEOUT = 60


# Helpers ------------------------------------------------------------------------------


def hostile(name: str, **values: object) -> str:
    """The snippet zoo/hostile/NAME.py with its placeholders filled."""
    text = (HOSTILE / f"{name}.py").read_text()
    values.setdefault("REPO", ROOT)
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    left = sorted(set(re.findall(r"\{[A-Z]+\}", text)))
    assert not left, f"{name}.py: placeholders left unfilled: {left}"
    return text


def grade(
    sub: Path, rubric: Path, *extra: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """grade --format json, bounded by GRADE_TIMEOUT, and the report it printed."""
    proc = run_grade(
        sub, "--rubric", rubric, "--format", "json", *extra, env=env, timeout=GRADE_TIMEOUT
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def assert_full_marks(result: dict[str, Any], *attacked: str) -> None:
    """Every function except ``attacked`` scores its full points, in every case."""
    assert {f["name"] for f in result["functions"]} == set(POINTS)
    for name, points in POINTS.items():
        if name in attacked:
            continue
        fn = function(result, name)
        assert fn["score"] == fn["max_score"] == points, (name, fn["feedback"])
        assert fn["cases"] and all(c["credit"] == 1.0 for c in fn["cases"]), name


def assert_scores_zero(result: dict[str, Any], name: str, output: str) -> None:
    fn = function(result, name)
    assert fn["score"] == 0, fn["feedback"]
    assert fn["status"] == "fail"
    assert set(output_statuses(fn, output)) == {"fail"}


def load_module(path: Path, name: str) -> ModuleType:
    """Import a built layers.py in this process (only for snippets without import effects)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stored_cases(fn: str, split: str = "public") -> dict[str, dict[str, np.ndarray]]:
    """Every stored case of ``fn`` in ``split``: case name -> arrays by "in:NAME" / "out:NAME"."""
    cases: dict[str, dict[str, np.ndarray]] = {}
    with np.load(VECTORS / split / f"{fn}.npz", allow_pickle=False) as npz:
        for key in npz.files:
            case, _, name = key.partition(":")
            cases.setdefault(case, {})[name] = npz[key]
    assert cases, f"no stored {split} cases of {fn}"
    return cases


def public_case(fn: str, case: str = "seed") -> dict[str, np.ndarray]:
    """A public case's arrays by "in:NAME" / "out:NAME"."""
    return stored_cases(fn)[case]


@pytest.fixture(scope="module")
def unsandboxed() -> SandboxConfig:
    """A grader configuration without bubblewrap, for grading through the API.

    Run as root, it holds a worker uid of its own (for the rest of this test process) and
    its workers drop to it after loading numpy and the standard modules they use, so they run
    even where the interpreter's folder is closed to that uid.
    """
    return SandboxConfig.create("processes", discover_runtime())


def grade_unsandboxed(sub: Path, rubric: Path, config: SandboxConfig) -> dict[str, Any]:
    """The JSON report of grading ``sub``'s public cases without bubblewrap, via the API."""
    report = json_report.to_dict(grade_one(sub, load_rubric(rubric), config, ("public",)))
    assert report["sandboxed"] is False and report["cases"] == ["public"]
    return report


def workers_since(start: int) -> list[Process]:
    """Processes of a worker uid started at or after ``start``.

    Other grading runs on this host may have workers alive (under uids of their own); only
    processes started during the run under test can be its leftovers.
    """
    return [p for p in processes() if WORKER_UIDS & set(p.uids) and p.start >= start]


@pytest.fixture
def marker() -> str:
    """Twelve random digits: unique, and accepted by sleep(1) as part of a duration."""
    return str(10**11 + secrets.randbelow(9 * 10**11))


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.settimeout(3)
    yield sock
    sock.close()


def accepted(sock: socket.socket, wait: float) -> int:
    """Connections waiting on ``sock``, taking at most ``wait`` seconds for the first."""
    count = 0
    sock.settimeout(wait)
    while True:
        try:
            conn, _ = sock.accept()
        except TimeoutError:
            return count
        conn.close()
        count += 1
        sock.settimeout(0.2)


# 1-3: staff files -----------------------------------------------------------------------

# The isolations that may run hidden cases: each must keep the staff files from student code.
ISOLATED = [
    pytest.param("bubblewrap", marks=pytest.mark.sandbox),
    pytest.param("container", marks=pytest.mark.container),
]


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ISOLATED)
def test_stored_vectors_are_invisible(tmp_path: Path, isolation: str) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("read_vectors"))

    result = grade_json(sub, rubric, "--isolation", isolation)
    assert result["sandboxed"] is True and result["isolation"] == isolation
    assert_scores_zero(result, "affine_forward", "out")
    assert_full_marks(result, "affine_forward")

    # The sandboxed run graded both splits, and the control covers every case of both: in
    # this process, where the vectors are readable, the attack returns each stored answer.
    fn = function(result, "affine_forward")
    assert {c["split"] for c in fn["cases"]} == {"public", "hidden"}
    module = load_module(sub / "cs231n" / "layers.py", "hostile_read_vectors")
    for split in ("public", "hidden"):
        for name, case in stored_cases("affine_forward", split).items():
            out, _ = module.affine_forward(case["in:x"], case["in:w"], case["in:b"])
            assert np.array_equal(out, case["out:out"]), (split, name)
            assert np.any(case["out:out"] != 0), (split, name)  # unlike the fallback's zeros


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ISOLATED)
def test_reference_package_is_invisible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolation: str
) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("import_reference"))

    result = grade_json(sub, rubric, "--isolation", isolation)
    assert result["isolation"] == isolation
    assert_scores_zero(result, "relu_forward", "out")
    assert_full_marks(result, "relu_forward")

    # Control: where the project is visible, the attack imports the reference and answers
    # with it. (Loading the snippet puts the project on sys.path; the patch undoes that.)
    monkeypatch.setattr(sys, "path", list(sys.path))
    module = load_module(sub / "cs231n" / "layers.py", "hostile_import_reference")
    case = public_case("relu_forward")
    out, _ = module.relu_forward(case["in:x"])
    assert np.any(case["out:out"] != 0)  # the fallback's zeros would be wrong
    np.testing.assert_allclose(out, case["out:out"], rtol=1e-12, atol=0)
    reference = sys.modules["reference.layers"].__file__
    assert reference is not None and Path(reference).is_relative_to(ROOT / "reference")


@pytest.mark.slow
def test_the_workers_own_path_leads_to_no_staff_code(
    tmp_path: Path, unsandboxed: SandboxConfig
) -> None:
    """Even with process limits only, the worker's sys.path holds the submission, the
    standard library and numpy: nothing of the grader's or the staff's."""
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("import_staff_unaided"))

    result = grade_unsandboxed(sub, rubric, unsandboxed)
    assert "imported: []" in result["output"], result["output"][-2000:]
    assert_scores_zero(result, "relu_forward", "out")
    assert_full_marks(result, "relu_forward")

    # Control: in this process, whose path leads to the project, both import.
    module = load_module(sub / "cs231n" / "layers.py", "hostile_import_staff_unaided")
    case = public_case("relu_forward")
    out, _ = module.relu_forward(case["in:x"])
    np.testing.assert_allclose(out, case["out:out"], rtol=1e-12, atol=0)
    assert np.any(case["out:out"] != 0)


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ISOLATED)
def test_the_repository_history_is_invisible(tmp_path: Path, isolation: str) -> None:
    if not (ROOT / ".git" / "HEAD").is_file():
        pytest.skip("this copy of the project is not a git repository: no history to hide")
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("read_git"))

    result = grade_json(sub, rubric, "--isolation", isolation)
    assert result["isolation"] == isolation
    assert_scores_zero(result, "affine_forward", "out")
    assert_full_marks(result, "affine_forward")

    # Control: where the repository is readable, the attack answers correctly.
    module = load_module(sub / "cs231n" / "layers.py", "hostile_read_git")
    case = public_case("affine_forward")
    out, _ = module.affine_forward(case["in:x"], case["in:w"], case["in:b"])
    assert np.any(case["out:out"] != 0)
    np.testing.assert_allclose(out, case["out:out"], rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ISOLATED)
def test_rubric_is_invisible(tmp_path: Path, isolation: str) -> None:
    rubric = write_rubric(tmp_path)
    # The snippet tries both the project's rubric.yaml and the rubric the grader is given.
    sub = build_submission(tmp_path, hostile("read_rubric", RUBRIC=rubric))

    result = grade_json(sub, rubric, "--isolation", isolation)
    assert result["isolation"] == isolation
    assert_scores_zero(result, "svm_loss", "loss")
    assert set(output_statuses(function(result, "svm_loss"), "dx")) == {"fail"}
    assert_full_marks(result, "svm_loss")

    # Control: where the rubric is readable, the attack returns the correct loss and dx.
    module = load_module(sub / "cs231n" / "layers.py", "hostile_read_rubric")
    case = public_case("svm_loss")
    loss, dx = module.svm_loss(case["in:x"], case["in:y"])
    assert loss != 123.0  # not the fallback's wrong answer
    np.testing.assert_allclose(loss, case["out:loss"], rtol=1e-9)
    np.testing.assert_allclose(dx, case["out:dx"], rtol=1e-9, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ISOLATED)
def test_other_students_files_are_unreadable(
    tmp_path: Path, open_tmp: Path, isolation: str
) -> None:
    # A class folder other users could read: only the isolation keeps it from the attacker.
    klass = open_tmp / "class"
    klass.mkdir(mode=0o755)
    build_submission(klass, name="victim")
    build_submission(klass, hostile("read_classmates", CLASS=klass), name="attacker")
    for path in [klass, *klass.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    rubric = write_rubric(tmp_path)

    out = tmp_path / "graded"
    proc = run_grade(
        "batch", klass, "-o", out, "-j", "2", "--rubric", rubric, "--isolation", isolation,
        timeout=GRADE_TIMEOUT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    attacker = json.loads((out / "results" / "attacker.json").read_text())["result"]
    victim = json.loads((out / "results" / "victim.json").read_text())["result"]
    assert attacker["isolation"] == isolation
    assert_scores_zero(attacker, "affine_forward", "out")
    assert_full_marks(attacker, "affine_forward")
    assert_full_marks(victim)

    # Control: in this process the class folder is readable, and the copy is correct.
    module = load_module(klass / "attacker" / "cs231n" / "layers.py", "hostile_read_classmates")
    case = public_case("affine_forward")
    got, _ = module.affine_forward(case["in:x"], case["in:w"], case["in:b"])
    assert np.any(case["out:out"] != 0)
    np.testing.assert_allclose(got, case["out:out"], rtol=1e-12)


# 4-6: lying values ---------------------------------------------------------------------

NUMPY_PATCH_PROBE = """
import importlib.util, json, sys
import numpy as np
allclose, fabs = np.allclose, np.fabs
spec = importlib.util.spec_from_file_location("hostile_patch_numpy", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
with np.load(sys.argv[2], allow_pickle=False) as npz:
    x, y, loss, dx = (npz["seed:" + k] for k in ("in:x", "in:y", "out:loss", "out:dx"))
got_loss, got_dx = module.softmax_loss(x, y)
np.testing.assert_allclose(got_dx, dx)
print(json.dumps({
    "allclose": bool(np.allclose(got_dx, dx)) and bool(np.allclose(got_loss, loss)),
    "array_equal": bool(np.array_equal(got_dx, dx)),
    "max_abs": float(np.max(np.abs(got_dx - dx))),
    "really_close": bool(allclose(got_dx, dx)),
    "true_error": float(fabs(got_dx - dx).max()),
}))
"""


@pytest.mark.sandbox
@pytest.mark.slow
def test_monkeypatched_numpy_does_not_fool_the_grader(
    tmp_path: Path, unsandboxed: SandboxConfig
) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("patch_numpy"))

    # Not vacuous: in the submission's own process every numpy check reports a match
    # (a separate interpreter, so this test process keeps its numpy intact).
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            NUMPY_PATCH_PROBE,
            sub / "cs231n" / "layers.py",
            VECTORS / "public" / "softmax_loss.npz",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    fooled = json.loads(probe.stdout)
    assert fooled["allclose"] and fooled["array_equal"] and fooled["max_abs"] == 0.0
    assert not fooled["really_close"] and fooled["true_error"] > 0.1

    # The grader compares in its own process: the patch reaches nothing it uses, with or
    # without the sandbox.
    for result in (grade_json(sub, rubric), grade_unsandboxed(sub, rubric, unsandboxed)):
        assert_scores_zero(result, "softmax_loss", "dx")
        assert set(output_statuses(function(result, "softmax_loss"), "loss")) == {"fail"}
        assert result["score"] <= TOTAL - POINTS["softmax_loss"]
        assert_full_marks(result, "softmax_loss")


@pytest.mark.sandbox
@pytest.mark.slow
def test_lying_ndarray_subclass_scores_its_data(tmp_path: Path) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("lying_subclass"))

    # Not vacuous: compared in Python, the returned array agrees with the expected values.
    module = load_module(sub / "cs231n" / "layers.py", "hostile_lying_subclass")
    case = public_case("affine_forward")
    out, _ = module.affine_forward(case["in:x"], case["in:w"], case["in:b"])
    want = case["out:out"]
    assert type(out) is not np.ndarray and isinstance(out, np.ndarray)
    assert bool((out == want).all())
    assert float(abs(out - want).max()) == 0.0
    assert np.allclose(out, want)
    assert np.abs(out.view(np.ndarray) - want).min() > 0.99

    result = grade_json(sub, rubric)
    assert_scores_zero(result, "affine_forward", "out")
    assert_full_marks(result, "affine_forward")


@pytest.mark.sandbox
@pytest.mark.slow
def test_object_with_eq_and_array_is_not_a_numeric_value(tmp_path: Path) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("eq_array_object"))

    result = grade_json(sub, rubric)
    fn = function(result, "relu_forward")
    assert_scores_zero(result, "relu_forward", "out")
    assert "_AlwaysEqual" in fn["feedback"] and "numeric value" in fn["feedback"]
    for case in fn["cases"]:
        (check,) = case["checks"]
        assert check["status"] == "fail" and check["rel_error"] is None
        assert "_AlwaysEqual" in check["message"] and "numeric value" in check["message"]
    assert_full_marks(result, "relu_forward")


# 7-8: results outside the comparison -----------------------------------------------------


@pytest.mark.sandbox
@pytest.mark.slow
def test_fake_result_files_do_not_count(
    tmp_path: Path, marker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rubric = write_rubric(tmp_path)
    out = tmp_path / "out.json"
    repo_result = ROOT / "result.json"
    host_tmp_fake = Path(f"/tmp/layergrade-{marker}.json")
    before = repo_result.read_bytes() if repo_result.exists() else None
    sub = build_submission(tmp_path, hostile("fake_results", OUT=out, MARKER=marker))

    def honest_report(extra: tuple[str, ...]) -> dict[str, Any]:
        out.unlink(missing_ok=True)
        proc = run_grade(
            sub,
            "--rubric",
            rubric,
            "--format",
            "json",
            "-o",
            out,
            *extra,
            timeout=GRADE_TIMEOUT,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == ""
        report: dict[str, Any] = json.loads(out.read_text())
        assert report["schema"] == "layergrade.result/1"
        assert report["score"] == TOTAL - POINTS["svm_loss"]
        assert_scores_zero(report, "svm_loss", "dx")
        assert_full_marks(report, "svm_loss")
        if before is None:
            assert not repo_result.exists()
        else:
            assert repo_result.read_bytes() == before
        return report

    try:
        assert honest_report(())["sandboxed"] is True
        # The worker's /tmp is private: nothing reached the host's.
        assert not host_tmp_fake.exists()

        # Control: the same snippet, with a stand-in for the project root (this process may
        # write there) and its own -o path, loaded here and run on a public case, writes the
        # forged full-marks report to every target, the host's /tmp included.
        work, stand_in = tmp_path / "control_cwd", tmp_path / "control_repo"
        work.mkdir()
        stand_in.mkdir()
        control_out = tmp_path / "control_out.json"
        control = build_submission(
            tmp_path,
            hostile("fake_results", OUT=control_out, MARKER=marker, REPO=stand_in),
            name="control",
        )
        monkeypatch.chdir(work)  # the snippet resolves its working-directory targets at import
        module = load_module(control / "cs231n" / "layers.py", "hostile_fake_results")
        case = public_case("svm_loss")
        module.svm_loss(case["in:x"], case["in:y"])
        targets = (
            work / "result.json",
            work / f"layergrade-{marker}.json",
            host_tmp_fake,
            stand_in / "result.json",
            control_out,
        )
        for target in targets:
            forged = json.loads(target.read_text())
            assert forged["score"] == forged["max_score"] == TOTAL, target
            assert {f["name"] for f in forged["functions"]} == set(POINTS), target
    finally:
        host_tmp_fake.unlink(missing_ok=True)


@pytest.mark.sandbox
@pytest.mark.slow
def test_exit_inside_a_function_fails_that_function_only(tmp_path: Path) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("exits"))

    result = grade_json(sub, rubric)
    # The feedback must say the process exited (os._exit) or name sys.exit.
    for name, named in (("affine_backward", r"exit"), ("relu_backward", r"sys\.exit|SystemExit")):
        fn = function(result, name)
        assert_scores_zero(result, name, "dx")
        assert re.search(named, fn["feedback"], re.IGNORECASE), fn["feedback"]
        for case in fn["cases"]:
            assert case["failure"]["status"] == "exit"
            assert re.search(named, case["feedback"], re.IGNORECASE), case["feedback"]
    assert_full_marks(result, "affine_backward", "relu_backward")


# 9-12: resources and processes ---------------------------------------------------------


@pytest.mark.sandbox
@pytest.mark.slow
@pytest.mark.parametrize("bomb", ["fork_bomb", "fork_bomb_hold"])
def test_fork_bomb_is_contained_and_cleaned_up(tmp_path: Path, marker: str, bomb: str) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile(bomb, MARKER=marker))

    since = ticks_now() - 1
    began = time.monotonic()
    try:
        result = grade(sub, rubric)
        assert time.monotonic() - began < 30
        # svm_loss gets whatever it gets. Every other function's case either passes or was
        # not run to completion (no process for it: the weakness that
        # test_fork_bomb_does_not_cost_other_functions shows); none is judged on wrong values.
        for fn in result["functions"]:
            if fn["name"] == "svm_loss":
                continue
            for case in fn["cases"]:
                assert case["credit"] == 1.0 or case["failure"] is not None, case["feedback"]
        assert settle(lambda: with_marker(marker), 3) == []
        leftovers = settle(lambda: workers_since(since), 10)
        assert leftovers == [], [(p.pid, p.cmdline[:80]) for p in leftovers]
    finally:
        kill_all(with_marker(marker))


@pytest.mark.sandbox
@pytest.mark.slow
def test_fork_bomb_does_not_cost_other_functions(tmp_path: Path, marker: str) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("fork_bomb_hold", MARKER=marker))
    try:
        result = grade(sub, rubric)
        assert_full_marks(result, "svm_loss")
    finally:
        kill_all(with_marker(marker))


@pytest.mark.sandbox
@pytest.mark.slow
def test_concurrent_grading_is_not_starved(tmp_path: Path, marker: str) -> None:
    rubric = write_rubric(tmp_path)
    hog = build_submission(tmp_path, hostile("starve_neighbours", MARKER=marker), name="hog")
    innocent = build_submission(tmp_path, name="innocent")
    hog_run = subprocess.Popen(
        [sys.executable, "-m", "grader", hog, "--rubric", rubric, "--format", "json"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        end = time.monotonic() + 10
        while not with_marker(marker) and time.monotonic() < end:
            time.sleep(0.02)
        assert with_marker(marker), "the other submission never filled the process limit"
        result = grade(innocent, rubric)
        # The two gradings overlapped: the other submission's processes are still there.
        assert with_marker(marker), "the other submission's processes ended too early"
        assert result["score"] == TOTAL, [f["feedback"] for f in result["functions"]]
    finally:
        try:
            hog_run.wait(timeout=GRADE_TIMEOUT)
        finally:
            if hog_run.poll() is None:
                hog_run.kill()
                hog_run.wait()
            kill_all(with_marker(marker))


@pytest.mark.sandbox
@pytest.mark.slow
def test_hang_outside_process_group_costs_only_its_function(tmp_path: Path) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("hang_outside_group"))

    began = time.monotonic()
    result = grade(sub, rubric)
    assert time.monotonic() - began < 40
    assert_scores_zero(result, "relu_forward", "out")
    assert_scores_zero(result, "relu_backward", "dx")
    assert_full_marks(result, "relu_forward", "relu_backward")


@pytest.mark.sandbox
@pytest.mark.slow
def test_memory_bomb_fails_that_function_only(tmp_path: Path) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("memory_bomb"))

    result = grade(sub, rubric)
    fn = function(result, "softmax_loss")
    assert_scores_zero(result, "softmax_loss", "dx")
    for case in fn["cases"]:
        assert "MemoryError" in case["failure"]["message"]
    assert_full_marks(result, "softmax_loss")


@pytest.mark.sandbox
@pytest.mark.slow
def test_stdout_flood_is_capped(tmp_path: Path) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("stdout_flood"))

    began = time.monotonic()
    result = grade(sub, rubric)
    assert time.monotonic() - began < 30
    # relu_forward (and relu_backward, whose cases call it) still pass: nothing is attacked.
    assert_full_marks(result)
    assert result["score"] == TOTAL
    assert "F" * 4096 in result["output"]
    assert len(result["output"]) <= OUTPUT_CAP + 1024


@pytest.mark.sandbox
@pytest.mark.slow
def test_background_process_does_not_outlive_grading(tmp_path: Path, marker: str) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("outlive_grader", MARKER=marker))

    try:
        result = grade(sub, rubric)
        assert "escaped as pid " in result["output"]
        assert f"sleep 300.{marker}" in result["output"], result["output"][-2000:]
        assert_full_marks(result)
        assert settle(lambda: with_marker(marker), 1.5) == []
    finally:
        kill_all(with_marker(marker))


@pytest.mark.slow
def test_unsandboxed_root_grading_warns_about_a_private_interpreter(tmp_path: Path) -> None:
    folder = unreadable_by_others(discover_runtime())
    if os.geteuid() != 0:
        pytest.skip(
            "only a grader running as root runs unsandboxed workers as another uid, "
            "which a private interpreter folder limits; this test does not run as root"
        )
    if folder is None:
        pytest.skip(
            "every folder on the interpreter's paths is open to other users: a root "
            "grader has nothing to warn about here"
        )
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path)

    proc = run_grade(
        sub,
        "--rubric",
        rubric,
        "--format",
        "json",
        "--no-sandbox",
        "--cases",
        "public",
        timeout=GRADE_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    # The warning names the folder the worker's uid cannot enter and how to lift the limit.
    assert f"cannot enter {folder}" in proc.stderr, proc.stderr
    assert "apt-get install bubblewrap" in proc.stderr, proc.stderr
    # And grading goes on: the modules loaded before the drop are enough for correct layers.
    result = json.loads(proc.stdout)
    assert result["sandboxed"] is False
    assert_full_marks(result)
    assert result["score"] == TOTAL


@pytest.mark.slow
def test_background_process_does_not_outlive_unsandboxed_grading(
    tmp_path: Path, marker: str, unsandboxed: SandboxConfig
) -> None:
    if unsandboxed.uid is None:
        pytest.skip(
            "not root: an unsandboxed worker keeps the grader's own uid, so there is "
            "no worker uid whose processes the grader may end"
        )
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("outlive_grader", MARKER=marker))

    try:
        result = grade_unsandboxed(sub, rubric, unsandboxed)
        # The escape ran: the worker saw its setsid'd grandchild running the marked sleep.
        assert "escaped as pid " in result["output"], result["output"][-2000:]
        assert f"sleep 300.{marker}" in result["output"], result["output"][-2000:]
        assert_full_marks(result)
        assert result["score"] == TOTAL
        # Gone as soon as grading returns, and so is every other process of the worker uid.
        assert with_marker(marker) == []
        left = [p for p in processes() if unsandboxed.uid in p.uids]
        assert left == [], [(p.pid, p.cmdline[:80]) for p in left]
    finally:
        kill_all(with_marker(marker))


@pytest.mark.slow
def test_unsandboxed_report_cannot_be_rewritten_after_grading(tmp_path: Path, marker: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(
            "not root: an unsandboxed worker keeps the grader's own uid, so there is "
            "no worker uid whose processes the grader may end"
        )
    rubric = write_rubric(tmp_path)
    # A report path the worker's uid can reach: pytest's own folders are private to root.
    out = Path(f"/tmp/layergrade-report-{marker}.json")
    sub = build_submission(tmp_path, hostile("rewrite_report", OUT=out))
    try:
        proc = run_grade(
            sub,
            "--rubric",
            rubric,
            "--format",
            "json",
            "-o",
            out,
            "--no-sandbox",
            "--cases",
            "public",
            timeout=GRADE_TIMEOUT,
        )
        assert proc.returncode == 0, proc.stderr
        # The submission created the report file at import (the plant ran).
        assert out.stat().st_uid in WORKER_UIDS
        time.sleep(1.0)
        report = json.loads(out.read_text())
        assert report["sandboxed"] is False
        assert report["score"] == TOTAL - POINTS["svm_loss"]
        assert function(report, "svm_loss")["score"] == 0
    finally:
        out.unlink(missing_ok=True)

    # Control: the helper's code, run here on the honest report, does rewrite it.
    control_out = tmp_path / "control_report.json"
    control_out.write_text(json.dumps(report))  # already there: importing plants nothing
    control = build_submission(tmp_path, hostile("rewrite_report", OUT=control_out), name="control")
    module = load_module(control / "cs231n" / "layers.py", "hostile_rewrite_report")
    module._rewrite_when_written()
    forged = json.loads(control_out.read_text())
    assert forged["score"] == forged["max_score"] == TOTAL
    assert all(f["score"] == f["max_score"] for f in forged["functions"])


# 13-14: network and environment ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ISOLATED)
def test_no_network(tmp_path: Path, listener: socket.socket, isolation: str) -> None:
    rubric = write_rubric(tmp_path)
    port = listener.getsockname()[1]
    sub = build_submission(tmp_path, hostile("network", PORT=port))

    result = grade(sub, rubric, "--isolation", isolation)
    if "network" in result["isolation_gaps"]:
        # A container whose kernel policy forbids a network namespace: the report says so,
        # and says it truthfully (the attack got through).
        assert isolation == "container"
        assert accepted(listener, 1.0) > 0
        return
    assert accepted(listener, 1.0) == 0
    assert_scores_zero(result, "affine_forward", "out")
    assert_full_marks(result, "affine_forward")

    # Control: loaded here, where nothing blocks the host's network, the attack connects to
    # the listener and returns the correct out.
    module = load_module(sub / "cs231n" / "layers.py", "hostile_network")
    case = public_case("affine_forward")
    out, _ = module.affine_forward(case["in:x"], case["in:w"], case["in:b"])
    assert accepted(listener, 3.0) > 0
    assert np.any(case["out:out"] != 0)  # the fallback's zeros would be wrong
    np.testing.assert_allclose(out, case["out:out"], rtol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ISOLATED)
def test_grader_environment_is_not_visible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unsandboxed: SandboxConfig, isolation: str
) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("env_secret"))
    secret = secrets.token_hex(16)

    # Not vacuous: with the variable set, the snippet's detection returns the correct dx.
    module = load_module(sub / "cs231n" / "layers.py", "hostile_env_secret")
    case = public_case("relu_backward")
    _, cache = module.relu_forward(case["in:x"])
    monkeypatch.delenv("LAYERGRADE_TEST_SECRET", raising=False)
    assert not np.any(module.relu_backward(case["in:dout"], cache))
    monkeypatch.setenv("LAYERGRADE_TEST_SECRET", secret)
    np.testing.assert_allclose(module.relu_backward(case["in:dout"], cache), case["out:dx"])

    # Sandboxed through the command line, and without bubblewrap through the API (in this
    # process, whose environment holds the secret now).
    env = dict(os.environ, LAYERGRADE_TEST_SECRET=secret)
    isolated = grade(sub, rubric, "--isolation", isolation, env=env)
    for result in (isolated, grade_unsandboxed(sub, rubric, unsandboxed)):
        assert_scores_zero(result, "relu_backward", "dx")
        assert_full_marks(result, "relu_backward")


@pytest.mark.sandbox
@pytest.mark.slow
def test_a_case_cannot_touch_its_neighbours_answers(tmp_path: Path) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("spray_fds"))

    results = [grade(sub, rubric) for _ in range(10)]
    for result in results:
        # relu_backward's cases call relu_forward for their cache: its junk is theirs too.
        assert_full_marks(result, "relu_forward", "relu_backward")
    # Each case saw the standard streams, its own answer's pipe and the listing's own
    # descriptor: nothing of the worker's or of another case's.
    listed = re.findall(r"descriptors: \[([\d, ]*)\]", results[0]["output"])
    assert listed
    for fds in listed:
        assert len({int(fd) for fd in fds.split(",")} - {0, 1, 2}) <= 2, fds
    # Deterministic: every run gives each case the same credit and feedback.
    seen = {
        json.dumps([[(c["id"], c["credit"], c["feedback"]) for c in f["cases"]]
                    for f in result["functions"]])
        for result in results
    }  # fmt: skip
    assert len(seen) == 1, seen

    # Control: the spraying does not change relu_forward's own answer. (In a process of
    # its own: it writes junk to every descriptor it has.)
    probe = (
        "import importlib.util, sys, numpy as np\n"
        "spec = importlib.util.spec_from_file_location('spray', sys.argv[1])\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "with np.load(sys.argv[2]) as npz:\n"
        "    x, want = npz['seed:in:x'], npz['seed:out:out']\n"
        "out, _ = module.relu_forward(x)\n"
        "assert np.array_equal(out, want)\n"
    )
    layers, vectors = sub / "cs231n" / "layers.py", VECTORS / "public" / "relu_forward.npz"
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(layers), str(vectors)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.sandbox
@pytest.mark.slow
def test_student_text_cannot_drive_the_staffs_tools(tmp_path: Path) -> None:
    klass = tmp_path / "class"
    build_submission(klass, hostile("inject_staff_tools"), name="=1+1")
    rubric = write_rubric(tmp_path)
    out = tmp_path / "graded"
    proc = run_grade("batch", klass, "-o", out, "--rubric", rubric, timeout=GRADE_TIMEOUT)
    assert proc.returncode == 0, proc.stderr

    result = json.loads((out / "results" / "_1_1.json").read_text())["result"]
    assert_scores_zero(result, "affine_forward", "out")
    assert "ValueError: =HYPERLINK" in function(result, "affine_forward")["feedback"]
    for shown in (
        proc.stdout,
        proc.stderr,
        (out / "gradebook.csv").read_text(),
        (out / "report.html").read_text(),
        *(p.read_text() for p in (out / "feedback").iterdir()),
    ):
        assert "\x1b" not in shown and "\x07" not in shown
    rows = list(csv.reader((out / "gradebook.csv").open()))
    assert rows[1][0] == "'=1+1"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)

    # Control: the message the submission raises does carry the escapes.
    module = load_module(klass / "=1+1" / "cs231n" / "layers.py", "hostile_inject")
    assert "\x1b]0;" in module.PAYLOAD and module.PAYLOAD.startswith("=")


def zip_with_flags(path: Path, *, flag_bits: int = 0, method: int | None = None) -> Path:
    """A zip of the correct layers whose member claims ``flag_bits`` (1: encrypted) or a
    compression ``method`` (9: deflate64) that Python's zipfile cannot read. Patched into
    the headers after writing: zipfile writes neither itself."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("cs231n/layers.py", CORRECT_LAYERS.read_bytes())
    data = bytearray(path.read_bytes())
    # The flags and the method are at offsets 6 and 8 of the local header, 8 and 10 of
    # the central directory's.
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    for start, offset in ((local, 6), (central, 8)):
        flags = int.from_bytes(data[start + offset : start + offset + 2], "little")
        data[start + offset : start + offset + 2] = (flags | flag_bits).to_bytes(2, "little")
        if method is not None:
            data[start + offset + 2 : start + offset + 4] = method.to_bytes(2, "little")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.sandbox
@pytest.mark.slow
def test_a_batch_records_every_entry_it_cannot_read_and_finishes(tmp_path: Path) -> None:
    klass = tmp_path / "class"
    build_submission(klass, name="honest")
    fifo = build_submission(klass, name="fifo")
    os.mkfifo(fifo / "cs231n" / "pipe.py")  # opening it would block forever
    os.mkfifo(fifo / "data.bin")
    (klass / "folder_named_layers" / "layers.py").mkdir(parents=True)
    zip_with_flags(klass / "encrypted.zip", flag_bits=0x1)
    zip_with_flags(klass / "deflate64.zip", method=9)
    damaged = klass / "damaged.zip"
    with zipfile.ZipFile(damaged, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cs231n/layers.py", CORRECT_LAYERS.read_text())
    data = bytearray(damaged.read_bytes())
    data[60:90] = bytes(30)  # inside the compressed member
    damaged.write_bytes(bytes(data))
    notebook = json.loads((NOTEBOOKS / "seed_py3.ipynb").read_text())
    notebook["metadata"]["huge"] = "REPLACE"
    (klass / "big_number.ipynb").write_text(json.dumps(notebook).replace('"REPLACE"', "9" * 5000))
    (klass / "twin.py").write_text(CORRECT_LAYERS.read_text())
    build_submission(klass, name="twin")
    rubric = write_rubric(tmp_path)

    out = tmp_path / "graded"
    proc = run_grade("batch", klass, "-o", out, "--rubric", rubric, timeout=GRADE_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    rows = {row["student"]: row for row in csv.DictReader((out / "gradebook.csv").open())}
    assert set(rows) == {
        "honest", "fifo", "folder_named_layers", "encrypted", "deflate64", "damaged",
        "big_number", "twin",
    }  # fmt: skip
    assert rows["honest"]["total"] == "55" and rows["fifo"]["total"] == "55"
    reasons = {name: row["reason"] for name, row in rows.items()}
    assert "no layers.py found" in reasons["folder_named_layers"]
    assert "password" in reasons["encrypted"] and "NotImplementedError" in reasons["deflate64"]
    assert "cannot extract" in reasons["damaged"] or "not a readable zip" in reasons["damaged"]
    assert "4300" in reasons["big_number"] or "digits" in reasons["big_number"]
    assert "twin.py, twin" in reasons["twin"] or "twin, twin.py" in reasons["twin"]
    for name in rows:
        assert "internal error" not in reasons[name] and "/tmp/" not in reasons[name], name
        record = json.loads((out / "results" / f"{name}.json").read_text())
        assert not record.get("host_error"), name
    assert (out / "summary.json").is_file() and (out / "report.html").is_file()


# Malformed messages ------------------------------------------------------------------------


@pytest.mark.sandbox
@pytest.mark.slow
@pytest.mark.parametrize("variant", ["shape_overflow", "deep_json"])
def test_forged_result_frame_fails_one_case(tmp_path: Path, variant: str) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("forged_frame", VARIANT=variant))

    result = grade(sub, rubric)
    fn = function(result, "relu_forward")
    cases = {c["id"]: c for c in fn["cases"]}
    forged = cases.pop("relu_forward.seed")
    assert forged["credit"] == 0
    # Rejected as a malformed message, not lost with a worker that crashed on it.
    assert "died" not in forged["feedback"], forged["feedback"]
    assert "Traceback" not in result["output"], result["output"][-2000:]
    assert cases and all(c["credit"] == 1.0 for c in cases.values())
    assert_full_marks(result, "relu_forward")
