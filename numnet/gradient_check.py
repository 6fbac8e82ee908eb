"""Numeric gradients by central differences, as in the course's ``gradient_check.py``.

Like the course's, these functions perturb ``x`` **in place** while they run (and restore every
entry), so a model's ``loss`` must read its parameters on every call. Beyond the course: a
directional check (one random direction, two function calls) that scales to large arrays.
"""

from __future__ import annotations

import random

import numpy as np

from numnet._random import as_generator
from numnet.backend import to_numpy


def rel_error(x, y) -> float:
    """Max elementwise relative error ``|x - y| / max(1e-8, |x| + |y|)``, as the course has it."""
    x = np.asarray(to_numpy(x), dtype=np.float64)
    y = np.asarray(to_numpy(y), dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def eval_numerical_gradient(f, x, verbose=True, h=0.00001):
    """Numeric gradient of a scalar function at ``x``.

    Args:
        f: function of one array argument returning a scalar.
        x: array (any shape) to differentiate at; perturbed in place and restored.
        verbose: print each index and its gradient, as the course does.
        h: step of the central difference.

    Returns:
        Array shaped like ``x`` (float64 where ``x`` is float64).
    """
    f(x)  # the course evaluates once first; kept for identical call counts
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        oldval = x[ix]
        x[ix] = oldval + h
        fxph = f(x)
        x[ix] = oldval - h
        fxmh = f(x)
        x[ix] = oldval
        grad[ix] = (fxph - fxmh) / (2 * h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numeric gradient of ``sum(f(x) * df)`` for an array-valued ``f``.

    Args:
        f: function of one array argument returning an array shaped like ``df``.
        x: array to differentiate at; perturbed in place and restored.
        df: upstream gradient, shaped like ``f(x)``.
        h: step of the central difference.

    Returns:
        Array shaped like ``x``.
    """
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        oldval = x[ix]
        x[ix] = oldval + h
        pos = np.array(f(x), copy=True)
        x[ix] = oldval - h
        neg = np.array(f(x), copy=True)
        x[ix] = oldval
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, rng=None):
    """Compare ``analytic_grad`` with numeric gradients at ``num_checks`` random entries of ``x``.

    Prints one line per entry as the course does and returns the list of relative errors.

    Args:
        f: scalar function of ``x``.
        x: array; perturbed in place and restored.
        analytic_grad: array shaped like ``x``.
        num_checks: entries to check.
        h: step of the central difference.
        rng: ``random.Random`` or seed; the course's global ``random`` module when None.
    """
    if rng is None:
        pick = random
    else:
        pick = rng if isinstance(rng, random.Random) else random.Random(rng)
    errors = []
    for _ in range(num_checks):
        ix = tuple(pick.randrange(m) for m in x.shape)
        oldval = x[ix]
        x[ix] = oldval + h
        fxph = f(x)
        x[ix] = oldval - h
        fxmh = f(x)
        x[ix] = oldval
        grad_numerical = (fxph - fxmh) / (2 * h)
        grad_analytic = analytic_grad[ix]
        err = abs(grad_numerical - grad_analytic) / max(
            1e-12, abs(grad_numerical) + abs(grad_analytic)
        )
        errors.append(float(err))
        print(f"numerical: {grad_numerical:f} analytic: {grad_analytic:f}, relative error: {err:e}")
    return errors


def directional_gradient_error(f, x, analytic_grad, h=1e-5, rng=None) -> float:
    """Relative error of ``analytic_grad`` along one random unit direction (two calls of ``f``).

    Args:
        f: scalar function of ``x``.
        x: float64 array; perturbed in place and restored.
        analytic_grad: array shaped like ``x``.
        h: step along the direction.
        rng: seed or ``np.random.Generator``; None seeds one from NumPy's global state.

    Returns:
        ``|numeric - analytic| / max(1e-12, |numeric| + |analytic|)`` of the directional
        derivative.
    """
    gen = as_generator(rng, "rng", none="draw_seed")
    d = gen.standard_normal(x.shape)
    d /= np.linalg.norm(d)
    old = x.copy()
    x += h * d
    fp = f(x)
    x[...] = old - h * d
    fm = f(x)
    x[...] = old
    numeric = (fp - fm) / (2 * h)
    analytic = float(np.sum(analytic_grad * d))
    return abs(numeric - analytic) / max(1e-12, abs(numeric) + abs(analytic))
