"""The real `grade` command: exit codes, where output goes, and usage errors with hints.

Scores are worked out by hand from rubric.yaml: 55 points in all, of which
affine_forward is worth 10.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import CORRECT, ROOT, ZOO, build_submission, grade_json, run_grade, write_rubric

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

FUNCTIONS = {
    "affine_forward": 10,
    "affine_backward": 15,
    "relu_forward": 5,
    "relu_backward": 5,
    "svm_loss": 10,
    "softmax_loss": 10,
}


@pytest.fixture(scope="module")
def rubric(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rubric(tmp_path_factory.mktemp("rubric"))


@pytest.fixture(scope="module")
def stub_submission(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """affine_forward left as the starter stub: every other function is correct."""
    snippet = (ZOO / "bugs" / "stub_returns_none.py").read_text()
    return build_submission(tmp_path_factory.mktemp("stub"), snippet)


def one_line(text: str) -> str:
    """Text as written, with the terminal's line wrapping undone."""
    return " ".join(text.split())


# Usage -----------------------------------------------------------------------------------


def test_help_lists_the_subcommands() -> None:
    proc = run_grade("--help")
    assert proc.returncode == 0
    assert "grade PATH" in proc.stdout
    assert "grade check PATH" in proc.stdout
    assert "grade vectors build|verify" in proc.stdout


def test_grade_help_for_a_submission() -> None:
    proc = run_grade("x", "--help")
    assert proc.returncode == 0
    for option in ("--rubric", "--module", "--format", "--fail-under", "--cases", "--no-sandbox"):
        assert option in proc.stdout


def test_no_arguments_is_a_usage_error() -> None:
    proc = run_grade()
    assert proc.returncode == 2
    assert "grade PATH" in proc.stdout + proc.stderr


def test_an_unknown_option_is_a_usage_error(rubric: Path) -> None:
    proc = run_grade(CORRECT, "--rubric", rubric, "--colour")
    assert proc.returncode == 2
    assert "--colour" in proc.stderr


def test_a_submission_that_does_not_exist(rubric: Path) -> None:
    proc = run_grade("no_such_submission", "--rubric", rubric)
    assert proc.returncode == 2
    assert "grade: no_such_submission does not exist." in one_line(proc.stderr)
    assert proc.stdout == ""


def test_a_bad_rubric_says_did_you_mean(tmp_path: Path) -> None:
    data = yaml.safe_load(write_rubric(tmp_path).read_text())
    data["tolerance"] = data.pop("tolerances")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    proc = run_grade(CORRECT, "--rubric", bad)
    assert proc.returncode == 2
    assert "unknown key 'tolerance'. Did you mean 'tolerances'?" in one_line(proc.stderr)


# Scores and exit codes -------------------------------------------------------------------


def test_the_stub_loses_exactly_affine_forwards_points(stub_submission: Path, rubric: Path) -> None:
    result = grade_json(stub_submission, rubric)
    assert result["score"] == 55 - 10
    assert result["max_score"] == 55


def test_fail_under_above_the_score_exits_1(stub_submission: Path, rubric: Path) -> None:
    proc = run_grade(stub_submission, "--rubric", rubric, "--fail-under", "50")
    assert proc.returncode == 1
    assert "score 45 is under --fail-under 50" in one_line(proc.stderr)


def test_fail_under_below_the_score_exits_0(stub_submission: Path, rubric: Path) -> None:
    proc = run_grade(stub_submission, "--rubric", rubric, "--fail-under", "40")
    assert proc.returncode == 0
    assert "fail-under" not in proc.stderr


def test_fail_under_equal_to_the_score_exits_0(stub_submission: Path, rubric: Path) -> None:
    assert run_grade(stub_submission, "--rubric", rubric, "--fail-under", "45").returncode == 0


# Output formats --------------------------------------------------------------------------


def test_json_to_stdout(rubric: Path) -> None:
    proc = run_grade(CORRECT, "--rubric", rubric, "--format", "json")
    assert proc.returncode == 0
    result = json.loads(proc.stdout)
    assert result["schema"] == "layergrade.result/1"
    assert result["score"] == result["max_score"] == 55
    assert result["cases"] == ["public", "hidden"]
    assert {f["name"]: f["max_score"] for f in result["functions"]} == FUNCTIONS
    for fn in result["functions"]:
        assert {"name", "score", "max_score", "status", "feedback"} <= set(fn)
        assert fn["score"] == fn["max_score"]
        assert fn["status"] == "pass"
        assert fn["feedback"] == "all cases pass"


def test_json_names_the_failing_function(stub_submission: Path, rubric: Path) -> None:
    result = grade_json(stub_submission, rubric)
    fn = next(f for f in result["functions"] if f["name"] == "affine_forward")
    assert (fn["score"], fn["status"]) == (0, "fail")
    assert fn["feedback"] == "not implemented yet: it returns None (the starter code's stub)"


def test_json_to_a_file_prints_nothing_to_stdout(rubric: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = run_grade(CORRECT, "--rubric", rubric, "--format", "json", "-o", out)
    assert proc.returncode == 0
    assert proc.stdout == ""
    result = json.loads(out.read_text())
    assert result["schema"] == "layergrade.result/1"
    assert result["score"] == 55


def test_table_to_a_file_prints_nothing_to_stdout(rubric: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.txt"
    proc = run_grade(CORRECT, "--rubric", rubric, "-o", out)
    assert proc.returncode == 0
    assert proc.stdout == ""
    text = out.read_text()
    for name in FUNCTIONS:
        assert name in text


# grade check -----------------------------------------------------------------------------


def test_check_grades_public_cases_only(rubric: Path) -> None:
    proc = run_grade("check", CORRECT, "--rubric", rubric, "--format", "json")
    assert proc.returncode == 0
    result = json.loads(proc.stdout)
    cases = [c for f in result["functions"] for c in f["cases"]]
    assert cases
    assert {c["split"] for c in cases} == {"public"}
    assert result["score"] == 55


def test_staff_can_grade_public_cases_only(rubric: Path) -> None:
    result = grade_json(CORRECT, rubric, "--cases", "public")
    assert {c["split"] for f in result["functions"] for c in f["cases"]} == {"public"}


@pytest.mark.parametrize(
    "args", [("check", CORRECT), (CORRECT, "--cases", "public")], ids=["check", "cases-public"]
)
def test_the_report_names_the_splits_that_were_graded(
    args: tuple[str | Path, ...], rubric: Path
) -> None:
    proc = run_grade(*args, "--rubric", rubric, "--format", "json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["cases"] == ["public"]


def test_check_leads_with_what_to_fix_and_fails_like_a_test_run(
    stub_submission: Path, rubric: Path
) -> None:
    proc = run_grade("check", stub_submission, "--rubric", rubric)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0] == "First to fix: affine_forward"
    assert "not implemented yet" in lines[1]
    assert any(line.startswith("✗ affine_forward") for line in lines)
    assert any(line.startswith("✓ relu_backward") for line in lines)
    # 9 public cases (affine_forward 2, the others 1, softmax_loss 3): 7 pass.
    assert one_line(proc.stdout).endswith(
        "7 of 9 public checks passed; 1 of 6 functions need work. "
        "Hidden checks run when you submit."
    )


def test_check_says_all_public_checks_passed_and_no_more(rubric: Path) -> None:
    proc = run_grade("check", CORRECT, "--rubric", rubric)
    assert proc.returncode == 0
    assert one_line(proc.stdout).endswith(
        "All 9 public checks passed. Hidden checks run when you submit."
    )
    assert "all tests passed" not in proc.stdout.lower()


def test_check_one_function(stub_submission: Path, rubric: Path) -> None:
    proc = run_grade("check", stub_submission, "--rubric", rubric, "-k", "relu_forward")
    assert proc.returncode == 0
    assert "The public check passed. Hidden checks run when you submit." in proc.stdout
    assert "affine_forward" not in proc.stdout
    wrong = run_grade("check", stub_submission, "--rubric", rubric, "-k", "relu_fwd")
    assert wrong.returncode == 2
    assert "Did you mean 'relu_forward'?" in wrong.stderr


def test_check_has_no_staff_options(rubric: Path) -> None:
    proc = run_grade("check", CORRECT, "--rubric", rubric, "--cases", "hidden")
    assert proc.returncode == 2
    assert "--cases" in proc.stderr


# Vectors ---------------------------------------------------------------------------------


def test_vectors_verify() -> None:
    proc = run_grade("vectors", "verify")
    assert proc.returncode == 0
    assert "checksums OK" in proc.stdout


@pytest.fixture(scope="module")
def tampered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A rubric pointing at a copy of the vectors with one byte flipped, and that file."""
    folder = tmp_path_factory.mktemp("v")
    vectors = folder / "vectors"
    shutil.copytree(ROOT / "assignments" / "modular_layers" / "vectors", vectors)
    bad = vectors / "public" / "relu_forward.npz"
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad.write_bytes(bytes(data))
    return write_rubric(folder, vectors=str(vectors)), bad


def test_verify_names_a_tampered_file(tampered: tuple[Path, Path]) -> None:
    rubric, bad = tampered
    proc = run_grade("vectors", "verify", "--rubric", rubric)
    assert proc.returncode == 2
    # Joined without any whitespace: a long path may be folded over two lines.
    assert str(bad) in "".join(proc.stderr.split())
    assert "does not match its checksum" in one_line(proc.stderr)


def test_grading_refuses_tampered_vectors(tampered: tuple[Path, Path]) -> None:
    rubric, bad = tampered
    proc = run_grade(CORRECT, "--rubric", rubric)
    assert proc.returncode == 2
    assert str(bad) in "".join(proc.stderr.split())
    assert proc.stdout == ""


# Sandbox ---------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", [("--no-sandbox",), ("--isolation", "processes")])
def test_hidden_cases_never_run_with_process_limits_only(
    rubric: Path, flag: tuple[str, ...]
) -> None:
    proc = run_grade(CORRECT, "--rubric", rubric, "--cases", "hidden", *flag)
    assert proc.returncode == 2
    message = one_line(proc.stderr)
    assert "hidden cases never run without isolation" in message
    assert "apt-get install bubblewrap" in message and "--cases public" in message
    assert proc.stdout == ""


def test_public_cases_run_with_process_limits_only(rubric: Path) -> None:
    proc = run_grade(
        CORRECT, "--rubric", rubric, "--cases", "public", "--no-sandbox", "--format", "json"
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["isolation"] == "processes" and result["sandboxed"] is False
    assert result["score"] == 55
    # One line says what is and is not isolated.
    assert "isolation: processes: resource limits only" in one_line(proc.stderr)


def without_bwrap(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH holds no bubblewrap."""
    empty = tmp_path / "bin"
    empty.mkdir()
    env = dict(os.environ, PATH=str(empty))
    assert shutil.which("bwrap", path=env["PATH"]) is None
    return env


@pytest.mark.container
def test_without_bubblewrap_a_root_grader_isolates_as_a_container(
    rubric: Path, tmp_path: Path
) -> None:
    result = grade_json(CORRECT, rubric, env=without_bwrap(tmp_path))
    assert result["isolation"] == "container" and result["sandboxed"] is True
    assert result["cases"] == ["public", "hidden"]
    assert result["score"] == 55


def test_a_long_path_in_an_error_is_printed_whole(rubric: Path) -> None:
    missing = "no_such_submission_" + "x" * 100
    proc = run_grade(missing, "--rubric", rubric)
    assert proc.returncode == 2
    assert missing in proc.stderr


def test_an_unwritable_report_file_keeps_the_result_on_stdout(rubric: Path, tmp_path: Path) -> None:
    target = tmp_path / "no_such_folder" / "report.json"
    proc = run_grade(CORRECT, "--rubric", rubric, "--format", "json", "-o", target)
    assert proc.returncode == 2
    assert "cannot write the report" in proc.stderr
    assert json.loads(proc.stdout)["score"] == 55


@pytest.mark.parametrize("argv", [["--help"], ["--version"]])
def test_help_and_version_import_nothing_heavy(argv: list[str]) -> None:
    """What grading needs (numpy, rich, the sandbox) is imported when grading starts, so
    that `grade --help` answers at once."""
    probe = (
        "import sys\nfrom grader.cli import main\n"
        f"main({argv!r})\n"
        "print(sorted(m for m in ('numpy', 'rich', 'grader.sandbox.run') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
