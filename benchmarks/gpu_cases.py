"""The layer cases of ``gpu_check.py``: every layer, naive and fast, on a device against NumPy.

Not a benchmark module (``run_all.py`` only runs ``bench_*.py``). Each case builds small random
inputs; :func:`parity` runs forward and backward in float32 on the device and on NumPy from the
same inputs and compares them (rtol 1e-4); :func:`gradcheck` checks the device's float64 backward
against a central difference of its own forward along a random direction (Chainer's directional
check: two forward passes per input instead of two per entry).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from numnet import fast_layers as FL
from numnet import layer_utils as LU
from numnet import layers as L
from numnet.backend import to_device, to_numpy

PARITY_RTOL = 1e-4
GRAD_TOL = 1e-6
H = 1e-5


@dataclass(frozen=True)
class LayerCase:
    """A forward/backward pair and its inputs.

    Attributes:
        name: shown in the results.
        forward: ``forward(*inputs, *extra()) -> (out, cache)``.
        backward: ``backward(dout, cache)`` -> the gradients of ``inputs`` (a tuple or one array;
            trailing entries past ``len(inputs)`` are ignored).
        shapes: the differentiated inputs' shapes.
        extra: builds the non-differentiated arguments afresh for each call (param dicts).
        kink: ReLU-like: inputs are moved to at least 0.1 away from 0.
    """

    name: str
    forward: Callable
    backward: Callable
    shapes: tuple
    extra: Callable[[], list] = lambda: []
    kink: bool = False


def _bn(mode, C):
    def extra():
        return [{"mode": mode, "running_mean": np.zeros(C), "running_var": np.ones(C)}]

    return extra


CONV = {"stride": 1, "pad": 1}
CONV2 = {"stride": 2, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}

# fmt: off
CASES = [
    LayerCase("affine", L.affine_forward, L.affine_backward, ((4, 3, 2), (6, 5), (5,))),
    LayerCase("relu", L.relu_forward, L.relu_backward, ((4, 5),), kink=True),
    LayerCase("leaky_relu", L.leaky_relu_forward, L.leaky_relu_backward, ((4, 5),), kink=True),
    LayerCase("sigmoid", L.sigmoid_forward, L.sigmoid_backward, ((4, 5),)),
    LayerCase("tanh", L.tanh_forward, L.tanh_backward, ((4, 5),)),
    LayerCase("batchnorm train", L.batchnorm_forward, L.batchnorm_backward,
              ((6, 4), (4,), (4,)), _bn("train", 4)),
    LayerCase("batchnorm train (alt backward)", L.batchnorm_forward, L.batchnorm_backward_alt,
              ((6, 4), (4,), (4,)), _bn("train", 4)),
    LayerCase("batchnorm test", L.batchnorm_forward, L.batchnorm_backward,
              ((6, 4), (4,), (4,)), _bn("test", 4)),
    LayerCase("spatial batchnorm", L.spatial_batchnorm_forward, L.spatial_batchnorm_backward,
              ((3, 4, 5, 5), (4,), (4,)), _bn("train", 4)),
    LayerCase("layernorm", L.layernorm_forward, L.layernorm_backward, ((4, 6), (6,), (6,)),
              lambda: [{"mode": "train"}]),
    LayerCase("spatial groupnorm", L.spatial_groupnorm_forward, L.spatial_groupnorm_backward,
              ((2, 6, 3, 4), (1, 6, 1, 1), (1, 6, 1, 1)), lambda: [3, {}]),
    LayerCase("dropout (Generator mask)", L.dropout_forward, L.dropout_backward, ((4, 5),),
              lambda: [{"mode": "train", "p": 0.6, "rng": np.random.default_rng(3)}]),
    LayerCase("conv naive", LU.conv_forward_naive, LU.conv_backward_naive,
              ((2, 3, 5, 5), (4, 3, 3, 3), (4,)), lambda: [CONV]),
    LayerCase("conv fast, stride 1", FL.conv_forward_fast, FL.conv_backward_fast,
              ((2, 3, 6, 6), (4, 3, 3, 3), (4,)), lambda: [CONV]),
    LayerCase("conv fast, stride 2", FL.conv_forward_fast, FL.conv_backward_fast,
              ((2, 3, 7, 7), (4, 3, 3, 3), (4,)), lambda: [CONV2]),
    LayerCase("max pool naive", LU.max_pool_forward_naive, LU.max_pool_backward_naive,
              ((2, 3, 4, 6),), lambda: [POOL]),
    LayerCase("max pool fast", FL.max_pool_forward_fast, FL.max_pool_backward_fast,
              ((2, 3, 4, 6),), lambda: [POOL]),
    LayerCase("conv-relu-pool fused", FL.conv_relu_pool_forward_fast,
              FL.conv_relu_pool_backward_fast, ((2, 3, 6, 6), (4, 3, 3, 3), (4,)),
              lambda: [CONV, POOL]),
    LayerCase("conv-bn-relu-pool fused", FL.conv_bn_relu_pool_forward_fast,
              FL.conv_bn_relu_pool_backward_fast,
              ((3, 3, 6, 6), (4, 3, 3, 3), (4,), (4,), (4,)),
              lambda: [CONV, {"mode": "train"}, POOL]),
    LayerCase("affine-relu sandwich", LU.affine_relu_forward, LU.affine_relu_backward,
              ((4, 6), (6, 5), (5,))),
]
# fmt: on


def _inputs(case: LayerCase, dtype, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in case.shapes]
    if case.kink:
        arrays = [np.where(np.abs(a) < 0.1, np.copysign(0.1, a), a) for a in arrays]
    return [a.astype(dtype) for a in arrays]


def _run(case: LayerCase, xp, inputs, dout=None):
    """``(out, grads)`` as host arrays, computed on ``xp`` from host ``inputs`` and ``dout``.

    Without ``dout`` only the forward runs (grads is None).
    """
    extra = [
        {k: to_device(v, xp) if isinstance(v, np.ndarray) else v for k, v in e.items()}
        if isinstance(e, dict)
        else e
        for e in case.extra()
    ]
    args = [to_device(a, xp) for a in inputs]
    out, cache = case.forward(*args, *extra)
    if dout is None:
        return to_numpy(out), None
    grads = case.backward(to_device(dout.astype(inputs[0].dtype), xp), cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    return to_numpy(out), [to_numpy(g) for g in grads[: len(inputs)]]


def _rel(got, want, scale: float) -> float:
    return float(np.max(np.abs(got - want) / (np.abs(want) + 1e-3 * scale), initial=0.0))


def parity(case: LayerCase, xp) -> float:
    """The largest relative difference of the float32 outputs and gradients, device vs NumPy.

    Entries below 1e-3 of the case's largest value are compared at that scale: a gradient that is
    zero in exact arithmetic (a bias before batch norm) holds rounding noise on both sides.
    """
    inputs = _inputs(case, np.float32, 0)
    want_out, _ = _run(case, np, inputs)
    dout = np.random.default_rng(1).standard_normal(want_out.shape)
    want_out, want = _run(case, np, inputs, dout)
    got_out, got = _run(case, xp, inputs, dout)
    wants = [want_out, *want]
    scale = max(max(float(np.max(np.abs(w), initial=0.0)) for w in wants), 1e-30)
    return max(_rel(g, w, scale) for g, w in zip([got_out, *got], wants))


def gradcheck(case: LayerCase, xp) -> float:
    """Relative error of the device's float64 backward along a random direction per input."""
    inputs = _inputs(case, np.float64, 2)
    out, _ = _run(case, xp, inputs)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    _, grads = _run(case, xp, inputs, dout)
    dirs = [np.random.default_rng(4 + i).standard_normal(a.shape) for i, a in enumerate(inputs)]

    def f(step: float) -> float:
        moved = [a + step * d for a, d in zip(inputs, dirs)]
        out, _ = _run(case, xp, moved, dout)
        return float(np.sum(out * dout))

    numeric = (f(H) - f(-H)) / (2 * H)
    analytic = sum(float(np.sum(g * d)) for g, d in zip(grads, dirs))
    return abs(numeric - analytic) / max(abs(numeric) + abs(analytic), 1e-12)
