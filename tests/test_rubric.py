"""rubric.yaml: declared keys, validated values, helpful errors, and the credit tiers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader.config.rubric import Rubric, Tier, load_rubric, parse_rubric
from grader.errors import RubricError

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = {"vectors": "vectors", "functions": {"affine_forward": {"points": 10}}}


def write(folder: Path, data: Any) -> Path:
    path = folder / "rubric.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def rubric_with(tmp_path: Path, **changes: Any) -> Rubric:
    return load_rubric(write(tmp_path, dict(MINIMAL, **changes)))


def error_for(tmp_path: Path, data: Any) -> str:
    with pytest.raises(RubricError) as info:
        load_rubric(write(tmp_path, data))
    return str(info.value)


# The repository's rubric -----------------------------------------------------------------


def test_the_repository_rubric_loads_as_written() -> None:
    rubric = load_rubric(ROOT / "rubric.yaml")
    assert rubric.vectors == ROOT / "assignments" / "modular_layers" / "vectors"
    assert rubric.cases == "all"
    assert rubric.splits == ("public", "hidden")
    assert rubric.dropout_p_means == "keep"
    assert rubric.module is None
    assert rubric.tolerances == (Tier(1e-7, 1.0), Tier(1e-4, 0.5))
    assert rubric.limits.case_seconds == 5
    assert rubric.limits.import_seconds == 10
    assert rubric.limits.submission_seconds == 120
    assert rubric.limits.memory_mb == 512
    points = {f.name: f.points for f in rubric.functions}
    assert points == {
        "affine_forward": 10,
        "affine_backward": 15,
        "relu_forward": 5,
        "relu_backward": 5,
        "svm_loss": 10,
        "softmax_loss": 10,
    }
    assert sum(points.values()) == 55


def test_the_repository_rubric_weights_outputs() -> None:
    functions = {f.name: f for f in load_rubric(ROOT / "rubric.yaml").functions}
    assert functions["svm_loss"].weight("dx") == 2
    assert functions["svm_loss"].weight("loss") == 1
    assert functions["affine_backward"].weight("db") == 1
    # Outputs that are not listed weigh 1.
    assert functions["affine_forward"].weight("out") == 1


# Defaults --------------------------------------------------------------------------------


def test_defaults_when_optional_keys_are_omitted(tmp_path: Path) -> None:
    rubric = rubric_with(tmp_path)
    assert rubric.cases == "all"
    assert rubric.dropout_p_means == "keep"
    assert rubric.module is None
    assert rubric.tolerances == (Tier(1e-7, 1.0), Tier(1e-4, 0.5))
    limits = rubric.limits
    assert (limits.case_seconds, limits.import_seconds, limits.submission_seconds) == (5, 10, 120)
    assert (limits.memory_mb, limits.processes, limits.file_size_mb) == (512, 16, 8)
    assert (limits.open_files, limits.tmp_mb) == (64, 16)


def test_a_function_without_settings_is_worth_10_points(tmp_path: Path) -> None:
    rubric = rubric_with(tmp_path, functions={"relu_forward": None})
    assert [(f.name, f.points, dict(f.checks)) for f in rubric.functions] == [
        ("relu_forward", 10.0, {})
    ]


def test_limits_given_override_only_themselves(tmp_path: Path) -> None:
    limits = rubric_with(tmp_path, limits={"case_seconds": 0.5, "memory_mb": 512.0}).limits
    assert limits.case_seconds == 0.5
    assert limits.memory_mb == 512
    assert type(limits.memory_mb) is int
    assert limits.import_seconds == 10


def test_vectors_are_relative_to_the_rubric_file(tmp_path: Path) -> None:
    rubric = rubric_with(tmp_path, vectors="data/vectors")
    assert rubric.vectors == (tmp_path / "data" / "vectors").resolve()


def test_public_cases_only(tmp_path: Path) -> None:
    assert rubric_with(tmp_path, cases="public").splits == ("public",)


def test_module_is_read(tmp_path: Path) -> None:
    assert rubric_with(tmp_path, module="cs231n/layers.py").module == "cs231n/layers.py"


# Credit tiers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "credit"),
    [(0.0, 1.0), (5e-8, 1.0), (1e-7, 1.0), (2e-7, 0.5), (1e-4, 0.5), (1.01e-4, 0.0), (1.0, 0.0)],
)
def test_credit_takes_the_first_tier_that_holds(
    tmp_path: Path, error: float, credit: float
) -> None:
    assert load_rubric(ROOT / "rubric.yaml").credit(error) == credit


def test_credit_of_nan_is_zero() -> None:
    assert load_rubric(ROOT / "rubric.yaml").credit(math.nan) == 0.0


def test_credit_with_three_tiers(tmp_path: Path) -> None:
    tiers = [
        {"max_rel_error": 1e-9, "credit": 1},
        {"max_rel_error": 1e-6, "credit": 0.75},
        {"max_rel_error": 1e-2, "credit": 0.25},
    ]
    rubric = rubric_with(tmp_path, tolerances=tiers)
    assert [rubric.credit(e) for e in (1e-10, 1e-8, 1e-6, 1e-3, 0.5)] == [1, 0.75, 0.75, 0.25, 0]


# Unknown keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [("tolerance", "tolerances"), ("functons", "functions"), ("vector", "vectors")],
)
def test_unknown_top_level_key_suggests_the_close_one(
    tmp_path: Path, key: str, suggestion: str
) -> None:
    data = dict(MINIMAL, **{key: 1})
    message = error_for(tmp_path, data)
    assert f"unknown key {key!r}. Did you mean {suggestion!r}?" in message
    assert str(tmp_path / "rubric.yaml") in message


def test_unknown_top_level_key_without_a_close_one_lists_the_known_keys(tmp_path: Path) -> None:
    message = error_for(tmp_path, dict(MINIMAL, zzz=1))
    assert (
        "unknown key 'zzz'. Known keys: vectors, cases, dropout_p_means, input_mutation," in message
    )


def test_unknown_key_inside_a_function(tmp_path: Path) -> None:
    message = error_for(tmp_path, dict(MINIMAL, functions={"affine_forward": {"point": 10}}))
    assert "functions.affine_forward: unknown key 'point'. Did you mean 'points'?" in message


def test_unknown_key_inside_limits(tmp_path: Path) -> None:
    message = error_for(tmp_path, dict(MINIMAL, limits={"case_second": 3}))
    assert "limits: unknown key 'case_second'. Did you mean 'case_seconds'?" in message


def test_unknown_key_inside_a_tier(tmp_path: Path) -> None:
    tiers = [{"max_rel_err": 1e-7, "credit": 1.0}]
    message = error_for(tmp_path, dict(MINIMAL, tolerances=tiers))
    assert "tolerances[0]: unknown key 'max_rel_err'. Did you mean 'max_rel_error'?" in message


# Bad values ------------------------------------------------------------------------------


def test_tiers_out_of_order(tmp_path: Path) -> None:
    tiers = [{"max_rel_error": 1e-4, "credit": 0.5}, {"max_rel_error": 1e-7, "credit": 1.0}]
    message = error_for(tmp_path, dict(MINIMAL, tolerances=tiers))
    assert "list the tiers from the tightest max_rel_error to the loosest" in message


def test_credit_above_one(tmp_path: Path) -> None:
    tiers = [{"max_rel_error": 1e-7, "credit": 1.5}]
    message = error_for(tmp_path, dict(MINIMAL, tolerances=tiers))
    assert "tolerances[0].credit: a fraction of the points, at most 1; got 1.5." in message


def test_negative_credit(tmp_path: Path) -> None:
    tiers = [{"max_rel_error": 1e-7, "credit": -0.5}]
    message = error_for(tmp_path, dict(MINIMAL, tolerances=tiers))
    assert "tolerances[0].credit: expected a number >= 0, got -0.5." in message


def test_tier_without_credit(tmp_path: Path) -> None:
    message = error_for(tmp_path, dict(MINIMAL, tolerances=[{"max_rel_error": 1e-7}]))
    assert "tolerances[0]: needs both max_rel_error and credit." in message


@pytest.mark.parametrize("tolerances", [[], {"max_rel_error": 1e-7}, "tight"])
def test_tolerances_must_be_a_non_empty_list(tmp_path: Path, tolerances: Any) -> None:
    message = error_for(tmp_path, dict(MINIMAL, tolerances=tolerances))
    assert "tolerances: expected a non-empty list of {max_rel_error, credit}." in message


@pytest.mark.parametrize("points", ["ten", True, [10], -1])
def test_points_must_be_a_non_negative_number(tmp_path: Path, points: Any) -> None:
    functions = {"affine_forward": {"points": points}}
    message = error_for(tmp_path, dict(MINIMAL, functions=functions))
    assert f"functions.affine_forward.points: expected a number >= 0, got {points!r}." in message


def test_check_weights_must_be_numbers(tmp_path: Path) -> None:
    functions = {"svm_loss": {"points": 10, "checks": {"dx": "double"}}}
    message = error_for(tmp_path, dict(MINIMAL, functions=functions))
    assert "functions.svm_loss.checks.dx: expected a number >= 0, got 'double'." in message


def test_limits_must_be_positive_numbers(tmp_path: Path) -> None:
    message = error_for(tmp_path, dict(MINIMAL, limits={"case_seconds": 0}))
    assert "limits.case_seconds: expected a number >= 0.001, got 0." in message


def test_bad_cases_choice(tmp_path: Path) -> None:
    message = error_for(tmp_path, dict(MINIMAL, cases="some"))
    assert "cases must be one of all, public, hidden; got 'some'." in message


def test_bad_dropout_meaning(tmp_path: Path) -> None:
    message = error_for(tmp_path, dict(MINIMAL, dropout_p_means="retain"))
    assert "dropout_p_means must be one of keep, drop; got 'retain'." in message


def test_vectors_are_required(tmp_path: Path) -> None:
    message = error_for(tmp_path, {"functions": MINIMAL["functions"]})
    assert "the key 'vectors' (folder of the stored vectors) is required, unless" in message


@pytest.mark.parametrize("functions", [None, {}, ["affine_forward"]])
def test_functions_must_be_a_non_empty_mapping(tmp_path: Path, functions: Any) -> None:
    data = {"vectors": "v"} if functions is None else {"vectors": "v", "functions": functions}
    message = error_for(tmp_path, data)
    assert "functions: expected a mapping from function name to {points, checks}." in message


def test_module_must_be_a_path(tmp_path: Path) -> None:
    message = error_for(tmp_path, dict(MINIMAL, module=3))
    assert "module must be a path such as cs231n/layers.py." in message


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_the_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    assert "expected a mapping at the top level." in error_for(tmp_path, text)


def test_invalid_yaml(tmp_path: Path) -> None:
    message = error_for(tmp_path, "vectors: [unclosed\nfunctions: {a: 1}\n")
    assert message.startswith(f"{tmp_path / 'rubric.yaml'} is not valid YAML: ")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    assert str(info.value) == (f"{path} does not exist.\nHint: pass --rubric FILE.")


def test_parse_rubric_takes_data_already_loaded(tmp_path: Path) -> None:
    rubric = parse_rubric(MINIMAL, tmp_path / "r.yaml")
    assert rubric.vectors == (tmp_path / "vectors").resolve()
    assert [f.name for f in rubric.functions] == ["affine_forward"]


def test_nan_points_are_refused(tmp_path: Path) -> None:
    error_for(tmp_path, "vectors: v\nfunctions:\n  affine_forward: {points: .nan}\n")


def test_a_folder_given_as_the_rubric_is_a_rubric_error(tmp_path: Path) -> None:
    with pytest.raises(RubricError):
        load_rubric(tmp_path)


@pytest.mark.parametrize(
    ("key", "value", "choices"),
    [
        ("input_mutation", "fail", "warning, penalty"),
        ("groupnorm_shape", "(C,)", "broadcast, vector"),
    ],
)
def test_course_conventions_are_closed_choices(
    tmp_path: Path, key: str, value: str, choices: str
) -> None:
    message = error_for(tmp_path, dict(MINIMAL, **{key: value}))
    assert f"{key} must be one of {choices}; got {value!r}." in message


def test_course_conventions_default_to_the_current_course(tmp_path: Path) -> None:
    rubric = load_rubric(write(tmp_path, MINIMAL))
    assert (rubric.dropout_p_means, rubric.groupnorm_shape, rubric.input_mutation) == (
        "keep",
        "broadcast",
        "warning",
    )
