"""Model summaries (``numnet.babysit.summary``, ``numnet summary``).

Shapes equal the real forward's, FLOPs follow the formula, params the model's, and a config that
does not fit names its layer.
"""

import math

import numpy as np
import pytest
from _babysit_testlib import assert_one_line_error
from _cli_testlib import run_cli

from numnet.babysit.summary import ShapeError, format_summary, summarize, window_output
from numnet.classifiers import (
    ConvNet,
    FullyConnectedNet,
    ThreeLayerConvNet,
    TwoLayerNet,
    _affine_stack,
    cnn,
    convnet,
)

N = 3

MODELS = {
    "TwoLayerNet": lambda: TwoLayerNet(20, 7, 5, rng=0),
    "FC plain": lambda: FullyConnectedNet([9, 6], input_dim=20, num_classes=5, rng=0),
    "FC batchnorm dropout": lambda: FullyConnectedNet(
        [9, 6], input_dim=20, num_classes=5, normalization="batchnorm", dropout_keep_ratio=0.7,
        rng=0),
    "FC layernorm": lambda: FullyConnectedNet(
        [9], input_dim=20, num_classes=5, normalization="layernorm", rng=0),
    "ThreeLayerConvNet": lambda: ThreeLayerConvNet((3, 10, 12), 4, 5, 7, 5, rng=0),
    "ThreeLayerConvNet 1x28x28 fs3": lambda: ThreeLayerConvNet((1, 28, 28), 2, 3, 6, 10, rng=0),
    "ConvNet default-like": lambda: ConvNet((1, 28, 28), (4, 6), hidden_dims=(8,), rng=0),
    "ConvNet 2 per stage, dropout": lambda: ConvNet(
        (3, 16, 16), (4, 8), convs_per_stage=2, hidden_dims=(8, 7), dropout_keep_ratio=0.5,
        rng=0),
    "ConvNet groupnorm 5x5": lambda: ConvNet(
        (2, 12, 12), (4, 8), filter_size=5, normalization="groupnorm", groups=2,
        hidden_dims=(6,), rng=0),
    "ConvNet layernorm": lambda: ConvNet((1, 8, 8), (3,), normalization="layernorm", rng=0),
    "ConvNet no norm, no pool": lambda: ConvNet(
        (1, 6, 6), (3, 4), pool=False, normalization=None, hidden_dims=(), rng=0),
}  # fmt: skip


def _record(monkeypatch):
    """Wrap every forward the models call; returns the list of (kind, output shape) it fills."""
    seen = []

    def wrap(fn, kind):
        def recorded(*args, **kwargs):
            out = fn(*args, **kwargs)
            seen.append((kind, out[0].shape))
            return out

        return recorded

    for module, names in (
        (convnet, {"conv_forward_fast": "conv", "max_pool_forward_fast": "pool",
                   "relu_forward": "relu", "spatial_batchnorm_forward": "batchnorm",
                   "spatial_groupnorm_forward": "groupnorm"}),
        (_affine_stack, {"affine_forward": "affine", "relu_forward": "relu",
                         "dropout_forward": "dropout"}),
        (cnn, {"conv_relu_pool_forward_fast": "pool", "affine_relu_forward": "relu",
               "affine_forward": "affine"}),
    ):  # fmt: skip
        for name, kind in names.items():
            monkeypatch.setattr(module, name, wrap(getattr(module, name), kind))
    for kind, (fwd, bwd) in list(_affine_stack.NORMS.items()):
        monkeypatch.setitem(_affine_stack.NORMS, kind, (wrap(fwd, kind), bwd))
    return seen


def _forward(model):
    rng = np.random.default_rng(1)
    dim = model.input_dim
    shape = tuple(dim) if isinstance(dim, tuple) else (dim,)
    X = rng.standard_normal((N, *shape))
    model.loss(X, rng.integers(0, model.num_classes, N))


@pytest.mark.parametrize("name", MODELS)
def test_shapes_equal_the_real_forward(name, monkeypatch):
    model = MODELS[name]()
    seen = _record(monkeypatch)
    _forward(model)
    rows = summarize(model.get_config(), batch_size=N).rows[1:]
    if isinstance(model, ThreeLayerConvNet):  # fused kernels: their outputs are these rows
        rows = [r for r in rows if r.name in ("pool1", "relu2", "scores")]
    expected = [(r.kind, (N, *r.shape)) for r in rows]
    assert seen == expected


@pytest.mark.parametrize("name", MODELS)
def test_params_per_layer_and_total_are_the_models(name):
    model = MODELS[name]()
    s = summarize(model.get_config(), batch_size=N)
    assert s.total_params == model.num_params()
    p = model.params
    for r in s.rows:
        i = "".join(c for c in r.name if c.isdigit())
        if r.kind in ("conv", "affine"):
            i = i or str(max(int(k[1:]) for k in p if k.startswith("W")))  # "scores": the last
            assert r.params == p[f"W{i}"].size + p[f"b{i}"].size, r
        elif r.kind in ("batchnorm", "layernorm", "groupnorm"):
            assert r.params == p[f"gamma{i}"].size + p[f"beta{i}"].size, r
        else:
            assert r.params == 0, r


@pytest.mark.parametrize("name", MODELS)
def test_conv_and_affine_flops_follow_the_formulas(name):
    model = MODELS[name]()
    s = summarize(model.get_config(), batch_size=N)
    prev = s.rows[0]
    for r in s.rows[1:]:
        if r.kind == "conv":
            cout, ho, wo = r.shape
            w = model.params[f"W{r.name[4:]}"]
            assert w.shape[0] == cout
            cin, f = w.shape[1], w.shape[2]
            assert r.flops == 2 * N * cout * ho * wo * cin * f * f, r
        elif r.kind == "affine":
            assert r.flops == 2 * N * math.prod(prev.shape) * r.shape[0], r
        assert r.activation_bytes == N * math.prod(r.shape) * np.dtype(model.dtype).itemsize
        prev = r


def test_default_convnet_numbers():
    """The recipe's network: conv2 is 2*64*64*14*14*32*3*3 FLOPs for a batch of 64."""
    s = summarize(ConvNet(rng=0).get_config(), batch_size=64)
    conv2 = next(r for r in s.rows if r.name == "conv2")
    assert conv2.shape == (64, 14, 14)
    assert conv2.flops == 2 * 64 * 64 * 14 * 14 * 32 * 3 * 3 == 462_422_016
    assert s.total_params == 422_090
    text = format_summary(s)
    assert "conv2" in text and "(64, 64, 14, 14)" in text and "422,090" in text


@pytest.mark.parametrize(
    ("args", "expected"), [((32, 5, 2, 1), 32), ((7, 3, 0, 2), 3), ((28, 2, 0, 2), 14)]
)
def test_window_output_is_the_lecture_formula(args, expected):
    assert window_output(*args, layer="conv1", axis="W") == expected


@pytest.mark.parametrize(
    ("args", "shown"), [((8, 3, 0, 2), "= 3.5"), ((2, 5, 1, 1), "= 0"), ((7, 2, 0, 2), "= 3.5")]
)
def test_window_that_does_not_fit_names_the_layer(args, shown):
    with pytest.raises(ShapeError, match="pool2") as e:
        window_output(*args, layer="pool2", axis="H")
    assert shown in str(e.value) and e.value.layer == "pool2"


def test_too_many_pools_name_the_stage_that_does_not_fit():
    config = {"name": "ConvNet", "input_dim": [1, 28, 28], "conv_channels": [4, 4, 4, 4]}
    with pytest.raises(ShapeError, match=r"^pool3: input H = 7 .* = 3\.5"):
        summarize(config)


@pytest.mark.parametrize(
    ("config", "batch", "match"),
    [({"name": "ResNet"}, 4, "summary knows the models"),
     (ConvNet(rng=0).get_config(), 0, "batch_size must be an int >= 1")],
)  # fmt: skip
def test_bad_arguments(config, batch, match):
    with pytest.raises(ValueError, match=match):
        summarize(config, batch)


def test_command_prints_the_default_models_table(capsys):
    code, out, err = run_cli(capsys, "summary")
    assert code == 0, err
    assert out.startswith("ConvNet for fashion-mnist, batch 64, float32 (422,090 params)")
    assert "(64, 32, 28, 28)" in out and "462.42 M" in out
    assert out.splitlines()[-1].split()[:2] == ["total", "422,090"]


def test_command_takes_the_train_options(capsys):
    code, out, err = run_cli(capsys, "summary", "--model", "fc", "--hidden-dims", "30",
                             "--batch-size", "8", "--norm", "none")  # fmt: skip
    assert code == 0, err
    assert "(8, 30)" in out and "784 -> 30" in out and "norm" not in out


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["--filters", "8,8,8,8"], ["pool3: input H = 7", "= 3.5", "1x28x28"]),
        (["--model", "threelayer", "--filter-size", "4"], ["pool1: input H = 27", "= 13.5"]),
        (["--batch-size", "0"], ["argument --batch-size"]),
        (["--model", "fc", "--norm", "groupnorm"], ["--norm groupnorm needs conv layers"]),
        (["--out", "x"], ["unrecognized arguments: --out"]),
    ],
)
def test_command_bad_inputs_are_one_line_errors(argv, fragments, capsys):
    code, _, err = run_cli(capsys, "summary", *argv)
    assert_one_line_error(err, code, 2, *fragments)
