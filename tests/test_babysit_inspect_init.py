"""The init inspector: the lecture's four pictures get their verdicts, layer by layer."""

from __future__ import annotations

import numpy as np
import pytest

from numnet.babysit import inspect_init as I


@pytest.mark.parametrize(
    ("activation", "init", "scale", "expected"),
    [
        # 0.01-std gaussian: tanh activations collapse to zero from layer 2 on.
        ("tanh", "gaussian", 0.01, ["ok"] + ["vanishing"] * 9),
        # 1.0-std gaussian: a tanh net saturates at every layer.
        ("tanh", "gaussian", 1.0, ["saturated"] * 10),
        ("tanh", "xavier", None, ["ok"] * 10),
        ("relu", "kaiming", None, ["ok"] * 10),
        # Xavier halves a ReLU layer's variance: the deep layers collapse again.
        ("relu", "xavier", None, ["ok"] * 7 + ["vanishing"] * 3),
        ("relu", "gaussian", 1.0, ["exploding"] * 10),
    ],
)
def test_the_lecture_inits_get_their_verdicts(activation, init, scale, expected):
    reports = I.inspect_init(10, 500, activation, init, scale or 0.01, 1000, rng=0)
    assert [r.verdict.split(",")[0].split(" (")[0] for r in reports] == expected
    assert [r.layer for r in reports] == list(range(1, 11))


def test_numbers_are_those_of_an_independent_forward():
    reports = I.inspect_init(3, 40, "tanh", "gaussian", 0.2, 50, rng=7, bins=8)
    rng = np.random.default_rng(7)
    h = rng.standard_normal((50, 40))
    for r in reports:
        h = np.tanh(h @ (0.2 * rng.standard_normal((40, 40))))
        assert r.mean == pytest.approx(h.mean()) and r.std == pytest.approx(h.std())
        assert r.saturated == pytest.approx(np.mean(np.abs(h) > 0.99))
        assert np.isnan(r.dead)
        counts, edges = np.histogram(h, bins=8, range=(-1, 1))
        np.testing.assert_array_equal(r.counts, counts)
        np.testing.assert_allclose(r.edges, edges)


def test_verdicts_compare_a_layer_with_the_one_below():
    assert I.layer_verdict(0.5, None, np.nan, np.nan) == "ok"
    assert I.layer_verdict(0.2, 0.5, np.nan, np.nan) == "shrinking (x0.4 per layer)"
    assert I.layer_verdict(3.0, 1.0, np.nan, np.nan) == "growing (x3 per layer)"
    assert I.layer_verdict(0.5, None, 0.6, np.nan) == "dead (60% of units)"
    assert I.layer_verdict(0.01, None, np.nan, 0.3) == "vanishing, saturated (30%)"


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"depth": 0}, "depth"), ({"width": -3}, "width"), ({"activation": "elu"}, "activation"),
     ({"init": "orthogonal"}, "init"), ({"num_samples": 1.5}, "num_samples"),
     ({"rng": -1}, "rng")],
)  # fmt: skip
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        I.inspect_init(**kwargs)
