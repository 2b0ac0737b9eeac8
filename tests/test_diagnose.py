"""Naming the mistake: every catalogued mistake, packaged as a submission and graded in
the sandbox, is diagnosed as itself and as no other; the reference gets no diagnosis;
structural signatures are worked out by hand on small arrays."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import ROOT, make_case

from grader.config.rubric import FunctionRubric
from grader.grading.compare import Check, compare_array
from grader.grading.diagnose import Diagnosis, diagnose
from grader.grading.score import CaseResult, FunctionResult, GradeResult
from grader.report import gradescope, json_report, markdown, prairielearn
from grader.sandbox.results import CaseOutcome, Failure
from grader.vectors import MISTAKES_FOLDER, Fingerprint, error_signature, load_vectors
from reference.mistakes import MISTAKES, by_name

VECTORS = ROOT / "assignments" / "modular_layers" / "vectors"
REFERENCE = (ROOT / "reference" / "layers.py").read_text()
# Two mistakes in different functions, both to be named.
TWO = ("affine_dw_transposed", "softmax_no_mean")


def every_function_rubric(folder: Path) -> Path:
    """The rubric grading every layer (assignments/all), on the checkout's vectors."""
    data = yaml.safe_load((ROOT / "assignments" / "all" / "rubric.yaml").read_text())
    data["vectors"] = str(VECTORS)
    path = folder / "rubric.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def submission(folder: Path, *sources: str) -> None:
    """The reference layers with each of ``sources`` appended (the last definition wins)."""
    (folder / "cs231n").mkdir(parents=True)
    (folder / "cs231n" / "layers.py").write_text("\n\n".join([REFERENCE, *sources]))


@pytest.mark.sandbox
@pytest.mark.slow
def test_each_mistake_is_diagnosed_as_itself_and_no_other(tmp_path: Path) -> None:
    klass = tmp_path / "class"
    submission(klass / "reference")
    for mistake in MISTAKES:
        submission(klass / mistake.name, mistake.source())
    submission(klass / "two_mistakes", *(by_name(n).source() for n in TWO))
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable, "-m", "grader", "batch", klass, "-o", out,
            "--rubric", every_function_rubric(tmp_path), "-j", "2",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    confused = {}
    for path in sorted((out / "results").glob("*.json")):
        record = json.loads(path.read_text())
        student, functions = record["student"], record["result"]["functions"]
        named = {m for f in functions for m in f["mistakes"]}
        want = {"reference": set(), "two_mistakes": set(TWO)}.get(student, {student})
        if named != want:
            confused[student] = sorted(named)
        if student == "reference":
            # Correct work: full marks and not a single hint, named or structural.
            assert all(f["status"] == "pass" and f["hints"] == [] for f in functions)
    assert len(list((out / "results").glob("*.json"))) == len(MISTAKES) + 2
    assert confused == {}


# Structural signatures --------------------------------------------------------------------


def hints(
    got: np.ndarray,
    want: np.ndarray,
    inputs: dict[str, np.ndarray] | None = None,
    split: str = "public",
) -> list[str]:
    case = make_case(inputs or {"x": np.ones((4, 3))}, {"dx": want}, split=split)  # type: ignore[arg-type]
    check = compare_array("dx", got, want, case, lambda e: float(e <= 1e-7), reveal=True)
    outcome = CaseOutcome(case.id, 0.0, values={"dx": got})
    return [d.hint for d in diagnose(case, outcome, (check,), "keep")]


WANT = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.5], [2.0, 2.5, -3.0], [1.0, 1.0, 7.0]])


def test_a_factor_of_n_is_named_with_the_batch_size() -> None:
    # x has 4 rows: N = 4. Forgetting to divide by N makes every entry 4 times larger.
    assert hints(4 * WANT, WANT) == [
        "dx is N = 4 times too large everywhere: average over the batch (divide by N)"
    ]
    assert hints(WANT / 4, WANT) == [
        "dx is N = 4 times too small everywhere: it is divided by N once too often"
    ]
    assert hints(-WANT, WANT) == ["dx has the wrong sign everywhere"]
    assert hints(2.5 * WANT, WANT) == [
        "dx is off by the same factor (2.5) everywhere: a missing or extra scale"
    ]


def test_a_constant_offset_is_named() -> None:
    assert hints(WANT + 0.25, WANT) == ["dx is off by the same constant (0.25) everywhere"]


def test_the_same_difference_in_every_row_is_named() -> None:
    # A bias of (0.1, -0.2, 0.3) never added: every row is off by it.
    got = WANT - np.array([0.1, -0.2, 0.3])
    assert hints(got, WANT) == [
        "dx is off by the same amounts in every row (for every example): is the bias "
        "added, and added once?"
    ]


def test_an_error_only_where_x_is_not_positive_is_named() -> None:
    x = np.array([[1.0, -1.0, 2.0], [-0.5, 0.3, 0.2], [0.1, -2.0, 1.0], [-1.0, 1.0, 1.0]])
    got = np.where(x > 0, WANT, 0.0)
    assert hints(got, WANT, {"x": x}) == ["dx is wrong only where x <= 0"]
    got = np.where(x > 0, 0.0, WANT)
    assert hints(got, WANT, {"x": x}) == ["dx is wrong only where x > 0"]


def test_an_error_only_on_the_border_is_named() -> None:
    want = np.arange(1.0, 1.0 + 2 * 2 * 4 * 5).reshape(2, 2, 4, 5)
    got = want.copy()
    got[:, :, 0, :] = 0.0
    got[:, :, :, -1] += 1.0
    inputs = {"x": np.ones((2, 2, 6, 7))}
    assert hints(got, want, inputs) == [
        "dx is wrong only on the border of each image: check the padding"
    ]


def test_hidden_cases_and_correct_work_get_no_structural_hint() -> None:
    assert hints(4 * WANT, WANT, split="hidden") == []
    assert hints(WANT * (1 + 1e-9), WANT) == []
    # Wrong in no pattern: a number, not a guess.
    noise = np.array([[0.1, 0.0, 0.0], [0.0, 0.0, -0.3], [0.0, 0.7, 0.0], [0.0, 0.0, 0.0]])
    assert hints(WANT + noise, WANT) == []


# Fingerprints --------------------------------------------------------------------------------


def test_a_fingerprint_never_matches_an_answer_within_the_pass_tier() -> None:
    want = WANT
    mistaken = Fingerprint("m", "the hint.", outputs={"dx": want * (1 + 2e-5)})
    case = make_case({"x": np.ones((4, 3))}, {"dx": want}, split="hidden")
    case = replace(case, mistakes=(mistaken,))

    def named(got: np.ndarray) -> tuple[Diagnosis, ...]:
        check = compare_array("dx", got, want, case, lambda e: float(e <= 1e-7), reveal=False)
        return diagnose(case, CaseOutcome(case.id, 0.0, values={"dx": got}), (check,), "keep")

    assert named(want * (1 + 5e-8)) == ()
    assert named(want * (1 + 2e-5)) == (Diagnosis("the hint.", "m"),)


def test_an_error_is_recognised_across_wordings() -> None:
    old = "ValueError: shapes (4,5) and (6,3) not aligned: 5 (dim 1) != 6 (dim 0)"
    new = "ValueError: matmul: shapes (4,5) and (6,3) not aligned: 5 (dim 1) != 6 (dim 0)"
    assert error_signature(old) == error_signature(new) == "ValueError 4 5 6 3 5 1 6 0"
    fp = Fingerprint("m", "the hint.", error=error_signature(old))
    case = make_case({"x": np.ones((4, 5))}, {"dx": WANT})
    case = replace(case, mistakes=(fp,))
    outcome = CaseOutcome(case.id, 0.0, failure=Failure("error", new))
    assert [d.mistake for d in diagnose(case, outcome, (), "keep")] == ["m"]


def test_a_students_copy_has_no_fingerprints(tmp_path: Path) -> None:
    """The fingerprints are staff files: a copy of the vectors without them loads, with no
    mistake to match; the staff copy has them for every function of the catalogue."""
    staff = load_vectors(VECTORS)
    fingerprinted = {c.function for c in staff.cases if c.mistakes}
    assert {m.function for m in MISTAKES} <= fingerprinted | {
        c["fn"] for case in staff.cases if case.mistakes for c in case.calls
    }
    copy = tmp_path / "vectors"
    shutil.copytree(VECTORS, copy, ignore=shutil.ignore_patterns(MISTAKES_FOLDER))
    student = load_vectors(copy)
    assert all(c.mistakes == () for c in student.cases)
    assert student.digest != staff.digest


# Every platform's report --------------------------------------------------------------------


def test_every_report_names_the_mistake_and_the_verdict() -> None:
    """The hint and the gradient check reach the student on every platform, not only in
    the terminal."""
    check = Check("db", 0.0, "db has shape (10,), expected (5,) like b")
    case = CaseResult(
        case_id="affine_backward.seed",
        split="hidden",
        rubric=FunctionRubric("affine_backward", 15.0, {}),
        checks=(check,),
        failure=None,
        seconds=0.1,
        diagnoses=(Diagnosis("db is summed over the wrong axis.", "affine_db_wrong_axis"),),
    )
    verdict = "your affine_backward disagrees with ...: the bug is in affine_backward"
    function = FunctionResult("affine_backward", 15.0, (case,), False, verdict=verdict)
    result = GradeResult(
        submission="s", module="cs231n/layers.py", isolation="bubblewrap",
        splits=("hidden",), functions=(function,), import_failure=None, output="",
        seconds=1.0,
    )  # fmt: skip
    texts = {
        "gradescope": json.dumps(gradescope.to_dict(result)),
        "prairielearn": json.dumps(prairielearn.to_dict(result)),
        "markdown": markdown.render(result),
        "json": json.dumps(json_report.to_dict(result)),
    }
    for name, text in texts.items():
        assert "db is summed over the wrong axis" in text, name
        assert "the bug is in affine_backward" in text, name


def test_dropout_statistics_name_only_their_own_mistake() -> None:
    """On a dropout case (keep 0.3 of 200 x 300), each statistic fires on its mistake
    and not on others' (a mask never applied, an output of zeros)."""
    rs = np.random.RandomState(0)
    x = rs.randn(200, 300) + 5.0  # never 0, so a kept unit is never mistaken for a dropped one
    keep = 0.3
    prints = tuple(
        Fingerprint(name, f"{name}.", statistic=True)
        for name in ("dropout_not_inverted", "dropout_p_as_drop", "dropout_shared_mask")
    )
    case = replace(
        make_case({"x": x}, {}, check="dropout_train", params={"p": keep}),
        mistakes=prints,
    )
    mask = rs.rand(*x.shape) < keep
    outputs = {
        "dropout_not_inverted": x * mask,
        "dropout_p_as_drop": x * (rs.rand(*x.shape) < 1 - keep) / (1 - keep),
        "dropout_shared_mask": x * (rs.rand(1, 300) < keep) / keep,
        "never applied": x.copy(),
        "zeros": np.zeros_like(x),
    }
    failing = (Check("out", 0.0, "wrong"),)
    named = {
        what: [
            d.mistake
            for d in diagnose(case, CaseOutcome(case.id, 0.0, values={"out": out}), failing, "keep")
        ]
        for what, out in outputs.items()
    }
    assert named == {
        "dropout_not_inverted": ["dropout_not_inverted"],
        "dropout_p_as_drop": ["dropout_p_as_drop"],
        "dropout_shared_mask": ["dropout_shared_mask"],
        "never applied": [],
        "zeros": [],
    }
