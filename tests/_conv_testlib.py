"""Shared cases of the conv / max-pool tests (tests/test_conv_*.py, tests/test_pool_*.py)."""

from __future__ import annotations

import numpy as np

import numnet.fast_layers as fl
from numnet.layers import (
    relu_backward,
    relu_forward,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
)


def pool_param(ph, pw, s):
    """The course's pool_param dict."""
    return {"pool_height": ph, "pool_width": pw, "stride": s}


def conv_out_shape(x_shape, w_shape, stride, pad):
    """(N, F, H', W') of a conv with these shapes."""
    N, _, H, W = x_shape
    F, _, HH, WW = w_shape
    return (N, F, (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1)


def _conv_args(**over):
    args = {
        "x": np.zeros((2, 3, 5, 5)),
        "w": np.zeros((4, 3, 3, 3)),
        "b": np.zeros(4),
        "conv_param": {"stride": 1, "pad": 1},
    }
    args.update(over)
    return args


# (id, keyword arguments of a conv forward, regex the ValueError must match)
BAD_CONV = [
    ("x_3d", _conv_args(x=np.zeros((3, 5, 5))), r"x must be a 4-D array .*ndim=3"),
    ("w_3d", _conv_args(w=np.zeros((4, 3, 3))), r"w must be a 4-D array .*ndim=3"),
    ("b_shape", _conv_args(b=np.zeros(3)), r"b must have shape \(4,\), got \(3,\)"),
    ("channels", _conv_args(w=np.zeros((4, 2, 3, 3))), r"w has 2 .* x has 3"),
    ("int_x", _conv_args(x=np.zeros((2, 3, 5, 5), dtype=int)), r"x must be a floating-point"),
    (
        "no_stride",
        _conv_args(conv_param={"pad": 1}),
        r"conv_param is missing key\(s\) \['stride'\]",
    ),
    ("no_pad", _conv_args(conv_param={"stride": 1}), r"conv_param is missing key\(s\) \['pad'\]"),
    ("stride_0", _conv_args(conv_param={"stride": 0, "pad": 1}), r"\['stride'\].*>= 1, got 0"),
    ("stride_float", _conv_args(conv_param={"stride": 1.5, "pad": 1}), r"'stride'.*got 1.5"),
    ("pad_neg", _conv_args(conv_param={"stride": 1, "pad": -1}), r"\['pad'\].*>= 0, got -1"),
    (
        "non_integer_size",
        _conv_args(x=np.zeros((2, 3, 6, 5)), conv_param={"stride": 2, "pad": 1}),
        r"output height \(W - F \+ 2P\)/S \+ 1 must be an integer, got "
        r"\(6 - 3 \+ 2\*1\)/2 \+ 1 = 3.5",
    ),
    (
        "non_integer_width",
        _conv_args(x=np.zeros((2, 3, 5, 6)), conv_param={"stride": 2, "pad": 1}),
        r"output width .* = 3.5 \(W=6, F=3, P=1, S=2\)",
    ),
    (
        "too_small",
        _conv_args(x=np.zeros((2, 3, 2, 2)), conv_param={"stride": 1, "pad": 0}),
        r"height window \(3\) is larger than the padded input .* < 1",
    ),
]

# (id, x, pool_param, regex the ValueError must match)
BAD_POOL = [
    ("x_3d", np.zeros((3, 4, 4)), pool_param(2, 2, 2), r"x must be a 4-D array .*ndim=3"),
    ("int_x", np.zeros((1, 1, 4, 4), dtype=int), pool_param(2, 2, 2), r"floating-point"),
    (
        "missing",
        np.zeros((1, 1, 4, 4)),
        {"pool_height": 2, "stride": 2},
        r"pool_param is missing key\(s\) \['pool_width'\]",
    ),
    ("stride_0", np.zeros((1, 1, 4, 4)), pool_param(2, 2, 0), r"\['stride'\].*>= 1, got 0"),
    ("height_0", np.zeros((1, 1, 4, 4)), pool_param(0, 2, 2), r"\['pool_height'\].*got 0"),
    (
        "too_big",
        np.zeros((1, 1, 4, 3)),
        pool_param(2, 4, 1),
        r"pool_width \(4\) is larger than the input width \(3\)",
    ),
]


def distinct(rng, shape):
    """Values with no ties and gaps >= 1e-3 between them, so numeric gradients see no kink."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 1e-2 + rng.uniform(0, 1e-3, n)).reshape(shape)


def conv_bn_case(rng, x_shape, w_shape, ties, dtype=np.float64):
    """(x, w, b, gamma, beta) of a conv -> batch norm case; ``ties``: small integers."""
    F = w_shape[0]
    if ties:
        # Small integers: many conv outputs tie, and many windows are all <= 0 after the norm.
        x = rng.integers(-2, 3, x_shape).astype(dtype)
        w = rng.integers(-1, 2, w_shape).astype(dtype)
        b = np.zeros(F, dtype=dtype)
    else:
        x = rng.standard_normal(x_shape).astype(dtype)
        w = rng.standard_normal(w_shape).astype(dtype)
        b = rng.standard_normal(F).astype(dtype)
    gamma = (rng.uniform(0.5, 1.5, F) * rng.choice([-1, 1], F)).astype(dtype)
    beta = rng.standard_normal(F).astype(dtype)
    return x, w, b, gamma, beta


def bn_param(rng, F, mode):
    """A batch norm param dict in ``mode`` with random running statistics."""
    return {
        "mode": mode,
        "running_mean": rng.standard_normal(F),
        "running_var": rng.uniform(0.5, 2.0, F),
    }


def unfused_conv_bn_relu_pool(x, w, b, gamma, beta, cp, bp, pp):
    """The course's layers the fused kernels replace (conv, spatial batch norm, [max pool], ReLU).

    Returns:
        (out, backward): ``backward(dout)`` gives (dx, dw, db, dgamma, dbeta).
    """
    a, c_conv = fl.conv_forward_fast(x, w, b, cp)
    z, c_bn = spatial_batchnorm_forward(a, gamma, beta, bp)
    c_pool = None
    if pp is not None:
        z, c_pool = fl.max_pool_forward_fast(z, pp)
    rectified, c_relu = relu_forward(z)

    def backward(dout):
        d = relu_backward(dout, c_relu)
        if c_pool is not None:
            d = fl.max_pool_backward_fast(d, c_pool)
        d, dgamma, dbeta = spatial_batchnorm_backward(d, c_bn)
        dx, dw, db = fl.conv_backward_fast(d, c_conv)
        return dx, dw, db, dgamma, dbeta

    return rectified, backward
