"""Naive convolution: course known values, numeric gradients, torch parity, dtype, bad inputs."""

import numpy as np
import pytest
import torch
from _conv_testlib import BAD_CONV, conv_out_shape
from _layers_testlib import assert_same, numeric_grads, on, snapshot, tn, tt

from numnet.gradient_check import rel_error
from numnet.ops.conv import conv_backward_naive, conv_forward_naive

# (x_shape, w_shape, stride, pad): square and non-square inputs and filters, strides 1-3, pads 0-2.
CASES = [
    ((2, 3, 5, 5), (4, 3, 3, 3), 1, 1),
    ((2, 2, 5, 7), (3, 2, 3, 3), 2, 1),
    ((1, 3, 6, 5), (2, 3, 3, 5), 1, 2),
    ((2, 2, 7, 7), (2, 2, 5, 5), 2, 0),
    ((3, 2, 4, 6), (2, 2, 1, 1), 1, 0),
    ((1, 1, 7, 6), (2, 1, 3, 2), 3, 1),
]


def _case(rng, x_shape, w_shape):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    return x, w, b


def test_conv_forward_naive_known_values(xp):
    # The course notebook's check.
    x_shape, w_shape = (2, 3, 4, 4), (3, 3, 4, 4)
    x = np.linspace(-0.1, 0.5, num=np.prod(x_shape)).reshape(x_shape)
    w = np.linspace(-0.2, 0.3, num=np.prod(w_shape)).reshape(w_shape)
    b = np.linspace(-0.1, 0.2, num=3)
    out, _ = conv_forward_naive(*on(xp, [x, w, b]), {"stride": 2, "pad": 1})
    correct = np.array(
        [
            [
                [[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
                [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
                [[0.50813986, 0.54309974], [0.64082444, 0.67101435]],
            ],
            [
                [[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
                [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
                [[2.36270298, 2.36904306], [2.38090835, 2.38247847]],
            ],
        ]
    )
    assert out.shape == correct.shape
    assert rel_error(out, correct) < 1e-7


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad"), CASES)
def test_conv_backward_naive_numeric(xp, rng, x_shape, w_shape, stride, pad):
    x, w, b = _case(rng, x_shape, w_shape)
    cp = {"stride": stride, "pad": pad}
    dout = rng.standard_normal(conv_out_shape(x_shape, w_shape, stride, pad))
    # conv is linear in each argument, so central differences have no truncation error at any
    # step; a step larger than the default 1e-5 just shrinks the rounding error.
    num = numeric_grads(conv_forward_naive, [x, w, b, cp], (0, 1, 2), dout, h=1e-3)
    _, cache = conv_forward_naive(*on(xp, [x, w, b]), cp)
    grads = conv_backward_naive(xp.asarray(dout), cache)
    for name, got, want, ref in zip(("dx", "dw", "db"), grads, num, (x, w, b)):
        assert got.shape == ref.shape, name
        assert rel_error(got, want) < 1e-8, name


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad"), CASES)
def test_conv_naive_matches_torch(xp, rng, x_shape, w_shape, stride, pad):
    x, w, b = _case(rng, x_shape, w_shape)
    out, cache = conv_forward_naive(*on(xp, [x, w, b]), {"stride": stride, "pad": pad})
    dout = rng.standard_normal(out.shape)
    tx, tw, tb = tt(x), tt(w), tt(b)
    tout = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=pad)
    tout.backward(torch.from_numpy(dout))
    assert rel_error(out, tn(tout)) < 1e-10
    dx, dw, db = conv_backward_naive(xp.asarray(dout), cache)
    for name, got, want in (("dx", dx, tx.grad), ("dw", dw, tw.grad), ("db", db, tb.grad)):
        assert rel_error(got, tn(want)) < 1e-10, name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_naive_keeps_dtype_and_inputs(xp, rng, dtype):
    x, w, b = (a.astype(dtype) for a in _case(rng, (2, 3, 5, 4), (2, 3, 3, 3)))
    args = on(xp, [x, w, b])
    cp = {"stride": 1, "pad": 1}
    before = snapshot([*args, cp])
    out, cache = conv_forward_naive(*args, cp)
    assert out.dtype == dtype
    dout = xp.asarray(rng.standard_normal(out.shape).astype(dtype))
    dout_before, cache_before = snapshot(dout), snapshot(cache)
    grads = conv_backward_naive(dout, cache)
    assert [g.dtype for g in grads] == [dtype] * 3
    assert_same(before, [*args, cp], "inputs")
    assert_same(dout_before, dout, "dout")
    assert_same(cache_before, cache, "cache")


@pytest.mark.parametrize(("args", "match"), [c[1:] for c in BAD_CONV], ids=[c[0] for c in BAD_CONV])
def test_conv_naive_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        conv_forward_naive(**args)


def test_conv_backward_naive_rejects_bad_dout():
    _, cache = conv_forward_naive(
        np.zeros((2, 3, 5, 5)), np.zeros((4, 3, 3, 3)), np.zeros(4), {"stride": 1, "pad": 1}
    )
    with pytest.raises(
        ValueError, match=r"dout must have shape \(2, 4, 5, 5\), got \(2, 4, 5, 4\)"
    ):
        conv_backward_naive(np.zeros((2, 4, 5, 4)), cache)
