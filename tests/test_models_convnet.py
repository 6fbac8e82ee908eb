"""ConvNet: shapes, numeric gradients for every normalisation and dropout, torch parity, errors."""

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

from numnet.classifiers import ConvNet

NORMS = [None, "batchnorm", "groupnorm", "layernorm"]


def tiny(norm="batchnorm", keep=1.0, reg=0.0, **kw):
    """Two 1-conv stages (4 and 6 channels, 2 groups), one hidden block, float64."""
    kw.setdefault("input_dim", (2, 4, 4))
    kw.setdefault("conv_channels", (4, 6))
    kw.setdefault("hidden_dims", (5,))
    return ConvNet(
        num_classes=3,
        normalization=norm,
        groups=2,
        dropout_keep_ratio=keep,
        reg=reg,
        dtype=np.float64,
        **kw,
    )


def tiny_data(rng, model, N=4):
    return rng.standard_normal((N, *model.input_dim)), rng.integers(3, size=N)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("keep", [1.0, 0.7])
def test_gradients(norm, keep, rng):
    np.random.seed(3)
    model = tiny(norm, keep, reg=0.1)
    if keep != 1:
        # The course's mechanism for a fixed mask: re-seed the global state on every call.
        model.dropout_param["seed"] = 0
    X, y = tiny_data(rng, model)
    assert_grads_close(model, X, y, tol=1e-6)


def test_gradients_two_convs_per_stage_no_pool(rng):
    kw = {"input_dim": (1, 3, 3), "conv_channels": (2,), "convs_per_stage": 2, "pool": False}
    model = tiny("batchnorm", rng=0, **kw)
    assert model.num_conv == 2 and model.params["W3"].shape == (2 * 3 * 3, 5)
    X, y = tiny_data(rng, model)
    assert_grads_close(model, X, y, tol=1e-6)


def torch_scores(model, X, tp):
    """The same ConvNet in torch, train mode, no dropout."""
    h = torch.tensor(X)
    norm = model.normalization
    for i in range(1, model.num_layers):
        conv = i <= model.num_conv
        if conv:
            h = F.conv2d(h, tp[f"W{i}"], tp[f"b{i}"], padding=model.conv_param["pad"])
        else:
            h = h.reshape(len(h), -1) @ tp[f"W{i}"] + tp[f"b{i}"]
        g, b = tp.get(f"gamma{i}"), tp.get(f"beta{i}")
        if norm == "batchnorm":
            h = F.batch_norm(h, None, None, g, b, training=True, eps=1e-5)
        elif norm is not None and conv:
            G = model.groups if norm == "groupnorm" else 1
            h = F.group_norm(h, G, g.reshape(-1), b.reshape(-1), eps=1e-5)
        elif norm is not None:
            h = F.layer_norm(h, h.shape[1:], g, b, eps=1e-5)
        h = F.relu(h)
        if conv and model._conv_pool[i - 1]:
            h = F.max_pool2d(h, 2)
    L = model.num_layers
    return h @ tp[f"W{L}"] + tp[f"b{L}"]


@pytest.mark.parametrize("norm", NORMS)
def test_matches_torch(xp, norm, rng):
    model = tiny(norm, reg=0.2, input_dim=(3, 8, 8), rng=1)
    X, y = tiny_data(rng, model, N=5)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in model.params.items()}
    loss, grads = loss_on_device(model, xp, X, y)
    t_loss = F.cross_entropy(torch_scores(model, X, tp), torch.tensor(y))
    t_loss = t_loss + 0.1 * sum((tp[f"W{i}"] ** 2).sum() for i in range(1, model.num_layers + 1))
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=1e-12)
    for k, g in grads.items():
        np.testing.assert_allclose(g, tp[k].grad.numpy(), rtol=1e-8, atol=1e-11, err_msg=k)


@pytest.mark.parametrize(
    ("input_dim", "flat"), [((1, 28, 28), 64 * 7 * 7), ((3, 32, 32), 64 * 8 * 8)]
)
def test_default_network_shapes(input_dim, flat, rng):
    model = ConvNet(input_dim=input_dim, rng=0)
    assert model.params["W1"].shape == (32, input_dim[0], 3, 3)
    assert model.params["W2"].shape == (64, 32, 3, 3)
    assert model.params["W3"].shape == (flat, 128)
    assert model.params["W4"].shape == (128, 10)
    assert model.params["gamma1"].shape == (32,) and "gamma4" not in model.params
    X = rng.standard_normal((2, *input_dim)).astype(np.float32)
    scores = model.loss(X)
    assert scores.shape == (2, 10) and scores.dtype == np.float32
    loss, grads = model.loss(X, np.array([1, 7]))
    assert math.isfinite(loss)
    assert {k: g.shape for k, g in grads.items()} == {k: p.shape for k, p in model.params.items()}
    assert all(g.dtype == np.float32 for g in grads.values())


def test_default_param_count():
    # conv 1->32 (+BN), conv 32->64 (+BN), fc 3136->128 (+BN), fc 128->10.
    expected = (288 + 32 + 64) + (18432 + 64 + 128) + (401408 + 128 + 256) + (1280 + 10)
    assert ConvNet(rng=0).num_params() == expected == 422090


def test_groupnorm_param_shapes():
    model = tiny("groupnorm", rng=0)
    assert model.params["gamma1"].shape == (1, 4, 1, 1)
    assert model.params["gamma3"].shape == (5,)  # the hidden block's layer norm
    assert model.buffers() == {}


def test_initial_loss_is_log_c_with_small_weights(rng):
    model = tiny(None, init="gaussian", weight_scale=1e-3, rng=0)
    X, y = tiny_data(rng, model, N=30)
    assert abs(model.loss(X, y)[0] - math.log(3)) < 1e-3


def test_reg_adds_half_reg_sum_w2(rng):
    model = tiny(rng=0)
    X, y = tiny_data(rng, model)
    names = [f"W{i}" for i in range(1, model.num_layers + 1)]
    assert_reg_adds_l2(lambda reg: tiny(reg=reg, rng=0), X, y, 0.3, names)


def test_rng_gives_fresh_masks_and_leaves_global_state(rng):
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    a = tiny(None, keep=0.5, rng=11)
    X, y = tiny_data(rng, a, N=6)
    la = [a.loss(X, y)[0] for _ in range(3)]
    b = tiny(None, keep=0.5, rng=11)
    assert [b.loss(X, y)[0] for _ in range(3)] == la
    assert len(set(la)) == 3
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_test_mode_uses_running_stats(rng):
    model = tiny("batchnorm", keep=0.5, rng=0)
    X, y = tiny_data(rng, model, N=8)
    before = model.buffers()
    model.loss(X, y)
    after = model.buffers()
    assert (
        sorted(after)
        == sorted(before)
        == sorted(f"bn{i}.{s}" for i in (1, 2, 3) for s in ("running_mean", "running_var"))
    )
    assert not np.allclose(after["bn1.running_var"], before["bn1.running_var"])
    np.testing.assert_array_equal(model.loss(X[:3]), model.loss(X)[:3])  # no batch dependence


def test_no_input_mutation(rng):
    model = tiny("batchnorm", keep=0.5, rng=0)
    X, y = tiny_data(rng, model)
    assert_no_mutation_of_input(model, X, y)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"normalization": "groupnorm", "dropout_keep_ratio": 1.0, "init": "xavier"},
        {"conv_channels": (), "hidden_dims": (), "normalization": None, "rng": 3},
    ],
    ids=["default", "groupnorm", "linear"],
)
def test_config_round_trip(kwargs):
    rebuilt = assert_config_round_trip(ConvNet(**kwargs))
    assert rebuilt.get_config()["input_dim"] == [1, 28, 28]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_dim": (1, 28)}, r"input_dim must be \(C, H, W\)"),
        ({"input_dim": (1, 28, 28), "conv_channels": (8, 8, 8)}, "cannot be pooled 3 times"),
        ({"conv_channels": (8, 0)}, "conv_channels entry must be a positive integer"),
        ({"hidden_dims": "12"}, "hidden_dims entry must be a positive integer"),
        ({"filter_size": 2}, "filter_size must be odd"),
        ({"pool": "yes"}, "pool must be True or False"),
        ({"normalization": "instancenorm"}, "normalization must be one of None, 'batchnorm'"),
        ({"normalization": "groupnorm", "groups": 5}, "groups=5 must divide every conv channel"),
        ({"dropout_keep_ratio": 1.5}, r"dropout_keep_ratio must be in \(0, 1\]"),
        ({"dropout_keep_ratio": None}, r"dropout_keep_ratio must be in \(0, 1\], got None"),
        ({"init": "gaussian"}, "weight_scale must be a finite number >= 0"),
        ({"convs_per_stage": 0}, "convs_per_stage must be a positive integer"),
    ],
)
def test_bad_constructor_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConvNet(**kwargs)


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (np.zeros((2, 3, 4, 4)), None, r"X must have shape \(N, 2, 4, 4\), got \(2, 3, 4, 4\)"),
        (np.zeros((2, 2, 4, 4)), np.array([0, 3]), r"y must be in \[0, 3\), got label 3"),
        (np.zeros((2, 2, 4, 4)), np.array([[0, 1]]), r"y must have shape \(2,\)"),
    ],
)
def test_bad_loss_inputs(X, y, match):
    with pytest.raises(ValueError, match=match):
        tiny(rng=0).loss(X, y)


@pytest.mark.parametrize(
    ("norm", "fc_norm"),
    [
        (None, None),
        ("batchnorm", "batchnorm"),
        ("groupnorm", "layernorm"),
        ("layernorm", "layernorm"),
    ],
)
def test_without_convs_it_is_the_fully_connected_net(norm, fc_norm, rng):
    """Both models end in the same fully connected stack: same params, same loss and grads."""
    from numnet.classifiers import FullyConnectedNet

    kw = {"input_dim": (2, 4, 4), "conv_channels": (), "hidden_dims": (7, 5)}
    conv = tiny(norm, keep=0.6, reg=0.1, rng=0, **kw)
    fc = FullyConnectedNet(
        [7, 5], 32, 3, 0.6, fc_norm, reg=0.1, dtype=np.float64, seed=4, init="kaiming"
    )
    conv.load_params(fc)
    conv.dropout_param["seed"] = 4  # the course's fixed mask, on both
    del conv.dropout_param["rng"]
    X, y = tiny_data(rng, conv)
    loss, grads = conv.loss(X, y)
    fc_loss, fc_grads = fc.loss(X, y)
    assert loss == fc_loss
    assert sorted(grads) == sorted(fc_grads)
    for k in grads:
        np.testing.assert_array_equal(grads[k], fc_grads[k], err_msg=k)
    np.testing.assert_array_equal(conv.loss(X), fc.loss(X))
