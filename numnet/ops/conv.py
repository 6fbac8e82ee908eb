"""Convolution layer, naive reference version: readable loops over samples and output positions.

The fast version with the same signature is ``numnet.fast_layers.conv_forward_fast``; the tests hold
the two equal. Cross-correlation as in the course (and torch): the filter is not flipped.
"""

from __future__ import annotations

from numnet.backend import get_array_module
from numnet.ops._conv_shapes import check_dout, conv_geometry


def _pad_spatial(xp, x, pad: int):
    """A zero-padded copy of x (N, C, H, W) -> (N, C, H + 2*pad, W + 2*pad); x is not modified."""
    N, C, H, W = x.shape
    x_pad = xp.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=x.dtype)
    x_pad[:, :, pad : pad + H, pad : pad + W] = x
    return x_pad


def conv_forward_naive(x, w, b, conv_param):
    """Convolution forward pass (naive loops).

    Args:
        x: input of shape (N, C, H, W).
        w: filters of shape (F, C, HH, WW).
        b: biases of shape (F,).
        conv_param: dict with ``'stride'`` (int >= 1, same on both axes) and ``'pad'`` (int >= 0,
            zeros added symmetrically on every side of H and W).

    Returns:
        ``(out, cache)``: ``out`` of shape (N, F, H', W') with
        ``H' = 1 + (H + 2*pad - HH) / stride`` and ``W' = 1 + (W + 2*pad - WW) / stride``;
        ``cache = (x, w, b, conv_param)``.

    Raises:
        ValueError: wrong ndim or shapes, channel mismatch between ``x`` and ``w``, a missing or bad
            ``conv_param`` entry, or an output size that is not a whole number >= 1.
    """
    stride, pad, H_out, W_out = conv_geometry(x, w, b, conv_param)
    xp = get_array_module(x, w, b)
    N = x.shape[0]
    F, _, HH, WW = w.shape
    dtype = xp.result_type(x, w, b)
    x_pad = _pad_spatial(xp, x, pad)
    w_rows = w.reshape(F, -1)
    out = xp.empty((N, F, H_out, W_out), dtype=dtype)
    for n in range(N):
        for i in range(H_out):
            for j in range(W_out):
                hs, ws = i * stride, j * stride
                window = x_pad[n, :, hs : hs + HH, ws : ws + WW]
                # One dot product per filter, all F filters at once.
                out[n, :, i, j] = w_rows @ window.reshape(-1) + b
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    """Convolution backward pass (naive loops).

    Args:
        dout: upstream gradient of shape (N, F, H', W').
        cache: ``(x, w, b, conv_param)`` from ``conv_forward_naive``.

    Returns:
        ``(dx, dw, db)`` with the shapes and dtypes of ``x`` (N, C, H, W), ``w`` (F, C, HH, WW) and
        ``b`` (F,).

    Raises:
        ValueError: ``dout`` does not have the forward output's shape.
    """
    x, w, b, conv_param = cache
    stride, pad, H_out, W_out = conv_geometry(x, w, b, conv_param)
    N, _, H, W = x.shape
    F, _, HH, WW = w.shape
    check_dout(dout, (N, F, H_out, W_out))
    xp = get_array_module(dout, x, w)
    x_pad = _pad_spatial(xp, x, pad)
    dx_pad = xp.zeros_like(x_pad)
    dw = xp.zeros_like(w)
    for n in range(N):
        for i in range(H_out):
            for j in range(W_out):
                hs, ws = i * stride, j * stride
                g = dout[n, :, i, j]  # (F,)
                # out[n, f, i, j] = sum(window * w[f]) + b[f]: each factor's gradient is the other.
                window = x_pad[n, :, hs : hs + HH, ws : ws + WW]
                dw += g[:, None, None, None] * window
                dx_pad[n, :, hs : hs + HH, ws : ws + WW] += xp.tensordot(g, w, axes=1)
    dx = dx_pad[:, :, pad : pad + H, pad : pad + W]
    db = dout.sum(axis=(0, 2, 3))
    return (
        xp.ascontiguousarray(dx).astype(x.dtype, copy=False),
        dw.astype(w.dtype, copy=False),
        db.astype(b.dtype, copy=False),
    )
