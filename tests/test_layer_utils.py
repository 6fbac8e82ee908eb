"""Sandwich layers: equal to their composition, numeric gradients, aliases, running stats."""

import numpy as np
import pytest
from _layers_testlib import numeric_grads, on

from numnet import layer_utils as U
from numnet import layers as L
from numnet.backend import to_numpy
from numnet.gradient_check import rel_error

CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def _affine_args(rng, x_shape=(4, 2, 3), M=5):
    D = int(np.prod(x_shape[1:]))
    return [rng.standard_normal(x_shape), rng.standard_normal((D, M)), rng.standard_normal(M)]


def _conv_args(rng, x_shape=(2, 3, 4, 6), F=3):
    C = x_shape[1]
    return [rng.standard_normal(x_shape), rng.standard_normal((F, C, 3, 3)), rng.standard_normal(F)]


# name -> (forward, backward, args builder, tolerance): each forward's trailing dicts are built
# fresh per call so the numeric passes do not share batchnorm state.
SANDWICHES = {
    "affine_relu": (U.affine_relu_forward, U.affine_relu_backward, lambda r: _affine_args(r), 1e-8),
    "affine_batchnorm_relu": (
        U.affine_batchnorm_relu_forward,
        U.affine_batchnorm_relu_backward,
        lambda r: [*_affine_args(r), 1 + r.standard_normal(5), r.standard_normal(5)],
        1e-6,
    ),
    "affine_layernorm_relu": (
        U.affine_layernorm_relu_forward,
        U.affine_layernorm_relu_backward,
        lambda r: [*_affine_args(r), 1 + r.standard_normal(5), r.standard_normal(5)],
        1e-6,
    ),
    "conv_relu": (U.conv_relu_forward, U.conv_relu_backward, lambda r: _conv_args(r), 1e-8),
    "conv_relu_pool": (
        U.conv_relu_pool_forward,
        U.conv_relu_pool_backward,
        lambda r: _conv_args(r),
        1e-8,
    ),
    "conv_bn_relu": (
        U.conv_bn_relu_forward,
        U.conv_bn_relu_backward,
        lambda r: [*_conv_args(r), 1 + r.standard_normal(3), r.standard_normal(3)],
        1e-6,
    ),
}


def _params(name):
    """The trailing parameter dicts of each sandwich, freshly built."""
    return {
        "affine_relu": [],
        "affine_batchnorm_relu": [{"mode": "train"}],
        "affine_layernorm_relu": [{}],
        "conv_relu": [dict(CONV)],
        "conv_relu_pool": [dict(CONV), dict(POOL)],
        "conv_bn_relu": [dict(CONV), {"mode": "train"}],
    }[name]


def _composed(name, args):
    """The sandwich's forward output built from the core (naive) layers."""
    p = _params(name)
    if name.startswith("affine"):
        a, _ = L.affine_forward(*args[:3])
        if name == "affine_batchnorm_relu":
            a, _ = L.batchnorm_forward(a, *args[3:], *p)
        elif name == "affine_layernorm_relu":
            a, _ = L.layernorm_forward(a, *args[3:], *p)
        return L.relu_forward(a)[0]
    a, _ = L.conv_forward_naive(*args[:3], p[0])
    if name == "conv_bn_relu":
        a, _ = L.spatial_batchnorm_forward(a, *args[3:], p[1])
    s, _ = L.relu_forward(a)
    return L.max_pool_forward_naive(s, p[1])[0] if name == "conv_relu_pool" else s


@pytest.mark.parametrize("name", SANDWICHES)
def test_sandwich_forward_equals_composition(xp, rng, name):
    forward, _, build, _ = SANDWICHES[name]
    args = build(rng)
    out, cache = forward(*on(xp, args), *_params(name))
    np.testing.assert_allclose(to_numpy(out), _composed(name, args), rtol=1e-12, atol=1e-12)
    n_parts = 2 if name in ("affine_relu", "conv_relu") else 3
    assert isinstance(cache, tuple) and len(cache) == n_parts


@pytest.mark.parametrize("name", SANDWICHES)
def test_sandwich_backward_numeric(xp, rng, name):
    forward, backward, build, tol = SANDWICHES[name]
    args = build(rng)
    out, cache = forward(*on(xp, args), *_params(name))
    dout = rng.standard_normal(out.shape)
    num = numeric_grads(lambda *a: forward(*a, *_params(name)), args, range(len(args)), dout)
    grads = backward(xp.asarray(dout), cache)
    assert len(grads) == len(args)
    for i, (got, want) in enumerate(zip(grads, num)):
        assert got.shape == want.shape, f"gradient {i}"
        if i == 2 and name in ("affine_batchnorm_relu", "conv_bn_relu"):
            # Batch norm subtracts the batch mean, cancelling the bias: db is exactly 0 and the
            # numeric one is roundoff, so compare absolutely.
            assert np.abs(to_numpy(got)).max() < 1e-12 and np.abs(want).max() < 1e-9
            continue
        assert rel_error(got, want) < tol, f"gradient {i}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", SANDWICHES)
def test_sandwich_keeps_dtype(xp, rng, name, dtype):
    forward, backward, build, _ = SANDWICHES[name]
    args = on(xp, [a.astype(dtype) for a in build(rng)])
    out, cache = forward(*args, *_params(name))
    assert out.dtype == dtype
    for i, g in enumerate(backward(xp.ones(out.shape, dtype=dtype), cache)):
        assert g.dtype == dtype, f"gradient {i}"


@pytest.mark.parametrize(
    ("forward", "args"),
    [
        (U.affine_batchnorm_relu_forward, lambda r: [*_affine_args(r), np.ones(5), np.zeros(5)]),
        (U.conv_bn_relu_forward, lambda r: [*_conv_args(r), np.ones(3), np.zeros(3), CONV]),
    ],
    ids=["affine_batchnorm_relu", "conv_bn_relu"],
)
def test_batchnorm_sandwiches_update_the_callers_bn_param(rng, forward, args):
    bn_param = {"mode": "train"}
    forward(*args(rng), bn_param)
    assert np.any(bn_param["running_mean"] != 0) and np.all(bn_param["running_var"] > 0)


def test_conv_batchnorm_relu_is_the_course_conv_bn_relu():
    assert U.conv_batchnorm_relu_forward is U.conv_bn_relu_forward
    assert U.conv_batchnorm_relu_backward is U.conv_bn_relu_backward
