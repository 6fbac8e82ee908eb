"""Property tests of the layers over random sizes (hypothesis).

Checked: shapes, dtypes, no mutation, and the directional numeric gradient check in float64.

Every example draws its sizes and layer settings from hypothesis and its values from a NumPy
Generator seeded by hypothesis, so the examples are reproducible. ``derandomize=True`` and no
example database make every run draw the same examples, so CI is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from _layers_testlib import assert_same, off_kink, snapshot
from hypothesis import given, settings
from hypothesis import strategies as st

from numnet import fast_layers as FL
from numnet import layers as L
from numnet.gradient_check import directional_gradient_error

SETTINGS = settings(max_examples=12, deadline=None, derandomize=True, database=None)
DTYPES = [np.float32, np.float64]

dim = st.integers(1, 4)
#: Fewest values a normalisation averages over. With two, each normalised value is +-1 whatever
#: the input (up to eps), so the input gradient is ~0 and its relative error is rounding noise.
MIN_GROUP = 3


@dataclass
class Case:
    """One layer call: ``forward(*arrays, *settings())`` and ``backward(dout, cache)``.

    ``settings`` makes fresh non-array arguments on every call (a new ``bn_param``, a dropout dict
    with a freshly seeded Generator, so every call draws the same mask). ``grads`` are the indices
    of ``arrays`` whose gradients the backward returns, in its order.
    """

    forward: Callable
    backward: Callable
    arrays: list
    settings: Callable[[], tuple]
    out_shape: tuple
    grads: tuple = (0,)

    def run(self, arrays=None):
        return self.forward(*(self.arrays if arrays is None else arrays), *self.settings())

    def as_dtype(self, dtype):
        arrays = [a.astype(dtype) for a in self.arrays]
        return Case(self.forward, self.backward, arrays, self.settings, self.out_shape, self.grads)


def backward_grads(case, dout, cache) -> tuple:
    grads = case.backward(dout, cache)
    return grads if isinstance(grads, tuple) else (grads,)


def values(draw):
    """A Generator seeded by hypothesis, for the example's array values."""
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def shape(draw, ndim_min=1):
    return tuple(draw(st.lists(dim, min_size=ndim_min, max_size=4)))


# ------------------------------------------------------------------------------ the cases
@st.composite
def affine(draw):
    r = values(draw)
    n, m, rest = draw(dim), draw(dim), shape(draw)
    d = int(np.prod(rest))
    arrays = [r.standard_normal((n, *rest)), r.standard_normal((d, m)), r.standard_normal(m)]
    return Case(L.affine_forward, L.affine_backward, arrays, tuple, (n, m), (0, 1, 2))


def elementwise(forward, backward, kink=False, settings=tuple):
    @st.composite
    def case(draw):
        x = values(draw).standard_normal(shape(draw))
        x = off_kink(x) if kink else x  # 0.1 from the kink, far beyond the check's step
        return Case(forward, backward, [x], settings, x.shape)

    return case()


@st.composite
def leaky_relu(draw):
    alpha = draw(st.floats(0.01, 0.5))
    x = off_kink(values(draw).standard_normal(shape(draw)))
    return Case(L.leaky_relu_forward, L.leaky_relu_backward, [x], lambda: (alpha,), x.shape)


def batchnorm(backward):
    @st.composite
    def case(draw):
        r = values(draw)
        n, d = draw(st.integers(MIN_GROUP, 6)), draw(dim)
        arrays = [r.standard_normal((n, d)), 1 + r.random(d), r.standard_normal(d)]
        settings = lambda: ({"mode": "train"},)  # noqa: E731
        return Case(L.batchnorm_forward, backward, arrays, settings, (n, d), (0, 1, 2))

    return case()


@st.composite
def layernorm(draw):
    r = values(draw)
    n, d = draw(dim), draw(st.integers(MIN_GROUP, 6))
    arrays = [r.standard_normal((n, d)), 1 + r.random(d), r.standard_normal(d)]
    settings = lambda: ({"mode": "train"},)  # noqa: E731
    return Case(L.layernorm_forward, L.layernorm_backward, arrays, settings, (n, d), (0, 1, 2))


@st.composite
def spatial_batchnorm(draw):
    r = values(draw)
    n, c, h, w = draw(st.integers(MIN_GROUP, 4)), draw(dim), draw(dim), draw(dim)
    arrays = [r.standard_normal((n, c, h, w)), 1 + r.random(c), r.standard_normal(c)]
    settings = lambda: ({"mode": "train"},)  # noqa: E731
    return Case(L.spatial_batchnorm_forward, L.spatial_batchnorm_backward, arrays, settings,
                (n, c, h, w), (0, 1, 2))  # fmt: skip


@st.composite
def groupnorm(draw):
    r = values(draw)
    g, per_group = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n, c, h, w = draw(dim), g * per_group, draw(st.integers(MIN_GROUP, 4)), draw(dim)
    gshape = (1, c, 1, 1)
    arrays = [r.standard_normal((n, c, h, w)), 1 + r.random(gshape), r.standard_normal(gshape)]
    return Case(L.spatial_groupnorm_forward, L.spatial_groupnorm_backward, arrays,
                lambda: (g, {}), (n, c, h, w), (0, 1, 2))  # fmt: skip


@st.composite
def dropout(draw):
    p, seed = draw(st.floats(0.2, 1.0)), draw(st.integers(0, 1000))
    x = values(draw).standard_normal(shape(draw))
    settings = lambda: ({"mode": "train", "p": p, "rng": np.random.default_rng(seed)},)  # noqa: E731
    return Case(L.dropout_forward, L.dropout_backward, [x], settings, x.shape)


def conv(forward, backward):
    @st.composite
    def case(draw):
        r = values(draw)
        n, c, f = draw(dim), draw(st.integers(1, 3)), draw(st.integers(1, 3))
        hh, ww, stride, pad = draw(dim), draw(dim), draw(st.integers(1, 2)), draw(st.integers(0, 2))
        h_out, w_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        # The input size that gives exactly (h_out, w_out): (H + 2P - HH) / S + 1.
        h, w = (h_out - 1) * stride + hh - 2 * pad, (w_out - 1) * stride + ww - 2 * pad
        while h < 1:
            h, h_out = h + stride, h_out + 1
        while w < 1:
            w, w_out = w + stride, w_out + 1
        arrays = [r.standard_normal((n, c, h, w)), r.standard_normal((f, c, hh, ww)),
                  r.standard_normal(f)]  # fmt: skip
        settings = lambda: ({"stride": stride, "pad": pad},)  # noqa: E731
        return Case(forward, backward, arrays, settings, (n, f, h_out, w_out), (0, 1, 2))

    return case()


def pool(forward, backward):
    @st.composite
    def case(draw):
        n, c = draw(dim), draw(dim)
        ph, pw, stride = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
        h, w = ph + draw(st.integers(0, 4)), pw + draw(st.integers(0, 4))
        # Distinct values 0.01 apart: no window has two maxima within the check's step.
        x = values(draw).permutation(n * c * h * w).reshape(n, c, h, w) * 0.01
        settings = lambda: ({"pool_height": ph, "pool_width": pw, "stride": stride},)  # noqa: E731
        out = (n, c, 1 + (h - ph) // stride, 1 + (w - pw) // stride)
        return Case(forward, backward, [x], settings, out)

    return case()


CASES = {
    "affine": affine(),
    "relu": elementwise(L.relu_forward, L.relu_backward, kink=True),
    "leaky_relu": leaky_relu(),
    "sigmoid": elementwise(L.sigmoid_forward, L.sigmoid_backward),
    "tanh": elementwise(L.tanh_forward, L.tanh_backward),
    "batchnorm": batchnorm(L.batchnorm_backward),
    "batchnorm_alt": batchnorm(L.batchnorm_backward_alt),
    "layernorm": layernorm(),
    "spatial_batchnorm": spatial_batchnorm(),
    "groupnorm": groupnorm(),
    "dropout": dropout(),
    "conv_naive": conv(L.conv_forward_naive, L.conv_backward_naive),
    "conv_fast": conv(FL.conv_forward_fast, FL.conv_backward_fast),
    "max_pool_naive": pool(L.max_pool_forward_naive, L.max_pool_backward_naive),
    "max_pool_fast": pool(FL.max_pool_forward_fast, FL.max_pool_backward_fast),
}


# ------------------------------------------------------------------------------ the tests
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
@SETTINGS
@given(data=st.data())
def test_shapes_dtypes_and_no_mutation(name, dtype, data):
    case = data.draw(CASES[name]).as_dtype(dtype)
    before = snapshot(case.arrays)
    out, cache = case.run()
    assert out.shape == case.out_shape
    assert out.dtype == dtype
    dout = np.random.default_rng(0).standard_normal(out.shape).astype(dtype)
    # The fast layers' caches are named tuples; snapshot rebuilds plain tuples.
    dout_before, cache_before = dout.copy(), snapshot(tuple(cache))
    grads = backward_grads(case, dout, cache)
    assert len(grads) == len(case.grads)
    for g, i in zip(grads, case.grads):
        assert g.shape == case.arrays[i].shape, f"gradient of input {i}"
        assert g.dtype == dtype, f"gradient of input {i}"
    assert_same(before, case.arrays, "inputs")
    assert_same(dout_before, dout, "dout")
    assert_same(cache_before, cache, "cache")


@pytest.mark.parametrize("name", sorted(CASES))
@SETTINGS
@given(data=st.data())
def test_directional_gradients_float64(name, data):
    case = data.draw(CASES[name])
    seed = data.draw(st.integers(0, 2**32 - 1), label="direction seed")
    out, cache = case.run()
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    grads = backward_grads(case, dout, cache)
    for g, i in zip(grads, case.grads):

        def f(v, i=i):
            arrays = list(case.arrays)
            arrays[i] = v
            return float(np.sum(case.run(arrays)[0] * dout))

        x = case.arrays[i].copy()
        err = directional_gradient_error(f, x, g, rng=seed + i)
        assert err < 1e-6, f"{name}: gradient of input {i} off by {err:.2e} along a direction"
