"""softmax_loss and svm_loss: known values, numeric gradients, torch parity, bad inputs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _layers_testlib import tn, tt

from numnet.backend import to_numpy
from numnet.gradient_check import eval_numerical_gradient, rel_error
from numnet.layers import softmax_loss, svm_loss

LOSSES = {"softmax": softmax_loss, "svm": svm_loss}
SHAPES = [(5, 3), (1, 4), (12, 10), (3, 2)]


def _scores(rng, N, C):
    """Scores whose hinge margins x_j - x_y + 1 all stay >= 0.05 away from the kink at 0."""
    # Multiples of 0.37 never put a margin (0.37*k + 1) closer than 0.11 to 0; noise stays < 0.05.
    return rng.integers(-6, 7, size=(N, C)) * 0.37 + rng.uniform(-0.025, 0.025, size=(N, C))


@pytest.mark.parametrize("C", [2, 5, 10])
def test_losses_known_values_at_zero_scores(xp, C):
    x = xp.zeros((4, C))
    y = xp.asarray(np.arange(4) % C)
    soft, _ = softmax_loss(x, y)
    svm, _ = svm_loss(x, y)
    assert float(soft) == pytest.approx(np.log(C), rel=1e-15)
    assert float(svm) == pytest.approx(C - 1, rel=1e-15)


@pytest.mark.parametrize(("N", "C"), SHAPES)
@pytest.mark.parametrize("name", LOSSES)
def test_loss_gradient_numeric(xp, rng, name, N, C):
    loss_fn = LOSSES[name]
    # Softmax: small scores as in the course, so no probability (gradient entry) is tiny next to
    # the loss's roundoff; svm: scores off the hinge kinks.
    x = 0.1 * rng.standard_normal((N, C)) if name == "softmax" else _scores(rng, N, C)
    y = rng.integers(0, C, size=N)
    num = eval_numerical_gradient(lambda v: loss_fn(v, y)[0], x.copy(), verbose=False)
    _, dx = loss_fn(xp.asarray(x), xp.asarray(y))
    assert dx.shape == (N, C)
    assert rel_error(dx, num) < 1e-8


@pytest.mark.parametrize(("N", "C"), SHAPES)
def test_softmax_loss_matches_torch_cross_entropy(xp, rng, N, C):
    x = rng.standard_normal((N, C)) * 3
    y = rng.integers(0, C, size=N)
    loss, dx = softmax_loss(xp.asarray(x), xp.asarray(y))
    xt = tt(x)
    lt = F.cross_entropy(xt, torch.from_numpy(y))
    lt.backward()
    assert float(loss) == pytest.approx(lt.item(), rel=1e-13)
    np.testing.assert_allclose(to_numpy(dx), tn(xt.grad), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("N", "C"), SHAPES)
def test_svm_loss_matches_torch_multi_margin(xp, rng, N, C):
    x = _scores(rng, N, C)
    y = rng.integers(0, C, size=N)
    loss, dx = svm_loss(xp.asarray(x), xp.asarray(y))
    xt = tt(x)
    lt = F.multi_margin_loss(xt, torch.from_numpy(y), p=1, margin=1.0)
    lt.backward()
    # torch divides each sample's hinge sum by C as well as by N; ours (the course's) only by N.
    assert float(loss) == pytest.approx(C * lt.item(), rel=1e-13)
    np.testing.assert_allclose(to_numpy(dx), C * tn(xt.grad), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_loss_is_stable_for_huge_scores(xp, dtype):
    x = xp.asarray(np.array([[1000.0, 0.0, -1000.0], [-500.0, 500.0, 0.0]], dtype=dtype))
    y = xp.asarray(np.array([0, 0]))
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        loss, dx = softmax_loss(x, y)
    # Row 0 is certain and right (loss 0); row 1 is certain and 1000 off.
    assert float(loss) == pytest.approx(500.0, rel=1e-6)
    assert np.all(np.isfinite(to_numpy(dx)))


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (np.zeros((3, 4)), np.array([0, 1, 4]), r"y must be in \[0, 4\), got label 4"),
        (np.zeros((3, 4)), np.array([0, -1, 2]), r"y must be in \[0, 4\), got label -1"),
        (np.zeros((3, 4)), np.array([0.0, 1.0, 2.0]), r"y must hold integer .*got dtype float64"),
        (np.zeros((3, 4)), np.array([0, 1]), r"y must have shape \(3,\), got \(2,\)"),
        (np.zeros((3, 4)), np.array([[0, 1, 2]]), r"y must have shape \(3,\), got \(1, 3\)"),
        (np.zeros((3, 4)), [0, 1, 2], r"y must have shape \(3,\), got list"),
        (np.zeros(4), np.array([0]), r"x must be a 2-D array of scores \(N, C\), got ndim=1"),
        (np.zeros((3, 4), dtype=np.int64), np.array([0, 1, 2]), r"x must be a floating.*int64"),
        (np.zeros((0, 4)), np.array([], dtype=np.int64), r"x must hold at least one sample"),
    ],
    ids=["y-high", "y-negative", "y-float", "y-short", "y-2d", "y-list", "x-1d", "x-int", "empty"],
)
def test_losses_reject_bad_inputs(name, x, y, match):
    with pytest.raises(ValueError, match=match):
        LOSSES[name](x, y)
