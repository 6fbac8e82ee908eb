"""Fused conv -> batch norm -> [max pool] -> ReLU equals the layers composed.

Also: numeric gradients, torch parity, dtype, no mutation, errors.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from _conv_testlib import bn_param, conv_bn_case, pool_param, unfused_conv_bn_relu_pool
from _layers_testlib import assert_same, numeric_grads, on, snapshot, tn, tt

import numnet.fast_layers as fl
from numnet.backend import to_numpy
from numnet.gradient_check import rel_error
from numnet.kernels import _im2col
from numnet.kernels import conv as kconv
from numnet.kernels import conv_bn_relu as kfused

# (x_shape, w_shape, conv stride, pad, pool (pool_height, pool_width, pool stride) or None): the
# ConvNet block with and without its 2x2 pool, overlapping / non-tiling / gapped pools, a strided
# and a 1x1 conv, C > 4 (wrapped columns by default) and C <= 4 (dense).
CASES = [
    ((3, 3, 8, 8), (4, 3, 3, 3), 1, 1, (2, 2, 2)),
    ((3, 3, 6, 6), (4, 3, 3, 3), 1, 1, None),
    ((2, 6, 8, 8), (5, 6, 3, 3), 1, 1, (2, 2, 2)),
    ((2, 6, 7, 7), (6, 6, 3, 3), 1, 1, None),
    ((2, 2, 9, 7), (3, 2, 3, 3), 1, 1, (3, 2, 1)),
    ((2, 2, 10, 10), (3, 2, 3, 3), 1, 1, (3, 3, 2)),
    ((2, 2, 9, 9), (3, 2, 3, 3), 2, 1, (2, 2, 2)),
    ((2, 3, 8, 9), (2, 3, 1, 1), 1, 0, (2, 3, 3)),
]
IDS = [f"x{c[0][1:]}-w{c[1][2:]}-s{c[2]}-p{c[3]}-pool{c[4]}" for c in CASES]


def _assert_close(got, want, rtol, name):
    """rel_error-style closeness, with an absolute floor.

    In train mode db is zero up to roundoff (the batch norm removes the conv bias), where a
    relative error means nothing.
    """
    got, want = to_numpy(got), to_numpy(want)
    floor = rtol * max(1.0, float(np.abs(want).max(initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=floor, err_msg=name)


@pytest.fixture(params=["one_chunk", "chunk_per_image"])
def chunking(request, monkeypatch):
    """Run with whole-batch chunks, and with one image per chunk in every chunked loop."""
    if request.param == "chunk_per_image":
        monkeypatch.setattr(_im2col, "CHUNK_BYTES", 1)
        monkeypatch.setattr(kfused, "_CHUNK_BYTES", 1)
    return request.param


@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize("ties", [False, True], ids=["normal", "ties"])
@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad", "pool"), CASES, ids=IDS)
def test_fused_equals_unfused_layers(
    xp, rng, chunking, x_shape, w_shape, stride, pad, pool, ties, mode
):
    x, w, b, gamma, beta = conv_bn_case(rng, x_shape, w_shape, ties)
    cp = {"stride": stride, "pad": pad}
    pp = None if pool is None else pool_param(*pool)
    bp = bn_param(rng, w_shape[0], mode)
    bp_fused, bp_ref = on(xp, dict(bp)), on(xp, dict(bp))
    args = on(xp, [x, w, b, gamma, beta])
    out, cache = fl.conv_bn_relu_pool_forward_fast(*args, cp, bp_fused, pp)
    want, backward = unfused_conv_bn_relu_pool(*args, cp, bp_ref, pp)
    # The same operations in the same order: the forward and the running statistics are equal.
    np.testing.assert_array_equal(to_numpy(out), to_numpy(want))
    for key in ("running_mean", "running_var"):
        np.testing.assert_array_equal(to_numpy(bp_fused[key]), to_numpy(bp_ref[key]))
    dout = xp.asarray(rng.standard_normal(out.shape))
    grads = fl.conv_bn_relu_pool_backward_fast(dout, cache)
    for name, got, ref in zip(("dx", "dw", "db", "dgamma", "dbeta"), grads, backward(dout)):
        assert got.shape == ref.shape, name
        _assert_close(got, ref, 1e-9, name)


@pytest.mark.parametrize("layout", ["dense", "wrapped"])
@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad", "pool"), CASES[:4], ids=IDS[:4])
def test_fused_backward_numeric(
    xp, rng, monkeypatch, layout, x_shape, w_shape, stride, pad, pool, mode
):
    monkeypatch.setattr(kconv, "DENSE_MAX_CHANNELS", 1 << 30 if layout == "dense" else 0)
    x, w, b, gamma, beta = conv_bn_case(rng, x_shape, w_shape, ties=False)
    cp = {"stride": stride, "pad": pad}
    pp = None if pool is None else pool_param(*pool)
    bp = bn_param(rng, w_shape[0], mode)
    args = [x, w, b, gamma, beta]

    def forward(*a):
        return fl.conv_bn_relu_pool_forward_fast(*a, cp, dict(bp), pp)

    out, _ = forward(*args)
    dout = rng.standard_normal(out.shape)
    num = numeric_grads(forward, args, range(5), dout)
    _, cache = fl.conv_bn_relu_pool_forward_fast(*on(xp, args), cp, on(xp, dict(bp)), pp)
    grads = fl.conv_bn_relu_pool_backward_fast(xp.asarray(dout), cache)
    for name, got, want in zip(("dx", "dw", "db", "dgamma", "dbeta"), grads, num):
        assert got.shape == want.shape, name
        _assert_close(got, want, 1e-6, name)


@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad", "pool"), CASES, ids=IDS)
def test_fused_matches_torch(xp, rng, x_shape, w_shape, stride, pad, pool, mode):
    x, w, b, gamma, beta = conv_bn_case(rng, x_shape, w_shape, ties=False)
    F = w_shape[0]
    bp = bn_param(rng, F, mode)
    pp = None if pool is None else pool_param(*pool)
    bp_given = on(xp, dict(bp))
    out, cache = fl.conv_bn_relu_pool_forward_fast(
        *on(xp, [x, w, b, gamma, beta]), {"stride": stride, "pad": pad}, bp_given, pp
    )
    dout = rng.standard_normal(out.shape)
    tx, tw, tb, tg, tbeta = (tt(a) for a in (x, w, b, gamma, beta))
    rm, rv = torch.tensor(bp["running_mean"]), torch.tensor(bp["running_var"])
    t = TF.conv2d(tx, tw, tb, stride=stride, padding=pad)
    t = TF.batch_norm(t, rm, rv, tg, tbeta, training=mode == "train", momentum=0.1, eps=1e-5)
    if pool is not None:
        t = TF.max_pool2d(t, pool[:2], stride=pool[2])
    t = torch.relu(t)
    t.backward(torch.from_numpy(dout))
    assert rel_error(out, tn(t)) < 1e-10
    grads = fl.conv_bn_relu_pool_backward_fast(xp.asarray(dout), cache)
    for name, got, want in zip(
        ("dx", "dw", "db", "dgamma", "dbeta"), grads, (tx, tw, tb, tg, tbeta)
    ):
        _assert_close(got, tn(want.grad), 1e-9, name)
    np.testing.assert_allclose(to_numpy(bp_given["running_mean"]), rm.numpy(), rtol=1e-12)


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad", "pool"), CASES[:4], ids=IDS[:4])
def test_fused_float32_stays_float32(xp, rng, x_shape, w_shape, stride, pad, pool):
    args = conv_bn_case(rng, x_shape, w_shape, ties=False, dtype=np.float32)
    pp = None if pool is None else pool_param(*pool)
    bp = {"mode": "train"}
    out, cache = fl.conv_bn_relu_pool_forward_fast(
        *on(xp, list(args)), {"stride": stride, "pad": pad}, bp, pp
    )
    assert out.dtype == np.float32
    assert bp["running_mean"].dtype == np.float32 and bp["running_var"].dtype == np.float32
    grads = fl.conv_bn_relu_pool_backward_fast(xp.asarray(np.ones(out.shape)), cache)
    assert [g.dtype for g in grads] == [np.float32] * 5
    # And float32 results are the float64 ones to float32 accuracy.
    want, _ = fl.conv_bn_relu_pool_forward_fast(
        *(a.astype(np.float64) for a in args), {"stride": stride, "pad": pad}, {"mode": "train"}, pp
    )
    assert rel_error(out, want) < 1e-4


@pytest.mark.parametrize("pool", [None, (2, 2, 2)])
def test_fused_without_dx(xp, rng, pool):
    args = on(xp, list(conv_bn_case(rng, (2, 3, 8, 8), (4, 3, 3, 3), ties=False)))
    pp = None if pool is None else pool_param(*pool)
    out, cache = fl.conv_bn_relu_pool_forward_fast(
        *args, {"stride": 1, "pad": 1}, {"mode": "train"}, pp
    )
    dout = xp.asarray(rng.standard_normal(out.shape))
    full = fl.conv_bn_relu_pool_backward_fast(dout, cache)
    partial = fl.conv_bn_relu_pool_backward_fast(dout, cache, need_dx=False)
    assert partial[0] is None
    for got, want in zip(partial[1:], full[1:]):
        assert rel_error(got, want) == 0.0


@pytest.mark.parametrize("pool", [None, (2, 2, 2)])
def test_fused_does_not_mutate(xp, rng, pool):
    args = on(xp, list(conv_bn_case(rng, (2, 6, 8, 8), (4, 6, 3, 3), ties=True)))
    cp = {"stride": 1, "pad": 1}
    pp = None if pool is None else pool_param(*pool)
    bp = on(xp, bn_param(rng, 4, "train"))
    given = dict(bp)
    before = snapshot([*args, cp, given, pp])
    out, cache = fl.conv_bn_relu_pool_forward_fast(*args, cp, bp, pp)
    # Only bn_param's running statistics are rebound (documented); the arrays given are intact.
    assert_same(before, [*args, cp, given, pp], "inputs")
    dout = xp.asarray(rng.standard_normal(out.shape))
    dout_before = snapshot(dout)
    cache_before = snapshot([tuple(cache.conv), *tuple(cache)[1:]])
    fl.conv_bn_relu_pool_backward_fast(dout, cache)
    assert_same(dout_before, dout, "dout")
    assert_same(cache_before, [tuple(cache.conv), *tuple(cache)[1:]], "cache")
    assert_same(before, [*args, cp, given, pp], "inputs")


def test_fused_rejects_bad_input():
    x, w, b = np.zeros((2, 3, 4, 4)), np.zeros((4, 3, 3, 3)), np.zeros(4)
    g, be, cp = np.ones(4), np.zeros(4), {"stride": 1, "pad": 1}
    fwd = fl.conv_bn_relu_pool_forward_fast
    with pytest.raises(ValueError, match=r"w has 3 .* x has 2"):
        fwd(x[:, :2], w, b, g, be, cp, {"mode": "train"})
    with pytest.raises(ValueError, match=r"gamma must have shape \(4,\), got \(3,\)"):
        fwd(x, w, b, g[:3], be, cp, {"mode": "train"})
    with pytest.raises(ValueError, match=r'Invalid forward batchnorm mode "eval"'):
        fwd(x, w, b, g, be, cp, {"mode": "eval"})
    with pytest.raises(ValueError, match=r"bn_param\['running_var'\] must have shape \(4,\)"):
        fwd(x, w, b, g, be, cp, {"mode": "test", "running_var": np.ones(2)})
    with pytest.raises(ValueError, match=r"pool_height \(5\) is larger than the input height"):
        fwd(x, w, b, g, be, cp, {"mode": "train"}, pool_param(5, 1, 1))
    out, cache = fwd(x, w, b, g, be, cp, {"mode": "train"}, pool_param(2, 2, 2))
    with pytest.raises(
        ValueError, match=r"dout must have shape \(2, 4, 2, 2\), got \(2, 4, 4, 4\)"
    ):
        fl.conv_bn_relu_pool_backward_fast(np.zeros((2, 4, 4, 4)), cache)
    _, conv_cache = fl.conv_forward_fast(x, w, b, cp)
    with pytest.raises(ValueError, match=r"cache returned by conv_bn_relu_pool_forward_fast"):
        fl.conv_bn_relu_pool_backward_fast(np.zeros(out.shape), conv_cache)
