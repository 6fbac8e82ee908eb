"""Channels-last stride-1 convolution (numnet.kernels.conv_nhwc) equals the course's conv.

Also: numeric gradients, torch parity, chunking, both column layouts, dtypes, no mutation.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from _layers_testlib import assert_same, numeric_grads, on, snapshot, tn, tt

import numnet.fast_layers as fl
from numnet.backend import get_array_module, to_numpy
from numnet.kernels import conv_nhwc as kn

# (x_shape NCHW, w_shape, pad): the recipe blocks' 3x3 same convs at C <= 4 (dense columns) and
# C > 4 (position rows), a 1x1, a 5x5 with pad 1 (shrinks), pad 0, rectangular images and
# filters, F <= 4 (dense full-convolution columns for dx).
CASES = [
    ((3, 1, 8, 8), (4, 1, 3, 3), 1),
    ((2, 3, 7, 6), (5, 3, 3, 3), 1),
    ((2, 6, 8, 8), (7, 6, 3, 3), 1),
    ((3, 5, 6, 9), (3, 5, 3, 3), 1),
    ((2, 6, 5, 5), (4, 6, 1, 1), 0),
    ((2, 6, 9, 8), (5, 6, 5, 5), 1),
    ((2, 2, 7, 7), (6, 2, 3, 3), 0),
    ((2, 6, 8, 7), (5, 6, 3, 5), 2),
]
IDS = [f"x{c[0][1:]}-w{c[1][:1] + c[1][2:]}-p{c[2]}" for c in CASES]


def _forward(x_nhwc, w, b, pad):
    """Convolve with conv_nhwc; returns the (N, H', W', F) output."""
    xp = get_array_module(x_nhwc, w, b)
    dtype = xp.result_type(x_nhwc, w, b)
    g = kn.geometry(x_nhwc.shape, w.shape, pad)
    out = xp.empty((x_nhwc.shape[0], g.Ho, g.Wo, g.F), dtype=dtype)
    kn.forward_chunks(xp, x_nhwc, kn.weight_matrix(xp, w, b, g, dtype), g, out, dtype)
    return out


def _backward(dout_nhwc, x_nhwc, w, pad, need_dx=True):
    """``(dx, dw, db)`` of ``_forward`` for the upstream gradient dout (N, H', W', F)."""
    xp = get_array_module(x_nhwc, w)
    dtype = xp.result_type(x_nhwc, w)
    g = kn.geometry(x_nhwc.shape, w.shape, pad)

    def fill(n0, n1, target):
        target[...] = dout_nhwc[n0:n1]

    return kn.backward_core(xp, x_nhwc, w, g, need_dx, fill, dtype)


def _nhwc(a):
    return a.transpose(0, 2, 3, 1)


@pytest.fixture(params=["one_chunk", "chunk_per_image"])
def chunking(request, monkeypatch):
    """Run with whole-batch chunks, and with one image per chunk."""
    monkeypatch.setattr(kn, "CHUNK_BYTES", 1 << 30 if request.param == "one_chunk" else 1)
    return request.param


@pytest.mark.parametrize("layout", ["auto", "rows"])
@pytest.mark.parametrize(("x_shape", "w_shape", "pad"), CASES, ids=IDS)
def test_equals_course_conv(xp, rng, chunking, monkeypatch, layout, x_shape, w_shape, pad):
    if layout == "rows":
        monkeypatch.setattr(kn, "DENSE_MAX_CHANNELS", 0)
    x, w, b = (rng.standard_normal(s) for s in (x_shape, w_shape, w_shape[:1]))
    x, w, b = on(xp, [x, w, b])
    want, cache = fl.conv_forward_fast(x, w, b, {"stride": 1, "pad": pad})
    # x is given as a channels-last view of an NCHW array: any strides are accepted.
    out = _forward(_nhwc(x), w, b, pad)
    np.testing.assert_allclose(to_numpy(out), to_numpy(_nhwc(want)), rtol=1e-12, atol=1e-12)
    dout = xp.asarray(rng.standard_normal(want.shape))
    grads = _backward(xp.ascontiguousarray(_nhwc(dout)), _nhwc(x), w, pad)
    ref = fl.conv_backward_fast(dout, cache)
    np.testing.assert_allclose(
        to_numpy(grads[0]), to_numpy(_nhwc(ref[0])), rtol=1e-12, atol=1e-12, err_msg="dx"
    )
    for name, got, r in zip(("dw", "db"), grads[1:], ref[1:]):
        np.testing.assert_allclose(to_numpy(got), to_numpy(r), rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize(("x_shape", "w_shape", "pad"), CASES[:6], ids=IDS[:6])
def test_backward_numeric(xp, rng, x_shape, w_shape, pad):
    x = rng.standard_normal(x_shape).transpose(0, 2, 3, 1).copy()
    w, b = rng.standard_normal(w_shape), rng.standard_normal(w_shape[:1])

    def forward(x_, w_, b_):
        return (_forward(x_, w_, b_, pad),)

    dout = rng.standard_normal(forward(x, w, b)[0].shape)
    num = numeric_grads(forward, [x, w, b], range(3), dout)
    grads = _backward(xp.asarray(dout), *on(xp, [x, w]), pad)
    for name, got, want in zip(("dx", "dw", "db"), grads, num):
        assert got.shape == want.shape, name
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-7, atol=1e-8, err_msg=name)


@pytest.mark.parametrize(("x_shape", "w_shape", "pad"), CASES, ids=IDS)
def test_matches_torch(xp, rng, x_shape, w_shape, pad):
    x, w, b = (rng.standard_normal(s) for s in (x_shape, w_shape, w_shape[:1]))
    tx, tw, tb = tt(x), tt(w), tt(b)
    t = TF.conv2d(tx, tw, tb, padding=pad)
    dout = rng.standard_normal(tuple(t.shape))
    t.backward(torch.from_numpy(dout))
    out = _forward(*on(xp, [_nhwc(x), w, b]), pad)
    np.testing.assert_allclose(to_numpy(out), _nhwc(tn(t)), rtol=1e-10, atol=1e-10)
    dx, dw, db = _backward(xp.asarray(_nhwc(dout).copy()), *on(xp, [_nhwc(x), w]), pad)
    np.testing.assert_allclose(to_numpy(dx), _nhwc(tn(tx.grad)), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(to_numpy(dw), tn(tw.grad), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(to_numpy(db), tn(tb.grad), rtol=1e-10, atol=1e-10)


def test_float32_stays_float32_and_skips_dx(xp, rng):
    x = xp.asarray(rng.standard_normal((2, 6, 6, 8)).astype(np.float32))
    w = xp.asarray(rng.standard_normal((5, 8, 3, 3)).astype(np.float32))
    b = xp.asarray(rng.standard_normal(5).astype(np.float32))
    out = _forward(x, w, b, 1)
    assert out.dtype == np.float32
    dout = xp.ones(out.shape, dtype=np.float32)
    full = _backward(dout, x, w, 1)
    assert [g.dtype for g in full] == [np.float32] * 3
    partial = _backward(dout, x, w, 1, need_dx=False)
    assert partial[0] is None
    for got, want in zip(partial[1:], full[1:]):
        assert bool((got == want).all())


def test_does_not_mutate(xp, rng):
    x, w, b = on(xp, [rng.standard_normal(s) for s in ((2, 5, 5, 6), (4, 6, 3, 3), (4,))])
    before = snapshot([x, w, b])
    out = _forward(x, w, b, 1)
    dout = xp.asarray(rng.standard_normal(out.shape))
    dout_before = snapshot(dout)
    _backward(dout, x, w, 1)
    assert_same(before, [x, w, b], "inputs")
    assert_same(dout_before, dout, "dout")


def test_dx_needs_pad_below_filter_size(rng):
    x = rng.standard_normal((1, 4, 4, 6))
    w = rng.standard_normal((2, 6, 3, 3))
    g = kn.geometry(x.shape, w.shape, 3)
    with pytest.raises(ValueError, match="dx needs pad <= filter size - 1"):
        kn.backward_core(np, x, w, g, True, lambda n0, n1, t: None, np.float64)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "pad"), [CASES[0], CASES[2], ((2, 6, 6, 8), (3, 6, 3, 3), 1)]
)
def test_block_order_permutes_the_positions(xp, rng, x_shape, w_shape, pad):
    # block=2: each image's positions ordered (dy, dx, i2, j2) for (i, j) = (2*i2 + dy, 2*j2 + dx).
    x, w, b = on(xp, [rng.standard_normal(s) for s in (x_shape, w_shape, w_shape[:1])])
    x = _nhwc(x)
    out = _forward(x, w, b, pad)
    N, Ho, Wo, F = out.shape
    blocked = xp.empty(out.shape, dtype=out.dtype)
    g = kn.geometry(x.shape, w.shape, pad)
    kn.forward_chunks(xp, x, kn.weight_matrix(xp, w, b, g, out.dtype), g, blocked, out.dtype, 2)

    def to_block(a):
        return a.reshape(N, Ho // 2, 2, Wo // 2, 2, F).transpose(0, 2, 4, 1, 3, 5)

    np.testing.assert_allclose(
        to_numpy(blocked).reshape(N, 2, 2, Ho // 2, Wo // 2, F), to_numpy(to_block(out)),
        rtol=1e-12, atol=1e-12,
    )  # fmt: skip
    dout = xp.asarray(rng.standard_normal(out.shape))
    dout_blocked = xp.ascontiguousarray(to_block(dout)).reshape(out.shape)

    def fill(n0, n1, target):
        target[...] = dout_blocked[n0:n1]

    got = kn.backward_core(xp, x, w, g, True, fill, out.dtype, 2)
    want = _backward(dout, x, w, pad)
    for name, a, r in zip(("dx", "dw", "db"), got, want):
        np.testing.assert_allclose(to_numpy(a), to_numpy(r), rtol=1e-12, atol=1e-12, err_msg=name)
