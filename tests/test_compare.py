"""Judging one case: usable value, then shape, then finiteness, then rel_error; dropout apart.

Every expected number below is worked out by hand from the course's metric
rel_error(x, y) = max(|x - y| / max(1e-8, |x| + |y|)).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
from support import make_case

from grader.grading.compare import Check, compare_array, rel_error, usable
from grader.grading.dropout import dropout_backward, dropout_train
from grader.grading.judge import judge_case
from grader.vectors import CaseVector


def tiers(error: float) -> float:
    """The default rubric's tiers, written out here: 1e-7 full credit, 1e-4 half."""
    if error <= 1e-7:
        return 1.0
    if error <= 1e-4:
        return 0.5
    return 0.0


def judge(
    output: str,
    got: np.ndarray,
    want: np.ndarray,
    inputs: Mapping[str, np.ndarray] | None = None,
    split: str = "public",
) -> Check:
    case = make_case(inputs or {}, {output: want}, split=split)
    return compare_array(output, got, want, case, tiers, reveal=split == "public")


# rel_error and Check ---------------------------------------------------------------------


def test_rel_error_is_elementwise_in_the_course_metric() -> None:
    errors = rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.2]))
    assert errors.dtype == np.float64
    assert errors[0] == 0.0
    assert errors[1] == pytest.approx(0.2 / 4.2, rel=1e-12)


def test_rel_error_floors_the_denominator_at_1e_8() -> None:
    assert rel_error(np.array([0.0]), np.array([0.0]))[0] == 0.0
    assert rel_error(np.array([1e-9]), np.array([0.0]))[0] == pytest.approx(0.1, rel=1e-12)


def test_rel_error_works_in_float64_for_integer_inputs() -> None:
    errors = rel_error(np.array([3], dtype=np.int8), np.array([1], dtype=np.int8))
    assert errors.dtype == np.float64
    assert errors[0] == 0.5


@pytest.mark.parametrize(("credit", "status"), [(1.0, "pass"), (0.5, "partial"), (0.0, "fail")])
def test_check_status_follows_credit(credit: float, status: str) -> None:
    assert Check("out", credit, "").status == status


# compare_array: numbers ------------------------------------------------------------------


def test_values_within_tolerance_pass() -> None:
    want = np.array([[1.0, -2.0]])
    got = np.array([[1.0, -2.0 + 4e-10]])
    check = judge("out", got, want)
    assert check.credit == 1.0
    assert check.status == "pass"
    # |x - y| = 4e-10 over |x| + |y| = 4 - 4e-10.
    assert check.rel_error == pytest.approx(4e-10 / (4 - 4e-10), rel=1e-5)
    assert check.message == "out matches (rel error 1.0e-10)"


def test_small_errors_earn_the_partial_credit_tier() -> None:
    check = judge("out", np.array([1.0, 4.0001]), np.array([1.0, 4.0]))
    # 1e-4 / 8.0001 = 1.25e-5: above 1e-7, below 1e-4.
    assert check.rel_error == pytest.approx(1e-4 / 8.0001, rel=1e-6)
    assert check.credit == 0.5
    assert check.status == "partial"
    assert check.message == (
        "out rel error 1.2e-05 (1 / 2 elements off); worst at (1): got 4.0001, expected 4"
    )


def test_large_errors_fail_and_name_the_worst_element() -> None:
    check = judge("out", np.array([1.0, 2.0]), np.array([1.0, 2.2]))
    assert check.rel_error == pytest.approx(0.2 / 4.2, rel=1e-12)
    assert check.credit == 0.0
    assert check.message == (
        "out rel error 4.8e-02 (1 / 2 elements off); worst at (1): got 2, expected 2.2"
    )


def test_mismatch_count_and_worst_index_in_two_dimensions() -> None:
    want = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    got = np.array([[1.0, 2.5, 3.0], [4.0, 5.0, 3.0]])
    check = judge("dw", got, want)
    # (0, 1): 0.5 / 4.5 = 0.111; (1, 2): 3 / 9 = 0.333, the worst.
    assert check.rel_error == pytest.approx(1 / 3, rel=1e-12)
    assert check.message == (
        "dw rel error 3.3e-01 (2 / 6 elements off); worst at (1, 2): got 3, expected 6"
    )


def test_integer_and_bool_outputs_compare_as_numbers() -> None:
    assert judge("out", np.array([1, 0]), np.array([1.0, 0.0])).credit == 1.0
    assert judge("out", np.array([True, False]), np.array([1.0, 0.0])).credit == 1.0


def test_empty_outputs_of_the_right_shape_pass() -> None:
    check = judge("out", np.zeros((0, 3)), np.zeros((0, 3)))
    assert check.credit == 1.0
    assert check.message == "out matches (rel error 0.0e+00)"


# compare_array: hidden cases -------------------------------------------------------------


def test_hidden_cases_never_show_the_expected_value() -> None:
    check = judge("out", np.array([1.0, 2.0]), np.array([1.0, 2.2]), split="hidden")
    assert check.credit == 0.0
    # 0.2 / 4.2 = 0.048: a student who knows they returned 2 could solve the exact error
    # for the expected 2.2, so a hidden case shows only its order of magnitude.
    assert check.message == "out rel error about 1e-02 (1 / 2 elements off); worst at (1): got 2"
    assert check.rel_error == 0.01
    assert "expected" not in check.message
    assert "2.2" not in check.message


def test_hidden_partial_credit_never_shows_the_expected_value() -> None:
    check = judge("out", np.array([1.0, 4.0001]), np.array([1.0, 4.0]), split="hidden")
    assert check.credit == 0.5
    assert "expected" not in check.message


# compare_array: shapes -------------------------------------------------------------------


def test_shape_is_reported_before_numbers_with_a_reshape_hint() -> None:
    inputs = {"x": np.zeros((10, 2, 3)), "w": np.zeros((6, 5)), "dout": np.zeros((10, 5))}
    got = np.full((10, 6), np.nan)
    check = judge("dx", got, np.zeros((10, 2, 3)), inputs)
    assert check.credit == 0.0
    assert check.rel_error is None
    assert check.message == (
        "dx has shape (10, 6), expected (10, 2, 3): reshape dx back to x's shape"
    )


def test_transposed_axes_are_named() -> None:
    inputs = {"x": np.zeros((2, 4)), "w": np.zeros((4, 3)), "b": np.zeros(3)}
    check = judge("out", np.zeros((3, 2)), np.zeros((2, 3)), inputs)
    assert check.credit == 0.0
    assert check.message == "out has shape (3, 2), expected (2, 3): the axes look transposed"


def test_transposed_axes_are_named_even_when_an_input_has_the_expected_shape() -> None:
    check = judge("out", np.zeros((3, 2)), np.zeros((2, 3)), {"x": np.zeros((2, 3))})
    assert check.message == "out has shape (3, 2), expected (2, 3): the axes look transposed"


def test_a_different_size_names_the_input_of_the_expected_shape() -> None:
    inputs = {"x": np.zeros((2, 3)), "dout": np.zeros((2, 3))}
    check = judge("dx", np.zeros(5), np.zeros((2, 3)), inputs)
    assert check.message == "dx has shape (5,), expected (2, 3) like x"


def test_dout_is_never_offered_as_the_shape_to_copy() -> None:
    inputs = {"dout": np.zeros((2, 3))}
    check = judge("dx", np.zeros(6), np.zeros((2, 3)), inputs)
    assert check.message == "dx has shape (6,), expected (2, 3)"


def test_0d_expected_accepts_a_one_element_array() -> None:
    want = np.array(2.5)
    assert judge("loss", np.array([2.5]), want).credit == 1.0
    assert judge("loss", np.array([[2.5]]), want).credit == 1.0
    assert judge("loss", np.array(2.5), want).credit == 1.0


def test_0d_expected_rejects_several_elements() -> None:
    check = judge("loss", np.array([2.5, 1.0]), np.array(2.5))
    assert check.credit == 0.0
    assert check.message == "loss has shape (2,), expected ()"


def test_0d_expected_compares_the_single_value() -> None:
    check = judge("loss", np.array([3.0]), np.array(1.0))
    # |3 - 1| / (3 + 1) = 0.5
    assert check.rel_error == 0.5
    assert check.message == "loss is 3, expected 1 (rel error 5.0e-01)"


def test_a_hidden_0d_value_is_shown_without_the_expected_one() -> None:
    check = judge("loss", np.array(3.0), np.array(1.0), split="hidden")
    assert check.credit == 0.0
    # 2 / 4 = 0.5, shown as its order of magnitude on a hidden case.
    assert check.message == "loss is 3 (rel error about 1e-01)"


@pytest.mark.parametrize("output", ["dgamma", "dbeta"])
def test_group_norm_parameter_gradients_accept_either_documented_shape(output: str) -> None:
    want = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1, 1)
    check = judge(output, np.array([1.0, 2.0, 3.0, 4.0]), want)
    assert check.credit == 1.0


@pytest.mark.parametrize("output", ["running_mean", "running_var"])
def test_running_statistics_kept_with_keepdims_are_accepted(output: str) -> None:
    # mean(x, axis=0, keepdims=True) gives (1, D); it broadcasts exactly like (D,).
    want = np.array([0.5, -1.0, 2.0])
    check = judge(output, want.reshape(1, 3), want)
    assert check.credit == 1.0
    wrong = judge(output, np.array([[0.5, -1.0, 3.0]]), want)
    assert wrong.credit == 0.0


def test_group_norm_gradient_in_the_other_shape_is_still_compared() -> None:
    want = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1, 1)
    check = judge("dgamma", np.array([1.0, 2.0, 3.0, 5.0]), want)
    # |5 - 4| / 9 at channel 3.
    assert check.rel_error == pytest.approx(1 / 9, rel=1e-12)
    assert "worst at (0, 3, 0, 0): got 5, expected 4" in check.message


def test_other_outputs_get_no_shape_allowance() -> None:
    want = np.zeros((1, 4, 1, 1))
    check = judge("dx", np.zeros(4), want)
    assert check.credit == 0.0
    assert check.message.startswith("dx has shape (4,), expected (1, 4, 1, 1)")


# compare_array: non-finite values --------------------------------------------------------


def test_nan_is_reported_with_its_index() -> None:
    got = np.array([[1.0, 2.0], [np.nan, 4.0]])
    check = judge("out", got, np.ones((2, 2)))
    assert check.credit == 0.0
    assert check.rel_error is None
    assert check.message.startswith("out has 1 non-finite value(s) (first ")
    assert "nan" in check.message
    assert check.message.endswith(" at (1, 0))")


def test_inf_is_counted_and_the_first_one_is_named() -> None:
    got = np.array([[1.0, np.inf], [np.nan, -np.inf]])
    check = judge("dx", got, np.ones((2, 2)))
    assert check.credit == 0.0
    assert check.message.startswith("dx has 3 non-finite value(s) (first ")
    assert "inf" in check.message
    assert check.message.endswith(" at (0, 1))")


def test_a_0d_nan_is_reported() -> None:
    check = judge("loss", np.array(np.nan), np.array(1.0))
    assert check.credit == 0.0
    assert check.message.startswith("loss has 1 non-finite value(s)")
    assert check.message.endswith(" at ())")


# usable ----------------------------------------------------------------------------------


def test_usable_passes_a_present_value() -> None:
    assert usable("out", np.zeros(2), "ndarray", None) is None


def test_none_points_at_a_stub() -> None:
    check = usable("out", None, "None", None)
    assert check is not None
    assert check.credit == 0.0
    assert check.message == (
        "out is None where a numeric value is due "
        "(is the function still a stub, or is a return statement missing?)"
    )


def test_a_list_is_told_to_become_an_array() -> None:
    check = usable("dx", None, "a list", None)
    assert check is not None
    assert check.message == (
        "dx is a list where a numeric value is due: return a numpy array, not a list"
    )


def test_a_bool_is_told_to_become_a_number() -> None:
    check = usable("loss", None, "bool", None)
    assert check is not None
    assert check.message == "loss is bool where a numeric value is due: return a number"


def test_an_output_never_sent_is_nothing() -> None:
    check = usable("db", None, None, None)
    assert check is not None
    assert check.message == "db is nothing where a numeric value is due"


def test_a_rejected_payload_gives_its_reason() -> None:
    check = usable("out", None, "ndarray", "dtype complex128 is not a plain numeric type")
    assert check is not None
    assert check.credit == 0.0
    assert check.message == ("out could not be read: dtype complex128 is not a plain numeric type")


# dropout_train ---------------------------------------------------------------------------

P = 0.3


def dropout_x() -> np.ndarray:
    # As in the course: a large input with mean 10, so the statistics are tight.
    return np.random.RandomState(0).randn(500, 500) + 10


def uniform() -> np.ndarray:
    return np.random.RandomState(1).rand(500, 500)


def train_case(x: np.ndarray) -> CaseVector:
    params = {"p": P}
    return make_case({"x": x}, {}, check="dropout_train", params=params, function="dropout_forward")


def test_inverted_dropout_passes() -> None:
    x = dropout_x()
    out = x * (uniform() < P) / P
    check = dropout_train(train_case(x), out, "keep")
    assert check.credit == 1.0
    assert "(expected 0.300)" in check.message


def test_vanilla_dropout_fails_naming_the_scaling() -> None:
    x = dropout_x()
    out = x * (uniform() < P)
    check = dropout_train(train_case(x), out, "keep")
    assert check.credit == 0.0
    # Kept values are x where x / 0.3 is due: (1/0.3 - 1) / (1/0.3 + 1) = 0.7 / 1.3.
    assert "kept values are not x / 0.3 (rel error 5.4e-01)" in check.message
    assert "inverted dropout scales at train time" in check.message


def test_p_read_as_the_drop_probability_fails_with_a_message_about_p() -> None:
    x = dropout_x()
    out = x * (uniform() >= P) / (1 - P)
    check = dropout_train(train_case(x), out, "keep")
    assert check.credit == 0.0
    assert check.message.startswith("out keeps 0.")
    assert "with p=0.3; expected 0.300 (p is the probability to keep a unit)" in check.message


def test_the_2016_meaning_of_p_is_honoured_when_the_rubric_asks_for_it() -> None:
    x = dropout_x()
    out = x * (uniform() >= P) / (1 - P)
    assert dropout_train(train_case(x), out, "drop").credit == 1.0
    wrong = dropout_train(train_case(x), x * (uniform() < P) / P, "drop")
    assert wrong.credit == 0.0
    assert "expected 0.700 (p is the probability to drop a unit)" in wrong.message


def test_a_mask_that_shifts_the_mean_fails() -> None:
    x = dropout_x()
    # Keep the largest 30% of x: the right fraction, the right scale, the wrong mean.
    mask = x > np.quantile(x, 1 - P)
    out = x * mask / P
    drift = abs(out.mean() - x.mean()) / abs(x.mean())
    assert drift > 0.05
    check = dropout_train(train_case(x), out, "keep")
    assert check.credit == 0.0
    assert check.message == f"the mean of out differs from the mean of x by {drift:.1%}"


def test_dropout_train_checks_shape_and_finiteness_first() -> None:
    x = np.ones((2, 3)) + 10
    wrong_shape = dropout_train(train_case(x), np.ones((3, 2)), "keep")
    assert wrong_shape.credit == 0.0
    assert wrong_shape.message == "out has shape (3, 2), expected (2, 3) like x"
    nan = np.array([[np.nan, 0, 0], [0, 0, 0]])
    not_finite = dropout_train(train_case(x), nan, "keep")
    assert not_finite.credit == 0.0
    assert not_finite.message == "out has non-finite values"


# dropout_backward ------------------------------------------------------------------------


def backward_case(split: str = "public") -> CaseVector:
    x = np.random.RandomState(2).randn(100, 100) + 10
    dout = np.random.RandomState(3).randn(100, 100)
    inputs = {"x": x, "dout": dout}
    params = {"p": P}
    return make_case(inputs, {}, split, "dropout_backward", params, "dropout_backward")


def forward_out(case: CaseVector) -> tuple[np.ndarray, np.ndarray]:
    mask = np.random.RandomState(4).rand(100, 100) < P
    return mask, case.inputs["x"] * mask / P


def test_dx_consistent_with_the_students_own_forward_passes() -> None:
    case = backward_case()
    _, out = forward_out(case)
    dx = case.inputs["dout"] * out / case.inputs["x"]
    check = dropout_backward(case, {"out": out, "dx": dx}, tiers, "keep")
    assert check.credit == 1.0


def test_dx_from_the_mask_passes() -> None:
    case = backward_case()
    mask, out = forward_out(case)
    dx = case.inputs["dout"] * mask / P
    assert dropout_backward(case, {"out": out, "dx": dx}, tiers, "keep").credit == 1.0


def test_unmasked_dx_fails() -> None:
    case = backward_case()
    _, out = forward_out(case)
    check = dropout_backward(case, {"out": out, "dx": case.inputs["dout"].copy()}, tiers, "keep")
    assert check.credit == 0.0
    # Where the unit was dropped dx should be 0: |dout - 0| / |dout| = 1.
    assert check.rel_error == 1.0


def test_unscaled_dx_fails() -> None:
    case = backward_case()
    mask, out = forward_out(case)
    check = dropout_backward(case, {"out": out, "dx": case.inputs["dout"] * mask}, tiers, "keep")
    assert check.credit == 0.0
    # dout against dout / 0.3: (1/0.3 - 1) / (1/0.3 + 1) = 0.7 / 1.3.
    assert check.rel_error == pytest.approx(0.7 / 1.3, rel=1e-9)


def test_dropout_backward_never_shows_the_derived_expected_value() -> None:
    case = backward_case(split="public")
    mask, out = forward_out(case)
    check = dropout_backward(case, {"out": out, "dx": case.inputs["dout"] * mask}, tiers, "keep")
    assert "expected" not in check.message


def test_dropout_backward_needs_the_forward_out_in_the_shape_of_x() -> None:
    case = backward_case()
    check = dropout_backward(
        case, {"out": np.zeros((2, 2)), "dx": np.zeros((100, 100))}, tiers, "keep"
    )
    assert check.credit == 0.0
    assert check.message == (
        "the forward pass is wrong, so dx cannot be judged: out has shape (2, 2), "
        "expected (100, 100) like x"
    )


# judge_case ------------------------------------------------------------------------------


def test_judge_case_checks_every_output_in_order() -> None:
    case = make_case({}, {"dx": np.array([1.0]), "dw": np.array([2.0])})
    kinds = {"dx": "ndarray", "dw": "None"}
    checks = judge_case(
        case, values={"dx": np.array([1.0])}, kinds=kinds, rejected={}, credit=tiers, p_means="keep"
    )
    assert [c.output for c in checks] == ["dx", "dw"]
    assert [c.status for c in checks] == ["pass", "fail"]
    assert "still a stub" in checks[1].message


def test_judge_case_reports_a_rejected_output() -> None:
    case = make_case({}, {"out": np.array([1.0])})
    rejected = {"out": "not an .npy payload"}
    checks = judge_case(
        case, values={}, kinds={"out": "ndarray"}, rejected=rejected, credit=tiers, p_means="keep"
    )
    assert checks[0].message == "out could not be read: not an .npy payload"


def test_judge_case_reveals_expected_values_only_for_public_cases() -> None:
    values = {"out": np.array([1.0, 2.0])}
    expected = {"out": np.array([1.0, 2.2])}
    public = judge_case(
        make_case({}, expected), values=values, kinds={}, rejected={}, credit=tiers, p_means="keep"
    )
    hidden = judge_case(
        make_case({}, expected, split="hidden"),
        values=values,
        kinds={},
        rejected={},
        credit=tiers,
        p_means="keep",
    )
    assert public[0].message.endswith("expected 2.2")
    assert "expected" not in hidden[0].message


def test_judge_case_scores_only_dx_for_dropout_backward() -> None:
    case = backward_case()
    mask, out = forward_out(case)
    values = {"out": out, "dx": case.inputs["dout"] * mask / P}
    checks = judge_case(case, values=values, kinds={}, rejected={}, credit=tiers, p_means="keep")
    assert [(c.output, c.credit) for c in checks] == [("dx", 1.0)]


def test_judge_case_fails_dropout_backward_without_a_forward_out() -> None:
    case = backward_case()
    checks = judge_case(
        case,
        values={"dx": np.zeros((100, 100))},
        kinds={"out": "None"},
        rejected={},
        credit=tiers,
        p_means="keep",
    )
    assert [(c.output, c.credit) for c in checks] == [("dx", 0.0)]
    assert checks[0].message == "the forward's out is not a numeric array"


def test_a_zero_returning_dropout_stub_earns_nothing_for_dx() -> None:
    # out = 0 and dx = 0 satisfy dx == dout * out / x: the forward itself must be dropout.
    case = backward_case()
    zeros = np.zeros((100, 100))
    check = dropout_backward(case, {"out": zeros, "dx": zeros}, tiers, "keep")
    assert check.credit == 0.0
    assert "forward pass is wrong" in check.message
