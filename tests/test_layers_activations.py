"""Activations: known values, numeric gradients off the kink, torch parity, bad inputs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _layers_testlib import numeric_grads, off_kink, tn, tt

from numnet.backend import to_numpy
from numnet.gradient_check import rel_error
from numnet.layers import (
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)

SHAPES = [(3, 4), (2, 3, 4), (5,), (2, 1, 3, 3)]

# name -> (forward, backward, torch function); leaky relu with a non-default slope too.
ACTIVATIONS = {
    "relu": (relu_forward, relu_backward, F.relu),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward, F.leaky_relu),
    "leaky_relu_0.2": (
        lambda x: leaky_relu_forward(x, alpha=0.2),
        leaky_relu_backward,
        lambda t: F.leaky_relu(t, negative_slope=0.2),
    ),
    "sigmoid": (sigmoid_forward, sigmoid_backward, torch.sigmoid),
    "tanh": (tanh_forward, tanh_backward, torch.tanh),
}


def test_relu_forward_known_values(xp):
    # The course notebook's check.
    x = xp.asarray(np.linspace(-0.5, 0.5, num=12).reshape(3, 4))
    out, _ = relu_forward(x)
    correct = np.array(
        [
            [0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.04545455, 0.13636364],
            [0.22727273, 0.31818182, 0.40909091, 0.5],
        ]
    )
    assert rel_error(out, correct) < 5e-8


def test_leaky_relu_known_values(xp):
    x = xp.asarray(np.array([-2.0, -0.5, 0.0, 0.5, 2.0]))
    out, cache = leaky_relu_forward(x, alpha=0.1)
    np.testing.assert_allclose(to_numpy(out), [-0.2, -0.05, 0.0, 0.5, 2.0], rtol=0, atol=1e-15)
    assert cache[1] == 0.1
    out_default, _ = leaky_relu_forward(x)
    np.testing.assert_allclose(to_numpy(out_default)[:2], [-0.02, -0.005], rtol=0, atol=1e-15)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_backward_numeric(xp, rng, name, shape):
    forward, backward, _ = ACTIVATIONS[name]
    x = off_kink(rng.standard_normal(shape))
    dout = rng.standard_normal(shape)
    (num,) = numeric_grads(forward, [x], (0,), dout)
    _, cache = forward(xp.asarray(x))
    dx = backward(xp.asarray(dout), cache)
    # The course's relu_backward returns dx alone, not a tuple; so do the other activations.
    assert dx.shape == x.shape
    assert rel_error(dx, num) < 1e-8


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_matches_torch(xp, rng, name, shape):
    forward, backward, torch_fn = ACTIVATIONS[name]
    x = off_kink(rng.standard_normal(shape) * 3)
    dout = rng.standard_normal(shape)
    out, cache = forward(xp.asarray(x))
    dx = backward(xp.asarray(dout), cache)
    xt = tt(x)
    ot = torch_fn(xt)
    ot.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(to_numpy(out), tn(ot), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(to_numpy(dx), tn(xt.grad), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_for_large_inputs(xp, dtype):
    x = xp.asarray(np.array([-1000.0, -80.0, 0.0, 80.0, 1000.0], dtype=dtype))
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        out, _ = sigmoid_forward(x)
    out = to_numpy(out)
    assert out.dtype == dtype
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[[0, 2, 4]], [0.0, 0.5, 1.0], rtol=0, atol=1e-30)


def test_relu_backward_is_zero_at_and_below_zero(xp):
    x = xp.asarray(np.array([-1.0, 0.0, 1.0]))
    _, cache = relu_forward(x)
    dx = relu_backward(xp.asarray(np.array([5.0, 5.0, 5.0])), cache)
    np.testing.assert_array_equal(to_numpy(dx), [0.0, 0.0, 5.0])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_relu_backward_is_bitwise_where(xp, rng, dtype):
    # The branch-free bit mask must equal where(x > 0, dout, 0) bit for bit: non-finite dout
    # where x <= 0 gives +0 (a multiply by the mask would give NaN), -0.0 passes through, strided
    # inputs work, and dout's dtype is kept.
    x = rng.standard_normal((6, 8)).astype(dtype)
    x[0, :4] = [0.0, -0.0, np.nan, np.inf]
    dout = rng.standard_normal((6, 8)).astype(dtype)
    dout[1, :4] = [np.inf, -np.inf, np.nan, -0.0]
    dout[:, 1] = np.nan
    for xs, ds in ((x, dout), (x[:, ::2], dout[:, ::2]), (x.T, dout.T)):
        dx = relu_backward(xp.asarray(ds), xp.asarray(xs))
        want = np.where(xs > 0, ds, dtype(0))
        assert dx.dtype == dtype
        np.testing.assert_array_equal(
            to_numpy(dx).view(f"u{ds.itemsize}"), want.view(f"u{ds.itemsize}")
        )


@pytest.mark.parametrize(
    ("alpha", "match"),
    [
        (float("nan"), r"alpha must be a finite real number, got nan"),
        (float("inf"), r"alpha must be a finite real number, got inf"),
        ("0.1", r"alpha must be a finite real number, got '0.1'"),
        (None, r"alpha must be a finite real number, got None"),
        (True, r"alpha must be a finite real number, got True"),
    ],
)
def test_leaky_relu_rejects_bad_alpha(alpha, match):
    with pytest.raises(ValueError, match=match):
        leaky_relu_forward(np.zeros(3), alpha=alpha)
