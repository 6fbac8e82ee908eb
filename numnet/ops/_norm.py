"""Shared math of the normalisation layers (batch, layer, group norm).

``xhat = (x - mean) / sqrt(var + eps)`` with the mean and the *biased* variance taken over ``axis``;
its backward is the closed form every normalisation layer uses.
"""

from __future__ import annotations

from numnet.backend import get_array_module


def normalize(x, axis, eps: float):
    """Standardise ``x`` over ``axis``.

    Args:
        x: array of any shape.
        axis: int or tuple of ints; statistics are taken over these axes.
        eps: added to the variance before the square root.

    Returns:
        ``(xhat, xc, var, inv_std)``: ``xhat`` and ``xc = x - mean`` shaped like ``x``;
        ``var`` and ``inv_std = 1 / sqrt(var + eps)`` with ``axis`` kept as size 1.
        All in ``x.dtype``.
    """
    xp = get_array_module(x)
    mu = x.mean(axis=axis, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=axis, keepdims=True)
    inv_std = 1.0 / xp.sqrt(var + eps)
    return xc * inv_std, xc, var, inv_std


def normalize_backward(dxhat, xhat, inv_std, axis):
    """Gradient through ``normalize`` in closed form.

    ``dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))``, means over ``axis``.

    Args:
        dxhat: upstream gradient with respect to ``xhat``, shaped like ``xhat``.
        xhat: the standardised input from ``normalize``.
        inv_std: ``1 / sqrt(var + eps)`` from ``normalize`` (``axis`` kept as size 1).
        axis: the axes ``normalize`` reduced over.

    Returns:
        ``dx`` shaped like ``xhat``.
    """
    mean_d = dxhat.mean(axis=axis, keepdims=True)
    mean_dx = (dxhat * xhat).mean(axis=axis, keepdims=True)
    return inv_std * (dxhat - mean_d - xhat * mean_dx)
