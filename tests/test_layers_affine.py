"""Affine layer: course known values, numeric gradients, torch parity, bad inputs."""

import numpy as np
import pytest
import torch
from _layers_testlib import numeric_grads, on, tn, tt

from numnet.backend import to_numpy
from numnet.gradient_check import rel_error
from numnet.layers import affine_backward, affine_forward

SHAPES = [((2, 3), 4), ((10, 2, 3), 5), ((4, 2, 2, 3), 1), ((1, 6), 3)]


def test_affine_forward_known_values(xp):
    # The course notebook's check.
    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
    input_size = num_inputs * np.prod(input_shape)
    weight_size = output_dim * np.prod(input_shape)
    x = np.linspace(-0.1, 0.5, num=input_size).reshape(num_inputs, *input_shape)
    w = np.linspace(-0.2, 0.3, num=weight_size).reshape(np.prod(input_shape), output_dim)
    b = np.linspace(-0.3, 0.1, num=output_dim)
    out, _ = affine_forward(*on(xp, [x, w, b]))
    correct = np.array([[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]])
    assert rel_error(out, correct) < 1e-7


@pytest.mark.parametrize(("x_shape", "M"), SHAPES)
def test_affine_backward_numeric(xp, rng, x_shape, M):
    D = int(np.prod(x_shape[1:]))
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((D, M))
    b = rng.standard_normal(M)
    dout = rng.standard_normal((x_shape[0], M))
    num = numeric_grads(affine_forward, [x, w, b], (0, 1, 2), dout)
    _, cache = affine_forward(*on(xp, [x, w, b]))
    dx, dw, db = affine_backward(xp.asarray(dout), cache)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    for name, got, want in zip(("dx", "dw", "db"), (dx, dw, db), num):
        assert rel_error(got, want) < 1e-8, name


@pytest.mark.parametrize(("x_shape", "M"), SHAPES)
def test_affine_matches_torch_linear(xp, rng, x_shape, M):
    D = int(np.prod(x_shape[1:]))
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((D, M))
    b = rng.standard_normal(M)
    dout = rng.standard_normal((x_shape[0], M))
    out, cache = affine_forward(*on(xp, [x, w, b]))
    dx, dw, db = affine_backward(xp.asarray(dout), cache)
    # torch's weight is (M, D): ours transposed.
    xt, wt, bt = tt(x), tt(w.T), tt(b)
    ot = torch.nn.functional.linear(xt.reshape(x_shape[0], D), wt, bt)
    ot.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(to_numpy(out), tn(ot), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_numpy(dx), tn(xt.grad), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_numpy(dw), tn(wt.grad).T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_numpy(db), tn(bt.grad), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "b_shape", "match"),
    [
        ((6,), (6, 2), (2,), r"x must have at least 2 dimensions .*got shape \(6,\)"),
        ((3, 4), (5, 2), (2,), r"w must have shape \(4, \*\), got \(5, 2\)"),
        ((3, 2, 2), (3, 2), (2,), r"w must have shape \(4, \*\), got \(3, 2\)"),
        ((3, 4), (4,), (2,), r"w must be a 2-D array .*got ndim=1"),
        ((3, 4), (4, 2), (3,), r"b must have shape \(2,\), got \(3,\)"),
        ((3, 4), (4, 2), (1, 2), r"b must have shape \(2,\), got \(1, 2\)"),
    ],
    ids=["x-1d", "w-rows", "w-rows-flattened", "w-1d", "b-size", "b-2d"],
)
def test_affine_forward_rejects_bad_shapes(x_shape, w_shape, b_shape, match):
    with pytest.raises(ValueError, match=match):
        affine_forward(np.zeros(x_shape), np.zeros(w_shape), np.zeros(b_shape))


@pytest.mark.parametrize("which", ["x", "w", "b"])
def test_affine_forward_rejects_integers_like_conv_and_pool(which):
    arrays = {"x": np.ones((3, 4)), "w": np.ones((4, 2)), "b": np.ones(2)}
    arrays[which] = arrays[which].astype(np.int64)
    with pytest.raises(
        ValueError, match=f"{which} must be a floating-point array, got dtype int64"
    ):
        affine_forward(arrays["x"], arrays["w"], arrays["b"])


@pytest.mark.parametrize("shape", [(3, 3), (2, 2), (3,), (3, 2, 1)])
def test_affine_backward_names_a_wrong_dout(shape):
    _, cache = affine_forward(np.ones((3, 4)), np.ones((4, 2)), np.ones(2))
    with pytest.raises(ValueError, match=r"dout must have shape \(3, 2\), got"):
        affine_backward(np.ones(shape), cache)
