"""Affine (fully connected) layer: ``out = x.reshape(N, D) @ w + b``."""

from __future__ import annotations

import math

from numnet._checks import check_floating, check_ndim, check_shape


def affine_forward(x, w, b):
    """Affine forward pass.

    Args:
        x: input of shape (N, d_1, ..., d_k); each row is flattened to D = d_1 * ... * d_k.
        w: weights of shape (D, M).
        b: biases of shape (M,).

    Returns:
        ``(out, cache)``: ``out`` of shape (N, M); ``cache = (x, w, b)``.

    Raises:
        ValueError: ``x`` has fewer than 2 dimensions, ``w``/``b`` do not fit ``x``, or an array
            is not floating point (integers are refused, as by conv and pool: ``x @ w`` would
            silently be an integer product).
    """
    if getattr(x, "ndim", 0) < 2:
        got = getattr(x, "shape", type(x).__name__)
        raise ValueError(f"x must have at least 2 dimensions (N, d_1, ..., d_k), got shape {got}")
    for name, a in (("x", x), ("w", w), ("b", b)):
        check_floating(name, a)
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

    Raises:
        ValueError: ``dout`` is not (N, M) for the forward's ``x`` and ``w``.
    """
    x, w, _ = cache
    check_shape("dout", dout, (x.shape[0], w.shape[1]))
    x2 = x.reshape(x.shape[0], -1)
    dx = (dout @ w.T).reshape(x.shape)
    dw = x2.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db
