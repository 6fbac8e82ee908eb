"""Affine (fully connected) layer: ``out = x.reshape(N, D) @ w + b``."""

from __future__ import annotations

import math

from numnet._checks import check_ndim, check_shape


def affine_forward(x, w, b):
    """Affine forward pass.

    Args:
        x: input of shape (N, d_1, ..., d_k); each row is flattened to D = d_1 * ... * d_k.
        w: weights of shape (D, M).
        b: biases of shape (M,).

    Returns:
        ``(out, cache)``: ``out`` of shape (N, M); ``cache = (x, w, b)``.

    Raises:
        ValueError: ``x`` has fewer than 2 dimensions, or ``w``/``b`` do not fit ``x``.
    """
    if getattr(x, "ndim", 0) < 2:
        got = getattr(x, "shape", type(x).__name__)
        raise ValueError(f"x must have at least 2 dimensions (N, d_1, ..., d_k), got shape {got}")
    check_ndim("w", w, 2, "of shape (D, M)")
    D = math.prod(x.shape[1:])
    check_shape("w", w, (D, None))
    check_shape("b", b, (w.shape[1],))
    out = x.reshape(x.shape[0], D) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    """Affine backward pass.

    Args:
        dout: upstream gradient of shape (N, M).
        cache: ``(x, w, b)`` from ``affine_forward``.

    Returns:
        ``(dx, dw, db)``: ``dx`` of shape (N, d_1, ..., d_k), ``dw`` (D, M), ``db`` (M,).
    """
    x, w, _ = cache
    x2 = x.reshape(x.shape[0], -1)
    dx = (dout @ w.T).reshape(x.shape)
    dw = x2.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db
