"""Layer norm: per-row statistics, numeric gradients, torch parity, ignored keys, bad inputs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _layers_testlib import numeric_grads, on, tn, tt

from numnet.backend import to_numpy
from numnet.gradient_check import rel_error
from numnet.layers import layernorm_backward, layernorm_forward

SHAPES = [(4, 5), (3, 8), (1, 6), (6, 3)]


def test_layernorm_forward_normalises_each_row(xp, rng):
    x = xp.asarray(rng.standard_normal((4, 50)) * np.arange(1, 5)[:, None] + 7)
    out, _ = layernorm_forward(x, xp.ones(50), xp.zeros(50), {})
    out = to_numpy(out)
    np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=1), 1.0, rtol=1e-4)


@pytest.mark.parametrize("shape", SHAPES)
def test_layernorm_backward_numeric(xp, rng, shape):
    D = shape[1]
    x = 2 * rng.standard_normal(shape) + 1
    gamma, beta, dout = rng.standard_normal(D), rng.standard_normal(D), rng.standard_normal(shape)
    fwd = lambda *a: layernorm_forward(*a, {"mode": "train"})  # noqa: E731
    num = numeric_grads(fwd, [x, gamma, beta], (0, 1, 2), dout)
    _, cache = layernorm_forward(*on(xp, [x, gamma, beta]), {"mode": "train"})
    grads = layernorm_backward(xp.asarray(dout), cache)
    for name, got, want in zip(("dx", "dgamma", "dbeta"), grads, num):
        assert got.shape == want.shape, name
        assert rel_error(got, want) < 1e-6, name


@pytest.mark.parametrize("eps", [1e-5, 1e-2])
@pytest.mark.parametrize("shape", SHAPES)
def test_layernorm_matches_torch(xp, rng, shape, eps):
    D = shape[1]
    x = 2 * rng.standard_normal(shape) + 1
    gamma, beta, dout = rng.standard_normal(D), rng.standard_normal(D), rng.standard_normal(shape)
    out, cache = layernorm_forward(*on(xp, [x, gamma, beta]), {"eps": eps})
    dx, dgamma, dbeta = layernorm_backward(xp.asarray(dout), cache)
    xt, gt, bt = tt(x), tt(gamma), tt(beta)
    ot = F.layer_norm(xt, (D,), gt, bt, eps=eps)
    ot.backward(torch.from_numpy(dout))
    for got, want in [(out, ot), (dx, xt.grad), (dgamma, gt.grad), (dbeta, bt.grad)]:
        np.testing.assert_allclose(to_numpy(got), tn(want), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("ln_param", [{}, {"mode": "train"}, {"mode": "test", "other": 3}])
def test_layernorm_ignores_unknown_keys(rng, ln_param):
    x, gamma, beta = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(4)
    out, _ = layernorm_forward(x, gamma, beta, ln_param)
    ref, _ = layernorm_forward(x, gamma, beta, {"eps": 1e-5})
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize(
    ("x", "gamma", "beta", "match"),
    [
        (np.zeros((2, 3, 4)), np.ones(3), np.zeros(3), r"x must be a 2-D array .*got ndim=3"),
        (np.zeros((2, 3)), np.ones(4), np.zeros(3), r"gamma must have shape \(3,\), got \(4,\)"),
        (np.zeros((2, 3)), np.ones(3), np.zeros((3, 1)), r"beta .*\(3,\), got \(3, 1\)"),
        (np.zeros((2, 3), dtype=np.int32), np.ones(3), np.zeros(3), r"x must be a floating.*int32"),
    ],
    ids=["x-3d", "gamma", "beta", "x-int"],
)
def test_layernorm_rejects_bad_inputs(x, gamma, beta, match):
    with pytest.raises(ValueError, match=match):
        layernorm_forward(x, gamma, beta, {})
