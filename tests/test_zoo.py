"""The zoo: typical wrong submissions graded end to end through the real `grade` command.

Each snippet in zoo/bugs/ starts with `# expect: FUNCTION.OUTPUT=fail|partial, ...`,
derived by hand from the bug: those outputs must fail (or earn partial credit) in at
least one case, and every other output of the graded functions must pass in every case.
A few totals are worked out by hand from the rubric's points below.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support import (
    CORRECT,
    ROOT,
    ZOO,
    build_submission,
    function,
    grade_json,
    output_statuses,
    run_grade,
    write_rubric,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

OUTPUTS = {
    "affine_forward": ["out"],
    "affine_backward": ["dx", "dw", "db"],
    "relu_forward": ["out"],
    "relu_backward": ["dx"],
    "svm_loss": ["loss", "dx"],
    "softmax_loss": ["loss", "dx"],
}
BUGS = sorted(p.stem for p in (ZOO / "bugs").glob("*.py"))


def expectations(snippet: str) -> dict[tuple[str, str], str]:
    line = next(line for line in snippet.splitlines() if line.startswith("# expect:"))
    found = re.findall(r"(\w+)\.(\w+)=(fail|partial)", line)
    return {(fn, out): status for fn, out, status in found}


@pytest.fixture(scope="module")
def rubric(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rubric(tmp_path_factory.mktemp("rubric"))


def test_correct_example_gets_full_marks(rubric: Path) -> None:
    result = grade_json(CORRECT, rubric)
    assert result["score"] == result["max_score"] == 55
    assert result["sandboxed"] is True
    assert {f["status"] for f in result["functions"]} == {"pass"}


@pytest.mark.parametrize("bug", BUGS)
def test_bug_fails_exactly_what_it_breaks(bug: str, rubric: Path, tmp_path: Path) -> None:
    snippet = (ZOO / "bugs" / f"{bug}.py").read_text()
    expected = expectations(snippet)
    result = grade_json(build_submission(tmp_path, snippet), rubric)
    for name, outputs in OUTPUTS.items():
        fn = function(result, name)
        for output in outputs:
            statuses = output_statuses(fn, output)
            assert statuses, f"{name}.{output} was never checked"
            want = expected.get((name, output))
            if want is None:
                assert set(statuses) == {"pass"}, f"{name}.{output}: {fn['feedback']}"
            elif want == "fail":
                assert "fail" in statuses, f"{name}.{output} should fail: {statuses}"
            else:
                assert "partial" in statuses and "fail" not in statuses, statuses
        broken = {fn for fn, _ in expected}
        if name in broken:
            assert fn["score"] < fn["max_score"]
            assert fn["feedback"] != "all cases pass"
        else:
            assert fn["score"] == fn["max_score"], (name, fn["feedback"])


# Totals worked out by hand from the rubric (55 points) and the stored cases.
HAND_TOTALS = {
    # db has shape (N,) instead of (M,) in all four affine_backward cases: 15 * 2/3 = 10.
    "affine_bias_wrong_axis": 50.0,
    # out is None in every affine_forward case; the cache is right, so backward passes.
    "stub_returns_none": 45.0,
    # relu_backward is missing: 0 of 5.
    "missing_relu_backward": 50.0,
    # Every affine_backward case raises: 0 of 15.
    "raises_in_affine_backward": 40.0,
    # relu_forward never returns: its 3 cases and relu_backward's 3 (which call it) score 0.
    "infinite_loop_relu_forward": 45.0,
}


@pytest.mark.parametrize("bug", sorted(HAND_TOTALS))
def test_hand_worked_totals(bug: str, rubric: Path, tmp_path: Path) -> None:
    snippet = (ZOO / "bugs" / f"{bug}.py").read_text()
    result = grade_json(build_submission(tmp_path, snippet), rubric)
    assert result["score"] == HAND_TOTALS[bug]


def feedback_of(result: dict, name: str) -> str:
    return str(function(result, name)["feedback"])


def test_feedback_speaks_to_the_student(rubric: Path, tmp_path: Path) -> None:
    results: dict[str, dict] = {}

    def graded(bug: str) -> dict:
        if bug not in results:
            snippet = (ZOO / "bugs" / f"{bug}.py").read_text()
            results[bug] = grade_json(build_submission(tmp_path / bug, snippet), rubric)
        return results[bug]

    assert "reshape dx back to x's shape" in feedback_of(
        graded("affine_no_reshape"), "affine_backward"
    )
    stub = feedback_of(graded("stub_returns_none"), "affine_forward")
    assert "None" in stub and "stub" in stub
    assert "not defined" in feedback_of(graded("missing_relu_backward"), "relu_backward")
    raised = graded("raises_in_affine_backward")
    assert "ValueError" in feedback_of(raised, "affine_backward")
    assert "line" in feedback_of(raised, "affine_backward")
    assert "used more than 1 s of CPU time" in feedback_of(
        graded("infinite_loop_relu_forward"), "relu_forward"
    )
    assert "non-finite" in feedback_of(graded("nan_output"), "softmax_loss")
    assert "list" in feedback_of(graded("returns_list"), "relu_forward")
    assert "tuple of 2" in feedback_of(graded("wrong_tuple_length"), "affine_backward")
    assert "shape" in feedback_of(graded("wrong_shape"), "affine_forward")
    inplace = feedback_of(graded("relu_forward_inplace"), "relu_forward")
    assert inplace.startswith("all cases pass") and "modified its input x in place" in inplace


def test_hidden_cases_do_not_reveal_expected_values(rubric: Path, tmp_path: Path) -> None:
    snippet = (ZOO / "bugs" / "svm_no_mean.py").read_text()
    result = grade_json(build_submission(tmp_path, snippet), rubric)
    messages = [
        (case["split"], check["message"])
        for case in function(result, "svm_loss")["cases"]
        for check in case["checks"]
        if check["status"] != "pass"
    ]
    assert any(split == "public" and "expected" in m for split, m in messages)
    hidden = [m for split, m in messages if split == "hidden"]
    assert hidden and not any("expected" in m for m in hidden)


BROKEN = {
    "syntax_error": "SyntaxError",
    "python2_print": "SyntaxError",
    "missing_import": "ModuleNotFoundError",
    "exit_at_import": "called sys.exit(0)",
    "hang_at_import": "did not finish within 3 s",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_module_is_reported_once_for_the_whole_submission(name: str, rubric: Path) -> None:
    folder = ZOO / "broken" / name
    result = grade_json(folder, rubric)
    assert result["score"] == 0
    failure = result["import_error"]
    assert failure is not None and BROKEN[name] in failure["message"]
    first = (folder / "cs231n" / "layers.py").read_text().splitlines()[0]
    if first.startswith("# error-line:"):
        assert failure["line"] == int(first.split(":")[1])
    for fn in result["functions"]:
        assert all(c["failure"]["status"] == "not_run" for c in fn["cases"])
    # A hang at import costs the import limit once, not once per function.
    assert result["seconds"] < 10


def test_python2_code_gets_a_python2_hint(rubric: Path) -> None:
    proc = run_grade(ZOO / "broken" / "python2_print", "--rubric", rubric)
    assert proc.returncode == 0
    assert "Python 2" in proc.stdout
    assert "line 4" in proc.stdout


def test_correct_example_gets_full_marks_on_every_layer(tmp_path: Path) -> None:
    # The vectors cover every layer of the assignment (and the four composites chained
    # from them): a rubric listing them all grades the independently written example at
    # full marks, dropout's statistics included.
    manifest = json.loads(
        (ROOT / "assignments/modular_layers/vectors/public/manifest.json").read_text()
    )
    functions = sorted({c["function"] for c in manifest["cases"]})
    rubric = write_rubric(tmp_path, functions={f: {"points": 10} for f in functions})
    result = grade_json(CORRECT, rubric)
    assert len(result["functions"]) == 25
    assert result["score"] == result["max_score"] == 250
