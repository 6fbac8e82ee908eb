"""TwoLayerNet and FullyConnectedNet: course checks, gradients, torch parity, numnet extras."""

# The course's global-NumPy randomness is part of what these tests check.
# ruff: noqa: NPY002

import math

import numpy as np
import pytest
import torch
from _models_testlib import (
    assert_config_round_trip,
    assert_grads_close,
    assert_no_mutation_of_input,
    assert_reg_adds_l2,
    loss_on_device,
    overfit,
)

from numnet.classifiers.fc_net import FullyConnectedNet, TwoLayerNet

NORMS = [None, "batchnorm", "layernorm"]


# ------------------------------------------------------------------------------ TwoLayerNet
def course_two_layer_net(reg):
    """The course notebook's fixed-weight TwoLayerNet and inputs."""
    N, D, H, C = 3, 5, 50, 7
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=1e-3, reg=reg)
    model.params["W1"] = np.linspace(-0.7, 0.3, num=D * H).reshape(D, H)
    model.params["b1"] = np.linspace(-0.1, 0.9, num=H)
    model.params["W2"] = np.linspace(-0.3, 0.4, num=H * C).reshape(H, C)
    model.params["b2"] = np.linspace(-0.9, 0.1, num=C)
    X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T
    return model, X, np.asarray([0, 5, 1])


def test_two_layer_net_course_values():
    model, X, y = course_two_layer_net(0.0)
    # The notebook's values; recomputed here with plain NumPy (affine - relu - affine).
    correct_scores = np.asarray(
        [
            [11.53165108, 12.2917344, 13.05181771, 13.81190102, 14.57198434, 15.33206765,
             16.09215096],
            [12.05769098, 12.74614105, 13.43459113, 14.1230412, 14.81149128, 15.49994135,
             16.18839143],
            [12.58373087, 13.20054771, 13.81736455, 14.43418138, 15.05099822, 15.66781506,
             16.2846319],
        ]
    )  # fmt: skip
    scores = model.loss(X)
    assert np.abs(scores - correct_scores).sum() < 1e-6
    loss, _ = model.loss(X, y)
    assert abs(loss - 3.4702243556) < 1e-10
    model.reg = 1.0
    loss, _ = model.loss(X, y)
    assert abs(loss - 26.5948426952) < 1e-10


def test_two_layer_net_course_init():
    D, H, C, std = 5, 50, 7, 1e-3
    np.random.seed(231)
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=std)
    np.random.seed(231)
    np.testing.assert_array_equal(model.params["W1"], std * np.random.randn(D, H))
    np.testing.assert_array_equal(model.params["W2"], std * np.random.randn(H, C))
    assert np.all(model.params["b1"] == 0) and np.all(model.params["b2"] == 0)
    assert model.params["W1"].dtype == np.float64


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_two_layer_net_gradients(reg, rng):
    model = TwoLayerNet(input_dim=5, hidden_dim=8, num_classes=4, weight_scale=0.5, reg=reg, rng=1)
    off_kinks(model, rng)
    X, y = rng.standard_normal((3, 5)), rng.integers(4, size=3)
    assert_grads_close(model, X, y, tol=1e-6)


# ------------------------------------------------------------------------ FullyConnectedNet
def small_net(norm=None, keep=1.0, reg=0.0, **kw):
    if "rng" not in kw:
        kw.setdefault("seed", 123 if keep != 1 else None)
    kw.setdefault("weight_scale", 0.5)
    return FullyConnectedNet(
        [7, 6],
        input_dim=5,
        num_classes=4,
        dropout_keep_ratio=keep,
        normalization=norm,
        reg=reg,
        dtype=np.float64,
        **kw,
    )


def data(rng, N=4, D=5, C=4):
    return rng.standard_normal((N, D)), rng.integers(C, size=N)


def off_kinks(model, rng):
    """Set every bias to +-[0.1, 0.3], drawn from ``rng``.

    A row that dropout and relu zero entirely would otherwise put the next layer's pre-activation
    exactly on relu's kink (b = 0).
    """
    for k in model.params:
        if k.startswith("b"):
            n = model.params[k].shape
            model.params[k] = rng.uniform(0.1, 0.3, n) * rng.choice([-1.0, 1.0], n)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("keep", [1.0, 0.6])
@pytest.mark.parametrize("reg", [0.0, 3.14])
def test_fc_gradients(norm, keep, reg, rng):
    np.random.seed(231)
    model = small_net(norm, keep, reg)
    off_kinks(model, rng)
    X, y = data(rng)
    assert_grads_close(model, X, y, tol=1e-6)


@pytest.mark.parametrize("norm", NORMS)
def test_fc_initial_loss_is_log_c(norm, rng):
    model = FullyConnectedNet(
        [20, 20], input_dim=10, num_classes=10, normalization=norm, weight_scale=1e-3, rng=0
    )
    X, y = rng.standard_normal((50, 10)), rng.integers(10, size=50)
    loss, _ = model.loss(X, y)
    assert abs(loss - math.log(10)) < 0.02


@pytest.mark.parametrize("norm", NORMS)
def test_fc_reg_adds_half_reg_sum_w2(norm, rng):
    X, y = data(rng)
    assert_reg_adds_l2(lambda reg: small_net(norm, reg=reg, rng=3), X, y, 0.37, ["W1", "W2", "W3"])


def torch_fc(model):
    """The same net in torch (float64); returns a function X -> scores and the torch params."""
    L = model.num_layers
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in model.params.items()}

    def forward(X):
        h = torch.tensor(X).reshape(len(X), -1)
        for i in range(1, L):
            h = h @ tp[f"W{i}"] + tp[f"b{i}"]
            if model.normalization == "batchnorm":
                h = torch.nn.functional.batch_norm(
                    h, None, None, tp[f"gamma{i}"], tp[f"beta{i}"], training=True, eps=1e-5
                )
            elif model.normalization == "layernorm":
                h = torch.nn.functional.layer_norm(
                    h, h.shape[1:], tp[f"gamma{i}"], tp[f"beta{i}"], eps=1e-5
                )
            h = torch.relu(h)
        return h @ tp[f"W{L}"] + tp[f"b{L}"]

    return forward, tp


@pytest.mark.parametrize("norm", NORMS)
def test_fc_matches_torch(xp, norm, rng):
    model = small_net(norm, reg=0.5, rng=4)
    X, y = data(rng, N=6)
    forward, tp = torch_fc(model)
    loss, grads = loss_on_device(model, xp, X, y)
    scores = forward(X)
    t_loss = torch.nn.functional.cross_entropy(scores, torch.tensor(y))
    t_loss = t_loss + 0.5 * 0.5 * sum((tp[f"W{i}"] ** 2).sum() for i in (1, 2, 3))
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=1e-12)
    for k, v in grads.items():
        np.testing.assert_allclose(v, tp[k].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=k)


def test_fc_course_attributes_and_init_order():
    np.random.seed(0)
    model = FullyConnectedNet([4, 3], input_dim=6, num_classes=2, normalization="batchnorm")
    np.random.seed(0)
    for i, shape in enumerate([(6, 4), (4, 3), (3, 2)], start=1):
        expected = (1e-2 * np.random.randn(*shape)).astype(np.float32)
        np.testing.assert_array_equal(model.params[f"W{i}"], expected)
    assert sorted(model.params) == sorted(
        ["W1", "W2", "W3", "b1", "b2", "b3", "gamma1", "gamma2", "beta1", "beta2"]
    )
    assert all(v.dtype == np.float32 for v in model.params.values())
    assert model.num_layers == 3 and model.normalization == "batchnorm"
    assert model.use_dropout is False and model.dropout_param == {}
    assert [bp["mode"] for bp in model.bn_params] == ["train", "train"]
    ln = FullyConnectedNet([4, 3], input_dim=6, normalization="layernorm")
    assert ln.bn_params == [{}, {}]
    assert FullyConnectedNet([4], input_dim=6).bn_params == []


def test_fc_course_seed_fixes_the_dropout_mask(rng):
    np.random.seed(5)
    a = FullyConnectedNet([30], input_dim=5, num_classes=3, dropout_keep_ratio=0.5, seed=123)
    np.random.seed(5)
    b = FullyConnectedNet([30], input_dim=5, num_classes=3, dropout_keep_ratio=0.5)
    # The course's seed does not change the init (global state) ...
    np.testing.assert_array_equal(a.params["W1"], b.params["W1"])
    assert a.dropout_param == {"mode": "train", "p": 0.5, "seed": 123}
    assert a.rng is None
    # ... and gives the same mask on every call.
    X, y = rng.standard_normal((8, 5)), rng.integers(3, size=8)
    assert a.loss(X, y)[0] == a.loss(X, y)[0]


def test_fc_rng_draws_fresh_masks_and_leaves_global_state(rng):
    X, y = rng.standard_normal((8, 5)), rng.integers(3, size=8)
    np.random.seed(9)
    state = np.random.get_state()[1].copy()
    a = FullyConnectedNet([30], input_dim=5, num_classes=3, dropout_keep_ratio=0.5, rng=7)
    la = [a.loss(X, y)[0] for _ in range(3)]
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    assert len(set(la)) == 3, "a fresh dropout mask on every call"
    b = FullyConnectedNet([30], input_dim=5, num_classes=3, dropout_keep_ratio=0.5, rng=7)
    assert [b.loss(X, y)[0] for _ in range(3)] == la
    assert a.dropout_param["rng"] is a.rng
    gen = np.random.default_rng(7)
    c = FullyConnectedNet([30], input_dim=5, num_classes=3, dropout_keep_ratio=0.5, rng=gen)
    assert c.rng is gen


def test_fc_test_mode_is_deterministic_and_sets_modes(rng):
    model = small_net("batchnorm", keep=0.5, rng=1)
    X, _ = data(rng)
    s1, s2 = model.loss(X), model.loss(X)
    np.testing.assert_array_equal(s1, s2)
    assert model.dropout_param["mode"] == "test"
    assert all(bp["mode"] == "test" for bp in model.bn_params)


@pytest.mark.parametrize(("old", "expected"), [(0.75, 0.75), (1, 1.0)])
def test_fc_dropout_is_the_older_name(old, expected):
    model = FullyConnectedNet([4], input_dim=3, dropout=old)
    assert model.get_config()["dropout_keep_ratio"] == expected
    assert model.use_dropout == (expected != 1)


def test_fc_dropout_and_keep_ratio_together_is_an_error():
    with pytest.raises(ValueError, match="dropout_keep_ratio or its older name dropout"):
        FullyConnectedNet([4], input_dim=3, dropout_keep_ratio=0.5, dropout=0.5)


def test_fc_float32(rng):
    model = FullyConnectedNet([8], input_dim=5, num_classes=3, normalization="batchnorm", rng=0)
    X, y = rng.standard_normal((4, 5)), rng.integers(3, size=4)  # float64 in, cast to float32
    assert model.loss(X).dtype == np.float32
    loss, grads = model.loss(X, y)
    assert isinstance(loss, float)
    assert all(g.dtype == np.float32 for g in grads.values())


def test_fc_no_input_mutation(rng):
    X, y = data(rng)
    assert_no_mutation_of_input(small_net("batchnorm", keep=0.5, rng=0), X, y)


@pytest.mark.parametrize("num_hidden", [2, 4])
def test_fc_overfits_50_examples(num_hidden):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3, 32, 32)).astype(np.float32)
    y = rng.integers(10, size=50)
    model = FullyConnectedNet([100] * num_hidden, init="kaiming", rng=1)
    acc = overfit(model, X, y, epochs=20, batch_size=25, lr=1e-3)
    assert acc == 1.0


@pytest.mark.parametrize(
    "model",
    [
        TwoLayerNet(input_dim=6, hidden_dim=4, num_classes=3, rng=2),
        FullyConnectedNet([4, 3], input_dim=6, normalization="layernorm", dropout_keep_ratio=0.5),
        FullyConnectedNet([4], input_dim=6, rng=3, init="kaiming", dtype=np.float64, reg=0.1),
        FullyConnectedNet([4], input_dim=6, seed=3, dropout=0.9),
    ],
    ids=["two_layer", "layernorm", "kaiming64", "course_seed"],
)
def test_fc_config_round_trip(model):
    assert_config_round_trip(model)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hidden_dims": [4, 0]}, "hidden_dims entry must be a positive integer"),
        ({"hidden_dims": 4}, "hidden_dims must be a list of positive ints"),
        ({"hidden_dims": [4], "input_dim": -1}, "input_dim must be a positive integer"),
        ({"hidden_dims": [4], "normalization": "groupnorm"}, "normalization must be one of None"),
        ({"hidden_dims": [4], "dropout_keep_ratio": 0}, r"dropout_keep_ratio must be in \(0, 1\]"),
        ({"hidden_dims": [4], "reg": -1}, "reg must be a finite number >= 0"),
        ({"hidden_dims": [4], "dtype": np.int32}, "dtype must be a floating-point dtype"),
        ({"hidden_dims": [4], "init": "orthogonal"}, "init must be one of"),
        ({"hidden_dims": [4], "seed": 1, "rng": 2}, "give seed .* or rng .*, not both"),
        ({"hidden_dims": [4], "rng": "x"}, "rng must be None, a non-negative int seed"),
    ],
)
def test_fc_bad_constructor_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FullyConnectedNet(**kwargs)


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (np.zeros((4, 6)), None, r"X must have shape \(N, ...\) with 5 features per row"),
        (np.zeros(5), None, r"X must have shape \(N, ...\) with 5 features"),
        (np.zeros((4, 5)), np.array([0, 1, 2, 4]), r"y must be in \[0, 4\), got label 4"),
        (np.zeros((4, 5)), np.array([0, 1, 2]), r"y must have shape \(4,\)"),
        (np.zeros((4, 5)), np.array([0.0, 1, 2, 3]), "y must hold integer class labels"),
    ],
)
def test_fc_bad_loss_inputs(X, y, match):
    model = small_net(rng=0)
    with pytest.raises(ValueError, match=match):
        model.loss(X, y)


def test_star_import_exposes_every_layer_function():
    ns = {}
    exec("from numnet.classifiers.fc_net import *", ns)
    import numnet.layer_utils
    import numnet.layers

    wanted = set(numnet.layers.__all__) | set(numnet.layer_utils.__all__)
    assert wanted - set(ns) == set()
    assert {"TwoLayerNet", "FullyConnectedNet"} <= set(ns)
