"""Fast convolution equals the naive one on every path; torch parity, dtype, no mutation."""

import numpy as np
import pytest
import torch
from _conv_testlib import BAD_CONV
from _layers_testlib import assert_same, on, snapshot, tn, tt

import numnet.fast_layers as fl
from numnet.gradient_check import rel_error
from numnet.kernels import _im2col
from numnet.kernels import conv as kconv
from numnet.ops.conv import conv_backward_naive, conv_forward_naive

# (x_shape, w_shape, stride, pad). Strides 1-3 (one phase plane, or stride**2 of them; windows
# that overlap, touch or leave gaps), filters 1x1 / 2x2 / 3x3 / 5x5 / 7x7 / 3x5 / 5x1, pad 0 up to
# pad > filter - 1, non-square inputs, F much larger than C (dx by col2im) and F close to C (dx as
# a full convolution).
CASES = [
    ((2, 3, 6, 6), (4, 3, 3, 3), 1, 1),
    ((2, 2, 7, 5), (3, 2, 3, 3), 1, 0),
    ((3, 4, 7, 8), (4, 4, 5, 5), 1, 2),
    ((2, 3, 6, 7), (2, 3, 3, 5), 1, 1),
    ((2, 3, 8, 6), (2, 3, 5, 1), 1, 2),
    ((2, 3, 5, 5), (4, 3, 1, 1), 1, 0),
    ((2, 3, 4, 5), (4, 3, 1, 1), 1, 1),
    ((2, 1, 5, 5), (8, 1, 3, 3), 1, 1),
    ((2, 2, 4, 4), (3, 2, 3, 3), 1, 3),
    ((2, 3, 9, 9), (4, 3, 7, 7), 1, 3),
    ((2, 3, 7, 7), (4, 3, 3, 3), 2, 1),
    ((2, 2, 9, 7), (3, 2, 3, 5), 2, 2),
    ((2, 3, 7, 10), (2, 3, 1, 1), 3, 0),
    ((1, 2, 8, 8), (3, 2, 2, 2), 2, 0),
    ((2, 2, 8, 8), (3, 2, 2, 2), 3, 0),
    ((2, 3, 9, 11), (2, 3, 3, 3), 2, 2),
]
IDS = [f"x{c[0][1:]}-w{c[1][2:]}-s{c[2]}-p{c[3]}" for c in CASES]
# Each case with each dx strategy that applies to it: the forced strategies are stride-1 choices.
STRATEGY_CASES = [
    pytest.param(*case, strategy, id=f"{case_id}-{strategy}")
    for case, case_id in zip(CASES, IDS)
    for strategy in (("auto", "full", "scatter") if case[2] == 1 else ("auto",))
]


def _case(rng, x_shape, w_shape, dtype=np.float64):
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    return x, w, b


@pytest.fixture(params=["one_chunk", "chunk_per_image"])
def chunking(request, monkeypatch):
    """Run each case with the whole batch in one chunk, and with one image per chunk."""
    if request.param == "chunk_per_image":
        monkeypatch.setattr(_im2col, "CHUNK_BYTES", 1)
    return request.param


@pytest.fixture(params=["dense", "wrapped"])
def layout(request, monkeypatch):
    """Run each case with dense columns and with wrapped ones (see numnet.kernels._im2col)."""
    monkeypatch.setattr(kconv, "DENSE_MAX_CHANNELS", 1 << 30 if request.param == "dense" else 0)
    return request.param


@pytest.fixture
def dx_strategy(request, monkeypatch):
    """Force each stride-1 dx strategy (full convolution, col2im scatter) where it applies."""
    original = kconv._use_full_conv
    if request.param == "full":
        monkeypatch.setattr(
            kconv, "_use_full_conv", lambda C, F, HH, WW, pad: original(C, 0, HH, WW, pad)
        )
    elif request.param == "scatter":
        monkeypatch.setattr(kconv, "_use_full_conv", lambda *a: False)
    return request.param


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "stride", "pad", "dx_strategy"), STRATEGY_CASES, indirect=["dx_strategy"]
)
def test_conv_fast_equals_naive(
    xp, rng, chunking, layout, dx_strategy, x_shape, w_shape, stride, pad
):
    x, w, b = _case(rng, x_shape, w_shape)
    cp = {"stride": stride, "pad": pad}
    want, naive_cache = conv_forward_naive(x, w, b, cp)
    out, cache = fl.conv_forward_fast(*on(xp, [x, w, b]), cp)
    assert out.shape == want.shape
    assert rel_error(out, want) < 1e-9
    dout = rng.standard_normal(want.shape)
    want_grads = conv_backward_naive(dout, naive_cache)
    grads = fl.conv_backward_fast(xp.asarray(dout), cache)
    for name, got, ref in zip(("dx", "dw", "db"), grads, want_grads):
        assert got.shape == ref.shape, name
        assert rel_error(got, ref) < 1e-9, name


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad"), CASES[::2], ids=IDS[::2])
def test_conv_fast_matches_torch(xp, rng, x_shape, w_shape, stride, pad):
    x, w, b = _case(rng, x_shape, w_shape)
    out, cache = fl.conv_forward_fast(*on(xp, [x, w, b]), {"stride": stride, "pad": pad})
    dout = rng.standard_normal(out.shape)
    tx, tw, tb = tt(x), tt(w), tt(b)
    tout = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=pad)
    tout.backward(torch.from_numpy(dout))
    assert rel_error(out, tn(tout)) < 1e-10
    dx, dw, db = fl.conv_backward_fast(xp.asarray(dout), cache)
    for name, got, want in (("dx", dx, tx.grad), ("dw", dw, tw.grad), ("db", db, tb.grad)):
        assert rel_error(got, tn(want)) < 1e-10, name


@pytest.mark.parametrize("dout_dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad"), CASES[::3], ids=IDS[::3])
def test_conv_fast_float32_stays_float32(xp, rng, x_shape, w_shape, stride, pad, dout_dtype):
    x, w, b = _case(rng, x_shape, w_shape, np.float32)
    cp = {"stride": stride, "pad": pad}
    out, cache = fl.conv_forward_fast(*on(xp, [x, w, b]), cp)
    assert out.dtype == np.float32
    assert cache.x.dtype == np.float32
    dout = xp.asarray(rng.standard_normal(out.shape).astype(dout_dtype))
    grads = fl.conv_backward_fast(dout, cache)
    assert [g.dtype for g in grads] == [np.float32] * 3
    # And float32 results are the float64 ones to float32 accuracy.
    want, _ = conv_forward_naive(*(a.astype(np.float64) for a in (x, w, b)), cp)
    assert rel_error(out, want) < 1e-4


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_fast_without_dx(xp, rng, stride):
    x, w, b = _case(rng, (3, 3, 7, 7), (4, 3, 3, 3))
    out, cache = fl.conv_forward_fast(*on(xp, [x, w, b]), {"stride": stride, "pad": 1})
    dout = xp.asarray(rng.standard_normal(out.shape))
    _, dw, db = fl.conv_backward_fast(dout, cache)
    dx0, dw0, db0 = fl.conv_backward_fast(dout, cache, need_dx=False)
    assert dx0 is None
    assert rel_error(dw0, dw) == 0.0 and rel_error(db0, db) == 0.0


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad"), CASES[:10:3], ids=IDS[:10:3])
def test_conv_fast_does_not_mutate(xp, rng, x_shape, w_shape, stride, pad):
    args = on(xp, list(_case(rng, x_shape, w_shape)))
    cp = {"stride": stride, "pad": pad}
    before = snapshot([*args, cp])
    out, cache = fl.conv_forward_fast(*args, cp)
    assert_same(before, [*args, cp], "inputs")
    dout = xp.asarray(rng.standard_normal(out.shape))
    dout_before, cache_before = snapshot(dout), snapshot(tuple(cache))
    fl.conv_backward_fast(dout, cache)
    assert_same(dout_before, dout, "dout")
    assert_same(cache_before, tuple(cache), "cache")
    assert_same(before, [*args, cp], "inputs")


def test_conv_fast_accepts_non_contiguous_input(rng):
    x, w, b = _case(rng, (2, 3, 6, 5), (2, 3, 3, 3))
    xt = np.asfortranarray(x)
    cp = {"stride": 1, "pad": 1}
    out, cache = fl.conv_forward_fast(xt, w, b, cp)
    want, naive_cache = conv_forward_naive(x, w, b, cp)
    assert rel_error(out, want) < 1e-9
    dout = np.asfortranarray(rng.standard_normal(out.shape))
    for got, ref in zip(fl.conv_backward_fast(dout, cache), conv_backward_naive(dout, naive_cache)):
        assert rel_error(got, ref) < 1e-9


@pytest.mark.parametrize(("args", "match"), [c[1:] for c in BAD_CONV], ids=[c[0] for c in BAD_CONV])
def test_conv_fast_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        fl.conv_forward_fast(**args)


def test_conv_backward_fast_rejects_bad_dout_and_cache():
    args = [np.zeros((2, 3, 5, 5)), np.zeros((4, 3, 3, 3)), np.zeros(4), {"stride": 1, "pad": 1}]
    _, cache = fl.conv_forward_fast(*args)
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 4, 5, 5\), got \(2, 4, 5\)"):
        fl.conv_backward_fast(np.zeros((2, 4, 5)), cache)
    _, naive_cache = conv_forward_naive(*args)
    with pytest.raises(ValueError, match=r"cache must be the cache returned by conv_forward_fast"):
        fl.conv_backward_fast(np.zeros((2, 4, 5, 5)), naive_cache)


def test_course_aliases():
    assert fl.conv_forward_strides is fl.conv_forward_im2col is fl.conv_forward_fast
    assert fl.conv_backward_strides is fl.conv_backward_im2col is fl.conv_backward_fast
