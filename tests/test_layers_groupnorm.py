"""Spatial group norm: contiguous groups, (1, C, 1, 1) params, numeric grads, torch parity."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _layers_testlib import numeric_grads, on, tn, tt

from numnet.backend import to_numpy
from numnet.gradient_check import rel_error
from numnet.layers import spatial_groupnorm_backward, spatial_groupnorm_forward

# (N, C, H, W), G: one group, one channel per group, and groups in between; non-square maps.
CASES = [((2, 6, 3, 4), 2), ((2, 4, 2, 2), 1), ((1, 3, 3, 2), 3), ((3, 8, 2, 3), 4)]


def _params(rng, C):
    return rng.standard_normal((1, C, 1, 1)), rng.standard_normal((1, C, 1, 1))


@pytest.mark.parametrize(("shape", "G"), CASES)
def test_groupnorm_normalises_contiguous_groups(xp, rng, shape, G):
    N, C = shape[:2]
    x = 3 * rng.standard_normal(shape) + 2
    out, _ = spatial_groupnorm_forward(
        xp.asarray(x), xp.ones((1, C, 1, 1)), xp.zeros((1, C, 1, 1)), G, {}
    )
    out = to_numpy(out)
    k = C // G
    for n in range(N):
        for g in range(G):
            block = x[n, g * k : (g + 1) * k]
            want = (block - block.mean()) / np.sqrt(block.var() + 1e-5)
            np.testing.assert_allclose(out[n, g * k : (g + 1) * k], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("shape", "G"), CASES)
def test_groupnorm_backward_numeric(xp, rng, shape, G):
    x = 2 * rng.standard_normal(shape) + 1
    gamma, beta = _params(rng, shape[1])
    dout = rng.standard_normal(shape)
    fwd = lambda *a: spatial_groupnorm_forward(*a, G, {"mode": "train"})  # noqa: E731
    num = numeric_grads(fwd, [x, gamma, beta], (0, 1, 2), dout)
    _, cache = spatial_groupnorm_forward(*on(xp, [x, gamma, beta]), G, {"mode": "train"})
    grads = spatial_groupnorm_backward(xp.asarray(dout), cache)
    for name, got, want in zip(("dx", "dgamma", "dbeta"), grads, num):
        # dgamma and dbeta keep the (1, C, 1, 1) shape the course's numeric checks compare with.
        assert got.shape == want.shape, name
        assert rel_error(got, want) < 1e-6, name


@pytest.mark.parametrize(("shape", "G"), CASES)
def test_groupnorm_matches_torch(xp, rng, shape, G):
    C = shape[1]
    x = 2 * rng.standard_normal(shape) + 1
    gamma, beta = _params(rng, C)
    dout = rng.standard_normal(shape)
    out, cache = spatial_groupnorm_forward(*on(xp, [x, gamma, beta]), G, {})
    dx, dgamma, dbeta = spatial_groupnorm_backward(xp.asarray(dout), cache)
    xt, gt, bt = tt(x), tt(gamma.reshape(C)), tt(beta.reshape(C))
    ot = F.group_norm(xt, G, gt, bt, eps=1e-5)
    ot.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(to_numpy(out), tn(ot), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(dx), tn(xt.grad), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(to_numpy(dgamma).reshape(C), tn(gt.grad), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(dbeta).reshape(C), tn(bt.grad), rtol=1e-12, atol=1e-12)


X, P, Z = np.zeros((2, 6, 2, 2)), np.ones((1, 6, 1, 1)), np.zeros((1, 6, 1, 1))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((X, P, Z, 4), r"G must divide the number of channels C=6, got G=4"),
        ((X, P, Z, 0), r"G must be a positive integer, got 0"),
        ((X, P, Z, 2.0), r"G must be a positive integer, got 2.0"),
        ((np.zeros((2, 6, 2)), P, Z, 2), r"x must be a 4-D array .*got ndim=3"),
        ((X, np.ones(6), Z, 2), r"gamma must have shape \(1, 6, 1, 1\), got \(6,\)"),
        (
            (X, P, np.zeros((1, 3, 1, 1)), 2),
            r"beta must have shape \(1, 6, 1, 1\), got \(1, 3, 1, 1\)",
        ),
        ((X.astype(np.int64), P, Z, 2), r"x must be a floating-point array, got dtype int64"),
    ],
    ids=["G-not-divisor", "G-zero", "G-float", "x-3d", "gamma-1d", "beta-size", "x-int"],
)
def test_groupnorm_rejects_bad_inputs(args, match):
    with pytest.raises(ValueError, match=match):
        spatial_groupnorm_forward(*args, {})
