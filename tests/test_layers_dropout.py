"""Inverted dropout: statistics, modes, course seeding, Generator isolation, gradients, errors."""

# The course's global-NumPy-state behaviour (np.random.seed / rand) is what several tests check.
# ruff: noqa: NPY002

import numpy as np
import pytest
from _layers_testlib import numeric_grads

from numnet.backend import to_numpy
from numnet.gradient_check import rel_error
from numnet.layers import dropout_backward, dropout_forward

KEEPS = [0.25, 0.4, 0.7, 1.0]


@pytest.fixture(autouse=True)
def _restore_global_numpy_state():
    """These tests reseed NumPy's global state; give the next test the state it would have had."""
    state = np.random.get_state()
    yield
    np.random.set_state(state)


def _same_global_state(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


@pytest.mark.parametrize("source", ["seed", "rng"])
@pytest.mark.parametrize("p", KEEPS)
def test_dropout_train_statistics(xp, p, source):
    # The course's check: the mean survives (inverted dropout) and 1 - p of the units are zeroed.
    x = xp.asarray(np.random.default_rng(0).standard_normal((200, 250)) + 10)
    param = {"mode": "train", "p": p}
    param.update({"seed": 123} if source == "seed" else {"rng": np.random.default_rng(123)})
    out, (cache_param, mask) = dropout_forward(x, param)
    out, mask, x = to_numpy(out), to_numpy(mask), to_numpy(x)
    assert cache_param is param
    # 50,000 units: 5 binomial standard deviations of the dropped fraction are below 0.01.
    assert abs(np.mean(out == 0) - (1 - p)) < 0.01
    assert out.mean() == pytest.approx(x.mean(), rel=0.02)
    np.testing.assert_array_equal(np.unique(mask), [1 / p] if p == 1.0 else [0.0, 1 / p])
    np.testing.assert_array_equal(out, x * mask)


@pytest.mark.parametrize("p", KEEPS)
def test_dropout_test_mode_is_identity(xp, rng, p):
    x = xp.asarray(rng.standard_normal((5, 4)))
    param = {"mode": "test", "p": p, "seed": 1}
    out, cache = dropout_forward(x, param)
    np.testing.assert_array_equal(to_numpy(out), to_numpy(x))
    assert cache[0] is param and cache[1] is None
    dout = xp.asarray(rng.standard_normal((5, 4)))
    np.testing.assert_array_equal(to_numpy(dropout_backward(dout, cache)), to_numpy(dout))


@pytest.mark.parametrize("p", [0.3, 0.8])
def test_dropout_seed_reseeds_global_state_like_the_course(p):
    x = np.ones((6, 7))
    _, (_, mask) = dropout_forward(x, {"mode": "train", "p": p, "seed": 42})
    np.random.seed(42)
    course_mask = (np.random.rand(*x.shape) < p) / p
    np.testing.assert_array_equal(mask, course_mask)
    # Reseeded on every call: a second call draws the same mask.
    _, (_, again) = dropout_forward(x, {"mode": "train", "p": p, "seed": 42})
    np.testing.assert_array_equal(again, mask)
    _, (_, other) = dropout_forward(x, {"mode": "train", "p": p, "seed": 43})
    assert not np.array_equal(other, mask)


def test_dropout_without_seed_draws_from_global_state():
    x = np.ones((5, 5))
    np.random.seed(7)
    _, (_, mask) = dropout_forward(x, {"mode": "train", "p": 0.5})
    np.random.seed(7)
    np.testing.assert_array_equal(mask, (np.random.rand(5, 5) < 0.5) / 0.5)


@pytest.mark.parametrize("with_seed", [False, True])
def test_dropout_generator_never_touches_global_state(with_seed):
    x = np.ones((20, 30))
    param = {"mode": "train", "p": 0.5, "rng": np.random.default_rng(5)}
    if with_seed:
        param["seed"] = 9  # the Generator takes precedence; the global state is not reseeded
    np.random.seed(2024)
    before = np.random.get_state()
    _, (_, first) = dropout_forward(x, param)
    _, (_, second) = dropout_forward(x, param)
    assert _same_global_state(before, np.random.get_state())
    assert not np.array_equal(first, second)  # the Generator advances between calls
    _, (_, replay) = dropout_forward(
        x, {"mode": "train", "p": 0.5, "rng": np.random.default_rng(5)}
    )
    np.testing.assert_array_equal(replay, first)


@pytest.mark.parametrize("p", [0.2, 0.6, 1.0])
@pytest.mark.parametrize("shape", [(10, 10), (3, 4, 5), (7,)])
def test_dropout_backward_numeric(xp, rng, p, shape):
    x = rng.standard_normal(shape) + 10
    dout = rng.standard_normal(shape)
    fwd = lambda v: dropout_forward(v, {"mode": "train", "p": p, "seed": 123})  # noqa: E731
    (num,) = numeric_grads(fwd, [x], (0,), dout)
    _, cache = dropout_forward(xp.asarray(x), {"mode": "train", "p": p, "seed": 123})
    dx = dropout_backward(xp.asarray(dout), cache)
    np.testing.assert_array_equal(to_numpy(dx), dout * to_numpy(cache[1]))
    if xp is np:  # numeric gradient only where the mask is the one the numeric pass drew
        assert rel_error(dx, num) < 1e-10


def test_dropout_backward_uses_the_forward_mask_even_if_mode_flips(rng):
    param = {"mode": "train", "p": 0.5, "seed": 0}
    _, cache = dropout_forward(np.ones((4, 4)), param)
    param["mode"] = "test"  # models share one dict and may flip it between passes
    dout = rng.standard_normal((4, 4))
    np.testing.assert_array_equal(dropout_backward(dout, cache), dout * cache[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_mask_and_output_keep_dtype(xp, dtype):
    x = xp.ones((4, 5), dtype=dtype)
    out, (_, mask) = dropout_forward(x, {"mode": "train", "p": 0.3, "seed": 1})
    assert out.dtype == dtype and mask.dtype == dtype


@pytest.mark.parametrize(
    ("param", "match"),
    [
        ({"mode": "train", "p": 0.0}, r"dropout_param\['p'\] .*must be in \(0, 1\], got 0.0"),
        ({"mode": "train", "p": 1.5}, r"dropout_param\['p'\] .*must be in \(0, 1\], got 1.5"),
        ({"mode": "test", "p": -0.1}, r"dropout_param\['p'\] .*must be in \(0, 1\], got -0.1"),
        ({"mode": "train", "p": float("nan")}, r"must be in \(0, 1\], got nan"),
        ({"mode": "train", "p": "0.5"}, r"must be in \(0, 1\], got '0.5'"),
        ({"mode": "train", "p": True}, r"must be in \(0, 1\], got True"),
        (
            {"mode": "eval", "p": 0.5},
            r"dropout_param\['mode'\] must be 'train' or 'test', got 'eval'",
        ),
        ({"mode": "train"}, r"dropout_param is missing key\(s\) \['p'\]"),
        ({"p": 0.5}, r"dropout_param is missing key\(s\) \['mode'\]"),
        (
            {"mode": "train", "p": 0.5, "rng": np.random.RandomState(0)},
            r"dropout_param\['rng'\] must be a numpy.random.Generator, got RandomState",
        ),
        ({"mode": "train", "p": 0.5, "rng": 3}, r"must be a numpy.random.Generator, got int"),
    ],
    ids=[
        "p-zero",
        "p-above-one",
        "p-negative",
        "p-nan",
        "p-str",
        "p-bool",
        "mode",
        "no-p",
        "no-mode",
        "rng-randomstate",
        "rng-int",
    ],
)
def test_dropout_rejects_bad_params(param, match):
    with pytest.raises(ValueError, match=match):
        dropout_forward(np.ones(3), param)
