"""Channels-last fused conv -> batch norm -> [max pool] -> ReLU equals the course's layers.

numnet.kernels.conv_bn_relu_nhwc (ConvNet's block). Also: numeric gradients, torch parity,
chunking, running statistics, inference without a cache, dtypes, no mutation.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from _conv_testlib import bn_param, conv_bn_case, pool_param, unfused_conv_bn_relu_pool
from _layers_testlib import assert_same, numeric_grads, on, snapshot, tn, tt

from numnet.backend import to_numpy
from numnet.kernels import conv_bn_relu_nhwc as kb
from numnet.kernels import conv_nhwc as kn
from numnet.ops.batchnorm import bn_settings

# (x_shape NCHW, w_shape, pad, pool (b, b, b) or None): the recipe block with and without its
# 2x2 pool at C <= 4 (dense columns) and C > 4 (position rows), F <= 4 (dense columns for dx), a
# 3x3 pool, a 1x1 conv, a 5x5 conv that shrinks the image, rectangular images.
CASES = [
    ((3, 1, 8, 8), (4, 1, 3, 3), 1, (2, 2, 2)),
    ((3, 3, 6, 6), (5, 3, 3, 3), 1, None),
    ((2, 6, 8, 8), (5, 6, 3, 3), 1, (2, 2, 2)),
    ((2, 6, 7, 7), (6, 6, 3, 3), 1, None),
    ((2, 5, 6, 10), (3, 5, 3, 3), 1, (2, 2, 2)),
    ((2, 6, 9, 9), (4, 6, 3, 3), 1, (3, 3, 3)),
    ((2, 6, 8, 6), (6, 6, 1, 1), 0, (2, 2, 2)),
    ((2, 6, 10, 10), (5, 6, 5, 5), 1, (2, 2, 2)),
]
IDS = [f"x{c[0][1:]}-w{c[1][:1] + c[1][2:]}-p{c[2]}-pool{c[3]}" for c in CASES]
GRADS = ("dx", "dw", "db", "dgamma", "dbeta")


def _block(x, w, b, gamma, beta, pad, bp, pool, keep_cache=True):
    """The block on NCHW arguments, as ConvNet calls it; returns (out NCHW, cache).

    ``bp``'s running statistics are replaced as spatial_batchnorm_forward replaces them.
    """
    import numnet.backend as backend

    xp = backend.get_array_module(x)
    settings = bn_settings(xp, bp, w.shape[0], xp.result_type(x, w, b))
    out, cache, bp["running_mean"], bp["running_var"] = kb.block_forward(
        x.transpose(0, 2, 3, 1), w, b, gamma, beta, pad, settings, pool, keep_cache
    )
    return out.transpose(0, 3, 1, 2), cache


def _block_backward(dout_nchw, cache, need_dx=True):
    grads = kb.block_backward(dout_nchw.transpose(0, 2, 3, 1), cache, need_dx)
    dx = None if grads[0] is None else grads[0].transpose(0, 3, 1, 2)
    return (dx, *grads[1:])


def _assert_close(got, want, rtol, name):
    """Closeness with an absolute floor: in train mode db is zero up to roundoff."""
    got, want = to_numpy(got), to_numpy(want)
    floor = rtol * max(1.0, float(np.abs(want).max(initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=floor, err_msg=name)


@pytest.fixture(params=["one_chunk", "chunk_per_image"])
def chunking(request, monkeypatch):
    """Run with whole-batch chunks, and with one image per chunk in every chunked loop."""
    big = request.param == "one_chunk"
    monkeypatch.setattr(kn, "CHUNK_BYTES", 1 << 30 if big else 1)
    monkeypatch.setattr(kb, "_CHUNK_BYTES", 1 << 30 if big else 1)
    return request.param


@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize("ties", [False, True], ids=["normal", "ties"])
@pytest.mark.parametrize(("x_shape", "w_shape", "pad", "pool"), CASES, ids=IDS)
def test_block_equals_unfused_layers(xp, rng, chunking, x_shape, w_shape, pad, pool, ties, mode):
    x, w, b, gamma, beta = conv_bn_case(rng, x_shape, w_shape, ties)
    bp = bn_param(rng, w_shape[0], mode)
    bp_block, bp_ref = on(xp, dict(bp)), on(xp, dict(bp))
    args = on(xp, [x, w, b, gamma, beta])
    out, cache = _block(*args, pad, bp_block, pool)
    want, backward = unfused_conv_bn_relu_pool(
        *args, {"stride": 1, "pad": pad}, bp_ref, None if pool is None else pool_param(*pool)
    )
    # The conv's GEMMs and the sums run in another order than the NCHW kernels': float rounding.
    _assert_close(out, want, 1e-12, "out")
    for key in ("running_mean", "running_var"):
        _assert_close(bp_block[key], bp_ref[key], 1e-12, key)
    dout = xp.asarray(rng.standard_normal(out.shape))
    for name, got, ref in zip(GRADS, _block_backward(dout, cache), backward(dout)):
        assert got.shape == ref.shape, name
        _assert_close(got, ref, 1e-9, name)


@pytest.mark.parametrize("layout", ["auto", "rows"])
@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize(("x_shape", "w_shape", "pad", "pool"), CASES[:4], ids=IDS[:4])
def test_block_backward_numeric(xp, rng, monkeypatch, layout, x_shape, w_shape, pad, pool, mode):
    if layout == "rows":
        monkeypatch.setattr(kn, "DENSE_MAX_CHANNELS", 0)
    x, w, b, gamma, beta = conv_bn_case(rng, x_shape, w_shape, ties=False)
    bp = bn_param(rng, w_shape[0], mode)
    args = [x, w, b, gamma, beta]

    def forward(*a):
        return _block(*a, pad, dict(bp), pool)

    out, _ = forward(*args)
    dout = rng.standard_normal(out.shape)
    num = numeric_grads(forward, args, range(5), dout)
    _, cache = _block(*on(xp, args), pad, on(xp, dict(bp)), pool)
    for name, got, want in zip(GRADS, _block_backward(xp.asarray(dout), cache), num):
        assert got.shape == want.shape, name
        _assert_close(got, want, 1e-6, name)


@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize(("x_shape", "w_shape", "pad", "pool"), CASES, ids=IDS)
def test_block_matches_torch(xp, rng, x_shape, w_shape, pad, pool, mode):
    x, w, b, gamma, beta = conv_bn_case(rng, x_shape, w_shape, ties=False)
    bp = bn_param(rng, w_shape[0], mode)
    bp_given = on(xp, dict(bp))
    out, cache = _block(*on(xp, [x, w, b, gamma, beta]), pad, bp_given, pool)
    dout = rng.standard_normal(out.shape)
    tx, tw, tb, tg, tbeta = (tt(a) for a in (x, w, b, gamma, beta))
    rm, rv = torch.tensor(bp["running_mean"]), torch.tensor(bp["running_var"])
    t = TF.conv2d(tx, tw, tb, padding=pad)
    t = TF.batch_norm(t, rm, rv, tg, tbeta, training=mode == "train", momentum=0.1, eps=1e-5)
    if pool is not None:
        t = TF.max_pool2d(t, pool[:2], stride=pool[2])
    t = torch.relu(t)
    t.backward(torch.from_numpy(dout))
    _assert_close(out, tn(t), 1e-10, "out")
    grads = _block_backward(xp.asarray(dout), cache)
    for name, got, want in zip(GRADS, grads, (tx, tw, tb, tg, tbeta)):
        _assert_close(got, tn(want.grad), 1e-9, name)
    np.testing.assert_allclose(to_numpy(bp_given["running_mean"]), rm.numpy(), rtol=1e-12)


@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize("pool", [None, (2, 2, 2)])
def test_inference_without_cache_gives_the_same_output(xp, rng, pool, mode):
    args = on(xp, list(conv_bn_case(rng, (3, 6, 8, 8), (4, 6, 3, 3), ties=False)))
    bp = bn_param(rng, 4, mode)
    bp1, bp2 = on(xp, dict(bp)), on(xp, dict(bp))
    out, cache = _block(*args, 1, bp1, pool)
    out_nc, no_cache = _block(*args, 1, bp2, pool, keep_cache=False)
    assert no_cache is None and cache is not None
    assert bool((out == out_nc).all())
    for key in ("running_mean", "running_var"):
        assert bool((bp1[key] == bp2[key]).all())


@pytest.mark.parametrize("pool", [None, (2, 2, 2)])
def test_block_float32_stays_float32(xp, rng, pool):
    args = conv_bn_case(rng, (3, 6, 8, 8), (4, 6, 3, 3), ties=False, dtype=np.float32)
    bp = {"mode": "train"}
    out, cache = _block(*on(xp, list(args)), 1, bp, pool)
    assert out.dtype == np.float32
    assert bp["running_mean"].dtype == np.float32 and bp["running_var"].dtype == np.float32
    grads = _block_backward(xp.ones(out.shape, dtype=np.float32), cache)
    assert [g.dtype for g in grads] == [np.float32] * 5
    # And float32 results are the float64 ones to float32 accuracy.
    want, _ = _block(*(a.astype(np.float64) for a in args), 1, {"mode": "train"}, pool)
    _assert_close(out, want, 1e-5, "out")


@pytest.mark.parametrize("pool", [None, (2, 2, 2)])
def test_block_without_dx(xp, rng, pool):
    args = on(xp, list(conv_bn_case(rng, (2, 3, 8, 8), (4, 3, 3, 3), ties=False)))
    out, cache = _block(*args, 1, {"mode": "train"}, pool)
    dout = xp.asarray(rng.standard_normal(out.shape))
    full = _block_backward(dout, cache)
    partial = _block_backward(dout, cache, need_dx=False)
    assert partial[0] is None
    for got, want in zip(partial[1:], full[1:]):
        assert bool((got == want).all())


@pytest.mark.parametrize("pool", [None, (2, 2, 2)])
def test_block_does_not_mutate(xp, rng, pool):
    args = on(xp, list(conv_bn_case(rng, (2, 6, 8, 8), (4, 6, 3, 3), ties=True)))
    bp = on(xp, bn_param(rng, 4, "train"))
    given = dict(bp)
    before = snapshot([*args, given])
    out, cache = _block(*args, 1, bp, pool)
    # Only bn_param's running statistics are rebound; the arrays given are intact.
    assert_same(before, [*args, given], "inputs")
    dout = xp.asarray(rng.standard_normal(out.shape))
    arrays = [v for v in cache if hasattr(v, "dtype") and hasattr(v, "shape")]
    dout_before, cache_before = snapshot(dout), snapshot(arrays)
    _block_backward(dout, cache)
    assert_same(dout_before, dout, "dout")
    assert_same(cache_before, arrays, "cache")
    assert_same(before, [*args, given], "inputs")


@pytest.mark.parametrize("pool", [(3, 2, 1), (2, 2, 1), (3, 3, 3)])
def test_block_rejects_pools_that_do_not_tile(rng, pool):
    args = conv_bn_case(rng, (2, 6, 8, 8), (4, 6, 3, 3), ties=False)
    with pytest.raises(ValueError, match=r"pools b x b windows with stride b that tile"):
        _block(*args, 1, {"mode": "train"}, pool)
