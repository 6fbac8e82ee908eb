"""The shared model contract: build_model, buffers, freeze, load_params, predict."""

import warnings

import numpy as np
import pytest

from numnet.classifiers import (
    MODEL_REGISTRY,
    ConvNet,
    FullyConnectedNet,
    ThreeLayerConvNet,
    TwoLayerNet,
    build_model,
)


def bn_net(**kw):
    return FullyConnectedNet([6, 5], input_dim=4, num_classes=3, normalization="batchnorm", **kw)


def test_registry_names():
    assert sorted(MODEL_REGISTRY) == [
        "ConvNet",
        "FullyConnectedNet",
        "LinearClassifier",
        "ThreeLayerConvNet",
        "TwoLayerNet",
    ]


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"name": "ResNet"}, "config name must be one of 'TwoLayerNet', 'FullyConnectedNet'"),
        ({"hidden_dims": [3]}, 'config must be a dict with a "name" key'),
        ("FullyConnectedNet", 'config must be a dict with a "name" key'),
        ({"name": "FullyConnectedNet"}, "config does not fit FullyConnectedNet: .*hidden_dims"),
        ({"name": "ConvNet", "depth": 3}, "config does not fit ConvNet: .*depth"),
        ({"name": "ConvNet", "groups": 0}, "groups must be a positive integer"),
    ],
)
def test_build_model_errors(config, match):
    with pytest.raises(ValueError, match=match):
        build_model(config)


def test_buffers_round_trip_and_copies(rng):
    model = bn_net(rng=0)
    X, y = rng.standard_normal((8, 4)), rng.integers(3, size=8)
    for _ in range(3):
        model.loss(X, y)
    buf = model.buffers()
    assert sorted(buf) == [
        "bn1.running_mean",
        "bn1.running_var",
        "bn2.running_mean",
        "bn2.running_var",
    ]
    buf["bn1.running_mean"][:] = 123.0  # a copy: the model is unchanged
    assert not np.any(model.bn_params[0]["running_mean"] == 123.0)
    fresh = bn_net(rng=1)
    fresh.load_params(model)
    fresh.load_buffers(model.buffers())
    np.testing.assert_array_equal(fresh.loss(X), model.loss(X))


def test_models_without_running_stats_have_no_buffers():
    assert FullyConnectedNet([3], input_dim=2).buffers() == {}
    FullyConnectedNet([3], input_dim=2, normalization="layernorm").load_buffers({})


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda b: b.pop("bn2.running_var"), r"missing \['bn2.running_var'\], unexpected \[\]"),
        (lambda b: b.update({"bn3.running_mean": np.zeros(5)}), r"unexpected \['bn3.running_mean'"),
        (
            lambda b: b.update({"bn1.running_mean": np.zeros(5, np.float32)}),
            r"buffer 'bn1.running_mean' must have shape \(6,\), got \(5,\)",
        ),
        (
            lambda b: b.update({"bn1.running_var": np.zeros(6)}),
            "buffer 'bn1.running_var' must have dtype float32, got float64",
        ),
    ],
)
def test_load_buffers_errors_load_nothing(change, match):
    model = bn_net(rng=0)
    good = {k: v + 1 for k, v in model.buffers().items()}
    bad = dict(good)
    change(bad)
    with pytest.raises(ValueError, match=match):
        model.load_buffers(bad)
    assert all(np.all(v == 0) for v in model.buffers().values())


def test_freeze_and_unfreeze():
    model = bn_net(rng=0)
    assert model.frozen == set()
    model.freeze("W1", "b1")
    assert model.frozen == {"W1", "b1"}
    model.unfreeze("b1")
    assert model.frozen == {"W1"}
    model.unfreeze()
    assert model.frozen == set()
    with pytest.raises(ValueError, match=r"unknown param name\(s\) \['W9'\]"):
        model.freeze("W1", "W9")


def test_load_params_transfer_with_names_and_strict():
    src = ConvNet(input_dim=(1, 8, 8), conv_channels=(4,), hidden_dims=(6,), rng=0)
    # Same trunk, new head with 5 classes: reuse the conv layer only.
    dst = ConvNet(input_dim=(1, 8, 8), conv_channels=(4,), hidden_dims=(6,), num_classes=5, rng=1)
    trunk = ["W1", "b1", "gamma1", "beta1"]
    assert dst.load_params(src, names=trunk) == sorted(trunk)
    for k in trunk:
        np.testing.assert_array_equal(dst.params[k], src.params[k])
        assert dst.params[k] is not src.params[k]
    with pytest.raises(ValueError, match=r"param 'W3' must have shape \(6, 5\), got \(6, 10\)"):
        dst.load_params(src.params, names=["W2", "W3"])
    with pytest.raises(ValueError, match=r"param 'W3' must have shape \(6, 5\), got \(6, 10\)"):
        dst.load_params(src.params, strict=False)
    with pytest.raises(ValueError, match=r"src params do not match the model: missing \['b3'\]"):
        dst.load_params({k: v for k, v in dst.params.items() if k != "b3"})
    with pytest.raises(ValueError, match=r"src has no param\(s\) \['W2'\]"):
        dst.load_params({"W1": src.params["W1"]}, names=["W1", "W2"])
    with pytest.raises(ValueError, match="src must be a params dict or a model"):
        dst.load_params([1, 2])


def test_load_params_casts_to_model_dtype():
    a = FullyConnectedNet([3], input_dim=2, dtype=np.float64, rng=0)
    b = FullyConnectedNet([3], input_dim=2, dtype=np.float32, rng=1)
    b.load_params(a)
    assert all(v.dtype == np.float32 for v in b.params.values())
    np.testing.assert_allclose(b.params["W1"], a.params["W1"], rtol=1e-7)


@pytest.mark.parametrize("batch_size", [1, 3, 100])
def test_predict_is_the_argmax_of_the_scores(batch_size, rng):
    model = bn_net(rng=0, dropout_keep_ratio=0.5)
    X = rng.standard_normal((7, 4))
    np.testing.assert_array_equal(model.predict(X, batch_size), model.loss(X).argmax(axis=1))


def test_predict_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        bn_net(rng=0).predict(np.zeros((2, 4)), batch_size=0)


# ------------------------------------------------------------- seed, the old name of rng
#: The models whose ``seed`` meant their Generator and is now ``rng`` (FullyConnectedNet keeps the
#: course's ``seed``, its fixed dropout mask).
RENAMED_SEED = {
    "TwoLayerNet": lambda **kw: TwoLayerNet(6, 5, 3, **kw),
    "ThreeLayerConvNet": lambda **kw: ThreeLayerConvNet((1, 4, 4), 2, 3, 5, 3, **kw),
    "ConvNet": lambda **kw: ConvNet((1, 4, 4), (2,), hidden_dims=(5,), num_classes=3, **kw),
}


def assert_same_params(a, b):
    assert sorted(a.params) == sorted(b.params)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k], err_msg=k)


@pytest.mark.parametrize("name", sorted(RENAMED_SEED))
def test_seed_is_a_deprecated_rng(name):
    build = RENAMED_SEED[name]
    new = build(rng=4)
    with pytest.warns(DeprecationWarning, match=rf"{name}\(seed=...\) is deprecated; use rng="):
        old = build(seed=4)
    assert_same_params(old, new)
    assert isinstance(old.rng, np.random.Generator)
    assert old.get_config() == new.get_config()
    assert new.get_config()["rng"] == 4 and "seed" not in new.get_config()
    with pytest.raises(ValueError, match="give rng or its deprecated name seed, not both"):
        build(rng=1, seed=1)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="seed must be None, a"):
        build(seed=-1)


@pytest.mark.parametrize("name", sorted(RENAMED_SEED))
def test_build_model_reads_old_seed_configs_quietly(name):
    new = RENAMED_SEED[name](rng=7)
    old_config = {k: v for k, v in new.get_config().items() if k != "rng"}
    old_config["seed"] = 7  # what get_config wrote before the rename
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rebuilt = build_model(old_config)
    assert_same_params(rebuilt, new)
    assert rebuilt.get_config() == new.get_config()


@pytest.mark.parametrize("name", sorted(RENAMED_SEED))
def test_rng_takes_a_generator(name):
    build = RENAMED_SEED[name]
    a = build(rng=np.random.default_rng(3))
    assert_same_params(a, build(rng=3))
    assert a.get_config()["rng"] is None  # a Generator is not JSON


def test_fully_connected_net_keeps_the_course_seed():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = FullyConnectedNet([4], input_dim=3, dropout_keep_ratio=0.5, seed=3)
    assert model.dropout_param["seed"] == 3 and model.rng is None
    config = model.get_config()
    assert config["seed"] == 3 and config["rng"] is None
    assert build_model(config).dropout_param["seed"] == 3
