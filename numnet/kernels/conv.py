"""Fast convolution in pure array code: im2col by batch chunks, one GEMM per image.

Forward: ``out[n] = w.reshape(F, K) @ cols[n]`` with K = C*HH*WW, where the columns ``cols[n]``
(K, positions) are contiguous runs copied from the input's phase planes (``_im2col`` explains the
layout; any stride). Backward, with the columns rebuilt from the cached planes (cheaper than keeping
them: they are about K/C times larger than the input):

* ``dw^T = sum_n cols[n] @ dout[n]^T`` (this orientation runs markedly faster in OpenBLAS than
  ``dout @ cols^T`` for small F);
* ``dx`` either as col2im (``dcols = w^T @ dout``, then one contiguous add per filter tap, HH*WW in
  all), or, for stride 1 when F is not much larger than C, as a "full" convolution of the
  zero-padded dout with the flipped, channel-swapped filters: one more im2col + GEMM, no scatter.

Batch chunks keep the column buffer a few MB (cache-resident) instead of one whole-batch buffer;
``dout``, ``x`` and the cache are never written. Everything runs in ``result_type(x, w, b)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np  # dtype metadata only; array math uses xp

from numnet.backend import get_array_module
from numnet.kernels._im2col import (
    chunk_size,
    from_planes,
    gather_columns,
    plane_geometry,
    tap_run,
    to_planes,
)

# col2im adds one tap of a whole chunk per call; below this many elements per call, numpy's
# per-call overhead dominates, so scatter chunks grow until they reach it (first layers, small C).
SCATTER_MIN_ELEMENTS = 1 << 15


class ConvCache(NamedTuple):
    """What ``conv2d_backward`` reads: the input's phase planes (not the much larger columns).

    ``x_planes`` is (N, C, stride**2, P) (see ``numnet.kernels._im2col``); ``plane_shape`` is
    ``(Hq, Wq, P)``.
    """

    x_planes: Any
    w: Any
    x_shape: tuple
    x_dtype: Any
    b_dtype: Any
    stride: int
    pad: int
    out_shape: tuple
    plane_shape: tuple


def _conv_planes(xp, planes, w_rows, HH: int, WW: int, stride: int, geometry, dtype, epilogue):
    """Convolution of phase planes with w_rows (F, C*HH*WW), chunk by chunk.

    ``geometry`` is ``(Hq, Wq, H_out, W_out)``. For each chunk of images n0..n1,
    ``epilogue(n0, n1, raw)`` receives raw (n1 - n0, F, H_out, W_out), the convolution without
    bias: a view into a scratch buffer that the epilogue may overwrite (the next chunk reuses it).
    """
    N, C = planes.shape[:2]
    F, K = w_rows.shape
    _, Wq, Ho, Wo = geometry
    L = Ho * Wq
    m = chunk_size(N, K * L * np.dtype(dtype).itemsize)
    one_tap = HH == WW == 1  # the columns are plane 0 itself: no copy at all
    cols_buf = None if one_tap else xp.empty((m, C, HH, WW, L), dtype=dtype)
    ext = xp.empty((m, F, Ho, Wq), dtype=dtype)
    for n0 in range(0, N, m):
        n1 = min(n0 + m, N)
        k = n1 - n0
        if one_tap:
            cols = planes[n0:n1, :, 0, :L]
        else:
            gather_columns(xp, planes, cols_buf[:k], n0, n1, HH, WW, stride, Wq)
            cols = cols_buf[:k].reshape(k, K, L)
        xp.matmul(w_rows, cols, out=ext[:k].reshape(k, F, L))
        # Columns Wo..Wq of each row wrapped around into the next row: not outputs.
        epilogue(n0, n1, ext[:k, :, :, :Wo])


def _conv_to(xp, out, bias3):
    """Epilogue writing raw (+ bias3 when not None) into ``out``."""

    def write(n0, n1, raw):
        if bias3 is None:
            out[n0:n1] = raw
        else:
            xp.add(raw, bias3, out=out[n0:n1])

    return write


def _use_full_conv(C: int, F: int, HH: int, WW: int, pad: int) -> bool:
    """Whether to compute a stride-1 dx as a full convolution rather than by col2im.

    Its extra im2col copies F*HH*WW rows per image, against C*HH*WW adds for col2im, and its GEMM
    has only C output rows. Measured on CIFAR-sized layers (OpenBLAS, one thread), it wins at
    F == C and loses from F == 2C up. It needs pad < HH, WW.
    """
    return pad <= HH - 1 and pad <= WW - 1 and F < 2 * C and HH * WW > 1


def _full_conv_dx(xp, dout, w_rows, HH: int, WW: int, pad: int, dtype):
    """The dx of a stride-1 conv: a full convolution of dout with the flipped, transposed filters.

    dx[c, i, j] = sum_{f, kh, kw} w[f, c, HH-1-kh, WW-1-kw] * dout_p[f, i + kh, j + kw], with dout
    zero-padded by (HH-1-pad, WW-1-pad): a stride-1 conv with C filters of F channels.
    """
    F, K = w_rows.shape
    C = K // (HH * WW)
    w_full = w_rows.reshape(F, C, HH, WW)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    w_full = xp.ascontiguousarray(w_full).reshape(C, F * HH * WW)
    ph, pw = HH - 1 - pad, WW - 1 - pad
    Hq, Wq, Ho, Wo, P = plane_geometry(*dout.shape[2:], HH, WW, 1, ph, pw)
    planes = to_planes(xp, dout, ph, pw, 1, Hq, Wq, P, dtype)
    dx = xp.empty((dout.shape[0], C, Ho, Wo), dtype=dtype)
    _conv_planes(xp, planes, w_full, HH, WW, 1, (Hq, Wq, Ho, Wo), dtype, _conv_to(xp, dx, None))
    return dx


def conv2d_forward(x, w, b, stride: int, pad: int):
    """Convolution forward on already-validated arguments (see ``conv_forward_fast``).

    Returns:
        ``(out, cache)``: out (N, F, H', W') in ``result_type(x, w, b)``; cache a ``ConvCache``.
    """
    xp = get_array_module(x, w, b)
    dtype = xp.result_type(x, w, b)
    _, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Hq, Wq, Ho, Wo, P = plane_geometry(H, W, HH, WW, stride, pad, pad)
    planes = to_planes(xp, x, pad, pad, stride, Hq, Wq, P, dtype)
    w_rows = w.astype(dtype, copy=False).reshape(F, C * HH * WW)
    out = xp.empty((x.shape[0], F, Ho, Wo), dtype=dtype)
    bias3 = b.astype(dtype, copy=False).reshape(F, 1, 1)
    _conv_planes(
        xp, planes, w_rows, HH, WW, stride, (Hq, Wq, Ho, Wo), dtype, _conv_to(xp, out, bias3)
    )
    cache = ConvCache(
        planes, w, tuple(x.shape), x.dtype, b.dtype, stride, pad, out.shape, (Hq, Wq, P)
    )
    return out, cache


def conv_backward_core(xp, cache: ConvCache, need_dx: bool, fill, dout=None):
    """The conv backward, chunk by chunk, for whatever upstream gradient ``fill`` provides.

    Args:
        xp: the array module of the cache's arrays (numpy or cupy).
        cache: the forward's ``ConvCache``.
        need_dx: False skips dx (returned as None).
        fill: ``fill(n0, n1, target)`` writes dL/d(conv output) of images n0..n1 into target, a
            (n1 - n0, F, H', W') view of a scratch buffer.
        dout: the whole (N, F, H', W') gradient when the caller has it (spares a copy when dx is
            a full convolution).

    Returns:
        ``(dx, dw, db)`` in the dtypes of x, w and b.
    """
    planes, w = cache.x_planes, cache.w
    dtype = planes.dtype
    N, C = cache.x_shape[:2]
    F, _, HH, WW = w.shape
    K, s, pad = C * HH * WW, cache.stride, cache.pad
    Hq, Wq, _ = cache.plane_shape
    Ho, Wo = cache.out_shape[2:]
    L = Ho * Wq
    w_rows = w.astype(dtype, copy=False).reshape(F, K)
    full = need_dx and s == 1 and _use_full_conv(C, F, HH, WW, pad)
    scatter = need_dx and not full
    m = chunk_size(N, K * L * dtype.itemsize)
    if scatter:
        m = max(m, min(N, -(-SCATTER_MIN_ELEMENTS // (C * L))))
    one_tap = HH == WW == 1
    cols_buf = None if one_tap else xp.empty((m, C, HH, WW, L), dtype=dtype)
    # dout widened to Wq columns; the extra columns stay zero so wrap-around columns add nothing.
    ext = xp.zeros((m, F, Ho, Wq), dtype=dtype)
    part = xp.empty((m, K, F), dtype=dtype)
    dw_t = xp.zeros((K, F), dtype=dtype)
    db = xp.zeros(F, dtype=dtype)
    if scatter:
        dx_planes = xp.zeros(planes.shape, dtype=dtype)
        dcols = xp.empty((m, C, HH, WW, L), dtype=dtype)
        w_cols = w_rows.T
    if full and dout is None:
        dout = xp.empty(cache.out_shape, dtype=dtype)
        keep = True
    else:
        keep = False
    for n0 in range(0, N, m):
        n1 = min(n0 + m, N)
        k = n1 - n0
        fill(n0, n1, ext[:k, :, :, :Wo])
        if keep:
            dout[n0:n1] = ext[:k, :, :, :Wo]
        d3 = ext[:k].reshape(k, F, L)
        db += d3.sum(axis=(0, 2))
        if one_tap:
            cols = planes[n0:n1, :, 0, :L]
        else:
            gather_columns(xp, planes, cols_buf[:k], n0, n1, HH, WW, s, Wq)
            cols = cols_buf[:k].reshape(k, K, L)
        # dw^T = cols @ dout^T: with K rows this orientation runs faster than dout @ cols^T.
        xp.matmul(cols, d3.transpose(0, 2, 1), out=part[:k])
        dw_t += part[0] if k == 1 else part[:k].sum(axis=0)
        if scatter:
            d = dcols[:k]
            xp.matmul(w_cols, d3, out=d.reshape(k, K, L))
            for kh in range(HH):
                for kw in range(WW):
                    plane, off = tap_run(kh, kw, s, Wq)
                    tap = dx_planes[n0:n1, :, plane, off : off + L]
                    tap += d[:, :, kh, kw]
    dx = None
    if scatter:
        dx = from_planes(xp, dx_planes, cache.x_shape, pad, s, Hq, Wq)
    elif full:
        dx = _full_conv_dx(xp, dout, w_rows, HH, WW, pad, dtype)
    if dx is not None:
        dx = dx.astype(cache.x_dtype, copy=False)
    dw = xp.ascontiguousarray(dw_t.T).reshape(w.shape).astype(w.dtype, copy=False)
    return dx, dw, db.astype(cache.b_dtype, copy=False)


def conv2d_backward(dout, cache: ConvCache, need_dx: bool = True):
    """Convolution backward on a ``ConvCache`` (see ``conv_backward_fast``).

    Returns:
        ``(dx, dw, db)`` in the dtypes of x, w and b; ``dx`` is None when ``need_dx`` is False.
    """
    xp = get_array_module(dout, cache.x_planes)
    dout = xp.ascontiguousarray(dout, dtype=cache.x_planes.dtype)

    def fill(n0, n1, target):
        target[...] = dout[n0:n1]

    return conv_backward_core(xp, cache, need_dx, fill, dout)
