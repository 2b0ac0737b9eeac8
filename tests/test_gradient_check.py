"""Tests of reference.gradient_check on functions whose gradients are known by hand."""

import numpy as np
import pytest

from reference.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
)


def awkward_point() -> np.ndarray:
    """Values that x + h - h does not give back exactly, so a restore that
    recomputes the value instead of saving it is caught."""
    return np.array([[0.1, 1 / 3, -2.7], [0.011, 2.77, -0.45]])


# The functions below add terms of at most about 40 at this point: rounding of
# 40 * 2.2e-16, over 2h = 2e-5, is below 5e-10, the floor of a centered difference here.
ROUNDING = 1e-9


def bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint64).copy()


def test_rel_error_hand_worked() -> None:
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.2])) == pytest.approx(0.2 / 4.2)
    assert rel_error(1.0, 3.0) == 0.5
    assert rel_error(np.array([-1.0]), np.array([1.0])) == 1.0


def test_rel_error_floor_of_1e_8() -> None:
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    # |x| + |y| = 1e-9 is below the floor, so the denominator is 1e-8.
    assert rel_error(0.0, 1e-9) == pytest.approx(0.1, rel=1e-12)
    assert rel_error(np.array([0.0, 1.0]), np.array([5e-9, 1.0])) == pytest.approx(0.5, rel=1e-12)


def test_rel_error_computes_in_float64() -> None:
    x = np.array([1.0], dtype=np.float32)
    y = np.array([1.0 + 2.0**-23], dtype=np.float32)
    # In float32, |x| + |y| = 2 + 2**-23 would round to 2.
    error = rel_error(x, y)
    assert type(error) is float
    assert error == 2.0**-23 / (2.0 + 2.0**-23)


def test_numerical_gradient_of_sum_of_squares_is_2x() -> None:
    x = awkward_point()
    grad = eval_numerical_gradient(lambda v: np.sum(v**2), x, verbose=False)
    assert grad.shape == x.shape
    # Centered differences are exact for a quadratic; only rounding of f over 2h remains.
    assert np.max(np.abs(grad - 2 * x)) < ROUNDING


def test_numerical_gradient_uses_each_element_index() -> None:
    x = awkward_point()

    def f(v: np.ndarray) -> float:
        return float(np.sum(v**2) + v[0, 1] * v[1, 0] + 5 * v[1, 2])

    expected = 2 * x
    expected[0, 1] += x[1, 0]
    expected[1, 0] += x[0, 1]
    expected[1, 2] += 5
    assert np.max(np.abs(eval_numerical_gradient(f, x, verbose=False) - expected)) < ROUNDING


def test_numerical_gradient_is_centered() -> None:
    x = awkward_point()
    grad = eval_numerical_gradient(lambda v: np.sum(v**3), x, verbose=False, h=1e-5)
    # ((x + h)**3 - (x - h)**3) / 2h = 3x**2 + h**2; a one-sided difference would be
    # 3xh off, about 8e-5 at x = 2.7.
    assert np.max(np.abs(grad - 3 * x**2)) < 1e-10 + ROUNDING


def test_numerical_gradient_perturbs_in_place_and_restores_bits() -> None:
    x = awkward_point()
    original = x.copy()
    before = bits(x)
    seen: list[int] = []

    def f(v: np.ndarray) -> float:
        assert v is x
        seen.append(int(np.sum(v != original)))
        return float(np.sum(v**2))

    eval_numerical_gradient(f, x, verbose=False)
    assert np.array_equal(bits(x), before)
    # One element differs from the original during each perturbed call.
    assert seen and set(seen) <= {0, 1} and seen.count(1) == 2 * x.size


def test_numerical_gradient_verbose_prints_each_element(capsys) -> None:
    x = awkward_point()
    eval_numerical_gradient(lambda v: np.sum(v**2), x, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == x.size
    assert lines[0].startswith("(0, 0)")

    eval_numerical_gradient(lambda v: np.sum(v**2), x, verbose=False)
    assert capsys.readouterr().out == ""


def test_numerical_gradient_array_of_linear_map() -> None:
    x = awkward_point()
    df = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.5]])
    before = bits(x)
    grad = eval_numerical_gradient_array(lambda v: 3 * v, x, df)
    assert np.max(np.abs(grad - 3 * df)) < ROUNDING
    assert np.array_equal(bits(x), before)


def test_numerical_gradient_array_of_elementwise_square() -> None:
    x = awkward_point()
    df = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.5]])
    grad = eval_numerical_gradient_array(lambda v: v**2, x, df)
    assert np.max(np.abs(grad - 2 * x * df)) < ROUNDING


def test_numerical_gradient_array_copies_outputs() -> None:
    # f returns its argument itself: without copies both evaluations would be the
    # same restored array and the gradient would be 0.
    x = awkward_point()
    df = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.5]])
    grad = eval_numerical_gradient_array(lambda v: v, x, df)
    assert np.max(np.abs(grad - df)) < ROUNDING


def test_grad_check_sparse_reports_small_errors_for_a_right_gradient(capsys) -> None:
    x = np.array([[1.5, 1.2, 1.9], [1.1, 1.7, 1.3]])
    before = bits(x)
    errors = grad_check_sparse(lambda v: np.sum(v**2), x, 2 * x, num_checks=7, seed=0)
    assert len(errors) == 7
    assert max(errors) < 1e-8
    assert np.array_equal(bits(x), before)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7 and all("relative error" in line for line in lines)


def test_grad_check_sparse_reports_large_errors_for_a_wrong_gradient(capsys) -> None:
    x = np.array([[1.5, 1.2, 1.9], [1.1, 1.7, 1.3]])
    errors = grad_check_sparse(lambda v: np.sum(v**2), x, 2 * x + 1, num_checks=5, seed=1)
    # The numerical gradient is 2x, so each error is 1 / (4x + 1) and x < 2.
    assert len(errors) == 5 and min(errors) > 1 / 9
    capsys.readouterr()


def test_grad_check_sparse_seed_is_reproducible(capsys) -> None:
    x = np.arange(1.0, 31.0).reshape(5, 6) / 7
    first = grad_check_sparse(lambda v: np.sum(v**2), x, 2 * x + 0.01, num_checks=6, seed=5)
    first_out = capsys.readouterr().out
    again = grad_check_sparse(lambda v: np.sum(v**2), x, 2 * x + 0.01, num_checks=6, seed=5)
    assert again == first
    assert capsys.readouterr().out == first_out
