"""Feedback that says what is wrong: enough digits to see the difference, the dtype when
it is to blame, running statistics never stored, numbers folded in the class summary,
and the function and input named when an input is changed in place.

Every expected message below is worked out by hand from the course's metric
rel_error(x, y) = max(|x - y| / max(1e-8, |x| + |y|)) and the rules the messages follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import DEFAULT_RUBRIC, make_case

from grader.batch.records import StudentRecord
from grader.batch.summary import mistake, mistakes
from grader.config.choices import Split
from grader.config.rubric import FunctionRubric, load_rubric
from grader.grading.compare import Check, Credit, compare_array
from grader.grading.judge import judge_case
from grader.grading.score import CaseResult, case_result
from grader.sandbox.inside import calls
from grader.sandbox.results import CaseOutcome
from grader.vectors import CaseVector, Output


def tiers(error: float) -> float:
    """The default rubric's tiers: 1e-7 full credit, 1e-4 half."""
    return 1.0 if error <= 1e-7 else 0.5 if error <= 1e-4 else 0.0


def strict(error: float) -> float:
    """A rubric that asks for 1e-9, as the course's notebooks do for correct float64 code."""
    return 1.0 if error <= 1e-9 else 0.5 if error <= 1e-4 else 0.0


def judge(
    output: str,
    got: np.ndarray,
    want: np.ndarray,
    split: Split = "public",
    credit: Credit = tiers,
    inputs: Mapping[str, np.ndarray] | None = None,
) -> Check:
    x = {"x": np.zeros((2, 3))} if inputs is None else inputs
    case = make_case(x, {output: want}, split=split)
    return compare_array(output, got, want, case, credit, reveal=split == "public")


# Digits enough to differ ------------------------------------------------------------------


def test_values_differing_at_the_8th_digit_print_8_digits() -> None:
    want = np.array([1.0, 0.58567123])
    got = np.array([1.0, 0.58567124])
    check = judge("out", got, want, credit=strict)
    # |x - y| = 1e-8 over 1.17134247: 8.54e-9, above 1e-9.
    assert check.credit == 0.5
    # At 6 and 7 digits both read 0.585671 and 0.5856712; at 8 they differ.
    assert check.message == (
        "out rel error 8.5e-09 (1 / 2 elements off); worst at (1): got 0.58567124, "
        "expected 0.58567123"
    )


def test_values_equal_at_6_digits_print_the_7th() -> None:
    want = np.array([[1.0, 0.5856704]])
    got = np.array([[1.0, 0.58567]])
    check = judge("out", got, want)
    # 4e-7 / 1.1713404 = 3.4e-7. At 6 digits both are 0.58567; at 7, 0.58567 and 0.5856704.
    assert check.credit == 0.5
    assert check.message == (
        "out rel error 3.4e-07 (1 / 2 elements off); worst at (0, 1): got 0.58567, "
        "expected 0.5856704"
    )


def test_values_differing_at_6_digits_keep_6() -> None:
    check = judge("out", np.array([1.0, 2.0]), np.array([1.0, 2.2]))
    assert check.message.endswith("worst at (1): got 2, expected 2.2")


def test_a_scalar_loss_prints_enough_digits() -> None:
    check = judge("loss", np.array(2.3025851), np.array(2.3025857))
    # 6e-7 / 4.6051708 = 1.3e-7. 2.30259 at 6 digits for both; 2.302585 and 2.302586 at 7.
    assert check.message == "loss is 2.302585, expected 2.302586 (rel error 1.3e-07)"


def test_a_hidden_case_prints_no_expected_value_and_no_extra_digits() -> None:
    want = np.array([[1.0, 0.5856704]])
    got = np.array([[1.0, 0.58567]])
    check = judge("out", got, want, split="hidden")
    # 3.4e-7 shows as its order of magnitude; the student's own value at 6 digits.
    assert check.message == (
        "out rel error about 1e-07 (1 / 2 elements off); worst at (0, 1): got 0.58567"
    )
    assert "expected" not in check.message and "0.5856704" not in check.message
    assert check.rel_error == 1e-7


def test_a_hidden_scalar_prints_no_expected_value() -> None:
    check = judge("loss", np.array(2.3025851), np.array(2.3025857), split="hidden")
    assert check.message == "loss is 2.30259 (rel error about 1e-07)"


def test_elements_off_count_follows_the_rubric_tiers() -> None:
    # Errors 0, 5e-9 (2.5e-8 / 5) and 0.1 (0.5 / 5): off under 1e-9 are two, under 1e-7 one.
    want = np.array([1.0, 2.5, 2.5])
    got = np.array([1.0, 2.5 + 5e-8, 2.0])
    assert "(2 / 3 elements off)" in judge("out", got, want, credit=strict).message
    assert "(1 / 3 elements off)" in judge("out", got, want).message


# The dtype named ---------------------------------------------------------------------------


def test_a_float32_array_is_named() -> None:
    got = np.array([1.0, 3.0003], dtype=np.float32)
    check = judge("dx", got, np.array([1.0, 3.0]))
    # float32(3.0003) = 3.00029993: 3.0e-4 / 6.0003 = 5.0e-5, half credit.
    assert check.credit == 0.5
    assert check.message == (
        "dx rel error 5.0e-05 (1 / 2 elements off); worst at (1): got 3.0003, expected 3; "
        "your dx is float32: compute in float64 (the inputs' dtype), float32 keeps only "
        "about 7 digits"
    )


def test_a_float32_scalar_loss_is_named() -> None:
    check = judge("loss", np.array(1.25, dtype=np.float32), np.array(1.5))
    # 0.25 / 2.75 = 0.091.
    assert check.message == (
        "loss is 1.25, expected 1.5 (rel error 9.1e-02); your loss is float32: compute in "
        "float64 (the inputs' dtype), float32 keeps only about 7 digits"
    )


def test_a_float16_array_is_named_with_its_digits() -> None:
    check = judge("out", np.array([1.0, 2.0], dtype=np.float16), np.array([1.0, 2.2]))
    assert check.message.endswith(
        "; your out is float16: compute in float64 (the inputs' dtype), float16 keeps only "
        "about 3 digits"
    )


def test_float_inputs_not_float64_are_not_called_the_inputs_dtype() -> None:
    x = {"x": np.zeros(2, dtype=np.float32)}
    check = judge("out", np.array([1.0, 2.0], dtype=np.float32), np.array([1.0, 2.2]), inputs=x)
    assert check.message.endswith(
        "; your out is float32: compute in float64, float32 keeps only about 7 digits"
    )


def test_a_float32_overflow_is_named() -> None:
    got = np.array([1.0, np.inf], dtype=np.float32)
    check = judge("out", got, np.array([1.0, 2.0]))
    assert check.message == (
        "out has 1 non-finite value(s) (first inf at (1)); your out is float32: compute in "
        "float64 (the inputs' dtype), float32 keeps only about 7 digits"
    )


def test_an_integer_array_is_named() -> None:
    got = np.array([[1, 2]], dtype=np.int64)
    check = judge("out", got, np.array([[1.5, 2.0]]))
    # 0.5 / 2.5 = 0.2 at (0, 0).
    assert check.message == (
        "out rel error 2.0e-01 (1 / 2 elements off); worst at (0, 0): got 1, expected 1.5; "
        "your out is an integer array (dtype int64): integer division, or an array made "
        "with dtype=int?"
    )


def test_an_integer_loss_is_named() -> None:
    check = judge("loss", np.array(2, dtype=np.int64), np.array(2.5))
    # 0.5 / 4.5 = 0.11.
    assert check.message == (
        "loss is 2, expected 2.5 (rel error 1.1e-01); your loss is an integer (dtype int64): "
        "integer division somewhere?"
    )


def test_a_passing_float32_or_integer_output_says_nothing_of_its_dtype() -> None:
    assert judge("out", np.array([1, 0]), np.array([1.0, 0.0])).message == (
        "out matches (rel error 0.0e+00)"
    )
    got = np.array([0.5, 0.25], dtype=np.float32)
    assert judge("out", got, np.array([0.5, 0.25])).message == "out matches (rel error 0.0e+00)"


def test_a_shape_mistake_is_not_blamed_on_the_dtype() -> None:
    check = judge("out", np.zeros(3, dtype=np.float32), np.zeros(2))
    assert "float32" not in check.message


# Running statistics not stored -------------------------------------------------------------


def batchnorm_case(stats: Mapping[str, np.ndarray] | None, split: Split = "public") -> CaseVector:
    """A batchnorm forward case as reference/cases.py writes it: out returned, the running
    statistics read back from bn_param; ``stats`` given in bn_param before the call."""
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    params: dict[str, Any] = {"mode": {"value": "train"}}
    inputs = {"x": x, "gamma": np.ones(2), "beta": np.zeros(2)}
    for key, value in (stats or {}).items():
        params[key] = {"array": key}
        inputs[key] = value
    args = [{"array": "x"}, {"array": "gamma"}, {"array": "beta"}]
    call = {
        "fn": "batchnorm_forward",
        "args": [*args, {"dict": params, "as": "bn_param"}],
        "returns": ["out", "cache"],
    }
    return CaseVector(
        id=f"batchnorm_forward.{split}",
        function="batchnorm_forward",
        name=split,
        split=split,
        seed=None,
        calls=(call,),
        outputs=(
            Output("out", {"var": "out"}, (2, 2)),
            Output("running_mean", {"item": ["bn_param", "running_mean"]}, (2,)),
            Output("running_var", {"item": ["bn_param", "running_var"]}, (2,)),
        ),
        check="elementwise",
        params={},
        inputs=inputs,
        expected={
            "out": np.array([[-1.0, -1.0], [1.0, 1.0]]),
            "running_mean": np.array([0.6, -0.7]),
            "running_var": np.array([1.5, 2.0]),
        },
    )


def judged(
    case: CaseVector, values: Mapping[str, np.ndarray], kinds: Mapping[str, str]
) -> dict[str, Check]:
    checks = judge_case(case, values=values, kinds=kinds, rejected={}, credit=tiers, p_means="keep")
    return {c.output: c for c in checks}


OUT = np.array([[-1.0, -1.0], [1.0, 1.0]])
NOT_STORED = {"out": "ndarray", "running_mean": "None", "running_var": "None"}


def test_a_running_mean_never_stored_is_named_in_its_dict() -> None:
    checks = judged(batchnorm_case(None), {"out": OUT}, NOT_STORED)
    assert checks["out"].message == "out matches (rel error 0.0e+00)"
    assert checks["running_mean"].credit == 0.0
    assert checks["running_mean"].message == (
        "bn_param has no 'running_mean' after the call: store the updated running mean in "
        "bn_param['running_mean']"
    )
    assert checks["running_var"].message == (
        "bn_param has no 'running_var' after the call: store the updated running var in "
        "bn_param['running_var']"
    )
    assert "stub" not in checks["running_mean"].message
    assert not checks["running_mean"].none


def test_a_running_mean_left_as_given_is_called_unchanged() -> None:
    given = {"running_mean": np.array([0.5, -1.0]), "running_var": np.array([1.0, 2.0])}
    case = batchnorm_case(given, split="hidden")
    values = {
        "out": OUT,
        "running_mean": np.array([0.5, -1.0]),
        "running_var": given["running_var"],
    }
    kinds = {"out": "ndarray", "running_mean": "ndarray", "running_var": "ndarray"}
    checks = judged(case, values, kinds)
    assert checks["running_mean"].credit == 0.0
    assert checks["running_mean"].message == (
        "running_mean in bn_param is unchanged: store the updated value back into bn_param"
    )
    # running_var given as [1, 2] and due [1.5, 2]: 0.5 / 2.5 = 0.2, an order of magnitude
    # on a hidden case.
    assert checks["running_var"].message == (
        "running_var in bn_param is unchanged: store the updated value back into bn_param"
    )
    assert checks["running_var"].rel_error == 0.1


def test_a_running_mean_updated_wrongly_gets_the_numbers() -> None:
    given = {"running_mean": np.array([0.5, -1.0]), "running_var": np.array([1.5, 2.0])}
    case = batchnorm_case(given)
    values = {"out": OUT, "running_mean": np.array([0.55, -1.0]), "running_var": np.ones(2)}
    kinds = {"out": "ndarray", "running_mean": "ndarray", "running_var": "ndarray"}
    checks = judged(case, values, kinds)
    # (0): 0.05 / 1.15 = 0.043; (1): 0.3 / 1.7 = 0.18, the worst.
    assert checks["running_mean"].message == (
        "running_mean rel error 1.8e-01 (2 / 2 elements off); worst at (1): got -1, expected -0.7"
    )


def test_a_running_mean_passed_in_and_deleted_is_not_stored() -> None:
    given = {"running_mean": np.array([0.5, -1.0]), "running_var": np.array([1.0, 2.0])}
    checks = judged(batchnorm_case(given), {"out": OUT}, NOT_STORED)
    assert checks["running_mean"].message.startswith("bn_param has no 'running_mean'")


def test_running_statistics_not_stored_do_not_make_a_stub() -> None:
    rubric = load_rubric(DEFAULT_RUBRIC)
    function = FunctionRubric("batchnorm_forward", 10.0, {})
    case = batchnorm_case(None)
    outcome = CaseOutcome(case.id, 0.01, values={"out": OUT}, kinds=NOT_STORED)
    result = case_result(case, outcome, function, rubric)
    assert not result.unimplemented
    assert result.reason.startswith("bn_param has no 'running_mean' after the call")
    # A stub returns None for out as well: that is a stub.
    stub = CaseOutcome(case.id, 0.01, kinds={k: "None" for k in NOT_STORED})
    stubbed = case_result(case, stub, function, rubric)
    assert stubbed.unimplemented
    assert stubbed.checks[0].message.startswith("out is None where a numeric value is due")


# Folding numbers in the class summary ------------------------------------------------------


@pytest.mark.parametrize(
    ("feedback", "folded"),
    [
        (
            "train: dx has shape (10, 6), expected (10, 2, 3): reshape dx back to x's shape",
            "dx has shape (#, #), expected (#, #, #): reshape dx back to x's shape",
        ),
        (
            "rand: out rel error 1.2e-05 (3 / 12 elements off); worst at (1, 2): got -0.58567, "
            "expected 0.5856704; your out is float32: compute in float64",
            "out rel error # (# / # elements off); worst at (#, #): got #, expected #; your out "
            "is float32: compute in float64",
        ),
        (
            "ModuleNotFoundError: No module named 'cs231n.layers' (line 12)",
            "No module named 'cs231n.layers' (line #)",
        ),
        (
            "t: conv2d and layer2 are words, 3.11.4 a version",
            "conv2d and layer2 are words, 3.11.4 a version",
        ),
    ],
)
def test_folding_keeps_words_and_folds_numbers(feedback: str, folded: str) -> None:
    assert mistake(feedback) == folded


def record(student: str, feedback: str) -> StudentRecord:
    function = {"name": "affine_backward", "score": 0.0, "status": "fail", "feedback": feedback}
    report = {"score": 0.0, "functions": [function]}
    return StudentRecord(student, None, student, 1.0, "graded", report=report)


def test_mistakes_differing_only_in_numbers_count_together() -> None:
    counted = mistakes(
        [
            record("a", "t: dx is 2.5, expected 3 (rel error 9.1e-02)"),
            record("b", "t: dx is -1, expected 3.5 (rel error 1.0e+00)"),
            record("c", "t: cs231n/layers.py not found"),
        ]
    )
    assert counted == {
        "affine_backward: dx is #, expected # (rel error #)": 2,
        "affine_backward: cs231n/layers.py not found": 1,
    }


# An input changed in place -----------------------------------------------------------------


def test_a_mutated_input_names_the_function_and_the_input() -> None:
    case = make_case({"x": np.ones(2)}, {"out": np.ones(2)}, function="relu_forward")
    result = CaseResult(
        case_id=case.id,
        split="public",
        rubric=FunctionRubric("relu_forward", 5.0, {}),
        checks=(Check("out", 1.0, "out matches (rel error 0.0e+00)"),),
        failure=None,
        seconds=0.01,
        mutated=("relu_forward:x",),
    )
    assert result.warnings == (
        "relu_forward modified its input x in place: the caller's array is changed; work on a copy",
    )
    assert result.credit == 1.0


def test_a_missing_module_says_where_it_was_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the worker: the submission's own package lacks a file; neither the submission
    nor the sandbox has a module; a package that is there lacks a submodule (no hint)."""
    (tmp_path / "cs231n").mkdir()
    monkeypatch.setattr(calls, "submission_dir", str(tmp_path))

    def said(name: str) -> str:
        return calls.describe_exception(ModuleNotFoundError(f"No module named {name!r}", name=name))

    assert said("cs231n.fast_layers") == (
        "ModuleNotFoundError: No module named 'cs231n.fast_layers' "
        "(the submission has no cs231n/fast_layers)"
    )
    assert said("torch_not_here") == (
        "ModuleNotFoundError: No module named 'torch_not_here' "
        "(neither the submission nor the sandbox has torch_not_here)"
    )
    assert said("numpy.not_a_module") == (
        "ModuleNotFoundError: No module named 'numpy.not_a_module'"
    )
    # Outside a worker (the staff's vector builder) nothing is added.
    monkeypatch.setattr(calls, "submission_dir", None)
    assert said("torch_not_here").endswith("'torch_not_here'")
