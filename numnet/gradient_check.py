"""Numeric gradients by central differences, as in the course's ``gradient_check.py``.

Like the course's, these functions perturb ``x`` **in place** while they run (and restore every
entry), so a model's ``loss`` must read its parameters on every call. Beyond the course: a
directional check (one random direction, two function calls) that scales to large arrays.

Every function here, and the checks of ``numnet gradcheck`` (:mod:`numnet.gradcheck_cases`),
takes its central differences from :func:`central_difference`.
"""

from __future__ import annotations

import random

import numpy as np

from numnet._random import as_generator
from numnet.backend import to_numpy


def central_difference(f, x: np.ndarray, where, h: float, step=1.0) -> np.ndarray:
    """``f(x + h * step) - f(x - h * step)`` with the nudge applied to ``x[where]`` only.

    The one central-difference loop body of numnet: ``x[where]`` is set to ``old + h * step``,
    then to ``old - h * step``, then restored bit for bit. Divide by ``2 * h`` for a derivative.

    Args:
        f: function of ``x`` returning a scalar or an array; its result is copied, so ``f`` may
            return a buffer it overwrites on the next call.
        x: array perturbed in place.
        where: an index tuple (one entry) or ``...`` (the whole array).
        h: step length.
        step: the direction: 1 for an entry, an array shaped like ``x[where]`` for a direction.

    Returns:
        The difference of the two results (float scalar array or array shaped like ``f(x)``).
    """
    old = np.copy(x[where])
    x[where] = old + h * step
    pos = np.array(f(x), copy=True)
    x[where] = old - h * step
    neg = np.array(f(x), copy=True)
    x[where] = old
    return pos - neg


def _entries(x: np.ndarray):
    """Every index of ``x`` in the course's order (``np.nditer``, memory order)."""
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        yield it.multi_index
        it.iternext()


def numeric_gradient(f, x: np.ndarray, h: float = 1e-5, df=None) -> np.ndarray:
    """Central differences of ``f`` at every entry of ``x`` (no first call, nothing printed).

    Args:
        f: function of ``x``: a scalar, or an array shaped like ``df`` when ``df`` is given.
        x: array (any shape); perturbed in place and restored.
        h: step of the central difference.
        df: upstream gradient: differentiate ``sum(f(x) * df)``.

    Returns:
        Array shaped like ``x``, of ``x``'s dtype.
    """
    grad = np.zeros_like(x)
    for ix in _entries(x):
        diff = central_difference(f, x, ix, h)
        grad[ix] = (diff if df is None else np.sum(diff * df)) / (2 * h)
    return grad


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
    for ix in _entries(x):
        grad[ix] = central_difference(f, x, ix, h) / (2 * h)
        if verbose:
            print(ix, grad[ix])
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
    return numeric_gradient(f, x, h, df=df)


def eval_numerical_gradient_blobs(f, inputs, output, h=1e-5):
    """Numeric gradients of the course's blobs (values in ``.vals``, gradients in ``.diffs``).

    Args:
        f: called as ``f(*inputs, output)``; writes its result into ``output.vals``.
        inputs: blobs to differentiate; each ``.vals`` is perturbed in place and restored.
        output: the output blob; ``output.diffs`` is the upstream gradient.
        h: step of the central difference.

    Returns:
        One array per input blob, shaped like its ``.vals``.
    """
    inputs = tuple(inputs)

    def out_vals(_):
        f(*inputs, output)
        return output.vals

    return [numeric_gradient(out_vals, blob.vals, h, df=output.diffs) for blob in inputs]


def eval_numerical_gradient_net(net, inputs, output, h=1e-5):
    """:func:`eval_numerical_gradient_blobs` with ``net.forward()`` as the function."""
    return eval_numerical_gradient_blobs(lambda *args: net.forward(), inputs, output, h=h)


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
        grad_numerical = float(central_difference(f, x, ix, h)) / (2 * h)
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
    numeric = float(central_difference(f, x, ..., h, step=d)) / (2 * h)
    analytic = float(np.sum(analytic_grad * d))
    return abs(numeric - analytic) / max(1e-12, abs(numeric) + abs(analytic))
