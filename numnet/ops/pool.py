"""Max-pooling layer, naive reference version: readable loops over output positions.

Conventions (the fast ``numnet.fast_layers.max_pool_forward_fast`` follows the same ones, and the
tests hold the two equal):

* Windows may overlap (stride < pool size) or leave a gap (stride > pool size).
* Windows that do not tile the input follow floor semantics, like torch's ``max_pool2d`` with
  ``ceil_mode=False``: ``H' = 1 + (H - pool_height) // stride``; trailing rows / columns that no
  whole window reaches get a zero gradient.
* Ties: the whole upstream gradient of a window goes to its *first* maximum in row-major window
  order (as torch does on the CPU), not shared among equal values.
"""

from __future__ import annotations

from numnet.backend import get_array_module
from numnet.ops._conv_shapes import check_dout, pool_geometry


def max_pool_forward_naive(x, pool_param):
    """Max-pooling forward pass (naive loops).

    Args:
        x: input of shape (N, C, H, W).
        pool_param: dict with ``'pool_height'``, ``'pool_width'`` and ``'stride'`` (ints >= 1).

    Returns:
        ``(out, cache)``: ``out`` of shape (N, C, H', W') with
        ``H' = 1 + (H - pool_height) // stride`` and ``W' = 1 + (W - pool_width) // stride``;
        ``cache = (x, pool_param)``.

    Raises:
        ValueError: wrong ndim, a missing or bad ``pool_param`` entry, or a window larger than x.
    """
    ph, pw, stride, H_out, W_out = pool_geometry(x, pool_param)
    xp = get_array_module(x)
    N, C = x.shape[:2]
    out = xp.empty((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            hs, ws = i * stride, j * stride
            out[:, :, i, j] = x[:, :, hs : hs + ph, ws : ws + pw].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    """Max-pooling backward pass (naive loops).

    Args:
        dout: upstream gradient of shape (N, C, H', W').
        cache: ``(x, pool_param)`` from ``max_pool_forward_naive``.

    Returns:
        ``dx`` of shape (N, C, H, W), dtype of ``x``: each window's gradient lands on the window's
        first maximum (row-major order); overlapping windows add up.

    Raises:
        ValueError: ``dout`` does not have the forward output's shape.
    """
    x, pool_param = cache
    ph, pw, stride, H_out, W_out = pool_geometry(x, pool_param)
    N, C = x.shape[:2]
    check_dout(dout, (N, C, H_out, W_out))
    xp = get_array_module(dout, x)
    dx = xp.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    hs, ws = i * stride, j * stride
                    window = x[n, c, hs : hs + ph, ws : ws + pw]
                    # argmax returns the first maximum in row-major order: torch's tie rule.
                    r, s = divmod(int(xp.argmax(window)), pw)
                    dx[n, c, hs + r, ws + s] += dout[n, c, i, j]
    return dx
