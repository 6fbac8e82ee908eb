"""Fast convolution in pure array code: im2col by batch chunks, one GEMM per image.

Forward: ``out[n] = w.reshape(F, K) @ cols[n]`` with K = C*HH*WW, where ``cols[n]`` (K, positions)
is copied from a strided window view of the padded input (see ``_im2col`` for the two layouts).
Backward, with the columns rebuilt from the cached padded input (cheaper than keeping them: they are
K/C times larger than the input):

* ``dw^T = sum_n cols[n] @ dout[n]^T`` (this orientation runs markedly faster in OpenBLAS than
  ``dout @ cols^T`` for small F);
* ``dx`` either as col2im (``dcols = w^T @ dout``, then one strided add per filter tap, HH*WW in
  all), or, for stride 1 when F is not much larger than C, as a "full" convolution of the
  zero-padded dout with the flipped, channel-swapped filters: one more im2col + GEMM, no scatter.

Batch chunks keep the column buffer a few MB (cache-resident) instead of one whole-batch buffer;
``dout``, ``x`` and the cache are never written. Everything runs in ``result_type(x, w, b)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from numnet.backend import get_array_module
from numnet.kernels._im2col import (
    chunk_size,
    grid_windows,
    padded_image,
    padded_rows,
    row_windows,
)


class ConvCache(NamedTuple):
    """What ``conv_backward`` reads: the padded input (not the much larger columns) and the filters.

    ``layout`` is ``"rows"`` (stride 1, ``x_buf`` of shape (N, C, Hp*Wp + WW - 1)) or ``"grid"``
    (any stride, ``x_buf`` of shape (N, C, Hp, Wp)).
    """

    layout: str
    x_buf: Any
    w: Any
    x_shape: tuple
    x_dtype: Any
    b_dtype: Any
    stride: int
    pad: int
    out_shape: tuple


def _rows_conv(xp, x, w_rows, HH: int, WW: int, pad_h: int, pad_w: int, bias, dtype):
    """Stride-1 convolution in the flat-row layout.

    Args:
        x: (N, C, H, W). w_rows: (F, C*HH*WW) in ``dtype``. bias: (F,) or None.

    Returns:
        ``(out, buf)``: out (N, F, Ho, Wo) with Ho = H + 2*pad_h - HH + 1 (likewise Wo), and the
        flat-row padded input buf (N, C, Hp*Wp + WW - 1).
    """
    N, _, H, W = x.shape
    F, K = w_rows.shape
    Hp, Wp = H + 2 * pad_h, W + 2 * pad_w
    Ho, Wo = Hp - HH + 1, Wp - WW + 1
    L = Ho * Wp
    buf = padded_rows(xp, x, pad_h, pad_w, WW - 1, dtype)
    windows = row_windows(xp, buf, HH, WW, Wp, L)
    out = xp.empty((N, F, Ho, Wo), dtype=dtype)
    m = chunk_size(N, K * L * out.itemsize)
    cols_buf = None if HH == WW == 1 else xp.empty((m, K, L), dtype=dtype)
    # With WW == 1 every computed column is a real output column, so the GEMM writes `out` directly.
    ext = None if WW == 1 else xp.empty((m, F, Ho, Wp), dtype=dtype)
    bias3 = None if bias is None else bias.reshape(F, 1, 1)
    for n0 in range(0, N, m):
        n1 = min(n0 + m, N)
        cols = _gather_rows(buf, windows, cols_buf, n0, n1, L)
        if ext is None:
            target = out[n0:n1]
            xp.matmul(w_rows, cols, out=target.reshape(n1 - n0, F, L))
            if bias3 is not None:
                target += bias3
        else:
            e = ext[: n1 - n0]
            xp.matmul(w_rows, cols, out=e.reshape(n1 - n0, F, L))
            # Drop the WW - 1 wrap-around columns of each row while adding the bias (one pass).
            if bias3 is None:
                out[n0:n1] = e[..., :Wo]
            else:
                xp.add(e[..., :Wo], bias3, out=out[n0:n1])
    return out, buf


def _gather_rows(buf, windows, cols_buf, n0: int, n1: int, L: int):
    """Columns (n1 - n0, K, L) of images n0..n1: a view for 1x1 filters, else copied to cols_buf."""
    if cols_buf is None:
        return buf[n0:n1, :, :L]
    cols = cols_buf[: n1 - n0]
    cols.reshape(windows[n0:n1].shape)[...] = windows[n0:n1]
    return cols


def _use_full_conv(C: int, F: int, HH: int, WW: int, pad: int) -> bool:
    """Stride-1 dx as a full convolution? Its extra im2col copies F*HH*WW rows per image, against
    C*HH*WW strided adds for col2im; an add costs about 3 copies, hence the factor.
    Needs pad < HH and pad < WW."""
    return pad <= HH - 1 and pad <= WW - 1 and F <= 4 * C and HH * WW > 1


def _rows_backward(xp, dout, cache: ConvCache, dtype, need_dx: bool):
    N, C, H, W = cache.x_shape
    w = cache.w
    F, _, HH, WW = w.shape
    K = C * HH * WW
    pad = cache.pad
    Hp, Wp = H + 2 * pad, W + 2 * pad
    Ho, Wo = cache.out_shape[2:]
    L = Ho * Wp
    w_rows = w.astype(dtype, copy=False).reshape(F, K)
    buf = cache.x_buf
    windows = row_windows(xp, buf, HH, WW, Wp, L)
    m = chunk_size(N, K * L * xp.dtype(dtype).itemsize)
    cols_buf = None if HH == WW == 1 else xp.empty((m, K, L), dtype=dtype)
    # dout widened to Wp columns; the extra columns stay zero so wrap-around columns add nothing.
    ext = None if WW == 1 else xp.zeros((m, F, Ho, Wp), dtype=dtype)
    part = xp.empty((m, K, F), dtype=dtype)
    dw_t = xp.zeros((K, F), dtype=dtype)
    full = need_dx and _use_full_conv(C, F, HH, WW, pad)
    scatter = need_dx and not full
    if scatter:
        dx_buf = xp.zeros((N, C, Hp * Wp + WW - 1), dtype=dtype)
        dx_windows = row_windows(xp, dx_buf, HH, WW, Wp, L)
        dcols = xp.empty((m, K, L), dtype=dtype)
        w_cols = w_rows.T
    for n0 in range(0, N, m):
        n1, k = min(n0 + m, N), min(m, N - n0)
        cols = _gather_rows(buf, windows, cols_buf, n0, n1, L)
        if ext is None:
            d3 = dout[n0:n1].reshape(k, F, L)
        else:
            ext[:k, :, :, :Wo] = dout[n0:n1]
            d3 = ext[:k].reshape(k, F, L)
        xp.matmul(cols, d3.transpose(0, 2, 1), out=part[:k])
        dw_t += part[0] if k == 1 else part[:k].sum(axis=0)
        if scatter:
            d = dcols[:k]
            xp.matmul(w_cols, d3, out=d)
            d5 = d.reshape(k, C, HH, WW, L)
            target = dx_windows[n0:n1]
            for kh in range(HH):
                for kw in range(WW):
                    tap = target[:, :, kh, kw]
                    tap += d5[:, :, kh, kw]
    dx = None
    if scatter:
        dx = dx_buf[:, :, : Hp * Wp].reshape(N, C, Hp, Wp)[:, :, pad : pad + H, pad : pad + W]
        dx = xp.ascontiguousarray(dx)
    elif full:
        # dx[c, i, j] = sum_{f, kh, kw} w[f, c, HH-1-kh, WW-1-kw] * dout_p[f, i + kh, j + kw], with
        # dout zero-padded by (HH-1-pad, WW-1-pad): a stride-1 conv with C "filters" of F channels.
        w_full = xp.ascontiguousarray(
            w_rows.reshape(F, C, HH, WW)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
        )
        dx, _ = _rows_conv(
            xp,
            dout,
            w_full.reshape(C, F * HH * WW),
            HH,
            WW,
            HH - 1 - pad,
            WW - 1 - pad,
            None,
            dtype,
        )
    return dx, dw_t


def _grid_forward(xp, x, w_rows, HH, WW, stride, pad, Ho, Wo, b, dtype):
    N = x.shape[0]
    F, K = w_rows.shape
    P = Ho * Wo
    img = padded_image(xp, x, pad, dtype)
    windows = grid_windows(xp, img, HH, WW, Ho, Wo, stride)
    out = xp.empty((N, F, P), dtype=dtype)
    m = chunk_size(N, K * P * out.itemsize)
    cols_buf = xp.empty((m, K, P), dtype=dtype)
    bias = b.astype(dtype, copy=False).reshape(F, 1)
    for n0 in range(0, N, m):
        n1 = min(n0 + m, N)
        cols = cols_buf[: n1 - n0]
        cols.reshape(windows[n0:n1].shape)[...] = windows[n0:n1]
        target = out[n0:n1]
        xp.matmul(w_rows, cols, out=target)
        target += bias
    return out.reshape(N, F, Ho, Wo), img


def _grid_backward(xp, dout, cache: ConvCache, dtype, need_dx: bool):
    N, C, H, W = cache.x_shape
    w = cache.w
    F, _, HH, WW = w.shape
    K = C * HH * WW
    s, pad = cache.stride, cache.pad
    Ho, Wo = cache.out_shape[2:]
    P = Ho * Wo
    w_rows = w.astype(dtype, copy=False).reshape(F, K)
    img = cache.x_buf
    windows = grid_windows(xp, img, HH, WW, Ho, Wo, s)
    d_all = dout.reshape(N, F, P)
    m = chunk_size(N, K * P * xp.dtype(dtype).itemsize)
    cols_buf = xp.empty((m, K, P), dtype=dtype)
    part = xp.empty((m, K, F), dtype=dtype)
    dw_t = xp.zeros((K, F), dtype=dtype)
    if need_dx:
        dx_img = xp.zeros(img.shape, dtype=dtype)
        dcols = xp.empty((m, K, P), dtype=dtype)
        w_cols = w_rows.T
    for n0 in range(0, N, m):
        n1, k = min(n0 + m, N), min(m, N - n0)
        cols = cols_buf[:k]
        cols.reshape(windows[n0:n1].shape)[...] = windows[n0:n1]
        xp.matmul(cols, d_all[n0:n1].transpose(0, 2, 1), out=part[:k])
        dw_t += part[0] if k == 1 else part[:k].sum(axis=0)
        if need_dx:
            d = dcols[:k]
            xp.matmul(w_cols, d_all[n0:n1], out=d)
            d6 = d.reshape(k, C, HH, WW, Ho, Wo)
            target = dx_img[n0:n1]
            for kh in range(HH):
                for kw in range(WW):
                    tap = target[
                        :, :, kh : kh + s * (Ho - 1) + 1 : s, kw : kw + s * (Wo - 1) + 1 : s
                    ]
                    tap += d6[:, :, kh, kw]
    dx = None
    if need_dx:
        dx = xp.ascontiguousarray(dx_img[:, :, pad : pad + H, pad : pad + W])
    return dx, dw_t


def conv2d_forward(x, w, b, stride: int, pad: int):
    """Convolution forward on already-validated arguments (see ``conv_forward_fast``).

    Returns:
        ``(out, cache)``: out (N, F, H', W') in ``result_type(x, w, b)``; cache a ``ConvCache``.
    """
    xp = get_array_module(x, w, b)
    dtype = xp.result_type(x, w, b)
    _, C, H, W = x.shape
    F, _, HH, WW = w.shape
    w_rows = w.astype(dtype, copy=False).reshape(F, C * HH * WW)
    if stride == 1:
        out, buf = _rows_conv(xp, x, w_rows, HH, WW, pad, pad, b.astype(dtype, copy=False), dtype)
        layout = "rows"
    else:
        Ho = (H + 2 * pad - HH) // stride + 1
        Wo = (W + 2 * pad - WW) // stride + 1
        out, buf = _grid_forward(xp, x, w_rows, HH, WW, stride, pad, Ho, Wo, b, dtype)
        layout = "grid"
    cache = ConvCache(layout, buf, w, tuple(x.shape), x.dtype, b.dtype, stride, pad, out.shape)
    return out, cache


def conv2d_backward(dout, cache: ConvCache, need_dx: bool = True):
    """Convolution backward on a ``ConvCache`` (see ``conv_backward_fast``).

    Returns:
        ``(dx, dw, db)``; ``dx`` is None when ``need_dx`` is False.
    """
    xp = get_array_module(dout, cache.x_buf)
    dtype = cache.x_buf.dtype
    d = xp.ascontiguousarray(dout, dtype=dtype)
    if cache.layout == "rows":
        dx, dw_t = _rows_backward(xp, d, cache, dtype, need_dx)
    else:
        dx, dw_t = _grid_backward(xp, d, cache, dtype, need_dx)
    dw = xp.ascontiguousarray(dw_t.T).reshape(cache.w.shape).astype(cache.w.dtype, copy=False)
    db = d.sum(axis=(0, 2, 3)).astype(cache.b_dtype, copy=False)
    if dx is not None:
        dx = dx.astype(cache.x_dtype, copy=False)
    return dx, dw, db
