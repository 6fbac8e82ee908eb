"""adam / adamw compute the course's expressions bitwise, with fewer temporaries.

The rules write their intermediate results into a few new arrays instead of one per operation;
the results (next_w, m, v) must be bitwise those of the plain expressions, and nothing the caller
passed (w, dw, the previous m and v) may change.
"""

import numpy as np
import pytest

from numnet import optim


def _reference(w, dw, config, weight_decay=None):
    """The update as plain NumPy expressions (the rules' documented formulas)."""
    lr, b1, b2, eps = (float(config[k]) for k in ("learning_rate", "beta1", "beta2", "epsilon"))
    m = config.get("m")
    v = config.get("v")
    m = np.zeros_like(w) if m is None else m
    v = np.zeros_like(w) if v is None else v
    t = int(config.get("t", 0)) + 1
    m = b1 * m + (1.0 - b1) * dw
    v = b2 * v + (1.0 - b2) * (dw * dw)
    step = (m / (1.0 - b1**t)) / (np.sqrt(v / (1.0 - b2**t)) + eps)
    if weight_decay is None:
        return w - lr * step, m, v, t
    return w * (1.0 - lr * weight_decay) - lr * step, m, v, t


@pytest.mark.parametrize("rule", ["adam", "adamw"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (30, 40), (3, 4, 5, 6)])
def test_bitwise_the_plain_expressions(rule, dtype, shape, rng):
    w = rng.standard_normal(shape).astype(dtype)
    config = {"learning_rate": 3e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
    if rule == "adamw":
        config["weight_decay"] = 0.05
    for _ in range(4):
        scale = 10.0 ** rng.integers(-8, 3)
        dw = (rng.standard_normal(shape) * scale).astype(dtype)
        given = [w.copy(), dw.copy()] + [
            None if config.get(k) is None else config[k].copy() for k in ("m", "v")
        ]
        old_m, old_v = config.get("m"), config.get("v")
        want_w, want_m, want_v, want_t = _reference(w, dw, config, config.get("weight_decay"))
        next_w, config = getattr(optim, rule)(w, dw, config)
        for got, want in ((next_w, want_w), (config["m"], want_m), (config["v"], want_v)):
            assert got.dtype == dtype and got.shape == shape
            np.testing.assert_array_equal(got, want)
        assert config["t"] == want_t
        # New arrays; nothing the caller holds was written.
        assert next_w is not w and config["m"] is not old_m and config["v"] is not old_v
        np.testing.assert_array_equal(w, given[0])
        np.testing.assert_array_equal(dw, given[1])
        for old, copy in ((old_m, given[2]), (old_v, given[3])):
            if copy is not None:
                np.testing.assert_array_equal(old, copy)
        w = next_w


@pytest.mark.parametrize("rule", ["adam", "adamw"])
def test_mixed_dtypes_and_scalars_keep_numpy_promotion(rule, rng):
    w = rng.standard_normal(5).astype(np.float32)
    dw = rng.standard_normal(5)  # float64 gradient of float32 weights
    next_w, config = getattr(optim, rule)(w, dw, {})
    want_w, want_m, _, _ = _reference(
        w, dw, {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
        0.01 if rule == "adamw" else None,
    )  # fmt: skip
    assert next_w.dtype == want_w.dtype == np.float64
    np.testing.assert_array_equal(next_w, want_w)
    np.testing.assert_array_equal(config["m"], want_m)
    scalar_w, _ = getattr(optim, rule)(0.5, 0.1, {})
    want, _, _, _ = _reference(
        np.float64(0.5), np.float64(0.1),
        {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
        0.01 if rule == "adamw" else None,
    )  # fmt: skip
    assert float(scalar_w) == float(want)
