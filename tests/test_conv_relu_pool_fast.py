"""Fused conv -> ReLU -> max pool equals the naive layers composed; torch parity, dtype, errors."""

import numpy as np
import pytest
import torch
from _conv_testlib import pool_param
from _layers_testlib import assert_same, on, snapshot, tn, tt

import numnet.fast_layers as fl
from numnet.gradient_check import rel_error
from numnet.kernels import _im2col
from numnet.kernels import conv as kconv
from numnet.ops.conv import conv_backward_naive, conv_forward_naive
from numnet.ops.pool import max_pool_backward_naive, max_pool_forward_naive

# (x_shape, w_shape, conv stride, pad, (pool_height, pool_width, pool stride)): the
# ThreeLayerConvNet block, overlapping / non-tiling / gapped pools, strided and 1x1 convs.
CASES = [
    ((3, 3, 8, 8), (4, 3, 3, 3), 1, 1, (2, 2, 2)),
    ((2, 3, 8, 8), (4, 3, 7, 7), 1, 3, (2, 2, 2)),
    ((2, 2, 9, 7), (3, 2, 3, 3), 1, 1, (3, 2, 1)),
    ((2, 2, 9, 9), (3, 2, 3, 3), 2, 1, (2, 2, 2)),
    ((2, 2, 7, 7), (3, 2, 3, 3), 1, 1, (2, 2, 2)),
    ((2, 2, 10, 10), (3, 2, 3, 3), 1, 1, (3, 3, 2)),
    ((2, 3, 8, 9), (2, 3, 1, 1), 1, 0, (2, 3, 3)),
    ((2, 2, 9, 9), (3, 2, 3, 5), 1, 2, (2, 2, 4)),
]
IDS = [f"x{c[0][2:]}-w{c[1][2:]}-s{c[2]}-p{c[3]}-pool{c[4]}" for c in CASES]


def _case(rng, x_shape, w_shape, ties, dtype=np.float64):
    if ties:
        # Small integers: many conv outputs tie, and many windows are all <= 0.
        x = rng.integers(-2, 3, x_shape).astype(dtype)
        w = rng.integers(-1, 2, w_shape).astype(dtype)
        b = np.zeros(w_shape[0], dtype=dtype)
    else:
        x = rng.standard_normal(x_shape).astype(dtype)
        w = rng.standard_normal(w_shape).astype(dtype)
        b = rng.standard_normal(w_shape[0]).astype(dtype)
    return x, w, b


def _naive(x, w, b, cp, pp, dout):
    a, conv_cache = conv_forward_naive(x, w, b, cp)
    s = np.maximum(a, 0)
    out, pool_cache = max_pool_forward_naive(s, pp)
    ds = max_pool_backward_naive(dout, pool_cache)
    return out, conv_backward_naive(ds * (a > 0), conv_cache)


@pytest.mark.parametrize("layout", ["dense", "wrapped"])
@pytest.mark.parametrize("chunk", ["one_chunk", "chunk_per_image"])
@pytest.mark.parametrize("ties", [False, True], ids=["normal", "ties"])
@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad", "pool"), CASES, ids=IDS)
def test_fused_equals_naive_layers(
    xp, rng, monkeypatch, x_shape, w_shape, stride, pad, pool, ties, chunk, layout
):
    if chunk == "chunk_per_image":
        monkeypatch.setattr(_im2col, "CHUNK_BYTES", 1)
    monkeypatch.setattr(kconv, "DENSE_MAX_CHANNELS", 1 << 30 if layout == "dense" else 0)
    x, w, b = _case(rng, x_shape, w_shape, ties)
    cp, pp = {"stride": stride, "pad": pad}, pool_param(*pool)
    out, cache = fl.conv_relu_pool_forward_fast(*on(xp, [x, w, b]), cp, pp)
    dout = rng.standard_normal(out.shape)
    want, want_grads = _naive(x, w, b, cp, pp, dout)
    assert out.shape == want.shape
    assert rel_error(out, want) < 1e-9
    grads = fl.conv_relu_pool_backward_fast(xp.asarray(dout), cache)
    for name, got, ref in zip(("dx", "dw", "db"), grads, want_grads):
        assert got.shape == ref.shape, name
        assert rel_error(got, ref) < 1e-9, name


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad", "pool"), CASES[::2], ids=IDS[::2])
def test_fused_matches_torch(xp, rng, x_shape, w_shape, stride, pad, pool):
    x, w, b = _case(rng, x_shape, w_shape, ties=True)
    ph, pw, ps = pool
    out, cache = fl.conv_relu_pool_forward_fast(
        *on(xp, [x, w, b]), {"stride": stride, "pad": pad}, pool_param(ph, pw, ps)
    )
    dout = rng.standard_normal(out.shape)
    tx, tw, tb = tt(x), tt(w), tt(b)
    ta = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=pad)
    tout = torch.nn.functional.max_pool2d(torch.relu(ta), (ph, pw), stride=ps)
    tout.backward(torch.from_numpy(dout))
    assert rel_error(out, tn(tout)) < 1e-12
    dx, dw, db = fl.conv_relu_pool_backward_fast(xp.asarray(dout), cache)
    for name, got, want in (("dx", dx, tx.grad), ("dw", dw, tw.grad), ("db", db, tb.grad)):
        assert rel_error(got, tn(want)) < 1e-12, name


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad", "pool"), CASES[:3], ids=IDS[:3])
def test_fused_float32_stays_float32(xp, rng, x_shape, w_shape, stride, pad, pool):
    x, w, b = _case(rng, x_shape, w_shape, ties=False, dtype=np.float32)
    cp, pp = {"stride": stride, "pad": pad}, pool_param(*pool)
    out, cache = fl.conv_relu_pool_forward_fast(*on(xp, [x, w, b]), cp, pp)
    assert out.dtype == np.float32
    grads = fl.conv_relu_pool_backward_fast(xp.asarray(np.ones(out.shape, np.float32)), cache)
    assert [g.dtype for g in grads] == [np.float32] * 3
    _, _, db0 = fl.conv_relu_pool_backward_fast(xp.asarray(np.ones(out.shape)), cache, False)
    assert db0.dtype == np.float32


def test_fused_without_dx(xp, rng):
    x, w, b = _case(rng, (2, 3, 8, 8), (4, 3, 3, 3), ties=False)
    cp, pp = {"stride": 1, "pad": 1}, pool_param(2, 2, 2)
    out, cache = fl.conv_relu_pool_forward_fast(*on(xp, [x, w, b]), cp, pp)
    dout = xp.asarray(rng.standard_normal(out.shape))
    _, dw, db = fl.conv_relu_pool_backward_fast(dout, cache)
    dx0, dw0, db0 = fl.conv_relu_pool_backward_fast(dout, cache, need_dx=False)
    assert dx0 is None
    assert rel_error(dw0, dw) == 0.0 and rel_error(db0, db) == 0.0


def test_fused_does_not_mutate(xp, rng):
    args = on(xp, list(_case(rng, (2, 3, 8, 8), (4, 3, 3, 3), ties=True)))
    cp, pp = {"stride": 1, "pad": 1}, pool_param(2, 2, 2)
    before = snapshot([*args, cp, pp])
    out, cache = fl.conv_relu_pool_forward_fast(*args, cp, pp)
    dout = xp.asarray(rng.standard_normal(out.shape))
    dout_before = snapshot(dout)
    cache_before = snapshot([tuple(cache.conv), *tuple(cache)[1:]])
    fl.conv_relu_pool_backward_fast(dout, cache)
    assert_same(dout_before, dout, "dout")
    assert_same(cache_before, [tuple(cache.conv), *tuple(cache)[1:]], "cache")
    assert_same(before, [*args, cp, pp], "inputs")


def test_fused_rejects_bad_input():
    x, w, b = np.zeros((2, 3, 4, 4)), np.zeros((4, 3, 3, 3)), np.zeros(4)
    with pytest.raises(ValueError, match=r"w has 3 .* x has 2"):
        fl.conv_relu_pool_forward_fast(x[:, :2], w, b, {"stride": 1, "pad": 1}, pool_param(2, 2, 2))
    with pytest.raises(
        ValueError, match=r"pool_height \(3\) is larger than the input height \(2\)"
    ):
        fl.conv_relu_pool_forward_fast(x, w, b, {"stride": 1, "pad": 0}, pool_param(3, 1, 1))
    out, cache = fl.conv_relu_pool_forward_fast(
        x, w, b, {"stride": 1, "pad": 1}, pool_param(2, 2, 2)
    )
    with pytest.raises(
        ValueError, match=r"dout must have shape \(2, 4, 2, 2\), got \(2, 4, 4, 4\)"
    ):
        fl.conv_relu_pool_backward_fast(np.zeros((2, 4, 4, 4)), cache)
    _, conv_cache = fl.conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    with pytest.raises(ValueError, match=r"cache returned by conv_relu_pool_forward_fast"):
        fl.conv_relu_pool_backward_fast(np.zeros(out.shape), conv_cache)
