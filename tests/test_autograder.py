"""Gradescope's run_autograder, against a simulated /autograder tree (its root is an
argument): results.json is always written, with the fields and values Gradescope's
published autograder specification allows."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import ROOT, run_grade, write_rubric

CORRECT = ROOT / "assignments" / "modular_layers" / "examples" / "correct"
STATUSES = {"passed", "failed"}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


def autograder_tree(tmp_path: Path, submission: Path | None) -> Path:
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    write_rubric(root / "source")
    (root / "submission").mkdir()
    if submission is not None:
        shutil.copytree(submission, root / "submission", dirs_exist_ok=True)
    return root


def run(root: Path) -> dict[str, Any]:
    proc = run_grade("gradescope", "--root", root)
    assert proc.returncode == 0, proc.stderr
    path = root / "results" / "results.json"
    assert proc.stdout.strip() == str(path)
    data: dict[str, Any] = json.loads(path.read_text())
    assert path.stat().st_mode & 0o777 == 0o644
    check_fields(data)
    return data


def check_fields(data: dict[str, Any]) -> None:
    assert set(data) <= {"score", "output", "tests"}
    assert isinstance(data["score"], float) and isinstance(data["output"], str)
    for test in data["tests"]:
        assert set(test) == {"name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] in STATUSES and test["visibility"] in VISIBILITIES
        assert 0 <= test["score"] <= test["max_score"]


@pytest.mark.sandbox
@pytest.mark.slow
def test_a_correct_submission_scores_full_with_public_and_hidden_tests(tmp_path: Path) -> None:
    data = run(autograder_tree(tmp_path, CORRECT))
    assert data["score"] == 55
    assert sum(t["max_score"] for t in data["tests"]) == pytest.approx(55)
    assert {t["visibility"] for t in data["tests"]} == {"visible", "after_published"}
    public = [t for t in data["tests"] if t["name"].endswith("(public cases)")]
    assert public and all(t["visibility"] == "visible" for t in public)
    assert all(t["status"] == "passed" for t in data["tests"])


@pytest.mark.slow
def test_a_submission_without_layers_gets_its_reason(tmp_path: Path) -> None:
    data = run(autograder_tree(tmp_path, None))
    assert data["score"] == 0
    assert "no layers.py found" in data["output"]
    assert data["tests"] == []


@pytest.mark.slow
def test_a_failing_grader_still_writes_results_with_the_traceback_for_staff(
    tmp_path: Path,
) -> None:
    root = autograder_tree(tmp_path, CORRECT)
    (root / "source" / "rubric.yaml").write_text("functions: [not, a, mapping]\n")
    data = run(root)
    assert data["score"] == 0
    assert "problem on its side, not in your code" in data["output"]
    (staff,) = data["tests"]
    assert staff["visibility"] == "hidden"
    assert "Traceback" in staff["output"] and "RubricError" in staff["output"]


# The autograder zip -------------------------------------------------------------------


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zip") / "autograder.zip"
    proc = run_grade("bundle", "gradescope", "dropout", "-o", out)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.slow
def test_the_zip_has_the_scripts_at_its_root_and_every_case_of_the_assignment(
    autograder_zip: Path,
) -> None:
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
        rubric = yaml.safe_load(archive.read("rubric.yaml"))
    assert {"setup.sh", "run_autograder", "rubric.yaml"} <= names
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert [n for n in names if n.endswith(".whl")] == [
        n for n in names if n.startswith("layergrade-")
    ]
    assert rubric["cases"] == "all" and rubric["vectors"] == "vectors"
    # Only the graded functions' files, both splits, and their mistakes' fingerprints.
    graded = ("dropout_forward.npz", "dropout_backward.npz", "manifest.json")
    assert {n for n in names if n.startswith("vectors/") and "/mistakes/" not in n} == {
        f"vectors/{split}/{file}" for split in ("public", "hidden") for file in graded
    }
    fingerprints = {n for n in names if n.startswith("vectors/mistakes/")}
    assert "vectors/mistakes/manifest.json" in fingerprints
    assert fingerprints <= {f"vectors/mistakes/{file}" for file in graded}
    with zipfile.ZipFile(autograder_zip) as archive:
        manifest = json.loads(archive.read("vectors/mistakes/manifest.json"))
    assert manifest["fingerprints"]
    assert {case.split(".")[0] for case in manifest["fingerprints"]} <= {
        "dropout_forward",
        "dropout_backward",
    }
    assert not any(n.startswith("reference/") or "/reference/" in n for n in names)


@pytest.mark.sandbox
@pytest.mark.slow
def test_run_autograder_from_the_zip_grades_a_submission(
    autograder_zip: Path, tmp_path: Path
) -> None:
    root = tmp_path / "autograder"
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    shutil.copytree(CORRECT, root / "submission")
    script = root / "source" / "run_autograder"
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), VENV=sys.prefix)
    proc = subprocess.run(["bash", script], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    check_fields(data)
    assert data["score"] == 20


@pytest.mark.sandbox
@pytest.mark.slow
def test_gradescope_times_apply_the_rubrics_late_policy(tmp_path: Path) -> None:
    root = autograder_tree(tmp_path, CORRECT)
    rubric = root / "source" / "rubric.yaml"
    data = yaml.safe_load(rubric.read_text())
    data["late"] = {"grace_minutes": 15, "penalty_per_day": 0.1}
    rubric.write_text(yaml.safe_dump(data))
    metadata = {
        "created_at": "2026-12-03T10:00:00.000000-08:00",
        "assignment": {"due_date": "2026-12-01T23:59:00.000000-08:00"},
    }
    (root / "submission_metadata.json").write_text(json.dumps(metadata))
    result = run(root)
    # Worked by hand: 34 h 01 min after the deadline, 33 h 46 min after its 15 minutes of
    # grace: two started days, 20% off 55.
    assert result["score"] == 44
    assert "submitted 2 days late: 20% off the score" in result["output"]
