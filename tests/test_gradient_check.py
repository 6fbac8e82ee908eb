"""numnet.gradient_check: numeric gradients, rel_error, blobs, sparse and directional checks."""

import random

import numpy as np
import pytest

from numnet.gradient_check import (
    central_difference,
    directional_gradient_error,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    eval_numerical_gradient_blobs,
    eval_numerical_gradient_net,
    grad_check_sparse,
    rel_error,
)


def _cubic(x):
    return float(np.sum(x**3) + 2 * np.sum(x))


def _cubic_grad(x):
    return 3 * x**2 + 2


@pytest.mark.parametrize(
    ("x", "y", "want"),
    [
        (np.array([1.0, 2.0]), np.array([1.0, 2.0]), 0.0),
        (np.array([1.0]), np.array([3.0]), 0.5),
        (np.array([0.0]), np.array([1e-9]), 0.1),  # the 1e-8 floor of the denominator
        (np.array([[1.0, -1.0]]), np.array([[1.0, 1.0]]), 1.0),
    ],
    ids=["equal", "plain", "floor", "opposite"],
)
def test_rel_error_known_values(x, y, want):
    assert rel_error(x, y) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 1, 4)])
def test_eval_numerical_gradient_restores_x(rng, shape, capsys):
    x = rng.standard_normal(shape)
    x0 = x.copy()
    grad = eval_numerical_gradient(_cubic, x, verbose=True)
    np.testing.assert_array_equal(x, x0)
    assert grad.shape == shape
    assert rel_error(grad, _cubic_grad(x0)) < 1e-8
    # The course prints one line per entry when verbose.
    assert len(capsys.readouterr().out.splitlines()) == x.size


def test_eval_numerical_gradient_quiet(rng, capsys):
    eval_numerical_gradient(_cubic, rng.standard_normal(4), verbose=False)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("shape", [(3,), (2, 3)])
def test_eval_numerical_gradient_array(rng, shape):
    x = rng.standard_normal(shape)
    x0 = x.copy()
    df = rng.standard_normal(shape)
    grad = eval_numerical_gradient_array(np.sin, x, df)
    np.testing.assert_array_equal(x, x0)
    assert rel_error(grad, np.cos(x0) * df) < 1e-8


def test_grad_check_sparse_reports_small_errors(rng, capsys):
    x = rng.standard_normal((4, 5))
    errors = grad_check_sparse(_cubic, x, _cubic_grad(x), num_checks=6, rng=random.Random(0))
    assert len(errors) == 6 and max(errors) < 1e-7
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6 and all(line.startswith("numerical: ") for line in lines)


def test_grad_check_sparse_flags_a_wrong_gradient(rng, capsys):
    x = rng.standard_normal((4, 5))
    errors = grad_check_sparse(_cubic, x, 2 * _cubic_grad(x), num_checks=3, rng=1)
    assert min(errors) > 0.3
    capsys.readouterr()


def test_directional_gradient_error(rng):
    x = rng.standard_normal((6, 7))
    assert directional_gradient_error(_cubic, x, _cubic_grad(x), rng=3) < 1e-8
    assert directional_gradient_error(_cubic, x, -_cubic_grad(x), rng=3) > 0.5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("where", [(1, 2), ...], ids=["entry", "direction"])
def test_central_difference_restores_x_bit_for_bit(rng, dtype, where):
    x = rng.standard_normal((3, 4)).astype(dtype)
    x0 = x.copy()
    step = 1.0 if where is not ... else rng.standard_normal(x.shape)
    seen = []
    diff = central_difference(lambda a: seen.append(a.copy()) or _cubic(a), x, where, 1e-3, step)
    np.testing.assert_array_equal(x, x0)
    assert x.dtype == dtype and len(seen) == 2
    np.testing.assert_array_equal(seen[0] - x0, -(seen[1] - x0))  # symmetric nudges
    assert float(diff) == pytest.approx(_cubic(seen[0]) - _cubic(seen[1]), rel=1e-6)


class Blob:
    """The course's blob: values and their gradient."""

    def __init__(self, vals):
        self.vals = vals
        self.diffs = np.zeros_like(vals)


def test_eval_numerical_gradient_blobs_and_net(rng):
    a, b = Blob(rng.standard_normal((2, 3))), Blob(rng.standard_normal((2, 3)))
    out = Blob(np.zeros((2, 3)))
    out.diffs = rng.standard_normal((2, 3))
    a0, b0 = a.vals.copy(), b.vals.copy()

    def forward(x, y, o):  # o = x**2 * y, written into the output blob
        o.vals[...] = x.vals**2 * y.vals

    da, db = eval_numerical_gradient_blobs(forward, [a, b], out)
    np.testing.assert_array_equal(a.vals, a0)
    assert rel_error(da, 2 * a0 * b0 * out.diffs) < 1e-8
    assert rel_error(db, a0**2 * out.diffs) < 1e-8

    class Net:
        def forward(self):
            forward(a, b, out)

    np.testing.assert_array_equal(eval_numerical_gradient_net(Net(), [a, b], out)[1], db)
