"""Every layer keeps the input dtype and never mutates its inputs, its dout or its cache."""

import numpy as np
import pytest
from _layers_testlib import assert_same, on, snapshot

from numnet import layers as L
from numnet.backend import get_array_module


def _bn(mode):
    return lambda r, D: {"mode": mode, "running_mean": r(D), "running_var": 1 + r(D) ** 2}


# name -> (forward, input builder (rand, dtype) -> args, backward or None for losses)
CASES = {
    "affine": (L.affine_forward, lambda r: [r(3, 2, 3), r(6, 4), r(4)], L.affine_backward),
    "relu": (L.relu_forward, lambda r: [r(3, 4)], L.relu_backward),
    "leaky_relu": (L.leaky_relu_forward, lambda r: [r(3, 4)], L.leaky_relu_backward),
    "sigmoid": (L.sigmoid_forward, lambda r: [r(3, 4)], L.sigmoid_backward),
    "tanh": (L.tanh_forward, lambda r: [r(3, 4)], L.tanh_backward),
    "softmax_loss": (L.softmax_loss, lambda r: [r(5, 3), np.array([0, 2, 1, 1, 0])], None),
    "svm_loss": (L.svm_loss, lambda r: [r(5, 3), np.array([0, 2, 1, 1, 0])], None),
    "batchnorm_train": (
        L.batchnorm_forward,
        lambda r: [r(6, 3), r(3), r(3), _bn("train")(r, 3)],
        L.batchnorm_backward,
    ),
    "batchnorm_train_alt": (
        L.batchnorm_forward,
        lambda r: [r(6, 3), r(3), r(3), _bn("train")(r, 3)],
        L.batchnorm_backward_alt,
    ),
    "batchnorm_test": (
        L.batchnorm_forward,
        lambda r: [r(6, 3), r(3), r(3), _bn("test")(r, 3)],
        L.batchnorm_backward,
    ),
    "batchnorm_default_stats": (
        L.batchnorm_forward,
        lambda r: [r(6, 3), r(3), r(3), {"mode": "train"}],
        L.batchnorm_backward_alt,
    ),
    "spatial_batchnorm_train": (
        L.spatial_batchnorm_forward,
        lambda r: [r(2, 3, 4, 5), r(3), r(3), _bn("train")(r, 3)],
        L.spatial_batchnorm_backward,
    ),
    "spatial_batchnorm_test": (
        L.spatial_batchnorm_forward,
        lambda r: [r(2, 3, 4, 5), r(3), r(3), _bn("test")(r, 3)],
        L.spatial_batchnorm_backward,
    ),
    "layernorm": (
        L.layernorm_forward,
        lambda r: [r(4, 5), r(5), r(5), {"mode": "train"}],
        L.layernorm_backward,
    ),
    "spatial_groupnorm": (
        L.spatial_groupnorm_forward,
        lambda r: [r(2, 6, 3, 4), r(1, 6, 1, 1), r(1, 6, 1, 1), 3, {}],
        L.spatial_groupnorm_backward,
    ),
    "dropout_train_seed": (
        L.dropout_forward,
        lambda r: [r(4, 5), {"mode": "train", "p": 0.6, "seed": 3}],
        L.dropout_backward,
    ),
    "dropout_train_rng": (
        L.dropout_forward,
        lambda r: [r(4, 5), {"mode": "train", "p": 0.6, "rng": np.random.default_rng(3)}],
        L.dropout_backward,
    ),
    "dropout_test": (
        L.dropout_forward,
        lambda r: [r(4, 5), {"mode": "test", "p": 0.6}],
        L.dropout_backward,
    ),
    "conv_naive": (
        L.conv_forward_naive,
        lambda r: [r(2, 3, 5, 6), r(4, 3, 3, 3), r(4), {"stride": 1, "pad": 1}],
        L.conv_backward_naive,
    ),
    "max_pool_naive": (
        L.max_pool_forward_naive,
        lambda r: [r(2, 3, 4, 6), {"pool_height": 2, "pool_width": 2, "stride": 2}],
        L.max_pool_backward_naive,
    ),
}


def _build(name, dtype, xp):
    gen = np.random.default_rng(7)
    rand = lambda *shape: gen.standard_normal(shape).astype(dtype)  # noqa: E731
    forward, build, backward = CASES[name]
    return forward, on(xp, build(rand)), backward


def _as_tuple(grads):
    return grads if isinstance(grads, tuple) else (grads,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", CASES)
def test_forward_and_backward_keep_dtype(xp, name, dtype):
    forward, args, backward = _build(name, dtype, xp)
    out, cache = forward(*args)
    if backward is None:  # a loss: (loss, dx)
        assert out.dtype == dtype and cache.dtype == dtype
        assert get_array_module(out, cache) is xp
        return
    assert out.dtype == dtype and get_array_module(out) is xp
    dout = xp.asarray(np.ones(out.shape, dtype=dtype))
    grads = _as_tuple(backward(dout, cache))
    for i, g in enumerate(grads):
        assert g.dtype == dtype and get_array_module(g) is xp, f"gradient {i}"
    if "batchnorm" in name:
        assert args[-1]["running_mean"].dtype == dtype
        assert args[-1]["running_var"].dtype == dtype


@pytest.mark.parametrize("name", CASES)
def test_forward_and_backward_do_not_mutate(xp, name):
    forward, args, backward = _build(name, np.float64, xp)
    before = snapshot(args)
    # Shallow copies of the param dicts: batchnorm may rebind its running statistics in the dict
    # (documented), but never writes into the arrays it was given.
    given = [dict(a) if isinstance(a, dict) else a for a in args]
    out, cache = forward(*args)
    assert_same(before, given, "inputs")
    if "batchnorm" not in name:
        assert_same(before, args, "inputs")
    if backward is None:
        return
    dout = xp.asarray(np.random.default_rng(1).standard_normal(out.shape))
    dout_before, cache_before = snapshot(dout), snapshot(cache)
    backward(dout, cache)
    assert_same(dout_before, dout, "dout")
    assert_same(cache_before, cache, "cache")
    assert_same(before, given, "inputs")
