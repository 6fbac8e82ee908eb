"""Gradient checks of every layer backward and every model, in float64 (``numnet gradcheck``).

:func:`all_cases` lists them; :func:`layer_error`, :func:`loss_error` and :func:`model_error`
check any forward/backward pair, loss or model the same way. Each case builds small random inputs,
runs the analytic backward (or the model's ``loss``), and compares it with central differences
(h = 1e-5, :func:`numnet.gradient_check.central_difference`) over every entry. Tolerances follow
the course: ~1e-7 for plain layers, looser for normalisation layers and whole models.

Kinks. ReLU and max pool are not differentiable everywhere; a central difference that steps over a
kink measures a blend of the two sides and looks like a wrong gradient. So: inputs that meet a
kink directly are nudged off it (ReLU-like layers get |x| >= 0.1, max-pool windows get values
at least 1e-3 apart); models get small random biases, since zero biases put every all-dead hidden
row exactly on the next ReLU's kink; dropout masks are fixed by a freshly seeded Generator on
every call. In a conv net a weight still moves hundreds of pre-activations, so an entry that
fails at h = 1e-5 is measured again at h = 1e-7, which crosses a kink only if one lies within
1e-7; the smaller of its two errors counts.

The error is the course's elementwise relative error ``|a - n| / (|a| + |n|)`` with one change to
its floor: entries smaller than ``FLOOR`` times the check's largest gradient are compared at that
scale instead of as ratios. Central differences carry noise of about 1e-11 even where the true
gradient is exactly zero (a bias followed by batchnorm has a zero gradient); as a ratio of two
noise values that reads as a large error, while it is far below anything a bug produces.

What the two allowances can hide, and no more: the floor hides an entry only if its absolute
error is below ``tol * FLOOR`` times the largest gradient (1e-10 of it for plain layers, 1e-8 for
models); the retry changes an entry's error only where the step of 1e-5 crosses a kink, since
elsewhere both steps measure the same derivative. tests/test_gradcheck_cases.py breaks backwards
on purpose (a wrong factor of 1.01, a dropped term, a transposed weight gradient, one wrong entry)
and checks that each one fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from numnet.gradient_check import central_difference, numeric_gradient

LAYER_TOL = 1e-7
NORM_TOL = 1e-5
MODEL_TOL = 1e-5
FLOOR = 1e-3
H, H_SMALL = 1e-5, 1e-7


@dataclass(frozen=True)
class Case:
    """One check: ``run(rng)`` returns the max relative error, which must not exceed ``tol``."""

    name: str
    run: Callable[[np.random.Generator], float]
    tol: float


def max_rel_error(f, arrays: Sequence[np.ndarray], grads: Sequence[np.ndarray], tol: float):
    """Max relative error of ``grads`` (analytic) against central differences of ``f``.

    Args:
        f: scalar function of no arguments that reads ``arrays`` (perturbed in place, restored).
        arrays: float64 arrays to differentiate.
        grads: analytic gradients, shaped like ``arrays``.
        tol: entries above it are measured again with the smaller step (see module docstring).

    Returns:
        The largest error; ``inf`` when a gradient's shape is not its array's (a gradient that
        would only broadcast is a bug, not a match).
    """
    if len(grads) != len(arrays) or any(np.shape(a) != x.shape for x, a in zip(arrays, grads)):
        return float("inf")
    nums = [numeric_gradient(lambda _: f(), x, H) for x in arrays]
    scale = max((float(np.max(np.abs(n), initial=0.0)) for n in nums), default=0.0)
    floor = max(1e-12, FLOOR * scale)
    worst = 0.0
    for x, n, a in zip(arrays, nums, grads):
        a = np.asarray(a, np.float64)
        err = np.abs(n - a) / np.maximum(floor, np.abs(n) + np.abs(a))
        for idx in zip(*np.nonzero(err > tol)):
            n2 = float(central_difference(lambda _: f(), x, idx, H_SMALL)) / (2 * H_SMALL)
            err[idx] = min(err[idx], abs(n2 - a[idx]) / max(floor, abs(n2) + abs(a[idx])))
        worst = max(worst, float(err.max(initial=0.0)))
    return worst


def layer_error(forward, backward, inputs: Sequence[np.ndarray], rng, tol, *extra) -> float:
    """Max relative error of ``backward`` against central differences of ``forward``.

    Args:
        forward: ``forward(*inputs, *extra) -> (out, cache)``.
        backward: ``backward(dout, cache)`` -> gradients of ``inputs`` in order (or one array).
        inputs: float64 arrays to differentiate; each is perturbed in place and restored.
        rng: Generator for the upstream gradient ``dout``.
        tol: the case's tolerance.
        *extra: non-differentiated arguments (params dicts, G ...).
    """
    out, cache = forward(*inputs, *extra)
    dout = rng.standard_normal(out.shape)
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    return max_rel_error(
        lambda: float(np.sum(forward(*inputs, *extra)[0] * dout)), inputs, grads, tol
    )


def loss_error(loss_fn, x, y, tol) -> float:
    """Max relative error of a loss's ``dx`` (``loss_fn(x, y) -> (loss, dx)``)."""
    _, dx = loss_fn(x, y)
    return max_rel_error(lambda: loss_fn(x, y)[0], [x], [dx], tol)


def model_error(model, X, y, tol, rng) -> float:
    """Max relative error over every parameter of a model's ``loss(X, y)`` gradients."""
    for name, p in model.params.items():
        if name.startswith("b"):
            model.params[name] = 0.1 * rng.standard_normal(p.shape)
    names = sorted(model.params)
    _, grads = model.loss(X, y)
    return max_rel_error(
        lambda: model.loss(X, y)[0], [model.params[k] for k in names], [grads[k] for k in names],
        tol,
    )  # fmt: skip


def _off_kink(rng, shape, margin=0.1):
    x = rng.standard_normal(shape)
    return np.sign(x) * (margin + np.abs(x))


def _distinct(rng, shape, gap=1e-3):
    # A permutation of evenly spaced values: no two entries of a pool window are within h.
    n = int(np.prod(shape))
    return (rng.permutation(n) * gap - n * gap / 2).reshape(shape)


def _layer_cases() -> list[Case]:
    from numnet import layer_utils as lu
    from numnet import layers as L

    def randn(rng, *shape):
        return rng.standard_normal(shape)

    conv = {"stride": 2, "pad": 1}
    pool = {"pool_height": 2, "pool_width": 2, "stride": 2}

    def dropout_fwd(x):
        return L.dropout_forward(x, {"mode": "train", "p": 0.7, "rng": np.random.default_rng(5)})

    def c(name, tol, fn):
        return Case(f"layer {name}", lambda r: fn(r, tol), tol)

    cases = [
        c("affine", LAYER_TOL, lambda r, t: layer_error(
            L.affine_forward, L.affine_backward,
            [randn(r, 3, 2, 3), randn(r, 6, 5), randn(r, 5)], r, t)),
        c("relu", LAYER_TOL, lambda r, t: layer_error(
            L.relu_forward, L.relu_backward, [_off_kink(r, (4, 5))], r, t)),
        c("leaky_relu", LAYER_TOL, lambda r, t: layer_error(
            lambda x: L.leaky_relu_forward(x, 0.1), L.leaky_relu_backward,
            [_off_kink(r, (4, 5))], r, t)),
        c("sigmoid", LAYER_TOL, lambda r, t: layer_error(
            L.sigmoid_forward, L.sigmoid_backward, [randn(r, 4, 5)], r, t)),
        c("tanh", LAYER_TOL, lambda r, t: layer_error(
            L.tanh_forward, L.tanh_backward, [randn(r, 4, 5)], r, t)),
        c("softmax_loss", LAYER_TOL, lambda r, t: loss_error(
            L.softmax_loss, randn(r, 6, 4), r.integers(0, 4, 6), t)),
        c("svm_loss", LAYER_TOL, lambda r, t: loss_error(
            L.svm_loss, randn(r, 6, 4), r.integers(0, 4, 6), t)),
        c("batchnorm", NORM_TOL, lambda r, t: layer_error(
            L.batchnorm_forward, L.batchnorm_backward,
            [randn(r, 6, 4) * 2 + 1, randn(r, 4), randn(r, 4)], r, t, {"mode": "train"})),
        c("batchnorm_alt", NORM_TOL, lambda r, t: layer_error(
            L.batchnorm_forward, L.batchnorm_backward_alt,
            [randn(r, 6, 4) * 2 + 1, randn(r, 4), randn(r, 4)], r, t, {"mode": "train"})),
        c("layernorm", NORM_TOL, lambda r, t: layer_error(
            L.layernorm_forward, L.layernorm_backward,
            [randn(r, 4, 6) * 2 + 1, randn(r, 6), randn(r, 6)], r, t, {})),
        c("dropout", LAYER_TOL, lambda r, t: layer_error(
            dropout_fwd, L.dropout_backward, [randn(r, 5, 6)], r, t)),
        c("conv_naive", LAYER_TOL, lambda r, t: layer_error(
            L.conv_forward_naive, L.conv_backward_naive,
            [randn(r, 2, 3, 7, 5), randn(r, 4, 3, 3, 3), randn(r, 4)], r, t, conv)),
        c("max_pool_naive", LAYER_TOL, lambda r, t: layer_error(
            L.max_pool_forward_naive, L.max_pool_backward_naive,
            [_distinct(r, (2, 3, 6, 4))], r, t, pool)),
        c("spatial_batchnorm", NORM_TOL, lambda r, t: layer_error(
            L.spatial_batchnorm_forward, L.spatial_batchnorm_backward,
            [randn(r, 3, 4, 3, 2) + 1, randn(r, 4), randn(r, 4)], r, t, {"mode": "train"})),
        c("spatial_groupnorm", NORM_TOL, lambda r, t: layer_error(
            L.spatial_groupnorm_forward, L.spatial_groupnorm_backward,
            [randn(r, 2, 6, 3, 2) + 1, randn(r, 1, 6, 1, 1), randn(r, 1, 6, 1, 1)], r, t, 2, {})),
        c("affine_relu", LAYER_TOL, lambda r, t: layer_error(
            lu.affine_relu_forward, lu.affine_relu_backward,
            [randn(r, 3, 5), randn(r, 5, 4), randn(r, 4)], r, t)),
        c("affine_batchnorm_relu", NORM_TOL, lambda r, t: layer_error(
            lu.affine_batchnorm_relu_forward, lu.affine_batchnorm_relu_backward,
            [randn(r, 6, 5), randn(r, 5, 4), randn(r, 4), randn(r, 4), randn(r, 4)], r, t,
            {"mode": "train"})),
        c("affine_layernorm_relu", NORM_TOL, lambda r, t: layer_error(
            lu.affine_layernorm_relu_forward, lu.affine_layernorm_relu_backward,
            [randn(r, 3, 5), randn(r, 5, 6), randn(r, 6), randn(r, 6), randn(r, 6)], r, t, {})),
        c("conv_relu", LAYER_TOL, lambda r, t: layer_error(
            lu.conv_relu_forward, lu.conv_relu_backward,
            [randn(r, 2, 3, 5, 5), randn(r, 4, 3, 3, 3), randn(r, 4)], r, t, conv)),
        c("conv_bn_relu", NORM_TOL, lambda r, t: layer_error(
            lu.conv_bn_relu_forward, lu.conv_bn_relu_backward,
            [randn(r, 2, 3, 5, 5), randn(r, 4, 3, 3, 3), randn(r, 4), randn(r, 4),
             randn(r, 4)], r, t, conv, {"mode": "train"})),
        c("conv_relu_pool", LAYER_TOL, lambda r, t: layer_error(
            lu.conv_relu_pool_forward, lu.conv_relu_pool_backward,
            [randn(r, 2, 3, 8, 8), randn(r, 4, 3, 3, 3), randn(r, 4)], r, t,
            {"stride": 1, "pad": 1}, pool)),
    ]  # fmt: skip
    try:
        from numnet import fast_layers as FL
    except ImportError:  # the fast kernels are optional for this list
        return cases
    cases += [
        c("conv_fast", LAYER_TOL, lambda r, t: layer_error(
            FL.conv_forward_fast, FL.conv_backward_fast,
            [randn(r, 2, 3, 7, 5), randn(r, 4, 3, 3, 3), randn(r, 4)], r, t, conv)),
        c("max_pool_fast", LAYER_TOL, lambda r, t: layer_error(
            FL.max_pool_forward_fast, FL.max_pool_backward_fast,
            [_distinct(r, (2, 3, 6, 4))], r, t, pool)),
        c("max_pool_fast_overlap", LAYER_TOL, lambda r, t: layer_error(
            FL.max_pool_forward_fast, FL.max_pool_backward_fast,
            [_distinct(r, (2, 2, 7, 5))], r, t, {"pool_height": 3, "pool_width": 3, "stride": 2})),
    ]  # fmt: skip
    return cases


def _model_cases() -> list[Case]:
    from numnet.classifiers.cnn import ThreeLayerConvNet
    from numnet.classifiers.fc_net import FullyConnectedNet, TwoLayerNet

    f64 = np.float64

    def vec_data(r, n=5, d=8, c=4):
        return r.standard_normal((n, d)), r.integers(0, c, n)

    def img_data(r, n=3, shape=(3, 8, 8), c=4):
        return r.standard_normal((n, *shape)), r.integers(0, c, n)

    def m(name, make, data):
        return Case(f"model {name}", lambda r: model_error(make(r), *data(r), MODEL_TOL, r),
                    MODEL_TOL)  # fmt: skip

    cases = [
        m("TwoLayerNet", lambda r: TwoLayerNet(8, 6, 4, reg=0.1, dtype=f64, init="kaiming",
                                               rng=int(r.integers(1 << 30))), vec_data),
    ]  # fmt: skip
    for norm in (None, "batchnorm", "layernorm"):
        for keep in (1.0, 0.7):
            label = f"FullyConnectedNet(norm={norm}, keep={keep})"
            cases.append(m(label, lambda r, norm=norm, keep=keep: _fix_dropout_mask(
                FullyConnectedNet([7, 5], input_dim=8, num_classes=4, normalization=norm,
                dropout_keep_ratio=keep, reg=0.1, dtype=f64, init="kaiming",
                rng=int(r.integers(1 << 30)))), vec_data))  # fmt: skip
    cases.append(m("ThreeLayerConvNet", lambda r: ThreeLayerConvNet(
        (3, 8, 8), num_filters=3, filter_size=3, hidden_dim=7, num_classes=4, reg=0.1,
        dtype=f64, init="kaiming", rng=int(r.integers(1 << 30))), img_data))  # fmt: skip
    cases += _convnet_cases(m, img_data)
    cases += _transfer_cases(m, vec_data, img_data)
    return cases


def _transfer_cases(m, vec_data, img_data) -> list[Case]:
    """The linear classifier for features, and a ConvNet with frozen batch norm layers.

    The frozen layers run in test mode inside a training pass: the gradient then flows through
    the running statistics.
    """
    from numnet.classifiers.convnet import ConvNet
    from numnet.classifiers.linear import LinearClassifier

    def linear(loss):
        def build(r):
            seed = int(r.integers(1 << 30))
            return LinearClassifier(8, 4, loss, 0.1, "kaiming", None, np.float64, seed)

        return build

    def frozen_bn(r):
        seed = int(r.integers(1 << 30))
        model = ConvNet((3, 8, 8), (4, 6), hidden_dims=(7,), num_classes=4, reg=0.1,
                        dtype=np.float64, rng=seed)  # fmt: skip
        for bp in model.bn_params[1:]:  # layers 2 and 3: trained-looking statistics
            bp["running_mean"] = r.standard_normal(bp["running_mean"].shape)
            bp["running_var"] = 0.5 + r.random(bp["running_var"].shape)
        model.freeze("W2", "b2", "gamma2", "beta2", "gamma3", "beta3")
        return model

    return [
        m("LinearClassifier(softmax)", linear("softmax"), vec_data),
        m("LinearClassifier(svm)", linear("svm"), vec_data),
        m("ConvNet(batchnorm, layers 2-3 frozen: test-mode norm)", frozen_bn, img_data),
    ]


def _convnet_cases(m, img_data) -> list[Case]:
    try:
        from numnet.classifiers.convnet import ConvNet
    except ImportError:
        return []

    def make(norm, keep):
        def build(r):
            model = ConvNet(
                input_dim=(3, 8, 8), conv_channels=(4, 6), hidden_dims=(7,), num_classes=4,
                normalization=norm, groups=2, dropout_keep_ratio=keep, reg=0.1,
                dtype=np.float64, rng=int(r.integers(1 << 30)),
            )  # fmt: skip
            return _fix_dropout_mask(model)

        return build

    return [
        m(f"ConvNet(norm={norm}, keep={keep})", make(norm, keep), img_data)
        for norm, keep in ((None, 1.0), ("batchnorm", 0.7), ("groupnorm", 1.0), ("layernorm", 1.0))
    ]


def _fix_dropout_mask(model):
    # The model's Generator draws a new mask on every call; a numeric gradient needs the same
    # mask in every call, so each loss call starts from a freshly seeded Generator.
    if not model.dropout_param:
        return model
    loss = model.loss

    def fixed_mask_loss(X, y=None):
        model.dropout_param["rng"] = np.random.default_rng(7)
        return loss(X, y)

    model.loss = fixed_mask_loss
    return model


def all_cases() -> list[Case]:
    """Every layer case, then every model case."""
    return _layer_cases() + _model_cases()
