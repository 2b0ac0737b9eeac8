"""The built-in assignments, chosen by name, and the starter code they share.

Expected totals come from the rubrics' points (the correct example earns all of them, the
untouched starter none); the starter file is checked against what reference/starter.py
makes of the reference, so that a change to the reference reaches it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import ROOT, build_submission, function, run_grade, write_rubric

from grader.api import grade_one
from grader.config.rubric import assignment_names, builtin_assignment, load_rubric
from grader.errors import RubricError
from grader.report import json_report
from grader.sandbox.runtime import discover_runtime
from grader.sandbox.worker import SandboxConfig
from reference.starter import starter

ASSIGNMENTS = ROOT / "assignments"
CORRECT = ASSIGNMENTS / "modular_layers" / "examples" / "correct"
STARTER = ASSIGNMENTS / "starter"
NAMES = ["all", "batchnorm", "convolutional", "dropout", "fully_connected", "modular_layers"]
# The 21 layer functions of the contract, and the four composites the grader chains from
# them: affine_relu, two_layer_net, conv_relu, conv_relu_pool.
GRADED = 25


@pytest.fixture(scope="module")
def config() -> SandboxConfig:
    return SandboxConfig.create("bubblewrap", discover_runtime())


def report(sub: Path, name: str, config: SandboxConfig, splits: Any = ("public",)) -> Any:
    return json_report.to_dict(grade_one(sub, builtin_assignment(name), config, splits))


def test_every_assignment_is_listed_with_what_it_grades() -> None:
    assert assignment_names() == NAMES
    proc = run_grade("--list-assignments")
    assert proc.returncode == 0, proc.stderr
    for name in NAMES:
        rubric = builtin_assignment(name)
        assert rubric.title, name
        assert f"{name}{' (the default)' if name == 'modular_layers' else ''}: {rubric.title}" in (
            proc.stdout
        )
    assert "batchnorm_backward_alt" in proc.stdout


def test_all_grades_every_function_of_the_others() -> None:
    everything = [f.name for f in builtin_assignment("all").functions]
    assert len(everything) == len(set(everything)) == GRADED
    others = {f.name for name in NAMES if name != "all" for f in builtin_assignment(name).functions}
    assert others == set(everything)


def test_an_unknown_assignment_is_named_with_the_closest() -> None:
    with pytest.raises(RubricError, match="'convolutional'"):
        builtin_assignment("convolutinal")
    proc = run_grade(CORRECT, "--assignment", "dropuot")
    assert proc.returncode == 2
    assert "Did you mean 'dropout'?" in proc.stderr


def test_rubric_and_assignment_cannot_both_be_given(tmp_path: Path) -> None:
    proc = run_grade(CORRECT, "--assignment", "dropout", "--rubric", write_rubric(tmp_path))
    assert proc.returncode == 2
    assert "not allowed with" in proc.stderr


def test_a_rubric_can_start_from_an_assignment(tmp_path: Path) -> None:
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump({"assignment": "dropout", "limits": {"case_seconds": 2}}))
    rubric = load_rubric(path)
    builtin = builtin_assignment("dropout")
    assert rubric.functions == builtin.functions
    assert rubric.vectors == builtin.vectors
    assert rubric.title == builtin.title
    assert rubric.limits.case_seconds == 2
    assert rubric.assignment == "dropout"


def test_starter_code_is_made_from_the_reference() -> None:
    path = STARTER / "cs231n" / "layers.py"
    assert path.read_text() == starter(), f"{path} is out of date: run python -m reference.starter"


@pytest.mark.sandbox
@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_untouched_starter_scores_zero_as_not_implemented(name: str, config: SandboxConfig) -> None:
    result = report(STARTER, name, config)
    assert result["max_score"] == sum(f.points for f in builtin_assignment(name).functions)
    assert result["score"] == 0
    for fn in result["functions"]:
        assert fn["feedback"].startswith("not implemented yet"), (fn["name"], fn["feedback"])


@pytest.mark.sandbox
@pytest.mark.slow
def test_the_correct_example_earns_every_point_of_all(config: SandboxConfig) -> None:
    result = report(CORRECT, "all", config, ("public", "hidden"))
    assert len(result["functions"]) == GRADED
    for fn in result["functions"]:
        assert fn["score"] == fn["max_score"], (fn["name"], fn["feedback"])
    assert result["score"] == result["max_score"] == 270


@pytest.mark.sandbox
@pytest.mark.slow
def test_the_reference_as_a_submission_earns_every_point_of_all(
    tmp_path: Path, config: SandboxConfig
) -> None:
    package = tmp_path / "reference_sub" / "cs231n"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    shutil.copy(ROOT / "reference" / "layers.py", package / "layers.py")
    result = report(package.parent, "all", config, ("public", "hidden"))
    assert [f["name"] for f in result["functions"] if f["score"] < f["max_score"]] == []
    assert result["score"] == result["max_score"] == 270


FORWARD_RAISES = """
def relu_forward(x):
    raise ValueError("boom")
"""


@pytest.mark.sandbox
@pytest.mark.slow
def test_a_backward_whose_forward_failed_is_reported_as_not_tested(
    tmp_path: Path, config: SandboxConfig
) -> None:
    sub = build_submission(tmp_path, FORWARD_RAISES)
    result = json_report.to_dict(
        grade_one(sub, load_rubric(write_rubric(tmp_path)), config, ("public",))
    )
    forward, backward = function(result, "relu_forward"), function(result, "relu_backward")
    assert forward["feedback"].startswith("seed: ValueError: boom")
    assert backward["feedback"].startswith(
        "seed: not tested on this case: it calls your relu_forward first, which failed on it: "
        "ValueError: boom"
    ), backward["feedback"]


RELU_BACKWARD_UNMASKED = """
def relu_backward(dout, cache):
    return dout.copy()
"""


@pytest.mark.sandbox
@pytest.mark.slow
def test_composites_pay_for_a_layer_bug_on_the_outputs_it_reaches(
    tmp_path: Path, config: SandboxConfig
) -> None:
    sub = build_submission(tmp_path, RELU_BACKWARD_UNMASKED)
    result = report(sub, "fully_connected", config, ("public", "hidden"))
    scores = {f["name"]: f["score"] for f in result["functions"]}
    # Worked by hand: the unmasked gradient is wrong wherever a relu input is negative
    # (about half of them). relu_backward loses all 5; affine_relu keeps out and loses dx,
    # dw and db (1 of 4 equal weights: 2.5 of 10); two_layer_net keeps loss, dW2 and db2,
    # which the relu does not reach, and loses dW1 and db1 (3 of 5: 9 of 15).
    assert scores == {
        "affine_forward": 10,
        "affine_backward": 15,
        "relu_forward": 5,
        "relu_backward": 0,
        "svm_loss": 10,
        "softmax_loss": 10,
        "affine_relu": 2.5,
        "two_layer_net": 9,
    }


NO_RELU = """
del relu_forward, relu_backward
"""


@pytest.mark.sandbox
@pytest.mark.slow
def test_a_composite_names_the_layers_it_lacks(tmp_path: Path, config: SandboxConfig) -> None:
    sub = build_submission(tmp_path, NO_RELU)
    result = report(sub, "fully_connected", config)
    net = function(result, "two_layer_net")
    assert net["score"] == 0
    assert net["feedback"] == (
        "two_layer_net uses relu_backward, relu_forward: not defined in the submission"
    )
    assert function(result, "relu_forward")["feedback"] == (
        "relu_forward is not defined in the submission"
    )


# Course-year conventions, as rubric options -------------------------------------------

RELU_IN_PLACE = (ROOT / "tests" / "zoo" / "bugs" / "relu_forward_inplace.py").read_text()


@pytest.mark.sandbox
@pytest.mark.slow
def test_input_mutation_is_a_warning_or_a_penalty(tmp_path: Path, config: SandboxConfig) -> None:
    sub = build_submission(tmp_path, RELU_IN_PLACE)
    warned = json_report.to_dict(
        grade_one(sub, load_rubric(write_rubric(tmp_path)), config, ("public",))
    )
    forward = function(warned, "relu_forward")
    assert forward["score"] == 5
    assert "modified its input x in place" in forward["feedback"]
    strict = tmp_path / "strict"
    strict.mkdir()
    rubric = load_rubric(write_rubric(strict, input_mutation="penalty"))
    penalised = json_report.to_dict(grade_one(sub, rubric, config, ("public",)))
    forward = function(penalised, "relu_forward")
    assert forward["score"] == 0
    assert forward["feedback"] == (
        "seed: relu_forward modified its input x in place, which this rubric counts as a "
        "failure: work on a copy"
    )
    # relu_backward's cases call relu_forward first: its own gradient is still right, and
    # only the graded function's own changes count against it.
    assert function(penalised, "relu_backward")["score"] == 5


GROUPNORM_VECTOR_PARAMS = """
_groupnorm_forward = spatial_groupnorm_forward
_groupnorm_backward = spatial_groupnorm_backward


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    # The (C,) convention of some course years: gamma and beta are vectors.
    assert gamma.shape == beta.shape == (x.shape[1],), gamma.shape
    return _groupnorm_forward(x, gamma.reshape(1, -1, 1, 1), beta.reshape(1, -1, 1, 1), G, gn_param)


def spatial_groupnorm_backward(dout, cache):
    dx, dgamma, dbeta = _groupnorm_backward(dout, cache)
    return dx, dgamma.reshape(-1), dbeta.reshape(-1)
"""


@pytest.mark.sandbox
@pytest.mark.slow
def test_group_norm_parameters_follow_the_rubrics_convention(
    tmp_path: Path, config: SandboxConfig
) -> None:
    sub = build_submission(tmp_path, GROUPNORM_VECTOR_PARAMS)
    functions = {"spatial_groupnorm_forward": {"points": 10}, "spatial_groupnorm_backward": {}}
    scores = {}
    for shape in ("broadcast", "vector"):
        folder = tmp_path / shape
        folder.mkdir()
        rubric = load_rubric(write_rubric(folder, functions=functions, groupnorm_shape=shape))
        result = json_report.to_dict(grade_one(sub, rubric, config, ("public", "hidden")))
        scores[shape] = {f["name"]: f["score"] for f in result["functions"]}
    # Given (1, C, 1, 1) parameters, this (C,) implementation fails its own assertion.
    assert scores["broadcast"] == {"spatial_groupnorm_forward": 0, "spatial_groupnorm_backward": 0}
    assert scores["vector"] == {"spatial_groupnorm_forward": 10, "spatial_groupnorm_backward": 10}


SOFTMAX_LOG_OF_PROBABILITY = """
def softmax_loss(x, y):
    # The course's usual solution: shifted scores, then the log of a probability.
    N = x.shape[0]
    shifted = x - np.max(x, axis=1, keepdims=True)
    probs = np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    return loss, dx / N
"""


@pytest.mark.sandbox
@pytest.mark.slow
def test_the_log_of_an_underflowed_probability_loses_the_loss_there(
    tmp_path: Path, config: SandboxConfig
) -> None:
    sub = build_submission(tmp_path, SOFTMAX_LOG_OF_PROBABILITY)
    result = report(sub, "modular_layers", config, ("public", "hidden"))
    loss = function(result, "softmax_loss")
    # Worked by hand: 7 cases, checks {loss: 1, dx: 2}. In the 2 underflow cases the loss
    # is inf (dx is right): 2/3 of the case each. 10 * (5 + 2 * 2/3) / 7 = 9.05.
    assert loss["score"] == 9.05
    failing = [c for c in loss["cases"] if c["credit"] < 1]
    assert sorted(c["id"] for c in failing) == [
        "softmax_loss.underflow",
        "softmax_loss.underflow_hidden",
    ]


# Hand-written wrong variants of the other assignments ------------------------------------

BATCHNORM_UNBIASED_VARIANCE = """
_correct_batchnorm_forward = batchnorm_forward


def batchnorm_forward(x, gamma, beta, bn_param):
    if bn_param.get("mode", "train") == "test":
        return _correct_batchnorm_forward(x, gamma, beta, bn_param)
    momentum = bn_param.get("momentum", 0.9)
    mu, var = x.mean(axis=0), x.var(axis=0, ddof=1)  # the mistake: N - 1
    out = gamma * (x - mu) / np.sqrt(var + bn_param.get("eps", 1e-5)) + beta
    running_mean = bn_param.get("running_mean", np.zeros(x.shape[1]))
    running_var = bn_param.get("running_var", np.zeros(x.shape[1]))
    bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu
    bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    return out, None
"""

CONV_WITHOUT_PADDING = """
_correct_conv_forward_naive = conv_forward_naive


def conv_forward_naive(x, w, b, conv_param):
    return _correct_conv_forward_naive(x, w, b, dict(conv_param, pad=0))
"""


@pytest.mark.sandbox
@pytest.mark.slow
def test_wrong_variants_of_the_other_assignments_lose_what_they_should(
    tmp_path: Path, config: SandboxConfig
) -> None:
    splits = ("public", "hidden")
    bn = report(
        build_submission(tmp_path / "bn", BATCHNORM_UNBIASED_VARIANCE), "batchnorm", config, splits
    )
    # Worked by hand. batchnorm_forward has 5 cases, checks {out: 2, running_mean: 1,
    # running_var: 1}. In the 3 training cases (train, train_hidden, momentum; 8 rows, so
    # the variance is 8/7 too large: several percent off) out and running_var fail and
    # running_mean holds: 1/4 each. The 2 test-mode cases read the given statistics and
    # pass. 15 * (3/4 + 2) / 5 = 8.25.
    assert function(bn, "batchnorm_forward")["score"] == 8.25
    assert function(bn, "layernorm_forward")["score"] == 10
    conv = report(
        build_submission(tmp_path / "conv", CONV_WITHOUT_PADDING), "convolutional", config, splits
    )
    # 5 conv cases, 2 of them with padding 0 (s1p0, s2p0), which pass; the 3 others get
    # an output of the wrong shape. 15 * 2 / 5 = 6.
    forward = function(conv, "conv_forward_naive")
    assert forward["score"] == 6
    assert "has shape" in forward["feedback"]
    assert function(conv, "max_pool_forward_naive")["score"] == 10
