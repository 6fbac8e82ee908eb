"""ConvNet's fused channels-last conv blocks give the course's layer-by-layer results.

``ConvNet.loss`` with batch norm runs one fused conv-BN-[pool]-ReLU block per conv layer on
channels-last activations (numnet.kernels.conv_bn_relu_nhwc); here it is compared with the course's
layers composed on (N, C, H, W) arrays, as ConvNet computed it before: scores, loss, every
gradient and the running statistics. Tolerances: float64 relative 1e-9 (the conv GEMMs and the
per-channel sums add in another order); float32 relative 2e-4 of each array's largest value.
"""

import copy

import numpy as np
import pytest
from _guard_xp import count_host_syncs, guard_xp

import numnet.fast_layers as fl
from numnet.backend import get_array_module, to_numpy
from numnet.classifiers import ConvNet
from numnet.classifiers._affine_stack import affine_stack_backward, affine_stack_forward
from numnet.layers import (
    relu_backward,
    relu_forward,
    softmax_loss,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
)

POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}

NETS = {
    "default recipe, small": dict(input_dim=(1, 12, 12), conv_channels=(4, 6), hidden_dims=(8,)),
    "long recipe, small": dict(
        input_dim=(1, 12, 12), conv_channels=(4, 6), convs_per_stage=2, hidden_dims=(9,),
        dropout_keep_ratio=0.5),
    "cifar-like, 5x5, no pool": dict(
        input_dim=(3, 8, 8), conv_channels=(5, 6), filter_size=5, pool=False, hidden_dims=(7,)),
    "convs only": dict(input_dim=(3, 8, 8), conv_channels=(6,), hidden_dims=()),
}  # fmt: skip


def _layered_loss(model, X, y):
    """The ConvNet's loss computed layer by layer with the course's (N, C, H, W) layers."""
    mode = "test" if y is None else "train"
    for bp in model.bn_params:
        bp["mode"] = mode
    if model.use_dropout:
        model.dropout_param["mode"] = mode
    p, L = model.params, model.num_layers
    h, caches = X, []
    for i in range(1, model.num_conv + 1):
        h, c_conv = fl.conv_forward_fast(h, p[f"W{i}"], p[f"b{i}"], model.conv_param)
        h, c_norm = spatial_batchnorm_forward(
            h, p[f"gamma{i}"], p[f"beta{i}"], model.bn_params[i - 1]
        )
        c_pool = None
        if model._conv_pool[i - 1]:
            h, c_pool = fl.max_pool_forward_fast(h, POOL)
        h, c_relu = relu_forward(h)
        caches.append((c_conv, c_norm, c_pool, c_relu))
    scores, c_fc = affine_stack_forward(
        h, p, range(model.num_conv + 1, L + 1), "batchnorm", model.bn_params,
        model.dropout_param if model.use_dropout else None,
    )  # fmt: skip
    if y is None:
        return scores
    loss, dscores = softmax_loss(scores, y)
    dh, grads = affine_stack_backward(dscores, c_fc, need_dx=True)
    for i in range(model.num_conv, 0, -1):
        c_conv, c_norm, c_pool, c_relu = caches[i - 1]
        dh = relu_backward(dh, c_relu)
        if c_pool is not None:
            dh = fl.max_pool_backward_fast(dh, c_pool)
        dh, grads[f"gamma{i}"], grads[f"beta{i}"] = spatial_batchnorm_backward(dh, c_norm)
        dh, grads[f"W{i}"], grads[f"b{i}"] = fl.conv_backward_fast(dh, c_conv)
    return float(loss), grads


def _close(got, want, rtol, name):
    """``|got - want| <= rtol * max|want|`` elementwise."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-30)
    assert np.abs(got - want).max(initial=0.0) <= rtol * scale, name


@pytest.mark.parametrize(
    ("dtype", "rtol"), [(np.float64, 1e-9), (np.float32, 2e-4)], ids=["float64", "float32"]
)
@pytest.mark.parametrize("net", NETS)
def test_loss_grads_and_running_stats_equal_the_layered_path(net, dtype, rtol, rng):
    fused = ConvNet(**NETS[net], rng=3, dtype=dtype)
    fused.params = {k: v + dtype(0.1) * rng.standard_normal(v.shape).astype(dtype)
                    for k, v in fused.params.items()}  # fmt: skip
    layered = copy.deepcopy(fused)
    X = rng.standard_normal((5, *fused.input_dim)).astype(dtype)
    y = rng.integers(0, fused.num_classes, 5)
    for _ in range(2):  # the second step normalises with running statistics updated once
        loss, grads = fused.loss(X, y)
        want_loss, want_grads = _layered_loss(layered, X, y)
        _close(loss, want_loss, rtol, "loss")
        assert set(grads) == set(fused.params)
        for k in fused.params:
            assert grads[k].shape == fused.params[k].shape and grads[k].dtype == dtype, k
            # Batch norm follows every layer but the last and removes its bias: those biases'
            # gradients are roundoff around 0, compared against the layer's weight gradient.
            i = int(k.lstrip("Wbgamet"))
            if k == f"b{i}" and i < fused.num_layers:
                scale = float(np.abs(want_grads[f"W{i}"]).max())
                assert float(np.abs(grads[k] - want_grads[k]).max()) <= rtol * scale, k
            else:
                _close(grads[k], want_grads[k], rtol, k)
        for bp, bp_ref in zip(fused.bn_params, layered.bn_params):
            for key in ("running_mean", "running_var"):
                assert bp[key].dtype == dtype
                _close(bp[key], bp_ref[key], rtol, key)
    _close(fused.loss(X), _layered_loss(layered, X, None), rtol, "test-mode scores")


def test_param_and_buffer_names_are_unchanged():
    # Checkpoints of ConvNets saved before the fused path hold these names.
    model = ConvNet(convs_per_stage=2, hidden_dims=(16,), rng=0)
    names = [f"{k}{i}" for i in range(1, 7) for k in ("W", "b")]
    names += [f"{k}{i}" for i in range(1, 6) for k in ("gamma", "beta")]
    assert sorted(model.params) == sorted(names)
    assert sorted(model.buffers()) == sorted(
        f"bn{i}.{k}" for i in range(1, 6) for k in ("running_mean", "running_var")
    )


@pytest.mark.parametrize("net", NETS)
def test_the_fused_path_runs_on_every_array_backend(xp, net, rng):
    # The guard takes CuPy's branches and refuses any host read or stray NumPy call: the fused
    # blocks (dense and position-row columns, the full convolution for dx, pooling) stay on xp.
    host = ConvNet(**NETS[net], rng=3, dtype=np.float32)
    device = copy.deepcopy(host).to(xp)
    X = rng.standard_normal((5, *host.input_dim)).astype(np.float32)
    y = rng.integers(0, host.num_classes, 5)
    want_loss, want_grads = host.loss(X, y)
    with count_host_syncs() as syncs:
        loss, grads = device.loss(xp.asarray(X), y)  # labels checked on the host
    if xp is guard_xp:
        assert syncs.count == 0, syncs.events
    rtol = {"numpy": 0.0, "cupy": 1e-3}.get(xp.__name__, 1e-4)
    _close(to_numpy(loss), want_loss, rtol, "loss")
    for k, g in grads.items():
        assert get_array_module(g) is xp, k
        i = int(k.lstrip("Wbgamet"))
        ref = want_grads[f"W{i}"] if k == f"b{i}" and i < host.num_layers else want_grads[k]
        scale = max(float(np.abs(ref).max()), 1e-30)
        assert float(np.abs(to_numpy(g) - want_grads[k]).max()) <= rtol * scale + 1e-7, k
    for bp, bp_ref in zip(device.bn_params, host.bn_params):
        _close(to_numpy(bp["running_mean"]), bp_ref["running_mean"], rtol, "running_mean")
    _close(to_numpy(device.loss(xp.asarray(X))), host.loss(X), rtol, "test-mode scores")


def _layered_conv_outputs(model, X, mode):
    """Each conv layer's output (N, C, H, W) through the course's layers, in ``mode``."""
    outs, h, p = [], X, model.params
    for i in range(1, model.num_conv + 1):
        bp = dict(model.bn_params[i - 1], mode=mode)  # leaves the model's statistics alone
        h, _ = fl.conv_forward_fast(h, p[f"W{i}"], p[f"b{i}"], model.conv_param)
        h, _ = spatial_batchnorm_forward(h, p[f"gamma{i}"], p[f"beta{i}"], bp)
        if model._conv_pool[i - 1]:
            h, _ = fl.max_pool_forward_fast(h, POOL)
        h = np.maximum(h, 0)
        outs.append(h)
    return outs


def test_features_and_kept_activations_equal_the_layered_path(rng):
    # A training forward with keep_activations gives each fused block's output as (N, C, H, W);
    # features() runs the blocks up to a layer in test mode (running statistics).
    model = ConvNet(**NETS["long recipe, small"], rng=3, dtype=np.float64)
    X = rng.standard_normal((4, *model.input_dim))
    want = _layered_conv_outputs(model, X, "train")
    model.keep_activations = True
    model.loss(X, rng.integers(0, model.num_classes, 4))
    acts = model.activations()
    for i, h in enumerate(want, start=1):
        kind, a = acts[f"layer{i}"]
        assert kind == "relu" and a.shape == h.shape
        _close(a, h, 1e-9, f"layer{i}")
    model.keep_activations = False
    model.release_activations()
    for i, h in enumerate(_layered_conv_outputs(model, X, "test"), start=1):
        _close(model.features(X, i), h.reshape(4, -1), 1e-9, f"features {i}")
