"""Fast max pooling: equal to the naive one (ties included), torch parity, dtype, no mutation."""

import numpy as np
import pytest
import torch
from _conv_testlib import BAD_POOL, pool_param
from _layers_testlib import assert_same, snapshot, tn, tt

import numnet.fast_layers as fl
from numnet.gradient_check import rel_error
from numnet.ops.pool import max_pool_backward_naive, max_pool_forward_naive

# (x_shape, pool_height, pool_width, stride): tiling 2x2 / 3x3, overlapping (stride < size),
# non-tiling (floor semantics), gapped (stride > size), non-square windows and inputs, 1x1, a
# window as large as the input.
CASES = [
    ((2, 3, 4, 4), 2, 2, 2),
    ((2, 2, 6, 9), 3, 3, 3),
    ((2, 2, 5, 7), 3, 3, 1),
    ((2, 3, 7, 6), 3, 2, 2),
    ((2, 2, 5, 5), 2, 2, 2),
    ((2, 1, 8, 7), 2, 2, 3),
    ((1, 2, 6, 5), 4, 3, 1),
    ((2, 2, 3, 4), 1, 1, 1),
    ((2, 2, 6, 4), 2, 1, 2),
    ((1, 3, 4, 5), 4, 5, 1),
]
IDS = [f"x{c[0][2:]}-{c[1]}x{c[2]}-s{c[3]}" for c in CASES]
INPUTS = ["normal", "ties", "all_equal"]


def _input(rng, kind, shape, dtype=np.float64):
    if kind == "normal":
        x = rng.standard_normal(shape)
    elif kind == "ties":
        # Integer values in [0, 3): most windows hold several equal maxima.
        x = rng.integers(0, 3, shape).astype(float)
    else:
        x = np.full(shape, 0.5)
    return x.astype(dtype)


@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize(("x_shape", "ph", "pw", "stride"), CASES, ids=IDS)
def test_max_pool_fast_equals_naive(xp, rng, x_shape, ph, pw, stride, kind):
    x = _input(rng, kind, x_shape)
    pp = pool_param(ph, pw, stride)
    want, naive_cache = max_pool_forward_naive(x, pp)
    out, cache = fl.max_pool_forward_fast(xp.asarray(x), pp)
    assert out.shape == want.shape
    assert rel_error(out, want) == 0.0
    dout = rng.standard_normal(want.shape)
    dx = fl.max_pool_backward_fast(xp.asarray(dout), cache)
    assert dx.shape == x.shape
    assert rel_error(dx, max_pool_backward_naive(dout, naive_cache)) < 1e-12


@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize(("x_shape", "ph", "pw", "stride"), CASES[::2], ids=IDS[::2])
def test_max_pool_fast_matches_torch(xp, rng, x_shape, ph, pw, stride, kind):
    x = _input(rng, kind, x_shape)
    out, cache = fl.max_pool_forward_fast(xp.asarray(x), pool_param(ph, pw, stride))
    dout = rng.standard_normal(out.shape)
    tx = tt(x)
    tout = torch.nn.functional.max_pool2d(tx, (ph, pw), stride=stride)
    tout.backward(torch.from_numpy(dout))
    assert rel_error(out, tn(tout)) == 0.0
    assert rel_error(fl.max_pool_backward_fast(xp.asarray(dout), cache), tn(tx.grad)) < 1e-12


@pytest.mark.parametrize("dout_dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("x_shape", "ph", "pw", "stride"), CASES[:4], ids=IDS[:4])
def test_max_pool_fast_float32_stays_float32(xp, rng, x_shape, ph, pw, stride, dout_dtype):
    x = xp.asarray(_input(rng, "ties", x_shape, np.float32))
    out, cache = fl.max_pool_forward_fast(x, pool_param(ph, pw, stride))
    assert out.dtype == np.float32
    dout = xp.asarray(rng.standard_normal(out.shape).astype(dout_dtype))
    assert fl.max_pool_backward_fast(dout, cache).dtype == np.float32


@pytest.mark.parametrize(("x_shape", "ph", "pw", "stride"), CASES[:4], ids=IDS[:4])
def test_max_pool_fast_does_not_mutate(xp, rng, x_shape, ph, pw, stride):
    x = xp.asarray(_input(rng, "ties", x_shape))
    pp = pool_param(ph, pw, stride)
    before = snapshot([x, pp])
    out, cache = fl.max_pool_forward_fast(x, pp)
    assert_same(before, [x, pp], "inputs")
    dout = xp.asarray(rng.standard_normal(out.shape))
    dout_before, cache_before = snapshot(dout), snapshot(tuple(cache))
    fl.max_pool_backward_fast(dout, cache)
    assert_same(dout_before, dout, "dout")
    assert_same(cache_before, tuple(cache), "cache")


@pytest.mark.parametrize(
    ("x", "pp", "match"), [c[1:] for c in BAD_POOL], ids=[c[0] for c in BAD_POOL]
)
def test_max_pool_fast_rejects_bad_input(x, pp, match):
    with pytest.raises(ValueError, match=match):
        fl.max_pool_forward_fast(x, pp)


def test_max_pool_backward_fast_rejects_bad_dout_and_cache():
    x = np.zeros((2, 3, 4, 4))
    _, cache = fl.max_pool_forward_fast(x, pool_param(2, 2, 2))
    with pytest.raises(
        ValueError, match=r"dout must have shape \(2, 3, 2, 2\), got \(2, 3, 4, 4\)"
    ):
        fl.max_pool_backward_fast(x, cache)
    _, naive_cache = max_pool_forward_naive(x, pool_param(2, 2, 2))
    with pytest.raises(ValueError, match=r"cache returned by max_pool_forward_fast"):
        fl.max_pool_backward_fast(np.zeros((2, 3, 2, 2)), naive_cache)


def test_course_aliases():
    assert fl.max_pool_forward_reshape is fl.max_pool_forward_im2col is fl.max_pool_forward_fast
    assert fl.max_pool_backward_reshape is fl.max_pool_backward_im2col is fl.max_pool_backward_fast
