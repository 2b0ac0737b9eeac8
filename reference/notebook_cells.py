"""The cells of the built-in assignments' notebooks, one Section per gradable function.

Forward passes check properties whose answer is known exactly; backward passes and the
composites compare gradients with numerical ones (``numerical_gradient``, defined in each
notebook's setup cell). Assembled into notebooks by reference/notebooks.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template
from textwrap import dedent

from grader.config.choices import DropoutMeaning


@dataclass(frozen=True)
class Section:
    """What a notebook holds for one graded function: a markdown text under its heading,
    then its code cells. A composite names the layers the grader chains for it."""

    text: str
    code: tuple[str, ...]
    chains: tuple[str, ...] = ()


def code(source: str, **names: str) -> str:
    """A cell's source from an indented block, with ``$name`` placeholders filled in."""
    return Template(dedent(source).strip()).substitute(names)


def gradient_check(forward: str, args: str, wrt: str, backward: str) -> str:
    """Lines comparing ``backward``'s gradients with numerical gradients of ``forward``'s
    output, ``forward(args)[0]``, with respect to the inputs named in ``wrt`` (in the
    order ``backward`` returns their gradients), for an upstream derivative ``dout``."""
    inputs = wrt.split()
    lines = [
        f"d{name}_num = numerical_gradient(lambda {name}: {forward}({args})[0], {name}, dout)"
        for name in inputs
    ]
    lines += [
        "",
        f"_, cache = {forward}({args})",
        f"{', '.join(f'd{name}' for name in inputs)} = {backward}(dout, cache)",
        "# Each error should be around 1e-8 or less.",
    ]
    lines += [
        f'print(f"d{name} error: {{rel_error(d{name}_num, d{name}):.2e}}")' for name in inputs
    ]
    return "\n".join(lines)


def fully_connected() -> dict[str, Section]:
    affine_inputs = code("""
        np.random.seed(231)
        x = np.random.randn(10, 2, 3)
        w = np.random.randn(6, 5)
        b = np.random.randn(5)
        dout = np.random.randn(10, 5)
    """)
    relu_inputs = code("""
        np.random.seed(231)
        x = np.random.randn(10, 10)
        dout = np.random.randn(*x.shape)
    """)
    return {
        "affine_forward": Section(
            "The seed notebook's inputs, and the output it publishes.",
            (
                code("""
                    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
                    input_size = num_inputs * np.prod(input_shape)
                    weight_size = output_dim * np.prod(input_shape)
                    x = np.linspace(-0.1, 0.5, num=input_size).reshape(num_inputs, *input_shape)
                    w = np.linspace(-0.2, 0.3, num=weight_size)
                    w = w.reshape(np.prod(input_shape), output_dim)
                    b = np.linspace(-0.3, 0.1, num=output_dim)

                    out, _ = affine_forward(x, w, b)
                    correct_out = np.array([[1.49834967, 1.70660132, 1.91485297],
                                            [3.25553199, 3.5141327, 3.77273342]])
                    print("out shape:", out.shape, "(expected (2, 3))")
                    # The error should be around 1e-9.
                    print(f"out error: {rel_error(out, correct_out):.2e}")
                """),
            ),
        ),
        "affine_backward": Section(
            "Gradients with respect to `x` (of shape (10, 2, 3): `dx` has `x`'s shape), "
            "`w` and `b`, against numerical ones.",
            (
                affine_inputs
                + "\n\n"
                + gradient_check("affine_forward", "x, w, b", "x w b", "affine_backward"),
            ),
        ),
        "relu_forward": Section(
            "The seed notebook's input, and the output it publishes (rounded to 8 decimals).",
            (
                code("""
                    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
                    out, _ = relu_forward(x)
                    correct_out = np.array([[0.0, 0.0, 0.0, 0.0],
                                            [0.0, 0.0, 0.04545455, 0.13636364],
                                            [0.22727273, 0.31818182, 0.40909091, 0.5]])
                    print("out shape:", out.shape, "(expected (3, 4))")
                    # The error should be around 1e-8.
                    print(f"out error: {rel_error(out, correct_out):.2e}")
                """),
            ),
        ),
        "relu_backward": Section(
            "The gradient with respect to `x`, against a numerical one.",
            (relu_inputs + "\n\n" + gradient_check("relu_forward", "x", "x", "relu_backward"),),
        ),
        "svm_loss": loss_section(
            "svm_loss",
            "The seed notebook's setting: 50 inputs, 10 classes, scores near 0. Every wrong "
            "class then misses the margin of 1 by about 1, so the loss is about 9.",
            'print(f"loss: {loss:.4f} (about {num_classes - 1})")',
        ),
        "softmax_loss": loss_section(
            "softmax_loss",
            "The same setting: with scores near 0 every class has probability about 1/10, so "
            "the loss is about log(10) = 2.3. Adding 1000 to every score changes nothing, "
            "but `np.exp(1000)` overflows: shift each row of scores by its maximum first.",
            code("""
                print(f"loss: {loss:.4f} (about {np.log(num_classes):.4f})")

                loss_shifted, dx_shifted = softmax_loss(x + 1000, y)
                print(f"shifted loss error: {rel_error(loss_shifted, loss):.2e}")
                print(f"shifted dx error: {rel_error(dx_shifted, dx):.2e}")
            """),
        ),
    }


def loss_section(name: str, text: str, more: str) -> Section:
    """A loss's section: the seed notebook's inputs and gradient check, then ``more``."""
    return Section(
        text,
        (
            code(
                """
                np.random.seed(231)
                num_classes, num_inputs = 10, 50
                x = 0.001 * np.random.randn(num_inputs, num_classes)
                y = np.random.randint(num_classes, size=num_inputs)

                dx_num = numerical_gradient(lambda x: $name(x, y)[0], x)
                loss, dx = $name(x, y)
                # The error should be around 1e-9.
                print(f"dx error: {rel_error(dx_num, dx):.2e}")
                """,
                name=name,
            )
            + "\n"
            + more,
        ),
    )


def normalization() -> dict[str, Section]:
    inputs = code("""
        np.random.seed(231)
        N, D = 4, 5
        x = 5 * np.random.randn(N, D) + 12
        gamma = np.random.randn(D)
        beta = np.random.randn(D)
        dout = np.random.randn(N, D)
    """)
    bn_inputs = inputs + '\nbn_param = {"mode": "train"}\n\n'
    ln_inputs = inputs + "\nln_param = {}\n\n"

    def bn_check(backward: str) -> str:
        args = "x, gamma, beta, bn_param"
        return bn_inputs + gradient_check("batchnorm_forward", args, "x gamma beta", backward)

    return {
        "batchnorm_forward": batchnorm_forward_section(
            "batchnorm_forward", "200, 3", "axis=0", "per feature"
        ),
        "batchnorm_backward": Section(
            "Train mode: gradients with respect to `x`, `gamma` and `beta`, against numerical "
            "ones.",
            (bn_check("batchnorm_backward"),),
        ),
        "batchnorm_backward_alt": Section(
            "The same check for the simplified backward pass, which takes the same cache as "
            "`batchnorm_backward`; its results should match that one's too.",
            (
                bn_check("batchnorm_backward_alt")
                + "\n"
                + code("""
                    dx_staged, dgamma_staged, dbeta_staged = batchnorm_backward(dout, cache)
                    print(f"dx vs batchnorm_backward error: {rel_error(dx, dx_staged):.2e}")
                """),
            ),
        ),
        "layernorm_forward": per_sample_norm_section(
            "Each data point is normalised over its own features: with `gamma` 1 and `beta` "
            "0 each row of the output has mean 0 and standard deviation 1. Other values of "
            "`gamma` and `beta` then scale and shift each feature.",
            code("""
                np.random.seed(231)
                N, D = 4, 8
                x = 100 * np.random.randn(N, D) + 50
                gamma, beta = np.ones(D), np.zeros(D)
                out, _ = layernorm_forward(x, gamma, beta, {})
                print("out shape:", out.shape, "(expected (4, 8))")
                groups = out
            """),
            code("""
                gamma, beta = np.linspace(0.5, 2.0, D), np.linspace(-1.0, 1.0, D)
                out_scaled, _ = layernorm_forward(x, gamma, beta, {})
            """),
        ),
        "layernorm_backward": Section(
            "Gradients with respect to `x`, `gamma` and `beta`, against numerical ones.",
            (
                ln_inputs
                + gradient_check(
                    "layernorm_forward",
                    "x, gamma, beta, ln_param",
                    "x gamma beta",
                    "layernorm_backward",
                ),
            ),
        ),
    }


def batchnorm_forward_section(fn: str, shape: str, axes: str, per: str) -> Section:
    """batchnorm_forward's checks, or spatial batchnorm's: statistics over ``axes`` of an
    input of ``shape`` whose second axis is the three features (channels)."""
    names = {"fn": fn, "shape": shape, "axes": axes, "per": per}
    train = code(
        """
        np.random.seed(231)
        x = 10 * np.random.randn($shape) + 12
        gamma = np.array([1.0, 2.0, 3.0])
        beta = np.array([11.0, 12.0, 13.0])

        # Train mode: $per, the output's mean is beta and its standard deviation gamma
        # (up to eps); the errors should be around 1e-8 or less.
        out, _ = $fn(x, gamma, beta, {"mode": "train"})
        print("out shape:", out.shape, "(expected ($shape))")
        print(f"mean error: {rel_error(out.mean($axes), beta):.2e}")
        print(f"std error: {rel_error(out.std($axes), gamma):.2e}")

        # Five passes over the same batch: the running statistics start at zero and move
        # towards the batch's by 1 - momentum (0.9 by default) of the way each time,
        # written back into bn_param.
        bn_param = {"mode": "train"}
        for _ in range(5):
            $fn(x, gamma, beta, bn_param)
        share = 1 - 0.9**5
        running_mean, running_var = bn_param["running_mean"], bn_param["running_var"]
        print(f"running_mean error: {rel_error(running_mean, share * x.mean($axes)):.2e}")
        print(f"running_var error: {rel_error(running_var, share * x.var($axes)):.2e}")
        """,
        **names,
    )
    test = code(
        """
        np.random.seed(231)
        gamma = np.array([1.0, 2.0, 3.0])
        beta = np.array([11.0, 12.0, 13.0])
        bn_param = {"mode": "train"}
        for _ in range(50):
            $fn(10 * np.random.randn($shape) + 12, gamma, beta, bn_param)

        # Test mode: normalised with the running statistics (about mean 12, std 10), which
        # this batch does not have: its mean is 5 higher, half a standard deviation.
        x = 10 * np.random.randn($shape) + 17
        out, _ = $fn(x, gamma, beta, dict(bn_param, mode="test"))
        print("means (about beta + gamma / 2 = [11.5 13. 14.5]):", out.mean($axes).round(2))
        print("stds (about gamma = [1. 2. 3.]):", out.std($axes).round(2))

        # With the running statistics set to this batch's own, test mode gives the output
        # of train mode.
        stats = {"running_mean": x.mean($axes), "running_var": x.var($axes)}
        out_train, _ = $fn(x, gamma, beta, {"mode": "train"})
        out_test, _ = $fn(x, gamma, beta, dict(stats, mode="test"))
        print(f"test mode error: {rel_error(out_test, out_train):.2e}")
        """,
        **names,
    )
    return Section(
        "Train mode normalises with the batch's statistics and updates the running ones in "
        "`bn_param`; test mode normalises with the running statistics. The second cell "
        "trains for 50 batches first.",
        (train, test),
    )


def per_sample_norm_section(text: str, normalise: str, rescale: str) -> Section:
    """Layer norm's checks, or group norm's: ``normalise`` runs the forward pass with gamma
    1 and beta 0 and sets ``groups`` to its output ``out``, one normalised group per row of
    the last axis; ``rescale`` runs it again with other gamma and beta as ``out_scaled``."""
    return Section(
        text,
        (
            normalise
            + "\n"
            + code("""
                # The errors should be around 1e-8 or less (for the mean, the largest |mean|).
                print(f"mean error: {np.abs(groups.mean(axis=-1)).max():.2e}")
                print(f"std error: {rel_error(groups.std(axis=-1), 1.0):.2e}")
            """)
            + "\n\n"
            + rescale
            + "\n"
            + code("""
                print(f"scale and shift error: {rel_error(out_scaled, gamma * out + beta):.2e}")
            """),
        ),
    )


def dropout(p_means: DropoutMeaning) -> dict[str, Section]:
    # The probability to keep a unit, in code.
    keep = "p" if p_means == "keep" else "(1 - p)"
    return {
        "dropout_forward": Section(
            f"Inverted dropout, `p` the probability to {p_means} a unit: in train mode about "
            f"a share {keep} of the units is kept, each scaled by 1 / {keep} so that the mean "
            "stays about the same; test mode is the identity.",
            (
                code(
                    """
                    np.random.seed(231)
                    x = np.random.randn(500, 500) + 10
                    for p in [0.25, 0.4, 0.7]:
                        out, _ = dropout_forward(x, {"mode": "train", "p": p})
                        out_test, _ = dropout_forward(x, {"mode": "test", "p": p})
                        kept = out != 0
                        print(f"p = {p}: mean of the input {x.mean():.3f}, of the output "
                              f"{out.mean():.3f} in train mode, {out_test.mean():.3f} in test mode")
                        print(f"  share kept: {kept.mean():.3f} (about {$keep:.2f})")
                        print(f"  kept units error: {rel_error(out[kept], x[kept] / $keep):.2e}")
                        print(f"  test mode error: {rel_error(out_test, x):.2e}")
                    """,
                    keep=keep,
                ),
            ),
        ),
        "dropout_backward": Section(
            "With a `seed` in `dropout_param` every call drops the same units, so the numerical "
            "gradient sees the mask of the forward pass. In test mode `dx` is `dout`.",
            (
                code("""
                    np.random.seed(231)
                    x = np.random.randn(10, 10) + 10
                    dout = np.random.randn(10, 10)
                    dropout_param = {"mode": "train", "p": 0.2, "seed": 123}
                """)
                + "\n\n"
                + gradient_check("dropout_forward", "x, dropout_param", "x", "dropout_backward")
                + "\n\n"
                + code("""
                    _, cache = dropout_forward(x, {"mode": "test", "p": 0.2})
                    dx = dropout_backward(dout, cache)
                    print(f"test mode dx error: {rel_error(dx, dout):.2e}")
                """),
            ),
        ),
    }


def convolutional() -> dict[str, Section]:
    sbn_inputs = code("""
        np.random.seed(231)
        N, C, H, W = 2, 3, 4, 5
        x = np.random.randn(N, C, H, W) + 3
        gamma = np.random.randn(C)
        beta = np.random.randn(C)
        dout = np.random.randn(N, C, H, W)
        bn_param = {"mode": "train"}
    """)
    gn_inputs = code("""
        np.random.seed(231)
        N, C, H, W, G = 2, 6, 4, 5, 2
        x = np.random.randn(N, C, H, W) + 3
        gamma = np.random.randn(1, C, 1, 1)
        beta = np.random.randn(1, C, 1, 1)
        dout = np.random.randn(N, C, H, W)
        gn_param = {}
    """)
    return {
        "conv_forward_naive": Section(
            "A 3x3 filter that is 1 at its centre and 0 elsewhere copies its channel: with "
            "padding 1 and stride 1 the output is the input, with stride 2 every other pixel "
            "of it. A 1x1 filter mixes the channels at each pixel (with no padding).",
            (
                code("""
                    np.random.seed(231)
                    x = np.random.randn(2, 3, 5, 5)
                    w = np.zeros((3, 3, 3, 3))
                    w[[0, 1, 2], [0, 1, 2], 1, 1] = 1.0
                    b = np.zeros(3)

                    out, _ = conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})
                    print("out shape:", out.shape, "(expected (2, 3, 5, 5))")
                    # The errors should be around 1e-8 or less.
                    print(f"identity error: {rel_error(out, x):.2e}")
                    out, _ = conv_forward_naive(x, w, b, {"stride": 2, "pad": 1})
                    print("out shape with stride 2:", out.shape, "(expected (2, 3, 3, 3))")
                    print(f"stride 2 error: {rel_error(out, x[:, :, ::2, ::2]):.2e}")

                    w = np.random.randn(4, 3, 1, 1)
                    b = np.random.randn(4)
                    out, _ = conv_forward_naive(x, w, b, {"stride": 1, "pad": 0})
                    mixed = np.einsum("nchw,fc->nfhw", x, w[:, :, 0, 0]) + b.reshape(1, 4, 1, 1)
                    print(f"1x1 filter error: {rel_error(out, mixed):.2e}")
                """),
            ),
        ),
        "conv_backward_naive": Section(
            "Gradients with respect to `x`, `w` and `b` for stride 2 and padding 1, against "
            "numerical ones. The input is small: the numerical gradient calls your forward "
            "pass twice per element.",
            (
                code("""
                    np.random.seed(231)
                    x = np.random.randn(1, 2, 5, 5)
                    w = np.random.randn(2, 2, 3, 3)
                    b = np.random.randn(2)
                    dout = np.random.randn(1, 2, 3, 3)
                    conv_param = {"stride": 2, "pad": 1}
                """)
                + "\n\n"
                + gradient_check(
                    "conv_forward_naive", "x, w, b, conv_param", "x w b", "conv_backward_naive"
                ),
            ),
        ),
        "max_pool_forward_naive": Section(
            "On an input that grows along every row and down every column, the largest value "
            "of each window is its bottom-right corner; on its negative, the top-left one. "
            "The second window is 3 high and 2 wide, with stride 1.",
            (
                code("""
                    x = np.arange(2 * 3 * 4 * 6, dtype=float).reshape(2, 3, 4, 6)
                    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
                    out, _ = max_pool_forward_naive(x, pool_param)
                    print("out shape:", out.shape, "(expected (2, 3, 2, 3))")
                    # The errors should be 0.
                    print(f"bottom-right error: {rel_error(out, x[:, :, 1::2, 1::2]):.2e}")
                    out, _ = max_pool_forward_naive(-x, pool_param)
                    print(f"top-left error: {rel_error(out, -x[:, :, ::2, ::2]):.2e}")

                    pool_param = {"pool_height": 3, "pool_width": 2, "stride": 1}
                    out, _ = max_pool_forward_naive(x, pool_param)
                    print("out shape with 3x2 windows:", out.shape, "(expected (2, 3, 2, 5))")
                    print(f"3x2 window error: {rel_error(out, x[:, :, 2:, 1:]):.2e}")
                """),
            ),
        ),
        "max_pool_backward_naive": Section(
            "The gradient with respect to `x`, against a numerical one, for 2x2 windows with "
            "stride 2.",
            (
                code("""
                    np.random.seed(231)
                    x = np.random.randn(2, 2, 4, 4)
                    dout = np.random.randn(2, 2, 2, 2)
                    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
                """)
                + "\n\n"
                + gradient_check(
                    "max_pool_forward_naive", "x, pool_param", "x", "max_pool_backward_naive"
                ),
            ),
        ),
        "spatial_batchnorm_forward": batchnorm_forward_section(
            "spatial_batchnorm_forward", "20, 3, 4, 5", "axis=(0, 2, 3)", "per channel"
        ),
        "spatial_batchnorm_backward": Section(
            "Train mode: gradients with respect to `x`, `gamma` and `beta`, against numerical "
            "ones.",
            (
                sbn_inputs
                + "\n\n"
                + gradient_check(
                    "spatial_batchnorm_forward",
                    "x, gamma, beta, bn_param",
                    "x gamma beta",
                    "spatial_batchnorm_backward",
                ),
            ),
        ),
        "spatial_groupnorm_forward": per_sample_norm_section(
            "Each data point is normalised per group of C // G consecutive channels, over "
            "the group's channels and all positions: with `gamma` 1 and `beta` 0 each group "
            "of each data point has mean 0 and standard deviation 1. Other values of `gamma` "
            "and `beta`, of shape (1, C, 1, 1), then scale and shift each channel.",
            code("""
                np.random.seed(231)
                N, C, H, W, G = 2, 6, 4, 5, 2
                x = 10 * np.random.randn(N, C, H, W) + 12
                gamma, beta = np.ones((1, C, 1, 1)), np.zeros((1, C, 1, 1))
                out, _ = spatial_groupnorm_forward(x, gamma, beta, G, {})
                print("out shape:", out.shape, "(expected (2, 6, 4, 5))")
                groups = out.reshape(N, G, -1)
            """),
            code("""
                gamma = np.linspace(0.5, 2.0, C).reshape(1, C, 1, 1)
                beta = np.linspace(-1.0, 1.0, C).reshape(1, C, 1, 1)
                out_scaled, _ = spatial_groupnorm_forward(x, gamma, beta, G, {})
            """),
        ),
        "spatial_groupnorm_backward": Section(
            "Gradients with respect to `x`, `gamma` and `beta`, against numerical ones.",
            (
                gn_inputs
                + "\n\n"
                + gradient_check(
                    "spatial_groupnorm_forward",
                    "x, gamma, beta, G, gn_param",
                    "x gamma beta",
                    "spatial_groupnorm_backward",
                ),
            ),
        ),
    }


# A sandwich's layers, (forward, backward, its arguments after the input), in forward order.
Layers = tuple[tuple[str, str, str], ...]
AFFINE = ("affine_forward", "affine_backward", "w, b")
CONV = ("conv_forward_naive", "conv_backward_naive", "w, b, conv_param")
RELU = ("relu_forward", "relu_backward", "")
POOL = ("max_pool_forward_naive", "max_pool_backward_naive", "pool_param")


def sandwich(name: str, layers: Layers, inputs: str) -> Section:
    """A composite's section: ``<name>_forward`` and ``<name>_backward``, which chain
    ``layers`` as the grader does (and as the course's layer_utils.py), then a gradient
    check of the chain with respect to x, w and b."""
    caches = ", ".join(f"cache{i}" for i in range(1, len(layers) + 1))
    params = ", ".join(p for _, _, extra in layers for p in extra.split(", ") if p)
    forward = [
        f"def {name}_forward(x, {params}):",
        f'    """{", then ".join(f for f, _, _ in layers)}."""',
    ]
    upstream = "x"
    for i, (fn, _, extra) in enumerate(layers, 1):
        forward.append(f"    h, cache{i} = {fn}({', '.join(filter(None, [upstream, extra]))})")
        upstream = "h"
    forward.append(f"    return h, ({caches})")
    backward = [
        f"def {name}_backward(dout, cache):",
        f'    """{", then ".join(b for _, b, _ in reversed(layers))}."""',
        f"    {caches} = cache",
    ]
    upstream = "dout"
    for i in range(len(layers), 1, -1):
        backward.append(f"    dh = {layers[i - 1][1]}({upstream}, cache{i})")
        upstream = "dh"
    backward.append(f"    return {layers[0][1]}({upstream}, cache1)")
    chains = tuple(f for f, _, _ in layers) + tuple(b for _, b, _ in reversed(layers))
    return Section(
        f"The grader chains your layers: {', '.join(f'`{f}`' for f in chains)}. This "
        "cell does the same and checks the gradients of the chain with respect to `x`, `w` "
        "and `b` against numerical ones.",
        (
            inputs
            + "\n\n\n"
            + "\n".join(forward)
            + "\n\n\n"
            + "\n".join(backward)
            + "\n\n\n"
            + gradient_check(f"{name}_forward", f"x, {params}", "x w b", f"{name}_backward"),
        ),
        chains,
    )


def composites() -> dict[str, Section]:
    conv_inputs = code("""
        np.random.seed(231)
        x = np.random.randn(1, 2, 4, 4)
        w = np.random.randn(2, 2, 3, 3)
        b = np.random.randn(2)
        conv_param = {"stride": 1, "pad": 1}
    """)
    net_layers = ("affine_forward", "relu_forward", "svm_loss", "affine_backward", "relu_backward")
    return {
        "affine_relu": sandwich(
            "affine_relu",
            (AFFINE, RELU),
            code("""
                np.random.seed(231)
                x = np.random.randn(2, 3, 4)
                w = np.random.randn(12, 10)
                b = np.random.randn(10)
                dout = np.random.randn(2, 10)
            """),
        ),
        "conv_relu": sandwich(
            "conv_relu", (CONV, RELU), conv_inputs + "\ndout = np.random.randn(1, 2, 4, 4)"
        ),
        "conv_relu_pool": sandwich(
            "conv_relu_pool",
            (CONV, RELU, POOL),
            conv_inputs
            + '\npool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}'
            + "\ndout = np.random.randn(1, 2, 2, 2)",
        ),
        "two_layer_net": Section(
            "The seed notebook's network, affine - relu - affine - SVM loss, without "
            "regularization, as the grader chains your layers: the gradients of the loss "
            "with respect to the four parameters, against numerical ones.",
            (
                code('''
                    np.random.seed(231)
                    N, D, H, C = 3, 5, 10, 7
                    X = np.random.randn(N, D)
                    y = np.random.randint(C, size=N)
                    W1, b1 = 0.5 * np.random.randn(D, H), 0.1 * np.random.randn(H)
                    W2, b2 = 0.5 * np.random.randn(H, C), 0.1 * np.random.randn(C)


                    def network(W1, b1, W2, b2):
                        """The loss of the network on (X, y), and its gradients."""
                        s1, fc1_cache = affine_forward(X, W1, b1)
                        a1, relu_cache = relu_forward(s1)
                        scores, fc2_cache = affine_forward(a1, W2, b2)
                        loss, dscores = svm_loss(scores, y)
                        da1, dW2, db2 = affine_backward(dscores, fc2_cache)
                        ds1 = relu_backward(da1, relu_cache)
                        _, dW1, db1 = affine_backward(ds1, fc1_cache)
                        return loss, (dW1, db1, dW2, db2)


                    loss, (dW1, db1, dW2, db2) = network(W1, b1, W2, b2)
                    dW1_num = numerical_gradient(lambda W1: network(W1, b1, W2, b2)[0], W1)
                    db1_num = numerical_gradient(lambda b1: network(W1, b1, W2, b2)[0], b1)
                    dW2_num = numerical_gradient(lambda W2: network(W1, b1, W2, b2)[0], W2)
                    db2_num = numerical_gradient(lambda b2: network(W1, b1, W2, b2)[0], b2)
                    # Each error should be around 1e-8 or less.
                    print(f"dW1 error: {rel_error(dW1_num, dW1):.2e}")
                    print(f"db1 error: {rel_error(db1_num, db1):.2e}")
                    print(f"dW2 error: {rel_error(dW2_num, dW2):.2e}")
                    print(f"db2 error: {rel_error(db2_num, db2):.2e}")
                '''),
            ),
            net_layers,
        ),
    }
