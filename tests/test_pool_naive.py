"""Naive max pooling: course known values, numeric gradients, torch parity with ties, errors."""

import numpy as np
import pytest
import torch
from _conv_testlib import BAD_POOL, distinct, pool_param
from _layers_testlib import assert_same, numeric_grads, snapshot, tn, tt

from numnet.gradient_check import rel_error
from numnet.ops.pool import max_pool_backward_naive, max_pool_forward_naive

# (x_shape, pool_height, pool_width, stride): tiling, overlapping (stride < size), non-tiling
# (floor semantics), gapped (stride > size), non-square windows and inputs, 1x1.
CASES = [
    ((2, 3, 4, 4), 2, 2, 2),
    ((2, 2, 5, 7), 3, 3, 1),
    ((1, 3, 7, 6), 3, 2, 2),
    ((2, 2, 5, 5), 2, 2, 2),
    ((2, 1, 8, 7), 2, 2, 3),
    ((1, 2, 6, 5), 4, 3, 1),
    ((2, 2, 3, 4), 1, 1, 1),
]


def test_max_pool_forward_naive_known_values(xp):
    # The course notebook's check.
    x_shape = (2, 3, 4, 4)
    x = np.linspace(-0.3, 0.4, num=np.prod(x_shape)).reshape(x_shape)
    out, _ = max_pool_forward_naive(xp.asarray(x), pool_param(2, 2, 2))
    correct = np.array(
        [
            [
                [[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
                [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
                [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]],
            ],
            [
                [[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
                [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
                [[0.32631579, 0.34105263], [0.38526316, 0.4]],
            ],
        ]
    )
    assert rel_error(out, correct) < 1e-7


@pytest.mark.parametrize(("x_shape", "ph", "pw", "stride"), CASES)
def test_max_pool_backward_naive_numeric(xp, rng, x_shape, ph, pw, stride):
    x = distinct(rng, x_shape)
    out, cache = max_pool_forward_naive(xp.asarray(x), pool_param(ph, pw, stride))
    dout = rng.standard_normal(out.shape)
    (num,) = numeric_grads(
        max_pool_forward_naive, [x, pool_param(ph, pw, stride)], (0,), dout, h=1e-6
    )
    dx = max_pool_backward_naive(xp.asarray(dout), cache)
    assert dx.shape == x.shape
    assert rel_error(dx, num) < 1e-8


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize(("x_shape", "ph", "pw", "stride"), CASES)
def test_max_pool_naive_matches_torch(xp, rng, x_shape, ph, pw, stride, ties):
    # Integer values in [0, 3) make most windows hold several equal maxima; torch routes a window's
    # gradient to the first of them, and so must we.
    x = rng.integers(0, 3, x_shape).astype(float) if ties else rng.standard_normal(x_shape)
    out, cache = max_pool_forward_naive(xp.asarray(x), pool_param(ph, pw, stride))
    dout = rng.standard_normal(out.shape)
    tx = tt(x)
    tout = torch.nn.functional.max_pool2d(tx, (ph, pw), stride=stride)
    tout.backward(torch.from_numpy(dout))
    assert rel_error(out, tn(tout)) < 1e-12
    dx = max_pool_backward_naive(xp.asarray(dout), cache)
    assert rel_error(dx, tn(tx.grad)) < 1e-12


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_naive_keeps_dtype_and_inputs(xp, rng, dtype):
    x = xp.asarray(rng.standard_normal((2, 3, 5, 6)).astype(dtype))
    pp = pool_param(3, 2, 1)
    before = snapshot([x, pp])
    out, cache = max_pool_forward_naive(x, pp)
    assert out.dtype == dtype
    dout = xp.asarray(rng.standard_normal(out.shape).astype(dtype))
    dout_before, cache_before = snapshot(dout), snapshot(cache)
    dx = max_pool_backward_naive(dout, cache)
    assert dx.dtype == dtype
    assert_same(before, [x, pp], "inputs")
    assert_same(dout_before, dout, "dout")
    assert_same(cache_before, cache, "cache")


@pytest.mark.parametrize(
    ("x", "pp", "match"), [c[1:] for c in BAD_POOL], ids=[c[0] for c in BAD_POOL]
)
def test_max_pool_naive_rejects_bad_input(x, pp, match):
    with pytest.raises(ValueError, match=match):
        max_pool_forward_naive(x, pp)


def test_max_pool_backward_naive_rejects_bad_dout():
    _, cache = max_pool_forward_naive(np.zeros((2, 3, 4, 4)), pool_param(2, 2, 2))
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 3, 2, 2\), got \(2, 3, 2\)"):
        max_pool_backward_naive(np.zeros((2, 3, 2)), cache)
