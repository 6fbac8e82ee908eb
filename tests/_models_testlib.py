"""Shared helpers of the model tests (tests/test_models_*.py)."""

from __future__ import annotations

import json

import numpy as np
from _guard_xp import count_host_syncs

from numnet.backend import get_array_module, to_numpy
from numnet.classifiers import build_model
from numnet.gradient_check import eval_numerical_gradient, rel_error
from numnet.solver import Solver


def model_grad_errors(model, X, y, names=None, h=1e-5, atol=1e-9) -> dict[str, float]:
    """Relative error of every analytic gradient against a full central-difference gradient.

    The numeric gradient perturbs ``model.params[name]`` in place, as the course's notebooks do,
    so this also checks that ``loss`` reads ``self.params`` on every call. A gradient that is
    zero in exact arithmetic (a bias right before batchnorm) has a numeric value of pure rounding
    noise, so entries within ``atol`` of each other count as equal (error 0).
    """
    _, grads = model.loss(X, y)
    names = sorted(model.params) if names is None else names
    errors = {}
    for name in names:
        num = eval_numerical_gradient(
            lambda _: model.loss(X, y)[0], model.params[name], verbose=False, h=h
        )
        close = np.abs(num - grads[name]) <= atol
        errors[name] = 0.0 if close.all() else rel_error(num[~close], grads[name][~close])
    return errors


def assert_grads_close(model, X, y, tol, names=None, h=1e-5):
    """Fail naming every param whose gradient's relative error exceeds ``tol``."""
    errors = model_grad_errors(model, X, y, names, h)
    bad = {k: v for k, v in errors.items() if not v < tol}
    assert not bad, f"gradient rel errors above {tol}: {bad} (all: {errors})"


def assert_reg_adds_l2(build, X, y, reg, weight_names):
    """Loss at ``reg`` minus loss at 0 is ``0.5*reg*sum(W**2)``; grads differ by ``reg*W``."""
    m0, m1 = build(0.0), build(reg)
    for k in m0.params:
        m1.params[k] = m0.params[k].copy()
    l0, g0 = m0.loss(X, y)
    l1, g1 = m1.loss(X, y)
    expected = 0.5 * reg * sum(float(np.sum(m0.params[w] ** 2)) for w in weight_names)
    assert abs((l1 - l0) - expected) <= 1e-10 * max(1.0, expected)
    for k in m0.params:
        extra = reg * m0.params[k] if k in weight_names else 0.0
        np.testing.assert_allclose(g1[k], g0[k] + extra, rtol=1e-10, atol=1e-12, err_msg=k)


def assert_config_round_trip(model):
    """``get_config`` is JSON-able and ``build_model`` rebuilds the same architecture."""
    config = model.get_config()
    assert config["name"] == type(model).__name__
    again = json.loads(json.dumps(config))
    rebuilt = build_model(again)
    assert type(rebuilt) is type(model)
    assert rebuilt.get_config() == config
    assert sorted(rebuilt.params) == sorted(model.params)
    for k, v in model.params.items():
        assert rebuilt.params[k].shape == v.shape, k
        assert rebuilt.params[k].dtype == v.dtype, k
    return rebuilt


def assert_no_mutation_of_input(model, X, y):
    """``loss`` leaves ``X`` and ``y`` as they were."""
    X0, y0 = X.copy(), y.copy()
    model.loss(X, y)
    model.loss(X)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def overfit(model, X, y, epochs, batch_size, lr):
    """Train with the Solver (Adam) on ``(X, y)`` for ``epochs`` shuffled epochs.

    Returns:
        The final train accuracy.
    """
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    solver = Solver(
        model,
        data,
        update_rule="adam",
        optim_config={"learning_rate": lr},
        batch_size=batch_size,
        num_epochs=epochs,
        verbose=False,
        seed=0,
        shuffle=True,
    )
    solver.train()
    return float(np.mean(model.predict(X) == y))


def loss_on_device(model, xp, X, y):
    """``model.loss(X, y)`` with the model on ``xp`` and host ``X``, ``y``: no host read inside.

    Returns:
        (loss as a float, {name: gradient as host NumPy}); every gradient was on ``xp``.
    """
    model.to(xp)  # host X and y: the model moves them
    with count_host_syncs() as syncs:
        loss, grads = model.loss(X, y)
    assert syncs.count == 0, syncs.events
    host = {k: to_numpy(g) for k, g in grads.items() if get_array_module(g) is xp}
    assert len(host) == len(model.params)
    return float(loss), host
