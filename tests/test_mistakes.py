"""The catalogue of student mistakes (reference/mistakes.py): its shape, that each variant
makes a runnable submission, that each one changes what the grader's cases see, and that
the mistakes of one function can be told apart."""

from __future__ import annotations

import ast
import builtins
import inspect
import itertools
import re
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.sandbox.inside.calls import run_calls
from reference import layers
from reference.build import reference_namespace
from reference.cases import Case, all_cases
from reference.mistakes import MISTAKES, Mistake, by_name, namespace

LAYERS_SOURCE = Path(layers.__file__).read_text()
NAMES = [m.name for m in MISTAKES]
# Dropout's cases are statistical (the mask is the student's own): its mistakes are checked
# on their properties instead of element by element.
DROPOUT = ("dropout_forward", "dropout_backward")
ELEMENTWISE = [m.name for m in MISTAKES if m.function not in DROPOUT]
DROPOUT_MISTAKES = [m.name for m in MISTAKES if m.function in DROPOUT]


@cache
def cases_of(function: str) -> tuple[Case, ...]:
    return tuple(c for c in all_cases() if c.function == function)


# What running a case gives: None when it raised, else (outputs, inputs it mutated).
Outcome = tuple[dict[str, Any], list[str]] | None


def run(ns: dict[str, Any], case: Case) -> Outcome:
    spec = {"function": case.function, "calls": case.calls, "outputs": case.outputs}
    mutated: list[str] = []
    try:
        with np.errstate(all="ignore"):
            outputs = run_calls(ns, spec, case.inputs, mutated)
    except Exception:
        return None
    return outputs, mutated


@cache
def reference_outcome(case_id: str) -> Outcome:
    case = next(c for c in all_cases() if c.id == case_id)
    return run(reference_namespace(), case)


@cache
def mistake_outcome(name: str, case_id: str) -> Outcome:
    case = next(c for c in all_cases() if c.id == case_id)
    return run(namespace(by_name(name)), case)


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def value_differs(a: Any, b: Any) -> bool:
    """Would the grader see these two returned values as different: None against a value,
    another dtype or shape, non-finite entries elsewhere, or a rel_error above 1e-6."""
    if a is None or b is None:
        return (a is None) != (b is None)
    x, y = np.asarray(a), np.asarray(b)
    if x.dtype != y.dtype or x.shape != y.shape:
        return True
    fx, fy = np.isfinite(x), np.isfinite(y)
    if not np.array_equal(fx, fy) or not np.array_equal(x[~fx], y[~fy], equal_nan=True):
        return True
    return x.size > 0 and rel_error(x[fx].astype(np.float64), y[fy].astype(np.float64)) > 1e-6


def outputs_differ(a: Outcome, b: Outcome) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    return any(value_differs(a[0][k], b[0][k]) for k in a[0])


def differs_from_reference(name: str, case: Case) -> bool:
    ours, ref = mistake_outcome(name, case.id), reference_outcome(case.id)
    assert ref is not None and not ref[1], f"the reference fails or mutates on {case.id}"
    if ours is not None and ours[1]:
        return True
    if ours is not None and any(
        isinstance(v, np.ndarray) and v.dtype == np.float32 for v in ours[0].values()
    ):
        return True
    return outputs_differ(ours, ref)


# The catalogue


def test_catalogue_is_large_with_unique_names() -> None:
    assert len(MISTAKES) >= 32
    assert len(set(NAMES)) == len(NAMES)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_mistake_is_well_formed(name: str) -> None:
    m = by_name(name)
    assert isinstance(m, Mistake)
    assert callable(getattr(layers, m.function, None)), m.function
    assert m.variant.__name__ == m.name
    assert not m.function.startswith("_")
    reference_params = inspect.signature(getattr(layers, m.function)).parameters
    assert list(inspect.signature(m.variant).parameters) == list(reference_params)


@pytest.mark.parametrize("name", NAMES)
def test_hint_is_one_sentence_without_values(name: str) -> None:
    hint = by_name(name).hint
    assert hint.endswith(".") and not hint.endswith("..")
    assert "\n" not in hint
    assert re.search(r"[.!?]\s+\S", hint) is None, "more than one sentence"
    # Small integers of the formula (N - 1, the -1 of the correct class) are fine; numbers
    # that could be an expected value are not.
    assert re.search(r"\d\.\d|\d{2,}|\de-?\d", hint) is None, hint
    for case in cases_of(by_name(name).function):
        ref = reference_outcome(case.id)
        assert ref is not None
        for value in ref[0].values():
            if isinstance(value, float):
                assert f"{value:.3g}" not in hint


def test_by_name_finds_each_and_rejects_others() -> None:
    for m in MISTAKES:
        assert by_name(m.name) is m
    with pytest.raises(KeyError):
        by_name("no_such_mistake")


def test_namespace_swaps_exactly_one_function() -> None:
    ref = reference_namespace()
    for m in MISTAKES:
        ns = namespace(m)
        assert ns[m.function] is m.variant
        assert {k for k in ns if ns[k] is not ref.get(k)} == {m.function}


# Each variant as a submission


def free_names(tree: ast.FunctionDef) -> set[str]:
    """The names a function reads that it neither binds nor takes as arguments."""
    bound = {a.arg for a in tree.args.args + tree.args.kwonlyargs}
    loads: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loads if isinstance(node.ctx, ast.Load) else bound).add(node.id)
    return loads - bound - set(dir(builtins))


@pytest.mark.parametrize("name", NAMES)
def test_variant_uses_only_names_of_the_reference_module(name: str) -> None:
    m = by_name(name)
    tree = ast.parse(m.source())
    [fn] = tree.body
    assert isinstance(fn, ast.FunctionDef) and fn.name == m.function
    assert free_names(fn) <= set(vars(layers)), free_names(fn) - set(vars(layers))


@pytest.mark.parametrize("name", NAMES)
def test_source_appended_to_the_reference_behaves_like_the_variant(name: str) -> None:
    m = by_name(name)
    compile(m.source(), f"{m.name}.py", "exec")
    submission: dict[str, Any] = {"__name__": "submission"}
    code = compile(LAYERS_SOURCE + "\n\n" + m.source(), "layers.py", "exec")
    exec(code, submission)
    assert submission[m.function].__code__.co_name == m.function
    assert submission[m.function] is not getattr(layers, m.function)

    case = cases_of(m.function)[0]
    got, want = run(submission, case), run(namespace(m), case)
    if want is None:
        assert got is None
        return
    assert got is not None
    assert got[1] == want[1]
    assert set(got[0]) == set(want[0])
    for key, value in want[0].items():
        if value is None:
            assert got[0][key] is None, key
            continue
        assert np.array_equal(np.asarray(got[0][key]), np.asarray(value), equal_nan=True), key
        assert np.asarray(got[0][key]).dtype == np.asarray(value).dtype, key


# Every mistake shows


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_mistake_changes_what_some_case_sees(name: str) -> None:
    m = by_name(name)
    cases = [c for c in cases_of(m.function) if c.check == "elementwise"]
    assert cases, f"no elementwise case of {m.function}"
    assert any(differs_from_reference(name, c) for c in cases), (
        f"{name} passes every case of {m.function}"
    )


def test_known_catches() -> None:
    """A few mistakes exist for one particular case: that case is the one that catches it."""
    expected = {
        "conv_backward_pad_slice": {"s1p0", "s2p0"},
        "conv_backward_ignores_stride": {"s2p1", "s2p0", "s2p1_hidden"},
        "max_pool_backward_assigned": {"3x3s1", "2x3s1"},
        "max_pool_height_for_width": {"2x3s1"},
        "softmax_no_max_shift": {"large", "large_hidden", "underflow", "underflow_hidden"},
        "softmax_log_of_probs": {"large", "large_hidden", "underflow", "underflow_hidden"},
        "batchnorm_test_uses_batch_stats": {"test_mode", "test_mode_hidden"},
        "batchnorm_test_ignores_gamma_beta": {"test_mode", "test_mode_hidden"},
        "affine_dx_not_reshaped": {"seed", "rand4d", "n1"},
        "relu_forward_in_place": {"seed", "rand3d", "n1"},
    }
    for name, names in expected.items():
        m = by_name(name)
        caught = {c.name for c in cases_of(m.function) if differs_from_reference(name, c)}
        assert caught == names, name


def test_in_place_and_float32_mistakes_are_caught_by_what_they_are() -> None:
    for name in ("relu_forward_in_place", "softmax_shift_in_place"):
        for case in cases_of(by_name(name).function):
            ours, ref = mistake_outcome(name, case.id), reference_outcome(case.id)
            assert ours is not None and ours[1], f"{name} should mutate on {case.id}"
            assert not outputs_differ(ours, ref)
    for case in cases_of("affine_forward"):
        ours = mistake_outcome("affine_float32", case.id)
        assert ours is not None and ours[0]["out"].dtype == np.float32


@pytest.mark.parametrize(
    "function", sorted({m.function for m in MISTAKES if m.function not in DROPOUT})
)
def test_mistakes_of_one_function_can_be_told_apart(function: str) -> None:
    names = [m.name for m in MISTAKES if m.function == function]
    for a, b in itertools.combinations(names, 2):
        assert any(
            outputs_differ(mistake_outcome(a, c.id), mistake_outcome(b, c.id))
            for c in cases_of(function)
        ), f"{a} and {b} give the same outputs on every case of {function}"


# Dropout, by its properties on a 100x100 input


def dropout_properties(ns: dict[str, Any], p: float) -> dict[str, Any]:
    rs = np.random.RandomState(0)
    x = 1.0 + rs.rand(100, 100)
    dout = rs.randn(100, 100)
    param = {"mode": "train", "p": p, "seed": 7}
    out, cache_ = ns["dropout_forward"](x.copy(), param)
    dx = ns["dropout_backward"](dout.copy(), cache_)
    kept = out != 0
    scale = out[kept] / x[kept]
    test_out, test_cache = ns["dropout_forward"](x.copy(), {"mode": "test", "p": p})
    return {
        "kept_fraction": float(kept.mean()),
        "scaled_by_one_over_p": bool(np.allclose(scale, 1 / p)),
        "rows_share_a_mask": bool((kept == kept[0]).all()),
        "dx_matches_forward": bool(np.allclose(dx, dout * out / x)),
        "test_is_identity": bool(np.array_equal(test_out, x)),
        "test_backward_is_identity": bool(
            np.array_equal(ns["dropout_backward"](dout.copy(), test_cache), dout)
        ),
    }


def dropout_is_right(props: dict[str, Any], p: float) -> bool:
    return (
        abs(props["kept_fraction"] - p) < 0.03
        and props["scaled_by_one_over_p"]
        and not props["rows_share_a_mask"]
        and props["dx_matches_forward"]
        and props["test_is_identity"]
        and props["test_backward_is_identity"]
    )


@pytest.mark.parametrize("p", [0.3, 0.8])
def test_reference_dropout_has_the_properties(p: float) -> None:
    assert dropout_is_right(dropout_properties(reference_namespace(), p), p)


def test_dropout_mistakes_break_their_property() -> None:
    p = 0.3
    props = {name: dropout_properties(namespace(by_name(name)), p) for name in DROPOUT_MISTAKES}
    assert set(props) >= {
        "dropout_not_inverted",
        "dropout_p_as_drop",
        "dropout_shared_mask",
        "dropout_backward_unscaled",
    }
    for name, got in props.items():
        assert not dropout_is_right(got, p), name

    not_inverted = props["dropout_not_inverted"]
    assert abs(not_inverted["kept_fraction"] - p) < 0.03
    assert not not_inverted["scaled_by_one_over_p"]

    as_drop = props["dropout_p_as_drop"]
    assert abs(as_drop["kept_fraction"] - (1 - p)) < 0.03

    shared = props["dropout_shared_mask"]
    assert shared["rows_share_a_mask"] and shared["scaled_by_one_over_p"]

    unscaled = props["dropout_backward_unscaled"]
    assert unscaled["scaled_by_one_over_p"] and not unscaled["dx_matches_forward"]
