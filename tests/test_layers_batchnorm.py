"""Batch norm (vanilla and spatial): numeric gradients, torch parity, running stats, bad inputs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _layers_testlib import numeric_grads, on, tn, tt

from numnet.backend import to_numpy
from numnet.gradient_check import rel_error
from numnet.layers import (
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
)

BACKWARDS = {"graph": batchnorm_backward, "alt": batchnorm_backward_alt}
# N >= 3: with N = 2 each xhat is +-1 whatever x is, so dx is ~0 and only roundoff is compared.
SHAPES = [(4, 5), (10, 3), (3, 1), (7, 6)]
SPATIAL_SHAPES = [(2, 3, 4, 5), (3, 2, 3, 3), (1, 4, 2, 3)]


def _inputs(rng, D):
    return 5 * rng.standard_normal(D) + 1, rng.standard_normal(D), rng.standard_normal(D)


def _running(rng, D):
    return {"running_mean": rng.standard_normal(D), "running_var": rng.uniform(0.5, 2.0, D)}


def test_batchnorm_train_forward_normalises(xp, rng):
    # The course's check: after batchnorm, each feature has mean beta and std gamma.
    x = xp.asarray(50 + 5 * rng.standard_normal((200, 3)))
    gamma, beta = xp.asarray(np.array([1.0, 2.0, 3.0])), xp.asarray(np.array([11.0, 12.0, 13.0]))
    out, _ = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    out = to_numpy(out)
    np.testing.assert_allclose(out.mean(axis=0), [11.0, 12.0, 13.0], rtol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), [1.0, 2.0, 3.0], rtol=1e-6)


@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("which", BACKWARDS)
def test_batchnorm_backward_numeric(xp, rng, which, shape, mode):
    D = shape[1]
    x = 3 * rng.standard_normal(shape) + 2
    gamma, beta = rng.standard_normal(D), rng.standard_normal(D)
    dout = rng.standard_normal(shape)
    running = _running(rng, D)
    fresh = lambda: {"mode": mode, **running}  # noqa: E731
    num = numeric_grads(
        lambda *a: batchnorm_forward(*a, fresh()), [x, gamma, beta], (0, 1, 2), dout
    )
    _, cache = batchnorm_forward(*on(xp, [x, gamma, beta]), {"mode": mode, **on(xp, running)})
    grads = BACKWARDS[which](xp.asarray(dout), cache)
    for name, got, want in zip(("dx", "dgamma", "dbeta"), grads, num):
        assert got.shape == want.shape, name
        assert rel_error(got, want) < 1e-6, name


@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize("shape", SHAPES)
def test_batchnorm_backward_alt_equals_graph(xp, rng, shape, mode):
    x = xp.asarray(rng.standard_normal(shape) * 4 - 1)
    gamma, beta = on(xp, [rng.standard_normal(shape[1]), rng.standard_normal(shape[1])])
    _, cache = batchnorm_forward(x, gamma, beta, {"mode": mode, **on(xp, _running(rng, shape[1]))})
    dout = xp.asarray(rng.standard_normal(shape))
    for got, want in zip(batchnorm_backward_alt(dout, cache), batchnorm_backward(dout, cache)):
        assert rel_error(got, want) < 1e-9


@pytest.mark.parametrize("momentum", [0.9, 0.5])
@pytest.mark.parametrize("shape", SHAPES)
def test_batchnorm_train_matches_torch(xp, rng, shape, momentum):
    N, D = shape
    x = 3 * rng.standard_normal(shape) + 1
    gamma, beta, dout = rng.standard_normal(D), rng.standard_normal(D), rng.standard_normal(shape)
    running = _running(rng, D)
    bn_param = {"mode": "train", "momentum": momentum, **on(xp, running)}
    out, cache = batchnorm_forward(*on(xp, [x, gamma, beta]), bn_param)
    dx, dgamma, dbeta = batchnorm_backward(xp.asarray(dout), cache)

    xt, gt, bt = tt(x), tt(gamma), tt(beta)
    rm_t, rv_t = torch.tensor(running["running_mean"]), torch.tensor(running["running_var"])
    # torch's momentum weights the NEW value: ours m is torch's 1 - m.
    ot = F.batch_norm(xt, rm_t, rv_t, gt, bt, training=True, momentum=1 - momentum, eps=1e-5)
    ot.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(to_numpy(out), tn(ot), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(dx), tn(xt.grad), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(to_numpy(dgamma), tn(gt.grad), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(dbeta), tn(bt.grad), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_numpy(bn_param["running_mean"]), rm_t.numpy(), rtol=1e-12)
    # torch folds in the UNBIASED batch variance; the course (and numnet) the biased one:
    # convert torch's new-value share (N-1)/N back to the biased variance explicitly.
    rv0 = running["running_var"]
    torch_share = rv_t.numpy() - momentum * rv0  # (1 - momentum) * var_unbiased
    expected_rv = momentum * rv0 + torch_share * (N - 1) / N
    np.testing.assert_allclose(to_numpy(bn_param["running_var"]), expected_rv, rtol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_batchnorm_test_mode_matches_torch_eval(xp, rng, shape):
    D = shape[1]
    x = 3 * rng.standard_normal(shape) + 1
    gamma, beta, dout = rng.standard_normal(D), rng.standard_normal(D), rng.standard_normal(shape)
    running = _running(rng, D)
    bn_param = {"mode": "test", **on(xp, running)}
    out, cache = batchnorm_forward(*on(xp, [x, gamma, beta]), bn_param)
    dx, dgamma, dbeta = batchnorm_backward_alt(xp.asarray(dout), cache)
    xt, gt, bt = tt(x), tt(gamma), tt(beta)
    rm_t, rv_t = torch.tensor(running["running_mean"]), torch.tensor(running["running_var"])
    ot = F.batch_norm(xt, rm_t, rv_t, gt, bt, training=False, eps=1e-5)
    ot.backward(torch.from_numpy(dout))
    for got, want in [(out, ot), (dx, xt.grad), (dgamma, gt.grad), (dbeta, bt.grad)]:
        np.testing.assert_allclose(to_numpy(got), tn(want), rtol=1e-12, atol=1e-12)
    # Test mode leaves the running statistics as they were (but stores them back).
    np.testing.assert_array_equal(to_numpy(bn_param["running_mean"]), running["running_mean"])
    np.testing.assert_array_equal(to_numpy(bn_param["running_var"]), running["running_var"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["train", "test"])
def test_batchnorm_running_stats_default_and_update(xp, rng, mode, dtype):
    x = xp.asarray((rng.standard_normal((6, 3)) + 2).astype(dtype))
    bn_param = {"mode": mode}
    batchnorm_forward(x, xp.ones(3, dtype=dtype), xp.zeros(3, dtype=dtype), bn_param)
    rm, rv = bn_param["running_mean"], bn_param["running_var"]
    assert rm.dtype == dtype and rv.dtype == dtype and rm.shape == (3,) and rv.shape == (3,)
    xn = to_numpy(x).astype(np.float64)
    # From zeros with momentum 0.9: 0.1 * (batch mean, biased batch variance); test mode keeps 0.
    share = 0.1 if mode == "train" else 0.0
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(to_numpy(rm), share * xn.mean(0), rtol=tol, atol=tol)
    np.testing.assert_allclose(to_numpy(rv), share * xn.var(0), rtol=tol, atol=tol)


def test_batchnorm_momentum_weights_the_old_value(xp):
    x = xp.asarray(np.array([[0.0], [2.0]]))  # batch mean 1, biased variance 1
    bn_param = {"mode": "train", "momentum": 0.75, "running_mean": xp.asarray(np.array([5.0]))}
    bn_param["running_var"] = xp.asarray(np.array([9.0]))
    batchnorm_forward(x, xp.ones(1), xp.zeros(1), bn_param)
    assert float(bn_param["running_mean"][0]) == pytest.approx(0.75 * 5 + 0.25 * 1)
    assert float(bn_param["running_var"][0]) == pytest.approx(0.75 * 9 + 0.25 * 1)


@pytest.mark.parametrize("shape", SPATIAL_SHAPES)
def test_spatial_batchnorm_backward_numeric(xp, rng, shape):
    C = shape[1]
    x = 2 * rng.standard_normal(shape) + 3
    gamma, beta, dout = rng.standard_normal(C), rng.standard_normal(C), rng.standard_normal(shape)
    fwd = lambda *a: spatial_batchnorm_forward(*a, {"mode": "train"})  # noqa: E731
    num = numeric_grads(fwd, [x, gamma, beta], (0, 1, 2), dout)
    _, cache = spatial_batchnorm_forward(*on(xp, [x, gamma, beta]), {"mode": "train"})
    grads = spatial_batchnorm_backward(xp.asarray(dout), cache)
    for name, got, want in zip(("dx", "dgamma", "dbeta"), grads, num):
        assert got.shape == want.shape, name
        assert rel_error(got, want) < 1e-6, name


@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize("shape", SPATIAL_SHAPES)
def test_spatial_batchnorm_matches_torch(xp, rng, shape, mode):
    C = shape[1]
    x = 2 * rng.standard_normal(shape) + 3
    gamma, beta, dout = rng.standard_normal(C), rng.standard_normal(C), rng.standard_normal(shape)
    running = _running(rng, C)
    bn_param = {"mode": mode, **on(xp, running)}
    out, cache = spatial_batchnorm_forward(*on(xp, [x, gamma, beta]), bn_param)
    dx, dgamma, dbeta = spatial_batchnorm_backward(xp.asarray(dout), cache)
    xt, gt, bt = tt(x), tt(gamma), tt(beta)
    rm_t, rv_t = torch.tensor(running["running_mean"]), torch.tensor(running["running_var"])
    ot = F.batch_norm(xt, rm_t, rv_t, gt, bt, training=mode == "train", momentum=0.1, eps=1e-5)
    ot.backward(torch.from_numpy(dout))
    for got, want in [(out, ot), (dx, xt.grad), (dgamma, gt.grad), (dbeta, bt.grad)]:
        np.testing.assert_allclose(to_numpy(got), tn(want), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(to_numpy(bn_param["running_mean"]), rm_t.numpy(), rtol=1e-12)
    assert bn_param["running_var"].shape == (C,)


X2, X4, G3, B3 = np.zeros((4, 3)), np.zeros((2, 3, 2, 2)), np.ones(3), np.zeros(3)
BN, SBN = batchnorm_forward, spatial_batchnorm_forward
BAD = [
    ("mode", BN, (X2, G3, B3, {"mode": "bogus"}), r'mode "bogus"; expected "train" or "test"'),
    ("no-mode", BN, (X2, G3, B3, {}), r"bn_param is missing key\(s\) \['mode'\]"),
    ("x-3d", BN, (np.zeros((4, 3, 2)), G3, B3, {"mode": "train"}), r"x must be a 2-D .*ndim=3"),
    ("gamma", BN, (X2, np.ones(4), B3, {"mode": "train"}), r"gamma .*\(3,\), got \(4,\)"),
    ("beta", BN, (X2, G3, np.zeros((1, 3)), {"mode": "test"}), r"beta .*\(3,\), got \(1, 3\)"),
    (
        "running-mean",
        BN,
        (X2, G3, B3, {"mode": "train", "running_mean": np.zeros(2)}),
        r"bn_param\['running_mean'\] must have shape \(3,\), got \(2,\)",
    ),
    (
        "running-var",
        BN,
        (X2, G3, B3, {"mode": "test", "running_var": np.zeros(4)}),
        r"bn_param\['running_var'\] must have shape \(3,\), got \(4,\)",
    ),
    ("int-x", BN, (X2.astype(int), G3, B3, {"mode": "train"}), r"x must be a floating.*int64"),
    ("empty", BN, (np.zeros((0, 3)), G3, B3, {"mode": "train"}), r"x must hold at least one"),
    ("spatial-x-2d", SBN, (X2, G3, B3, {"mode": "train"}), r"x must be a 4-D .*got ndim=2"),
    ("spatial-gamma", SBN, (X4, np.ones(2), B3, {"mode": "train"}), r"gamma .*\(3,\), got \(2,\)"),
    ("spatial-mode", SBN, (X4, G3, B3, {"mode": "eval"}), r'Invalid forward batchnorm mode "eval"'),
]


@pytest.mark.parametrize(("fn", "args", "match"), [pytest.param(*c[1:], id=c[0]) for c in BAD])
def test_batchnorm_rejects_bad_inputs(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(*args)
