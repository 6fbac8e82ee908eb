"""The one seed normaliser, its two meanings of None, and random states as plain data."""

# The None fallbacks draw from NumPy's global state; these tests check exactly that.
# ruff: noqa: NPY002

import numpy as np
import pytest

from numnet import _random
from numnet._random import as_generator


@pytest.mark.parametrize("none", ["keep", "draw_seed"])
def test_int_and_generator_seeds_mean_the_same_in_both_modes(none):
    g = np.random.default_rng(1)
    assert as_generator(g, none=none) is g
    assert as_generator(3, none=none).random() == np.random.default_rng(3).random()
    assert as_generator(np.int64(3), none=none).random() == np.random.default_rng(3).random()


def test_none_kept_leaves_the_global_state_alone():
    before = np.random.get_state(legacy=False)
    assert as_generator(None) is None
    assert as_generator(None, none="keep") is None
    after = np.random.get_state(legacy=False)
    assert np.array_equal(before["state"]["key"], after["state"]["key"])
    assert before["state"]["pos"] == after["state"]["pos"]


def test_none_draw_seed_follows_the_global_seed():
    draws = []
    for seed in (5, 5, 6):
        np.random.seed(seed)
        draws.append(as_generator(None, none="draw_seed").random(3))
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], draws[2])


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3", [1, 2], np.random.RandomState(0)])
def test_bad_seeds_are_refused_naming_the_argument(bad):
    with pytest.raises(ValueError, match=r"^epochs_seed must be None, a non-negative int seed or"):
        as_generator(bad, "epochs_seed")


def test_unknown_none_mode():
    with pytest.raises(ValueError, match="none must be one of"):
        as_generator(None, none="fresh")


# ------------------------------------------------------------- the call sites' None
def _init(seed):
    from numnet.initializers import init_weight

    return init_weight((4, 3), "gaussian", 1.0, rng=seed)


def _direction(seed):
    from numnet.gradient_check import directional_gradient_error

    x = np.linspace(0.5, 1.5, 6)
    wrong = 3 * x**2 + np.eye(6)[0]  # off in one entry: the error depends on the direction
    return directional_gradient_error(lambda v: float(np.sum(v**3)), x, wrong, rng=seed)


def _split(seed):
    from numnet.data.preprocess import split_indices

    return split_indices(30, 10, 5, seed)[0]


@pytest.mark.parametrize(
    ("draw", "course_numbers"),
    [(_init, True), (_direction, False)],
    ids=["init-keep", "gradient-check-draw-seed"],
)
def test_call_sites_without_a_seed_follow_numpy_global_seed(draw, course_numbers):
    np.random.seed(7)
    a = draw(None)
    np.random.seed(7)
    np.testing.assert_array_equal(draw(None), a)
    np.random.seed(8)
    assert not np.array_equal(draw(None), a)
    if course_numbers:  # "keep": the course's own call on the global state
        np.random.seed(7)
        np.testing.assert_array_equal(a, np.random.randn(4, 3))


def test_split_without_a_seed_is_the_courses_contiguous_split():
    np.testing.assert_array_equal(_split(None), np.arange(10))
    assert not np.array_equal(_split(0), np.arange(10))


# ------------------------------------------------------------------ states as data
def test_generator_state_round_trip_and_checks():
    g = np.random.Generator(np.random.MT19937(4))
    state = _random.generator_state(g)
    a = g.random(5)
    _random.check_generator_state(state, g)
    np.testing.assert_array_equal(
        g.random(5), np.random.Generator(np.random.MT19937(4)).random(10)[5:]
    )
    g.bit_generator.state = state
    np.testing.assert_array_equal(g.random(5), a)
    with pytest.raises(ValueError, match="expected a MT19937 bit generator state, found 'PCG64'"):
        _random.check_generator_state(np.random.default_rng(0).bit_generator.state, g)
    with pytest.raises(ValueError, match="not a valid MT19937 state"):
        _random.check_generator_state({**state, "state": {"key": np.zeros(3)}}, g)
    assert _random.generator_state(None) is None


def test_global_state_round_trip():
    np.random.seed(3)
    state = _random.global_state()
    a = np.random.random(4)
    _random.check_global_state(state)
    _random.set_global_state(state)
    np.testing.assert_array_equal(np.random.random(4), a)
    with pytest.raises(ValueError, match="expected an MT19937 state dict"):
        _random.check_global_state(("MT19937",))
