"""Case definitions for the fixed-seed test vectors.

A case is a function to grade, its inputs (drawn from ``np.random.RandomState(seed)``,
whose streams numpy keeps frozen across versions), the calls that exercise it, and the
outputs to compare. Call and output specs are plain JSON understood by
``grader.sandbox.inside.calls.run_calls``; the builder runs them on the reference to get
the expected values, and the worker runs the same specs on a submission.

Inputs avoid the points where a subgradient is a matter of convention (relu at 0,
max-pool ties, svm margins of exactly 0): continuous random draws hit them with
probability zero, and relu inputs are kept at least 1e-2 away from 0 so the numerical
gradients used in the tests stay on one side of the kink.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Spec = dict[str, Any]


def A(name: str) -> Spec:
    return {"array": name}


def V(value: Any) -> Spec:
    return {"value": value}


def D(bind: str, **items: Spec) -> Spec:
    return {"dict": items, "as": bind}


def call(fn: str, *args: Spec, returns: tuple[str, ...] = ("out", "cache")) -> Spec:
    return {"fn": fn, "args": list(args), "returns": list(returns)}


def var(*names: str) -> list[Spec]:
    return [{"name": n, "from": {"var": n}} for n in names]


def item(bind: str, *keys: str) -> list[Spec]:
    return [{"name": k, "from": {"item": [bind, k]}} for k in keys]


@dataclass(frozen=True)
class Case:
    """One stored case. ``check`` says how outputs are judged (see grader.grading.judge)."""

    function: str
    name: str
    split: str
    seed: int | None
    inputs: dict[str, np.ndarray]
    calls: list[Spec]
    outputs: list[Spec]
    check: str = "elementwise"
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.function}.{self.name}"


def away_from_zero(rs: np.random.RandomState, *shape: int, margin: float = 1e-2) -> np.ndarray:
    x = rs.randn(*shape)
    return np.where(x >= 0, x + margin, x - margin)


Builder = Callable[[], Iterator[Case]]
BUILDERS: list[Builder] = []


def builder(fn: Builder) -> Builder:
    BUILDERS.append(fn)
    return fn


@builder
def affine() -> Iterator[Case]:
    # The seed notebook's own affine_forward case (its published correct_out).
    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
    input_size = num_inputs * int(np.prod(input_shape))
    weight_size = output_dim * int(np.prod(input_shape))
    seed_inputs = {
        "x": np.linspace(-0.1, 0.5, num=input_size).reshape(num_inputs, *input_shape),
        "w": np.linspace(-0.2, 0.3, num=weight_size).reshape(int(np.prod(input_shape)), output_dim),
        "b": np.linspace(-0.3, 0.1, num=output_dim),
    }
    fwd = [call("affine_forward", A("x"), A("w"), A("b"))]
    yield Case("affine_forward", "seed", "public", None, seed_inputs, fwd, var("out"))
    shapes = [
        ("rand2d", "public", 1, (4, 7), 5),
        ("rand4d", "hidden", 2, (3, 2, 3, 4), 6),
        ("n1", "hidden", 3, (1, 5), 3),
        ("odd", "hidden", 4, (7, 3, 11), 1),
    ]
    for name, split, seed, xshape, m in shapes:
        rs = np.random.RandomState(seed)
        d = int(np.prod(xshape[1:]))
        inputs = {"x": rs.randn(*xshape), "w": rs.randn(d, m), "b": rs.randn(m)}
        yield Case("affine_forward", name, split, seed, inputs, fwd, var("out"))
    bwd = fwd + [call("affine_backward", A("dout"), {"var": "cache"}, returns=("dx", "dw", "db"))]
    for name, split, seed, xshape, m in [
        ("seed", "public", 231, (10, 2, 3), 5),
        ("rand2d", "hidden", 11, (6, 4), 3),
        ("rand4d", "hidden", 12, (3, 2, 2, 3), 4),
        ("n1", "hidden", 13, (1, 3, 2), 2),
    ]:
        rs = np.random.RandomState(seed)
        d = int(np.prod(xshape[1:]))
        inputs = {
            "x": rs.randn(*xshape),
            "w": rs.randn(d, m),
            "b": rs.randn(m),
            "dout": rs.randn(xshape[0], m),
        }
        yield Case("affine_backward", name, split, seed, inputs, bwd, var("dx", "dw", "db"))


@builder
def relu() -> Iterator[Case]:
    fwd = [call("relu_forward", A("x"))]
    seed_x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    yield Case("relu_forward", "seed", "public", None, {"x": seed_x}, fwd, var("out"))
    for name, split, seed, shape in [
        ("rand3d", "hidden", 21, (3, 4, 5)),
        ("n1", "hidden", 22, (1, 7)),
    ]:
        rs = np.random.RandomState(seed)
        yield Case(
            "relu_forward", name, split, seed, {"x": away_from_zero(rs, *shape)}, fwd, var("out")
        )
    bwd = fwd + [call("relu_backward", A("dout"), {"var": "cache"}, returns=("dx",))]
    for name, split, seed, shape in [
        ("seed", "public", 23, (10, 10)),
        ("rand3d", "hidden", 24, (2, 3, 4)),
        ("n1", "hidden", 25, (1, 6)),
    ]:
        rs = np.random.RandomState(seed)
        inputs = {"x": away_from_zero(rs, *shape), "dout": rs.randn(*shape)}
        yield Case("relu_backward", name, split, seed, inputs, bwd, var("dx"))


@builder
def losses() -> Iterator[Case]:
    for fn in ("svm_loss", "softmax_loss"):
        calls = [call(fn, A("x"), A("y"), returns=("loss", "dx"))]
        # The seed notebook's setting: 50 inputs, 10 classes, scores at scale 0.001.
        for name, split, seed, n, c, scale in [
            ("seed", "public", 31, 50, 10, 0.001),
            ("rand", "hidden", 32, 7, 5, 1.0),
            ("n1", "hidden", 33, 1, 4, 2.0),
        ]:
            rs = np.random.RandomState(seed)
            inputs = {"x": scale * rs.randn(n, c), "y": rs.randint(c, size=n)}
            yield Case(fn, name, split, seed, inputs, calls, var("loss", "dx"))
    # Logits around 1000: exp overflows unless the scores are shifted by their row max.
    calls = [call("softmax_loss", A("x"), A("y"), returns=("loss", "dx"))]
    for name, split, seed in [("large", "public", 34), ("large_hidden", "hidden", 35)]:
        rs = np.random.RandomState(seed)
        inputs = {"x": 1000.0 + 5.0 * rs.randn(8, 6), "y": rs.randint(6, size=8)}
        yield Case("softmax_loss", name, split, seed, inputs, calls, var("loss", "dx"))
    # The correct class scores 800 below the others: its probability, about exp(-800),
    # underflows to 0, and the log of it is -inf. Exists for the loss taken as the log of
    # a probability rather than from the log-probabilities (shifted scores minus the log
    # of their sum), which the course's checks (scores near 0.001) never catch.
    for name, split, seed in [("underflow", "public", 36), ("underflow_hidden", "hidden", 37)]:
        rs = np.random.RandomState(seed)
        y = rs.randint(5, size=6)
        x = rs.randn(6, 5)
        x[np.arange(6), y] -= 800.0
        yield Case("softmax_loss", name, split, seed, {"x": x, "y": y}, calls, var("loss", "dx"))


def norm_inputs(
    rs: np.random.RandomState, shape: tuple[int, ...], pshape: tuple[int, ...]
) -> dict[str, np.ndarray]:
    return {
        "x": 4.0 * rs.randn(*shape) + 11.0,
        "gamma": rs.rand(*pshape) + 0.5,
        "beta": rs.randn(*pshape),
        "dout": rs.randn(*shape),
    }


@builder
def batchnorm() -> Iterator[Case]:
    for prefix, shape, pshape in [("", (8, 5), (5,)), ("spatial_", (3, 4, 3, 2), (4,))]:
        fwd_fn = f"{prefix}batchnorm_forward"
        train = D("bn_param", mode=V("train"))
        fwd = [call(fwd_fn, A("x"), A("gamma"), A("beta"), train)]
        outs = var("out") + item("bn_param", "running_mean", "running_var")
        for name, split, seed in [("train", "public", 41), ("train_hidden", "hidden", 42)]:
            inputs = norm_inputs(np.random.RandomState(seed), shape, pshape)
            del inputs["dout"]
            yield Case(fwd_fn, name, split, seed, inputs, fwd, outs)
        # Running statistics already present: test mode, and (hidden) a non-default
        # momentum. A hidden case never has a public case's inputs: a table of public
        # answers must earn nothing there.
        for split, seed in [("public", 43), ("hidden", 46)]:
            rs = np.random.RandomState(seed)
            inputs = norm_inputs(rs, shape, pshape)
            del inputs["dout"]
            inputs["running_mean"] = rs.randn(*pshape)
            inputs["running_var"] = rs.rand(*pshape) + 0.5
            stats = {"running_mean": A("running_mean"), "running_var": A("running_var")}
            if split == "hidden":
                param = D("bn_param", mode=V("train"), momentum=V(0.8), **stats)
                calls = [call(fwd_fn, A("x"), A("gamma"), A("beta"), param)]
                yield Case(fwd_fn, "momentum", split, seed, inputs, calls, outs)
            # gamma in [0.5, 1.5) and beta drawn from N(0, 1): a test mode that forgets
            # to scale and shift (the course's check, gamma 1 and beta 0, cannot tell).
            test = D("bn_param", mode=V("test"), **stats)
            calls = [call(fwd_fn, A("x"), A("gamma"), A("beta"), test)]
            name = "test_mode" if split == "public" else "test_mode_hidden"
            yield Case(fwd_fn, name, split, seed, inputs, calls, var("out"))
        backs = [f"{prefix}batchnorm_backward"] + ([] if prefix else ["batchnorm_backward_alt"])
        for bwd_fn in backs:
            bwd = fwd + [
                call(bwd_fn, A("dout"), {"var": "cache"}, returns=("dx", "dgamma", "dbeta"))
            ]
            for name, split, seed in [("train", "public", 44), ("train_hidden", "hidden", 45)]:
                inputs = norm_inputs(np.random.RandomState(seed), shape, pshape)
                yield Case(bwd_fn, name, split, seed, inputs, bwd, var("dx", "dgamma", "dbeta"))


@builder
def layernorm() -> Iterator[Case]:
    fwd = [call("layernorm_forward", A("x"), A("gamma"), A("beta"), D("ln_param"))]
    bwd = fwd + [
        call("layernorm_backward", A("dout"), {"var": "cache"}, returns=("dx", "dgamma", "dbeta"))
    ]
    for name, split, seed, shape in [
        ("rand", "public", 51, (4, 6)),
        ("rand_hidden", "hidden", 52, (5, 3)),
    ]:
        inputs = norm_inputs(np.random.RandomState(seed), shape, shape[1:])
        fwd_inputs = {k: v for k, v in inputs.items() if k != "dout"}
        yield Case("layernorm_forward", name, split, seed, fwd_inputs, fwd, var("out"))
        yield Case(
            "layernorm_backward", name, split, seed, inputs, bwd, var("dx", "dgamma", "dbeta")
        )


@builder
def dropout() -> Iterator[Case]:
    # 500x500 is the course's own size for the dropout statistics.
    for name, split, seed, p in [("train", "public", 61, 0.3), ("train_hidden", "hidden", 62, 0.7)]:
        rs = np.random.RandomState(seed)
        fwd_inputs = {"x": away_from_zero(rs, 500, 500) + 10.0}
        param = D("dropout_param", mode=V("train"), p=V(p), seed=V(seed))
        fwd = [call("dropout_forward", A("x"), param)]
        yield Case(
            "dropout_forward",
            name,
            split,
            seed,
            fwd_inputs,
            fwd,
            var("out"),
            "dropout_train",
            {"p": p},
        )
        # The backward check is exact (dx against the student's own mask): a smaller input does.
        rs = np.random.RandomState(seed + 100)
        inputs = {"x": away_from_zero(rs, 100, 100) + 10.0, "dout": rs.randn(100, 100)}
        bwd = fwd + [call("dropout_backward", A("dout"), {"var": "cache"}, returns=("dx",))]
        yield Case(
            "dropout_backward",
            name,
            split,
            seed,
            inputs,
            bwd,
            var("out", "dx"),
            "dropout_backward",
            {"p": p},
        )
    for name, split, seed in [("test_mode", "public", 63), ("test_mode_hidden", "hidden", 64)]:
        rs = np.random.RandomState(seed)
        inputs = {"x": rs.randn(20, 30), "dout": rs.randn(20, 30)}
        param = D("dropout_param", mode=V("test"), p=V(0.5))
        fwd = [call("dropout_forward", A("x"), param)]
        yield Case("dropout_forward", name, split, seed, {"x": inputs["x"]}, fwd, var("out"))
        bwd = fwd + [call("dropout_backward", A("dout"), {"var": "cache"}, returns=("dx",))]
        yield Case("dropout_backward", name, split, seed, inputs, bwd, var("dx"))


def conv_out(h: int, k: int, pad: int, stride: int) -> int:
    return 1 + (h + 2 * pad - k) // stride


@builder
def conv() -> Iterator[Case]:
    for name, split, seed, xs, ws, stride, pad in [
        ("s2p1", "public", 71, (2, 3, 4, 4), (3, 3, 4, 4), 2, 1),
        ("s1p1", "public", 72, (2, 3, 5, 5), (2, 3, 3, 3), 1, 1),
        # Padding 0: exists for the x_pad[:, :, pad:-pad, pad:-pad] slice, empty when pad
        # is 0 (the course's checks all pad by 1).
        ("s1p0", "hidden", 73, (1, 2, 5, 6), (3, 2, 3, 2), 1, 0),
        ("s2p0", "hidden", 74, (2, 1, 7, 7), (2, 1, 3, 3), 2, 0),
        ("s2p1_hidden", "hidden", 75, (3, 2, 6, 6), (2, 2, 4, 4), 2, 1),
    ]:
        rs = np.random.RandomState(seed)
        inputs = {"x": rs.randn(*xs), "w": rs.randn(*ws), "b": rs.randn(ws[0])}
        param = D("conv_param", stride=V(stride), pad=V(pad))
        calls = [call("conv_forward_naive", A("x"), A("w"), A("b"), param)]
        yield Case("conv_forward_naive", name, split, seed, inputs, calls, var("out"))
        oh, ow = conv_out(xs[2], ws[2], pad, stride), conv_out(xs[3], ws[3], pad, stride)
        inputs = dict(inputs, dout=rs.randn(xs[0], ws[0], oh, ow))
        bwd = calls + [
            call("conv_backward_naive", A("dout"), {"var": "cache"}, returns=("dx", "dw", "db"))
        ]
        yield Case("conv_backward_naive", name, split, seed, inputs, bwd, var("dx", "dw", "db"))


@builder
def max_pool() -> Iterator[Case]:
    for name, split, seed, xs, ph, pw, stride in [
        ("2x2s2", "public", 81, (2, 3, 4, 4), 2, 2, 2),
        # Overlapping windows (stride below the window): exists for a backward that assigns
        # the gradient where it must add it up.
        ("3x3s1", "hidden", 82, (1, 2, 5, 5), 3, 3, 1),
        # A window that is not square: exists for the height used where the width belongs.
        ("2x3s1", "hidden", 83, (2, 2, 4, 6), 2, 3, 1),
    ]:
        rs = np.random.RandomState(seed)
        inputs = {"x": rs.randn(*xs)}
        param = D("pool_param", pool_height=V(ph), pool_width=V(pw), stride=V(stride))
        calls = [call("max_pool_forward_naive", A("x"), param)]
        yield Case("max_pool_forward_naive", name, split, seed, inputs, calls, var("out"))
        oh, ow = conv_out(xs[2], ph, 0, stride), conv_out(xs[3], pw, 0, stride)
        inputs = dict(inputs, dout=rs.randn(xs[0], xs[1], oh, ow))
        bwd = calls + [
            call("max_pool_backward_naive", A("dout"), {"var": "cache"}, returns=("dx",))
        ]
        yield Case("max_pool_backward_naive", name, split, seed, inputs, bwd, var("dx"))


@builder
def groupnorm() -> Iterator[Case]:
    for name, split, seed, shape, g in [
        ("g2", "public", 91, (2, 6, 4, 5), 2),
        ("g3", "hidden", 92, (3, 6, 2, 3), 3),
        ("g1", "hidden", 93, (2, 4, 3, 3), 1),
    ]:
        inputs = norm_inputs(np.random.RandomState(seed), shape, (1, shape[1], 1, 1))
        fwd = [
            call("spatial_groupnorm_forward", A("x"), A("gamma"), A("beta"), V(g), D("gn_param"))
        ]
        fwd_inputs = {k: v for k, v in inputs.items() if k != "dout"}
        yield Case("spatial_groupnorm_forward", name, split, seed, fwd_inputs, fwd, var("out"))
        bwd = fwd + [
            call(
                "spatial_groupnorm_backward",
                A("dout"),
                {"var": "cache"},
                returns=("dx", "dgamma", "dbeta"),
            )
        ]
        yield Case(
            "spatial_groupnorm_backward",
            name,
            split,
            seed,
            inputs,
            bwd,
            var("dx", "dgamma", "dbeta"),
        )


# Composites: the course's sandwich layers and the seed's two-layer network, chained from
# the student's own layers exactly as the course's layer_utils.py chains them. Nothing
# here is the student's code but the layers; a composite fails where a layer it uses gets
# an input its own cases did not try (an affine output fed to relu, a conv to a pool).


def backward(fn: str, dout: str, cache: str, returns: tuple[str, ...]) -> Spec:
    return call(fn, {"var": dout} if dout != "dout" else A("dout"), {"var": cache}, returns=returns)


@builder
def sandwiches() -> Iterator[Case]:
    affine_relu = [
        call("affine_forward", A("x"), A("w"), A("b"), returns=("a", "fc_cache")),
        call("relu_forward", {"var": "a"}, returns=("out", "relu_cache")),
        backward("relu_backward", "dout", "relu_cache", ("da",)),
        backward("affine_backward", "da", "fc_cache", ("dx", "dw", "db")),
    ]
    for name, split, seed, xshape, m in [
        ("seed", "public", 101, (2, 3, 4), 10),
        ("hidden", "hidden", 102, (5, 6), 4),
    ]:
        rs = np.random.RandomState(seed)
        d = int(np.prod(xshape[1:]))
        inputs = {"x": rs.randn(*xshape), "w": rs.randn(d, m), "b": rs.randn(m)}
        inputs["dout"] = rs.randn(xshape[0], m)
        yield Case("affine_relu", name, split, seed, inputs, affine_relu, var(*GRADS))
    for name, split, seed, xs, ws, pool in [
        ("seed", "public", 103, (2, 3, 8, 8), (3, 3, 3, 3), False),
        ("hidden", "hidden", 104, (2, 2, 6, 6), (2, 2, 3, 3), False),
        ("seed", "public", 105, (2, 3, 16, 16), (3, 3, 3, 3), True),
        ("hidden", "hidden", 106, (1, 2, 8, 8), (3, 2, 3, 3), True),
    ]:
        rs = np.random.RandomState(seed)
        inputs = {"x": rs.randn(*xs), "w": rs.randn(*ws), "b": rs.randn(ws[0])}
        conv_param = D("conv_param", stride=V(1), pad=V(1))
        calls = [
            call("conv_forward_naive", A("x"), A("w"), A("b"), conv_param, returns=("a", "conv")),
            call("relu_forward", {"var": "a"}, returns=("s", "relu_cache")),
        ]
        size = xs[2] // 2 if pool else xs[2]
        if pool:
            pool_param = D("pool_param", pool_height=V(2), pool_width=V(2), stride=V(2))
            calls.append(
                call(
                    "max_pool_forward_naive",
                    {"var": "s"},
                    pool_param,
                    returns=("out", "pool_cache"),
                )
            )
            calls.append(backward("max_pool_backward_naive", "dout", "pool_cache", ("ds",)))
            calls.append(backward("relu_backward", "ds", "relu_cache", ("da",)))
        else:
            calls[-1] = call("relu_forward", {"var": "a"}, returns=("out", "relu_cache"))
            calls.append(backward("relu_backward", "dout", "relu_cache", ("da",)))
        calls.append(backward("conv_backward_naive", "da", "conv", ("dx", "dw", "db")))
        inputs["dout"] = rs.randn(xs[0], ws[0], size, size)
        fn = "conv_relu_pool" if pool else "conv_relu"
        yield Case(fn, name, split, seed, inputs, calls, var(*GRADS))


# What a sandwich returns and is graded on: its output and the gradient of each input.
GRADS = ("out", "dx", "dw", "db")


@builder
def two_layer_net() -> Iterator[Case]:
    # The seed notebook's network, without regularization (its sketch adds none).
    calls = [
        call("affine_forward", A("X"), A("W1"), A("b1"), returns=("s1", "fc1_cache")),
        call("relu_forward", {"var": "s1"}, returns=("a1", "relu_cache")),
        call("affine_forward", {"var": "a1"}, A("W2"), A("b2"), returns=("scores", "fc2_cache")),
        call("svm_loss", {"var": "scores"}, A("y"), returns=("loss", "dscores")),
        backward("affine_backward", "dscores", "fc2_cache", ("da1", "dW2", "db2")),
        backward("relu_backward", "da1", "relu_cache", ("ds1",)),
        backward("affine_backward", "ds1", "fc1_cache", ("dX", "dW1", "db1")),
    ]
    for name, split, seed, n, d, h, c in [
        ("seed", "public", 111, 3, 5, 50, 7),
        ("hidden", "hidden", 112, 6, 8, 10, 4),
    ]:
        rs = np.random.RandomState(seed)
        inputs = {
            "X": rs.randn(n, d),
            "W1": 0.5 * rs.randn(d, h),
            "b1": 0.1 * rs.randn(h),
            "W2": 0.5 * rs.randn(h, c),
            "b2": 0.1 * rs.randn(c),
            "y": rs.randint(c, size=n),
        }
        outputs = var("loss", "dW1", "db1", "dW2", "db2")
        yield Case("two_layer_net", name, split, seed, inputs, calls, outputs)


def all_cases() -> list[Case]:
    cases = [case for build in BUILDERS for case in build()]
    ids = [c.id for c in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"duplicate case ids: {sorted(duplicates)}")
    return cases
