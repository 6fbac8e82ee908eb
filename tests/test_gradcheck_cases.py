"""numnet.gradcheck_cases: the detector fails real bugs and passes the correct code.

Each bug below is one a person writes: a factor of 1.01, a dropped term, a transposed weight
gradient, a gradient routed to the wrong entry, one wrong entry in a model's gradients.
"""

import numpy as np
import pytest
from _gradcheck_testlib import (
    affine_backward_transposed_dw,
    batchnorm_backward_without_the_variance_path,
    broken_loss,
    conv_backward_transposed_kernel,
    distinct,
    max_pool_backward_to_first_entry,
    nudge_grad_entry,
    scale_grad,
    sigmoid_backward_times_1_01,
    softmax_loss_without_the_label_term,
)

from numnet import layers as L
from numnet.gradcheck_cases import (
    FLOOR,
    LAYER_TOL,
    MODEL_TOL,
    NORM_TOL,
    layer_error,
    loss_error,
    max_rel_error,
    model_error,
)


def randn(rng, *shape):
    return rng.standard_normal(shape)


def off_kink(rng, *shape):
    x = rng.standard_normal(shape)
    return np.sign(x) * (0.1 + np.abs(x))


CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}

# (name, forward, correct backward, broken backward, inputs(rng), extra args, tolerance)
LAYER_BUGS = [
    ("sigmoid x1.01", L.sigmoid_forward, L.sigmoid_backward, sigmoid_backward_times_1_01,
     lambda r: [randn(r, 4, 5)], (), LAYER_TOL),
    ("batchnorm, variance path dropped", L.batchnorm_forward, L.batchnorm_backward_alt,
     batchnorm_backward_without_the_variance_path,
     lambda r: [randn(r, 6, 4) * 2 + 1, randn(r, 4), randn(r, 4)], ({"mode": "train"},),
     NORM_TOL),
    ("affine, dw transposed", L.affine_forward, L.affine_backward, affine_backward_transposed_dw,
     lambda r: [randn(r, 3, 5), randn(r, 5, 5), randn(r, 5)], (), LAYER_TOL),
    ("conv, kernel transposed", L.conv_forward_naive, L.conv_backward_naive,
     conv_backward_transposed_kernel,
     lambda r: [randn(r, 2, 2, 5, 5), randn(r, 3, 2, 3, 3), randn(r, 3)], (CONV,), LAYER_TOL),
    ("max pool, gradient to the first entry", L.max_pool_forward_naive,
     L.max_pool_backward_naive, max_pool_backward_to_first_entry,
     lambda r: [distinct(r, 2, 2, 4, 4)], (POOL,), LAYER_TOL),
]  # fmt: skip


@pytest.mark.parametrize(
    ("forward", "correct", "broken", "inputs", "extra", "tol"),
    [case[1:] for case in LAYER_BUGS],
    ids=[case[0] for case in LAYER_BUGS],
)
def test_layer_bug_fails_and_correct_backward_passes(forward, correct, broken, inputs, extra, tol):
    err_ok = layer_error(forward, correct, inputs(np.random.default_rng(0)),
                         np.random.default_rng(1), tol, *extra)  # fmt: skip
    err_bug = layer_error(forward, broken, inputs(np.random.default_rng(0)),
                          np.random.default_rng(1), tol, *extra)  # fmt: skip
    assert err_ok <= tol
    assert err_bug > 100 * tol, err_bug


def test_wrong_factor_is_reported_at_its_true_size():
    # a = 1.01 n gives |a - n| / (|a| + |n|) = 0.01 / 2.01 at every entry; the retry at the
    # smaller step measures the same derivative, so it cannot shrink the error.
    r = np.random.default_rng(2)
    err = layer_error(L.sigmoid_forward, sigmoid_backward_times_1_01, [randn(r, 4, 5)], r,
                      LAYER_TOL)  # fmt: skip
    assert err == pytest.approx(0.01 / 2.01, rel=1e-4)


def test_loss_with_a_dropped_term_fails():
    r = np.random.default_rng(3)
    x, y = randn(r, 6, 4), r.integers(0, 4, 6)
    assert loss_error(L.softmax_loss, x, y, LAYER_TOL) <= LAYER_TOL
    assert loss_error(softmax_loss_without_the_label_term, x, y, LAYER_TOL) > 0.1


def test_wrong_gradient_shape_fails_instead_of_broadcasting():
    def dw_of_wrong_shape(dout, cache):
        dx, dw, db = L.affine_backward(dout, cache)
        return dx, dw[:1], db  # (1, M) broadcasts against (D, M)

    r = np.random.default_rng(4)
    err = layer_error(L.affine_forward, dw_of_wrong_shape,
                      [randn(r, 3, 4), randn(r, 4, 2), randn(r, 2)], r, LAYER_TOL)  # fmt: skip
    assert err == np.inf


# ------------------------------------------------------------------ models
def _fc_net(seed, norm=None):
    from numnet.classifiers.fc_net import FullyConnectedNet

    return FullyConnectedNet([7, 5], input_dim=8, num_classes=4, normalization=norm, reg=0.1,
                             dtype=np.float64, init="kaiming", rng=seed)  # fmt: skip


MODEL_BUGS = [
    ("W2 x1.01", None, scale_grad("W2", 1.01)),
    ("b3 x1.01", None, scale_grad("b3", 1.01)),
    ("W1[0, 0] off by 1e-4 of the largest gradient", None, nudge_grad_entry("W1", (0, 0), 1e-4)),
    # With batchnorm after it, b1's true gradient is exactly zero: the floor must not hide a
    # nonzero value there.
    ("b1[0] nonzero where it must be 0", "batchnorm", nudge_grad_entry("b1", 0, 1e-6)),
    ("gamma1 x1.01", "batchnorm", scale_grad("gamma1", 1.01)),
]


@pytest.mark.parametrize(("norm", "corrupt"), [b[1:] for b in MODEL_BUGS],
                         ids=[b[0] for b in MODEL_BUGS])  # fmt: skip
def test_model_with_one_wrong_gradient_fails(norm, corrupt):
    def data():
        r = np.random.default_rng(5)
        return r.standard_normal((5, 8)), r.integers(0, 4, 5)

    ok = model_error(_fc_net(6, norm), *data(), MODEL_TOL, np.random.default_rng(7))
    model = _fc_net(6, norm)
    model.loss = broken_loss(model.loss, corrupt)
    bad = model_error(model, *data(), MODEL_TOL, np.random.default_rng(7))
    assert ok <= MODEL_TOL
    assert bad > 10 * MODEL_TOL, bad


# ------------------------------------------------------------------ the two allowances
@pytest.mark.parametrize(("factor", "fails"), [(2.0, True), (0.5, False)])
def test_floor_hides_exactly_what_its_docstring_says(factor, fails):
    # f(x) = x0 + 1e-6 * x1 at x = 0: central differences of this linear f are exact to about
    # 1e-16 relative. An error in the small entry is measured against FLOOR * 1 (the largest
    # gradient): it is hidden only below tol * FLOOR.
    x = np.zeros(2)
    tol = MODEL_TOL
    wrong = np.array([1.0, 1e-6 + factor * tol * FLOOR])
    err = max_rel_error(lambda: float(x[0] + 1e-6 * x[1]), [x], [wrong], tol)
    assert err == pytest.approx(factor * tol, rel=1e-3)
    assert (err > tol) is fails


def test_retry_rescues_an_input_near_a_kink():
    # One ReLU input 1e-6 from the kink: the step of 1e-5 crosses it, the step of 1e-7 does not.
    r = np.random.default_rng(8)
    x = off_kink(r, 4, 5)
    x[1, 2] = 1e-6
    dout = r.standard_normal(x.shape)
    dx = L.relu_backward(dout, L.relu_forward(x)[1])
    from numnet.gradient_check import numeric_gradient

    plain = numeric_gradient(lambda _: float(np.sum(L.relu_forward(x)[0] * dout)), x, 1e-5)
    assert abs(plain[1, 2] - dx[1, 2]) / (abs(plain[1, 2]) + abs(dx[1, 2])) > 0.1
    err = layer_error(L.relu_forward, L.relu_backward, [x], np.random.default_rng(9), LAYER_TOL)
    assert err <= LAYER_TOL
