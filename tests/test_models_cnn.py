"""ThreeLayerConvNet: the course's checks, numeric gradients, torch parity, numnet extras."""

# The course's global-NumPy randomness is part of what these tests check.
# ruff: noqa: NPY002

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _models_testlib import (
    assert_config_round_trip,
    assert_grads_close,
    assert_no_mutation_of_input,
    assert_reg_adds_l2,
    loss_on_device,
)

from numnet.classifiers.cnn import ThreeLayerConvNet


def small_cnn(reg=0.0, **kw):
    kw.setdefault("weight_scale", 0.3)
    return ThreeLayerConvNet(
        input_dim=(2, 6, 6),
        num_filters=3,
        filter_size=3,
        hidden_dim=5,
        num_classes=4,
        reg=reg,
        dtype=np.float64,
        **kw,
    )


def small_data(rng, N=3):
    return rng.standard_normal((N, 2, 6, 6)), rng.integers(4, size=N)


def test_initial_loss_is_log_c(rng):
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, hidden_dim=10, rng=0)
    X, y = rng.standard_normal((20, 3, 8, 8)), rng.integers(10, size=20)
    loss, _ = model.loss(X, y)
    assert abs(loss - math.log(10)) < 1e-3


@pytest.mark.parametrize("reg", [0.0, 0.5])
def test_gradients(reg, rng):
    model = small_cnn(reg, rng=1)
    X, y = small_data(rng)
    assert_grads_close(model, X, y, tol=1e-6)


def test_reg_adds_half_reg_sum_w2(rng):
    X, y = small_data(rng)
    assert_reg_adds_l2(lambda reg: small_cnn(reg, rng=2), X, y, 0.5, ["W1", "W2", "W3"])


def test_matches_torch(xp, rng):
    model = small_cnn(rng=3)
    X, y = small_data(rng, N=4)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in model.params.items()}
    loss, grads = loss_on_device(model, xp, X, y)
    h = F.max_pool2d(F.relu(F.conv2d(torch.tensor(X), tp["W1"], tp["b1"], padding=1)), 2)
    h = F.relu(h.reshape(len(X), -1) @ tp["W2"] + tp["b2"])
    t_loss = F.cross_entropy(h @ tp["W3"] + tp["b3"], torch.tensor(y))
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=1e-12)
    for k, g in grads.items():
        np.testing.assert_allclose(g, tp[k].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=k)


def test_course_shapes_and_init_order():
    np.random.seed(0)
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, filter_size=5, hidden_dim=6)
    np.random.seed(0)
    shapes = {"W1": (4, 3, 5, 5), "W2": (4 * 4 * 4, 6), "W3": (6, 10)}
    for k, shape in shapes.items():
        want = (1e-3 * np.random.randn(*shape)).astype(np.float32)
        np.testing.assert_array_equal(model.params[k], want, err_msg=k)
    assert {k: v.shape for k, v in model.params.items() if k.startswith("b")} == {
        "b1": (4,),
        "b2": (6,),
        "b3": (10,),
    }
    assert all(v.dtype == np.float32 for v in model.params.values())
    assert model.rng is None


def test_rng_uses_a_generator_and_leaves_global_state(rng):
    np.random.seed(1)
    state = np.random.get_state()[1].copy()
    a = small_cnn(rng=5)
    b = small_cnn(rng=5)
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert isinstance(a.rng, np.random.Generator)


def test_float32_and_no_input_mutation(rng):
    model = ThreeLayerConvNet(input_dim=(2, 6, 6), num_filters=3, hidden_dim=5, rng=0)
    X, y = rng.standard_normal((3, 2, 6, 6)), rng.integers(10, size=3)
    assert model.loss(X).dtype == np.float32
    _, grads = model.loss(X, y)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert_no_mutation_of_input(model, X, y)


def test_config_round_trip():
    assert_config_round_trip(small_cnn(reg=0.1, rng=4, init="xavier"))
    assert_config_round_trip(ThreeLayerConvNet(input_dim=(1, 4, 4), num_filters=2, hidden_dim=3))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_dim": (3, 32)}, r"input_dim must be \(C, H, W\)"),
        ({"input_dim": (3, 0, 32)}, "input_dim H must be a positive integer"),
        ({"input_dim": (3, 31, 32)}, "H and W must be even"),
        ({"filter_size": 4}, "filter_size must be odd"),
        ({"num_filters": 0}, "num_filters must be a positive integer"),
        ({"init": "uniform"}, "init must be one of"),
        ({"rng": -3}, "rng must be None, a non-negative int seed"),
    ],
)
def test_bad_constructor_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ThreeLayerConvNet(**kwargs)


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (np.zeros((2, 2, 6, 7)), None, r"X must have shape \(N, 2, 6, 6\), got \(2, 2, 6, 7\)"),
        (np.zeros((2, 72)), None, r"X must have shape \(N, 2, 6, 6\)"),
        (np.zeros((2, 2, 6, 6)), np.array([0, 4]), r"y must be in \[0, 4\), got label 4"),
    ],
)
def test_bad_loss_inputs(X, y, match):
    with pytest.raises(ValueError, match=match):
        small_cnn(rng=0).loss(X, y)


def test_star_import_exposes_layers_and_fast_layers():
    ns = {}
    exec("from numnet.classifiers.cnn import *", ns)
    for name in [
        "ThreeLayerConvNet",
        "conv_forward_fast",
        "conv_relu_pool_forward",
        "softmax_loss",
    ]:
        assert name in ns, name
