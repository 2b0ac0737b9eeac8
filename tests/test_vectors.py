"""The stored vectors: rebuilt identically, verified on load, and fit for purpose."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from grader.config.choices import SPLITS
from grader.errors import VectorError
from grader.vectors import MISTAKES_FOLDER, load_vectors, save_npz
from reference import layer_utils
from reference.build import build
from reference.gradient_check import rel_error

ROOT = Path(__file__).resolve().parent.parent
STORED = ROOT / "assignments" / "modular_layers" / "vectors"

CONTRACT_FUNCTIONS = {
    "affine_forward", "affine_backward", "relu_forward", "relu_backward", "svm_loss",
    "softmax_loss", "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
    "layernorm_forward", "layernorm_backward", "dropout_forward", "dropout_backward",
    "conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive",
    "max_pool_backward_naive", "spatial_batchnorm_forward", "spatial_batchnorm_backward",
    "spatial_groupnorm_forward", "spatial_groupnorm_backward",
}  # fmt: skip


@pytest.fixture(scope="module")
def vectors():
    return load_vectors(STORED)


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    out = tmp_path_factory.mktemp("vectors")
    build(out)
    return out


# Rebuilt expected values differ from the stored ones in the last bits on another CPU (its
# BLAS kernels sum matrix products in another order): up to 4.4e-15 seen, relative to the
# largest value of the array. Measured against the array's scale, so that an entry that
# cancels down to almost nothing cannot magnify a last-bit difference; 1e-12 is far above
# what rounding gives and far below the tightest grading tier (1e-7).
REBUILD_TOLERANCE = 1e-12


def without_machine_facts(path: Path) -> dict:
    """The manifest without what depends on the machine that built it: the numpy version,
    and the checksums (they cover expected values, compared by value below)."""
    manifest = json.loads(path.read_text())
    manifest.pop("numpy_version")
    manifest.pop("files")
    return manifest


def arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def test_rebuild_gives_the_stored_cases(rebuilt):
    """The stored files stay the source of truth; a rebuild on any machine must give the
    same cases, the same inputs exactly, and the same expected values within tolerance."""
    for split in SPLITS:
        stored = sorted(p.name for p in (STORED / split).iterdir())
        assert stored == sorted(p.name for p in (rebuilt / split).iterdir())
        for name in stored:
            if name == "manifest.json":
                assert without_machine_facts(STORED / split / name) == without_machine_facts(
                    rebuilt / split / name
                )
                continue
            old, new = arrays(STORED / split / name), arrays(rebuilt / split / name)
            assert sorted(old) == sorted(new), name
            for key in old:
                assert old[key].dtype == new[key].dtype and old[key].shape == new[key].shape, key
                if ":in:" in key:
                    assert np.array_equal(old[key], new[key]), key
                else:
                    scale = max(float(np.abs(old[key]).max(initial=0.0)), 1e-300)
                    difference = float(np.abs(old[key] - new[key]).max(initial=0.0))
                    assert difference <= REBUILD_TOLERANCE * scale, key


def test_rebuild_gives_the_stored_fingerprints(rebuilt):
    """The mistakes' fingerprints too: the same mistakes on the same cases, the same
    outputs within tolerance (non-finite ones where a mistake overflows, in the same
    places)."""
    old_folder, new_folder = STORED / MISTAKES_FOLDER, rebuilt / MISTAKES_FOLDER
    names = sorted(p.name for p in old_folder.iterdir())
    assert names == sorted(p.name for p in new_folder.iterdir())
    old_manifest, new_manifest = (
        json.loads((f / "manifest.json").read_text()) for f in (old_folder, new_folder)
    )
    assert old_manifest.pop("files").keys() == new_manifest.pop("files").keys()
    assert old_manifest == new_manifest
    for name in names:
        if name == "manifest.json":
            continue
        old, new = arrays(old_folder / name), arrays(new_folder / name)
        assert sorted(old) == sorted(new), name
        for key in old:
            finite = np.isfinite(old[key])
            assert np.array_equal(finite, np.isfinite(new[key])), key
            assert np.array_equal(old[key][~finite], new[key][~finite], equal_nan=True), key
            scale = max(float(np.abs(old[key][finite]).max(initial=0.0)), 1e-300)
            difference = float(np.abs(old[key][finite] - new[key][finite]).max(initial=0.0))
            assert difference <= REBUILD_TOLERANCE * scale, key


def test_save_npz_ignores_the_clock_and_key_order(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    save_npz(a, {"x": np.arange(3.0), "y": np.eye(2)})
    save_npz(b, {"y": np.eye(2), "x": np.arange(3.0)})
    assert a.read_bytes() == b.read_bytes()
    with np.load(a, allow_pickle=False) as npz:
        assert np.array_equal(npz["y"], np.eye(2))


def test_tampered_file_is_rejected(tmp_path):
    copy = tmp_path / "vectors"
    shutil.copytree(STORED, copy)
    target = copy / "hidden" / "affine_forward.npz"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(VectorError, match=r"affine_forward\.npz does not match its checksum"):
        load_vectors(copy)


def test_missing_and_corrupt_manifests_are_explained(tmp_path):
    copy = tmp_path / "vectors"
    shutil.copytree(STORED, copy)
    (copy / "public" / "manifest.json").write_text("{not json")
    with pytest.raises(VectorError, match="not valid JSON"):
        load_vectors(copy)
    (copy / "public" / "manifest.json").unlink()
    with pytest.raises(VectorError, match="grade vectors build"):
        load_vectors(copy)
    (copy / "hidden" / "dropout_forward.npz").unlink()
    with pytest.raises(VectorError, match="missing"):
        load_vectors(copy, ["hidden"])


# What the grader chains from the student's layers, as the course's layer_utils.py does.
COMPOSITES = {"affine_relu", "two_layer_net", "conv_relu", "conv_relu_pool"}


def test_every_contract_function_has_public_and_hidden_cases(vectors):
    for split in SPLITS:
        functions = {c.function for c in vectors.cases if c.split == split}
        assert functions == CONTRACT_FUNCTIONS | COMPOSITES


def test_composites_chain_the_layers_as_layer_utils_does(vectors):
    """The call chains stored for the composites give what reference.layer_utils's own
    composites give (the two-layer net without regularization, as the seed sketches it)."""
    for case in vectors.cases:
        if case.function not in COMPOSITES:
            continue
        i, want = case.inputs, case.expected
        if case.function == "two_layer_net":
            loss, grads = layer_utils.two_layer_net(
                i["X"], i["y"], i["W1"], i["b1"], i["W2"], i["b2"], reg=0.0
            )
            got = {"loss": np.array(loss), **{f"d{k}": v for k, v in grads.items()}}
        else:
            forward = getattr(layer_utils, f"{case.function}_forward")
            backward = getattr(layer_utils, f"{case.function}_backward")
            conv = {"stride": 1, "pad": 1}
            pool = {"pool_height": 2, "pool_width": 2, "stride": 2}
            extra = {"affine_relu": (), "conv_relu": (conv,), "conv_relu_pool": (conv, pool)}
            out, cache = forward(i["x"], i["w"], i["b"], *extra[case.function])
            dx, dw, db = backward(i["dout"], cache)
            got = {"out": out, "dx": dx, "dw": dw, "db": db}
        assert set(got) == set(want), case.id
        for name in want:
            assert rel_error(got[name], want[name]) < 1e-12, (case.id, name)


def test_case_ids_are_unique_and_public_hidden_disjoint(vectors):
    ids = [c.id for c in vectors.cases]
    assert len(ids) == len(set(ids))


def test_seed_notebook_values_are_stored(vectors):
    # The published correct_out values of the assignment notebook.
    by_id = {c.id: c for c in vectors.cases}
    affine = np.array([[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]])
    assert rel_error(by_id["affine_forward.seed"].expected["out"], affine) < 1e-8
    relu = np.array(
        [
            [0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.04545455, 0.13636364],
            [0.22727273, 0.31818182, 0.40909091, 0.5],
        ]
    )
    # The notebook prints 8 decimals: 1/22 = 0.0454545454... is off by 5e-8 in the course's
    # relative error (the notebook itself reports 5e-8 for a correct relu_forward).
    assert rel_error(by_id["relu_forward.seed"].expected["out"], relu) < 6e-8
    # "Loss should be around 9" (svm, 10 classes: 9 margins of about 1) and 2.3 (= log 10).
    assert abs(float(by_id["svm_loss.seed"].expected["loss"]) - 9.0) < 0.02
    assert abs(float(by_id["softmax_loss.seed"].expected["loss"]) - np.log(10)) < 0.01


def test_inputs_avoid_ambiguous_subgradients(vectors):
    for case in vectors.cases:
        if case.function.startswith("relu"):
            assert np.abs(case.inputs["x"]).min() >= 1e-2 or case.name == "seed"
        if case.function == "svm_loss":
            x, y = case.inputs["x"], case.inputs["y"]
            margins = x - x[np.arange(len(y)), y][:, None] + 1.0
            margins[np.arange(len(y)), y] = 1.0
            assert np.abs(margins).min() > 1e-6, case.id
        if case.function.startswith("max_pool"):
            # Distinct values everywhere, so no window holds a tie.
            assert len(np.unique(case.inputs["x"])) == case.inputs["x"].size


def test_relu_seed_case_has_no_exact_zero_input(vectors):
    x = next(c for c in vectors.cases if c.id == "relu_forward.seed").inputs["x"]
    assert np.all(x != 0)


def test_softmax_has_large_logit_cases(vectors):
    large = [
        c for c in vectors.cases if c.function == "softmax_loss" and c.name.startswith("large")
    ]
    assert {c.split for c in large} == {"public", "hidden"}
    for case in large:
        assert case.inputs["x"].min() > 900
        # An unshifted exp overflows there.
        with np.errstate(over="ignore"):
            assert not np.all(np.isfinite(np.exp(case.inputs["x"])))


def test_shapes_cover_the_contract(vectors):
    affine_ndims = {c.inputs["x"].ndim for c in vectors.cases if c.function == "affine_forward"}
    assert {2, 3, 4} <= affine_ndims
    assert any(
        c.inputs["x"].shape[0] == 1 for c in vectors.cases if c.function == "affine_backward"
    )
    conv = [c for c in vectors.cases if c.function == "conv_forward_naive"]
    params = {
        (
            c.calls[0]["args"][3]["dict"]["stride"]["value"],
            c.calls[0]["args"][3]["dict"]["pad"]["value"],
        )
        for c in conv
    }
    assert {(1, 0), (1, 1), (2, 0), (2, 1)} <= params


def test_worker_specs_carry_no_expected_values(vectors):
    for case in vectors.cases:
        text = json.dumps(case.spec())
        assert "expected" not in text and ":out:" not in text


def test_no_hidden_case_has_a_public_cases_inputs(vectors):
    """A table of the public answers, looked up by any input array, must earn no hidden
    credit: no hidden input of more than a handful of values is a public one."""
    public: dict[str, list[tuple[str, np.ndarray]]] = {}
    for case in vectors.cases:
        if case.split == "public":
            public.setdefault(case.function, []).extend(
                (f"{case.id}:{name}", arr) for name, arr in case.inputs.items()
            )
    for case in (c for c in vectors.cases if c.split == "hidden"):
        for name, arr in case.inputs.items():
            if arr.size < 8:
                continue
            for where, other in public.get(case.function, []):
                same = arr.shape == other.shape and np.array_equal(arr, other)
                assert not same, f"{case.id}:{name} is {where}"


def test_softmax_has_cases_where_the_correct_probability_underflows(vectors):
    cases = [c for c in vectors.cases if c.function == "softmax_loss" and "underflow" in c.name]
    assert {c.split for c in cases} == {"public", "hidden"}
    for case in cases:
        x, y = case.inputs["x"], case.inputs["y"]
        shifted = x - x.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        # The probability of the correct class is exactly 0 in float64: its log is -inf.
        assert np.all(probs[np.arange(len(y)), y] == 0.0), case.id
        # The loss itself is finite: about 800 per row.
        assert 700 < float(case.expected["loss"]) < 900, case.id


# A pure-Python loop does about a million multiply-adds a second on a slow machine (numpy
# scalar indexing costs about a microsecond each): a loop-based conv or pool, as the
# course asks for, must finish well inside the 5 s case limit.
LOOP_WORK_LIMIT = 500_000


def test_naive_layers_cases_are_small_enough_for_loops(vectors):
    for case in vectors.cases:
        for call in case.calls:
            # Every case with a conv (its backward too) runs the forward first.
            if call["fn"] != "conv_forward_naive":
                continue
            (n, c, h, wid), (f, _, hh, ww) = case.inputs["x"].shape, case.inputs["w"].shape
            param = call["args"][3]["dict"]
            pad, stride = param["pad"]["value"], param["stride"]["value"]
            oh, ow = 1 + (h + 2 * pad - hh) // stride, 1 + (wid + 2 * pad - ww) // stride
            # The backward does about as much work again.
            assert 2 * n * f * oh * ow * c * hh * ww <= LOOP_WORK_LIMIT, case.id


def test_only_the_graded_functions_files_are_read(tmp_path):
    """Grading reads and verifies the files of the rubric's functions only (the manifest's
    digest still covers every file): a damaged file of another function does not stop it,
    and a full load still refuses it."""
    copy = tmp_path / "vectors"
    shutil.copytree(STORED, copy)
    target = copy / "public" / "conv_forward_naive.npz"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0x01
    target.write_bytes(bytes(data))
    some = load_vectors(copy, ["public"], {"affine_forward", "relu_forward"})
    assert {c.function for c in some.cases} == {"affine_forward", "relu_forward"}
    assert "conv_forward_naive" in some.known
    assert all(c.mistakes for c in some.cases if c.function == "affine_forward")
    assert some.digest == load_vectors(STORED, ["public"]).digest
    with pytest.raises(VectorError, match=r"conv_forward_naive\.npz does not match"):
        load_vectors(copy, ["public"])
