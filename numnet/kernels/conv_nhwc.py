"""Stride-1 convolution of channels-last activations (N, H, W, C), a batch chunk at a time.

For models that keep their activations channels-last between convs (numnet's ConvNet does, inside
``loss``); the filters keep the course's (F, C, HH, WW) layout and every result is computed in
``result_type(x, w, b)``.

Columns. With C > ``DENSE_MAX_CHANNELS`` channels, "position rows": the zero-padded chunk
(k, Hp, Wp, C) is gathered into ``cols`` (k*H'*W', K + 1), row p holding the K = HH*WW*C inputs of
output position p in (kh, kw, c) order (HH contiguous runs of WW*C values, one strided copy for
the whole chunk) and a 1. The forward is then one GEMM ``cols @ [w_k; b]`` with a (K + 1, F)
right-hand side that writes the channels-last output directly: no wrapped columns to discard, no
output copy, and the big matrix is the one OpenBLAS packs once. With few channels (first layers:
a channels-last run would be a handful of values) the columns are the dense (k, K + 1, H'*W')
columns of ``numnet.kernels.conv`` built from NCHW planes, and the GEMM reads them transposed.

Backward. ``[dw; db] = cols^T @ dout`` chunk by chunk (the ones column gives db). ``dx`` is the
full convolution of the zero-padded ``dout`` with the flipped, channel-swapped filters, itself a
stride-1 channels-last conv with C filters of F channels: one more gather and one GEMM per chunk
that write ``dx`` channels-last directly (no scatter).

Working memory: every buffer holds one chunk of images, made once per call and reused by every
chunk; a chunk is as many images as fit ``CHUNK_BYTES`` of padded input plus columns (one image at
least), and the backward's scratch is at most two such buffers (x's columns, dout's columns) plus
the chunk's dout. Measured on the recipe nets' layers (batch 64, OpenBLAS, one thread): 2 MB
chunks beat 1 MB (more per-call overhead) and 4 MB (the columns leave the L2 cache between the
gather and the GEMM) by 3-10%.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np  # dtype metadata only; array math uses xp

from numnet.kernels import _im2col
from numnet.kernels.conv import DENSE_MAX_CHANNELS
from numnet.kernels.conv import geometry as nchw_geometry

#: Cap on one chunk's padded input plus columns, in bytes (see the module docstring).
CHUNK_BYTES = 2 << 20


def chunk_size(n: int, per_image_bytes: int) -> int:
    """Images per chunk: as many as fit ``CHUNK_BYTES``, at least 1, at most n."""
    return max(1, min(n, CHUNK_BYTES // max(per_image_bytes, 1)))


class Geometry(NamedTuple):
    """Shapes of one stride-1 conv of x (N, H, W, C) with w (F, C, HH, WW), zero padding pad."""

    C: int
    H: int
    W: int
    F: int
    HH: int
    WW: int
    pad_h: int
    pad_w: int
    Ho: int
    Wo: int
    dense: bool

    @property
    def K(self) -> int:
        """Inputs per output position: HH * WW * C."""
        return self.HH * self.WW * self.C

    @property
    def S(self) -> int:
        """Output positions per image: H' * W'."""
        return self.Ho * self.Wo


def geometry(x_shape, w_shape, pad_h: int, pad_w: int | None = None) -> Geometry:
    """The ``Geometry`` of a stride-1 conv of x (N, H, W, C) with w (F, C, HH, WW)."""
    pad_w = pad_h if pad_w is None else pad_w
    _, H, W, C = x_shape
    F, _, HH, WW = w_shape
    Ho, Wo = H + 2 * pad_h - HH + 1, W + 2 * pad_w - WW + 1
    return Geometry(C, H, W, F, HH, WW, pad_h, pad_w, Ho, Wo, C <= DENSE_MAX_CHANNELS)


def weight_matrix(xp, w, b, g: Geometry, dtype):
    """The GEMM's right-hand side: w (F, C, HH, WW) as (K, F) in the columns' order, plus b.

    Returns:
        (K + 1, F) with b (F,) as its last row, or (K, F) when b is None.
    """
    w = w.astype(dtype, copy=False)
    if g.dense:
        wk = w.reshape(g.F, g.K).T  # (c, kh, kw) order
    else:
        wk = w.transpose(2, 3, 1, 0).reshape(g.K, g.F)  # (kh, kw, c) order
    if b is None:
        return xp.ascontiguousarray(wk)
    return xp.concatenate([wk, b.astype(dtype, copy=False).reshape(1, g.F)], axis=0)


def weight_grad(dwk, g: Geometry, dtype):
    """Inverse of ``weight_matrix`` for the gradient: dwk (K, F) -> dw (F, C, HH, WW)."""
    if g.dense:
        dw = dwk.T.reshape(g.F, g.C, g.HH, g.WW)
    else:
        dw = dwk.reshape(g.HH, g.WW, g.C, g.F).transpose(3, 2, 0, 1)
    return dw.astype(dtype, copy=True)


def _dense_geometry(g: Geometry):
    """The NCHW ``numnet.kernels.conv.Geometry`` of the dense columns (dense forced)."""
    cg = nchw_geometry((1, g.C, g.H, g.W), (g.F, g.C, g.HH, g.WW), 1, g.pad_h, g.pad_w)
    return cg._replace(dense=True)


class Columns:
    """Column scratch for up to ``m`` images; ``cols = columns(x)`` gathers a chunk.

    Position rows (C > DENSE_MAX_CHANNELS): a zero-padded copy of the chunk (k, Hp, Wp, C) and
    ``cols`` (k*H'*W', K [+ 1]). Dense: NCHW planes and ``cols`` (k, K [+ 1], H'*W'). With
    ``ones``, the extra column (row, dense) of ones is written once.

    Position order: row-major (i, j) with ``block == 1``. With ``block == b`` (b divides H' and
    W') the positions of each image are ordered (dy, dx, i2, j2) for (i, j) = (b*i2 + dy,
    b*j2 + dx): the b*b offsets of every b x b pooling window are then b*b contiguous blocks of
    (H'/b)*(W'/b) positions, which the GEMM output keeps, so the pooling that follows runs on
    contiguous arrays instead of strided views.

    ``x_block``: the input chunks come in that blocked order too (the full convolution of a
    blocked dout); the copy into the padded buffer puts them back in place.
    """

    def __init__(self, xp, g: Geometry, m: int, dtype, ones=True, block=1, x_block=1):
        self.xp, self.g, self.x_block = xp, g, x_block
        if g.Ho % block or g.Wo % block:
            raise ValueError(f"block {block} must divide the output size {g.Ho}x{g.Wo}")
        K1 = g.K + (1 if ones else 0)
        as_strided = xp.lib.stride_tricks.as_strided
        b, H2, W2 = block, g.Ho // block, g.Wo // block
        # The gather is one copy between two strided views, made once (as_strided is slow).
        if g.dense:
            cg = _dense_geometry(g)
            self.cg = cg
            self.planes = xp.zeros((m, g.C, 1, cg.P), dtype=dtype)
            self.cols = xp.empty((m, K1, g.S), dtype=dtype)
            if ones:
                self.cols[:, g.K] = 1
            # Tap (kh, kw) of position (i, j) is planes[n, c, 0, (i + kh)*Wq + j + kw].
            sN, sC, _, it = self.planes.strides
            Wq = cg.Wq
            shape = (m, g.C, g.HH, g.WW, b, b, H2, W2)
            src = (sN, sC, Wq * it, it, Wq * it, it, b * Wq * it, b * it)
            tN, tK, tS = self.cols.strides
            S2 = H2 * W2
            dst = (tN, g.HH * g.WW * tK, g.WW * tK, tK, b * S2 * tS, S2 * tS, W2 * tS, tS)
        else:
            Hp, Wp = g.H + 2 * g.pad_h, g.W + 2 * g.pad_w
            self.padded = xp.zeros((m, Hp, Wp, g.C), dtype=dtype)
            self.cols = xp.empty((m * g.S, K1), dtype=dtype)
            if ones:
                self.cols[:, g.K] = 1
            # Every output position's HH runs of WW*C padded inputs -> its row's first K columns.
            run = g.WW * g.C
            sN, sH, sW, sC = self.padded.strides
            shape = (m, H2, b, W2, b, g.HH, run)
            src = (sN, b * sH, sH, b * sW, sW, sH, sC)
            rN, rK = self.cols.strides
            S2 = H2 * W2
            dst = (g.S * rN, W2 * rN, b * S2 * rN, rN, S2 * rN, run * rK, rK)
        base = self.planes if g.dense else self.padded
        self.windows = as_strided(base, shape=shape, strides=src)
        self.target = as_strided(self.cols, shape=shape, strides=dst)

    @staticmethod
    def bytes_per_image(g: Geometry, itemsize: int) -> int:
        """Scratch bytes per image: padded input (or planes) and columns."""
        if g.dense:
            cg = _dense_geometry(g)
            return (g.C * cg.P + (g.K + 1) * g.S) * itemsize
        Hp, Wp = g.H + 2 * g.pad_h, g.W + 2 * g.pad_w
        return (Hp * Wp * g.C + (g.K + 1) * g.S) * itemsize

    def __call__(self, x):
        """Columns of x (k, H, W, C), k <= m: (k*H'*W', K [+ 1]) or, dense, (k, K [+ 1], H'*W')."""
        g = self.g
        k, b = x.shape[0], self.x_block
        if b > 1:
            H2, W2 = g.H // b, g.W // b
            # x in block order as a (k, H2, b, W2, b, C) view of the row-major image.
            x = x.reshape(k, b, b, H2, W2, g.C).transpose(0, 3, 1, 4, 2, 5)
        if g.dense:
            if b > 1:
                x = x.reshape(k, g.H, g.W, g.C)  # a copy
            cg = self.cg
            _im2col.fill_planes(
                self.planes[:k], x.transpose(0, 3, 1, 2), g.pad_h, g.pad_w, 1, cg.Hq, cg.Wq
            )
            self.target[:k] = self.windows[:k]
            return self.cols[:k]
        interior = self.padded[:k, g.pad_h : g.pad_h + g.H, g.pad_w : g.pad_w + g.W]
        if b > 1:
            interior = interior.reshape(k, H2, b, W2, b, g.C)  # a view: axes split
        interior[...] = x
        self.target[:k] = self.windows[:k]
        return self.cols[: k * g.S]


def gemm_forward(xp, cols, wk, g: Geometry, out) -> None:
    """``out`` (k, H', W', F) = the chunk's columns times ``wk`` ((K [+ 1]) x F)."""
    k, rows = out.shape[0], wk.shape[0]
    if g.dense:
        xp.matmul(cols[:, :rows].transpose(0, 2, 1), wk, out=out.reshape(k, g.S, g.F))
    else:
        xp.matmul(cols[:, :rows], wk, out=out.reshape(k * g.S, g.F))


def forward_chunks(xp, x, wk, g: Geometry, out, dtype, block: int = 1) -> None:
    """Convolve x (N, H, W, C) into ``out`` (N, H', W', F), chunk by chunk.

    Args:
        xp: the array module.
        x: the input, any strides.
        wk: ``weight_matrix`` (with or without the bias row).
        g: the conv's geometry.
        out: C-contiguous result buffer of N*H'*W'*F values, (N, H', W', F) or any shape with N
            rows.
        dtype: the computation dtype.
        block: the positions' order in ``out`` (see ``Columns``): 1 for row-major (N, H', W', F).
    """
    N = x.shape[0]
    m = chunk_size(N, Columns.bytes_per_image(g, np.dtype(dtype).itemsize))
    columns = Columns(xp, g, m, dtype, ones=wk.shape[0] == g.K + 1, block=block)
    for n0 in range(0, N, m):
        n1 = min(n0 + m, N)
        gemm_forward(xp, columns(x[n0:n1]), wk, g, out[n0:n1])


def full_geometry(g: Geometry) -> Geometry:
    """The geometry of the full convolution of dout (N, H', W', F) that gives the conv's dx."""
    return geometry(
        (1, g.Ho, g.Wo, g.F), (g.C, g.F, g.HH, g.WW), g.HH - 1 - g.pad_h, g.WW - 1 - g.pad_w
    )


def flipped_weight_matrix(xp, w, dtype):
    """The filters of the full convolution: w (F, C, HH, WW) flipped, as (HH*WW*F, C) rows.

    For dense full-conv columns (F <= DENSE_MAX_CHANNELS) the order is (f, kh, kw) instead.
    """
    F, C, HH, WW = w.shape
    flipped = w.astype(dtype, copy=False)[:, :, ::-1, ::-1]
    if F <= DENSE_MAX_CHANNELS:
        return xp.ascontiguousarray(flipped.transpose(1, 0, 2, 3).reshape(C, F * HH * WW).T)
    return xp.ascontiguousarray(flipped.transpose(2, 3, 0, 1)).reshape(HH * WW * F, C)


def backward_core(xp, x, w, g: Geometry, need_dx: bool, fill, dtype, block: int = 1):
    """The conv backward, chunk by chunk, for whatever upstream gradient ``fill`` provides.

    Args:
        xp: the array module.
        x: the forward's input (N, H, W, C), any strides.
        w: the filters (F, C, HH, WW).
        g: the conv's geometry (stride 1; the full convolution needs pad <= HH - 1, WW - 1).
        need_dx: False skips dx (returned as None).
        fill: ``fill(n0, n1, target)`` writes dL/d(conv output) of images n0..n1 into target, a
            C-contiguous (n1 - n0, H', W', F) scratch buffer, its positions in ``block`` order.
        dtype: the computation dtype.
        block: the order of the positions in ``fill``'s target (see ``Columns``), as the
            forward wrote them.

    Returns:
        ``(dx, dw, db)``: dx (N, H, W, C) C-contiguous (or None), dw (F, C, HH, WW), db (F,), all
        in ``dtype``.
    """
    N = x.shape[0]
    itemsize = np.dtype(dtype).itemsize
    K, F, S = g.K, g.F, g.S
    per_image = Columns.bytes_per_image(g, itemsize)
    if need_dx:
        if g.pad_h > g.HH - 1 or g.pad_w > g.WW - 1:
            raise ValueError(f"dx needs pad <= filter size - 1, got {g}")
        fg = full_geometry(g)
        wf = flipped_weight_matrix(xp, w, dtype)
        per_image = max(per_image, Columns.bytes_per_image(fg, itemsize))
    # Each GEMM streams one column buffer: the cap applies to the larger of the two.
    m = chunk_size(N, per_image)
    columns = Columns(xp, g, m, dtype, block=block)
    d = xp.empty((m, g.Ho, g.Wo, F), dtype=dtype)
    part = xp.empty((m, K + 1, F) if g.dense else (K + 1, F), dtype=dtype)
    dwb = xp.zeros((K + 1, F), dtype=dtype)  # [dw_k; db]
    dx = None
    if need_dx:
        full_columns = Columns(xp, fg, m, dtype, ones=False, x_block=block)
        dx = xp.empty((N, g.H, g.W, g.C), dtype=dtype)
    for n0 in range(0, N, m):
        n1 = min(n0 + m, N)
        k = n1 - n0
        dk = d[:k]
        fill(n0, n1, dk)
        cols = columns(x[n0:n1])
        if g.dense:
            xp.matmul(cols, dk.reshape(k, S, F), out=part[:k])
            dwb += part[0] if k == 1 else part[:k].sum(axis=0)
        else:
            xp.matmul(cols.T, dk.reshape(k * S, F), out=part)
            dwb += part
        if need_dx:
            gemm_forward(xp, full_columns(dk), wf, fg, dx[n0:n1])
    return dx, weight_grad(dwb[:K], g, dtype), dwb[K].copy()
