"""Fast convolution in pure array code: im2col by batch chunks, one GEMM per image.

Forward: ``out[n] = w.reshape(F, K) @ cols[n]`` with K = C*HH*WW, where the columns ``cols[n]``
(K, positions) are contiguous runs copied from the input's phase planes (``_im2col`` explains the
layout; any stride). Backward, with the planes and columns rebuilt chunk by chunk from the cached
input (cheaper than keeping them: the columns are about K/C times larger than the input):

* ``dw^T = sum_n cols[n] @ dout[n]^T`` (this orientation runs markedly faster in OpenBLAS than
  ``dout @ cols^T`` for small F);
* ``dx`` either as col2im (``dcols = w^T @ dout``, then one contiguous add per filter tap, HH*WW in
  all), or, for stride 1 when F is not much larger than C, as a "full" convolution of the
  zero-padded dout with the flipped, channel-swapped filters: one more im2col + GEMM, no scatter.

Everything runs a batch chunk at a time: the chunk's planes, columns and GEMM output are scratch
buffers of at most ``_im2col.CHUNK_BYTES`` together (one image's worth at least), made once per
call and reused by every chunk, so the working memory does not grow with the batch. The cache is
the input itself (not a copy); ``dout``, ``x`` and the cache are never written. Everything runs in
``result_type(x, w, b)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np  # dtype metadata only; array math uses xp

from numnet.backend import get_array_module
from numnet.kernels._im2col import (
    chunk_size,
    fill_planes,
    gather_columns,
    gather_dense,
    plane_geometry,
    read_planes,
    tap_run,
    tap_window,
)

# Inputs with at most this many channels get dense columns (see _im2col): their columns are cheap
# to gather however short the runs, and dense columns skip the discarded wrapped columns and let the
# GEMM write the output directly. Measured on 28x28 and 32x32 images (OpenBLAS, one thread): dense
# wins at C = 1 and 3, wrapped wins from C = 16 up.
DENSE_MAX_CHANNELS = 4


class ConvCache(NamedTuple):
    """What ``conv2d_backward`` reads: the input (in the compute dtype) and the geometry.

    ``x`` is the forward's input itself when it already has the compute dtype (no copy).
    """

    x: Any
    w: Any
    x_dtype: Any
    b_dtype: Any
    stride: int
    pad: int
    out_shape: tuple


class Geometry(NamedTuple):
    """Shapes of one conv.

    Input (C, H, W), filters (F, HH, WW), stride, padding, the phase planes (Hq x Wq, rows of P),
    the output (Ho x Wo) and whether the columns are dense.
    """

    C: int
    H: int
    W: int
    F: int
    HH: int
    WW: int
    stride: int
    pad_h: int
    pad_w: int
    Hq: int
    Wq: int
    Ho: int
    Wo: int
    P: int
    dense: bool

    @property
    def K(self) -> int:
        """Rows of the columns: C * HH * WW."""
        return self.C * self.HH * self.WW

    @property
    def L(self) -> int:
        """Positions per image in the columns: Ho * Wo (dense) or Ho * Wq (wrapped)."""
        return self.Ho * (self.Wo if self.dense else self.Wq)


def geometry(x_shape, w_shape, stride: int, pad_h: int, pad_w: int) -> Geometry:
    """The ``Geometry`` of a conv of x (N, C, H, W) with w (F, C, HH, WW)."""
    _, C, H, W = x_shape
    F, _, HH, WW = w_shape
    Hq, Wq, Ho, Wo, P = plane_geometry(H, W, HH, WW, stride, pad_h, pad_w)
    dense = C <= DENSE_MAX_CHANNELS
    return Geometry(C, H, W, F, HH, WW, stride, pad_h, pad_w, Hq, Wq, Ho, Wo, P, dense)


def workspace_bytes(g: Geometry, itemsize: int, backward: bool, scatter: bool) -> int:
    """Scratch bytes per image of a forward (or backward) chunk.

    Planes, columns, GEMM output (backward: also the dw partials and, for col2im, the dx columns
    and dx planes).
    """
    planes = g.C * g.stride**2 * g.P
    n = planes + (g.K + 1) * g.L + g.F * g.Ho * g.Wq
    if backward:
        n += (g.K + 1) * g.F
        if scatter:
            n += g.K * g.L + planes
    return n * itemsize


def _column_buffer(xp, m: int, g: Geometry, dtype):
    """Columns of m images plus a row of ones: (m, K + 1, L), the ones written once.

    With the bias as an extra filter column, the forward GEMM adds it, and in the backward the
    ones row turns ``cols @ dout^T`` into ``[dw^T; db]`` in one GEMM.
    """
    cols = xp.empty((m, g.K + 1, g.L), dtype=dtype)
    cols[:, g.K] = 1
    return cols


def _gather(xp, planes, cols, g: Geometry) -> None:
    """Gather the columns of the planes (k, C, s*s, P) into rows 0..K of ``cols`` (k, K + 1, L)."""
    k = planes.shape[0]
    sN, sK, it = cols.strides
    L = g.L
    # A (k, C, HH, WW, ...) view of rows 0..K of each image (as_strided: never a copy).
    shape = (k, g.C, g.HH, g.WW) + ((g.Ho, g.Wo) if g.dense else (L,))
    strides = (sN, g.HH * g.WW * sK, g.WW * sK, sK) + ((g.Wo * it, it) if g.dense else (it,))
    view = xp.lib.stride_tricks.as_strided(cols, shape=shape, strides=strides)
    gather = gather_dense if g.dense else gather_columns
    gather(xp, planes, view, g.HH, g.WW, g.stride, g.Wq)


class _ChunkConv:
    """The convolution of one batch chunk with scratch reused from chunk to chunk.

    Holds the planes, the columns (with their ones row) and, where needed, the GEMM output of up
    to ``m`` images; ``conv(src, dst)`` convolves src (k, C, H, W), k <= m, with w_rows (F, K)
    plus bias (F,) or None, and returns the result (k, F, Ho, Wo): ``dst`` itself when given (the
    GEMM writes it directly with dense columns), else a view of scratch the next call reuses.
    """

    def __init__(self, xp, g: Geometry, w_rows, bias, m: int, dtype, with_dst: bool):
        self.xp, self.g = xp, g
        F, K = w_rows.shape
        self.planes = xp.zeros((m, g.C, g.stride**2, g.P), dtype=dtype)
        self.cols = _column_buffer(xp, m, g, dtype)
        if bias is None:
            self.w, self.rows = w_rows, K
        else:
            self.w, self.rows = xp.concatenate([w_rows, bias.reshape(F, 1)], axis=1), K + 1
        shape = (m, F, g.Ho, g.Wo) if g.dense else (m, F, g.Ho, g.Wq)
        self.raw = None if g.dense and with_dst else xp.empty(shape, dtype=dtype)

    @staticmethod
    def bytes_per_image(g: Geometry, itemsize: int) -> int:
        """Scratch bytes per image: planes, columns (plus ones row), GEMM output."""
        planes = g.C * g.stride**2 * g.P
        return (planes + (g.K + 1) * g.L + g.F * g.Ho * g.Wq) * itemsize

    def __call__(self, src, dst=None):
        xp, g = self.xp, self.g
        k, F = src.shape[0], self.w.shape[0]
        fill_planes(self.planes[:k], src, g.pad_h, g.pad_w, g.stride, g.Hq, g.Wq)
        _gather(xp, self.planes[:k], self.cols[:k], g)
        cols = self.cols[:k, : self.rows]
        if g.dense:
            a = dst if dst is not None else self.raw[:k]
            xp.matmul(self.w, cols, out=a.reshape(k, F, g.L))
            return a
        xp.matmul(self.w, cols, out=self.raw[:k].reshape(k, F, g.L))
        # Columns Wo..Wq of each row wrapped around into the next row: not outputs.
        a = self.raw[:k, :, :, : g.Wo]
        if dst is None:
            return a
        dst[...] = a
        return dst


def _forward_chunks(xp, x, w_rows, bias, g: Geometry, dtype, out=None, epilogue=None):
    """Convolution of x (N, C, H, W) with w_rows (F, K) plus bias (F,) or None, chunk by chunk.

    The result of images n0..n1, (n1 - n0, F, Ho, Wo), goes to ``out[n0:n1]`` when ``out`` is
    given, and/or to ``epilogue(n0, n1, a)``, where ``a`` is a view of ``out`` or, without
    ``out``, of a scratch buffer the epilogue may overwrite (the next chunk reuses it).
    """
    N = x.shape[0]
    m = chunk_size(N, _ChunkConv.bytes_per_image(g, np.dtype(dtype).itemsize))
    conv = _ChunkConv(xp, g, w_rows, bias, m, dtype, with_dst=out is not None)
    for n0 in range(0, N, m):
        n1 = min(n0 + m, N)
        a = conv(x[n0:n1], None if out is None else out[n0:n1])
        if epilogue is not None:
            epilogue(n0, n1, a)


def _use_full_conv(C: int, F: int, HH: int, WW: int, pad: int) -> bool:
    """Whether to compute a stride-1 dx as a full convolution rather than by col2im.

    Its extra im2col copies F*HH*WW rows per image, against C*HH*WW adds for col2im, and its GEMM
    has only C output rows. Measured per chunk on the recipe and CIFAR-sized layers (OpenBLAS, one
    thread): as fast or faster than col2im up to F == 2C (10% faster for 16->32 5x5), even at
    64->128. It needs pad < HH, WW.
    """
    return pad <= HH - 1 and pad <= WW - 1 and F <= 2 * C and HH * WW > 1


def _full_conv(xp, w_rows, g: Geometry, m: int, dtype):
    """The dx of a stride-1 conv: a full convolution of dout with the flipped, transposed filters.

    dx[c, i, j] = sum_{f, kh, kw} w[f, c, HH-1-kh, WW-1-kw] * dout_p[f, i + kh, j + kw], with dout
    zero-padded by (HH-1-pad, WW-1-pad): a stride-1 conv with C filters of F channels. Returns a
    ``_ChunkConv`` taking dout chunks (k, F, Ho, Wo) to dx chunks (k, C, H, W).
    """
    F, C, HH, WW = g.F, g.C, g.HH, g.WW
    w_full = w_rows.reshape(F, C, HH, WW)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    w_full = xp.ascontiguousarray(w_full).reshape(C, F * HH * WW)
    gf = _full_geometry(g)
    return _ChunkConv(xp, gf, w_full, None, m, dtype, with_dst=True)


def _full_geometry(g: Geometry) -> Geometry:
    """The geometry of the full convolution that gives a stride-1 conv's dx."""
    return geometry(
        (1, g.F, g.Ho, g.Wo), (g.C, g.F, g.HH, g.WW), 1, g.HH - 1 - g.pad_h, g.WW - 1 - g.pad_w
    )


def conv2d_forward(x, w, b, stride: int, pad: int):
    """Convolution forward on already-validated arguments (see ``conv_forward_fast``).

    Returns:
        ``(out, cache)``: out (N, F, H', W') in ``result_type(x, w, b)``; cache a ``ConvCache``.
    """
    xp = get_array_module(x, w, b)
    dtype = xp.result_type(x, w, b)
    g = geometry(x.shape, w.shape, stride, pad, pad)
    xc = x.astype(dtype, copy=False)
    w_rows = w.astype(dtype, copy=False).reshape(g.F, g.K)
    out = xp.empty((x.shape[0], g.F, g.Ho, g.Wo), dtype=dtype)
    _forward_chunks(xp, xc, w_rows, b.astype(dtype, copy=False), g, dtype, out=out)
    return out, ConvCache(xc, w, x.dtype, b.dtype, stride, pad, out.shape)


def conv_backward_core(xp, cache: ConvCache, need_dx: bool, fill):
    """The conv backward, chunk by chunk, for whatever upstream gradient ``fill`` provides.

    Args:
        xp: the array module of the cache's arrays (numpy or cupy).
        cache: the forward's ``ConvCache``.
        need_dx: False skips dx (returned as None).
        fill: ``fill(n0, n1, target)`` writes dL/d(conv output) of images n0..n1 into target, a
            (n1 - n0, F, H', W') view of a scratch buffer.

    Returns:
        ``(dx, dw, db)`` in the dtypes of x, w and b.
    """
    x, w = cache.x, cache.w
    dtype = x.dtype
    N = x.shape[0]
    g = geometry(x.shape, w.shape, cache.stride, cache.pad, cache.pad)
    F, K, L, Ho, Wo, s = g.F, g.K, g.L, g.Ho, g.Wo, g.stride
    w_rows = w.astype(dtype, copy=False).reshape(F, K)
    full = need_dx and s == 1 and _use_full_conv(g.C, F, g.HH, g.WW, cache.pad)
    scatter = need_dx and not full
    per_image = workspace_bytes(g, dtype.itemsize, True, scatter)
    if full:
        per_image += _ChunkConv.bytes_per_image(_full_geometry(g), dtype.itemsize)
    m = chunk_size(N, per_image)
    planes = xp.zeros((m, g.C, s * s, g.P), dtype=dtype)
    cols = _column_buffer(xp, m, g, dtype)
    # dout of a chunk, widened to Wq columns unless dense; the extra columns stay zero so that
    # wrapped columns add nothing to dw, db or dx.
    ext = xp.zeros((m, F, Ho, Wo if g.dense else g.Wq), dtype=dtype)
    part = xp.empty((m, K + 1, F), dtype=dtype)
    dwb = xp.zeros((K + 1, F), dtype=dtype)  # [dw^T; db]
    dx = xp.empty(cache.x.shape, dtype=dtype) if need_dx else None
    if scatter:
        dx_planes = xp.empty((m, g.C, s * s, g.P), dtype=dtype)
        dcols = xp.empty((m, K, L), dtype=dtype)
        w_cols = w_rows.T
    if full:
        full_conv = _full_conv(xp, w_rows, g, m, dtype)
    for n0 in range(0, N, m):
        n1 = min(n0 + m, N)
        k = n1 - n0
        d4 = ext[:k, :, :, :Wo]
        fill(n0, n1, d4)
        d3 = ext[:k].reshape(k, F, L)
        fill_planes(planes[:k], x[n0:n1], g.pad_h, g.pad_w, s, g.Hq, g.Wq)
        _gather(xp, planes[:k], cols[:k], g)
        # [dw^T; db] = [cols; 1] @ dout^T: with K rows this orientation runs faster than
        # dout @ cols^T; the ones row sums dout into db.
        xp.matmul(cols[:k], d3.transpose(0, 2, 1), out=part[:k])
        dwb += part[0] if k == 1 else part[:k].sum(axis=0)
        if full:
            full_conv(d4, dx[n0:n1])
        elif scatter:
            xp.matmul(w_cols, d3, out=dcols[:k])
            dxp = dx_planes[:k]
            dxp[...] = 0
            dc = dcols[:k].reshape(k, g.C, g.HH, g.WW, L)
            for kh in range(g.HH):
                for kw in range(g.WW):
                    if g.dense:
                        tap = tap_window(dxp, kh, kw, s, g.Wq, Ho, Wo)
                        tap += dc[:, :, kh, kw].reshape(k, g.C, Ho, Wo)
                    else:
                        plane, off = tap_run(kh, kw, s, g.Wq)
                        tap = dxp[:, :, plane, off : off + L]
                        tap += dc[:, :, kh, kw]
            read_planes(dxp, dx[n0:n1], g.pad_h, g.pad_w, s, g.Hq, g.Wq)
    if dx is not None:
        dx = dx.astype(cache.x_dtype, copy=False)
    dw = xp.ascontiguousarray(dwb[:K].T).reshape(w.shape).astype(w.dtype, copy=False)
    return dx, dw, dwb[K].astype(cache.b_dtype, copy=True)


def conv2d_backward(dout, cache: ConvCache, need_dx: bool = True):
    """Convolution backward on a ``ConvCache`` (see ``conv_backward_fast``).

    Returns:
        ``(dx, dw, db)`` in the dtypes of x, w and b; ``dx`` is None when ``need_dx`` is False.
    """
    xp = get_array_module(dout, cache.x)
    dout = xp.ascontiguousarray(dout, dtype=cache.x.dtype)

    def fill(n0, n1, target):
        target[...] = dout[n0:n1]

    return conv_backward_core(xp, cache, need_dx, fill)
