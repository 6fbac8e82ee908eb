"""Weight init: stds per scheme, the course's global-state draw, Generator draws, errors."""

# The course's global-NumPy randomness is part of what these tests check.
# ruff: noqa: NPY002

import math

import numpy as np
import pytest

from numnet.initializers import INIT_SCHEMES, as_generator, fans, init_std, init_weight


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((20, 30), (20, 30)), ((8, 3, 5, 5), (75, 200)), ((16, 1, 3, 3), (9, 144))],
)
def test_fans(shape, expected):
    assert fans(shape) == expected


@pytest.mark.parametrize(
    ("scheme", "shape", "std"),
    [
        ("gaussian", (20, 30), 0.05),
        ("xavier", (20, 30), math.sqrt(2 / 50)),
        ("kaiming", (20, 30), math.sqrt(2 / 20)),
        ("he", (20, 30), math.sqrt(2 / 20)),
        ("xavier", (8, 3, 5, 5), math.sqrt(2 / (75 + 200))),
        ("kaiming", (8, 3, 5, 5), math.sqrt(2 / 75)),
    ],
)
def test_init_std(scheme, shape, std):
    assert init_std(shape, scheme, weight_scale=0.05) == pytest.approx(std, rel=1e-12)


@pytest.mark.parametrize("scheme", INIT_SCHEMES)
def test_sample_std_matches_scheme(scheme):
    shape = (400, 300)
    w = init_weight(shape, scheme, weight_scale=0.02, rng=np.random.default_rng(0))
    assert w.shape == shape
    assert w.dtype == np.float64
    # 120k samples: the sample std is within 1% of the target with overwhelming probability.
    assert w.std() == pytest.approx(init_std(shape, scheme, 0.02), rel=0.01)
    assert abs(w.mean()) < 0.01 * init_std(shape, scheme, 0.02)


def test_global_state_draw_is_the_course_expression():
    np.random.seed(231)
    got = init_weight((5, 4), "gaussian", weight_scale=1e-2)
    np.random.seed(231)
    want = 1e-2 * np.random.randn(5, 4)
    np.testing.assert_array_equal(got, want)


def test_generator_draw_leaves_global_state_alone():
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    a = init_weight((6, 3), "kaiming", rng=np.random.default_rng(5))
    b = init_weight((6, 3), "kaiming", rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    expected = math.sqrt(2 / 6) * np.random.default_rng(5).standard_normal((6, 3))
    np.testing.assert_array_equal(a, expected)


@pytest.mark.parametrize("scheme", ["uniform", "Kaiming", None])
def test_unknown_scheme_names_the_allowed_ones(scheme):
    with pytest.raises(ValueError, match=r"init must be one of 'gaussian', 'xavier', 'kaiming'"):
        init_weight((3, 3), scheme)


@pytest.mark.parametrize("weight_scale", [None, -1.0, float("nan")])
def test_gaussian_needs_a_valid_weight_scale(weight_scale):
    with pytest.raises(ValueError, match="weight_scale must be a finite number >= 0"):
        init_weight((3, 3), "gaussian", weight_scale)


def test_weight_scale_is_ignored_by_shape_schemes():
    assert init_std((10, 10), "kaiming", None) == init_std((10, 10), "kaiming", 123.0)


@pytest.mark.parametrize("shape", [(3,), (2, 3, 4)])
def test_bad_shape(shape):
    with pytest.raises(ValueError, match=r"shape must be an affine \(D, M\) or conv"):
        init_weight(shape, "xavier")


def test_bad_rng():
    with pytest.raises(ValueError, match=r"rng must be None or a np\.random\.Generator"):
        init_weight((3, 3), "gaussian", 1.0, rng=np.random.RandomState(0))


@pytest.mark.parametrize("value", [-1, 1.5, "3", True])
def test_as_generator_rejects(value):
    with pytest.raises(ValueError, match="seed must be None, a non-negative int seed"):
        as_generator(value, "seed")


def test_as_generator_accepts():
    g = np.random.default_rng(1)
    assert as_generator(None) is None
    assert as_generator(g) is g
    assert as_generator(3).random() == np.random.default_rng(3).random()
