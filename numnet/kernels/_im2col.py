"""Window views and buffers for the fast conv kernels (no copies happen here unless stated).

Two layouts of "columns" (one column per output position, one row per (c, kh, kw) filter tap):

* **rows** (stride 1): the zero-padded input of each image is stored as one flat row per channel,
  ``(N, C, Hp*Wp + WW - 1)``. The tap (kh, kw) of every output position of an image is then the
  *contiguous* run ``flat[kh*Wp + kw : kh*Wp + kw + Ho*Wp]``, so copying columns is a plain
  memcpy per row. The price: each output row is computed over all Wp padded columns, of which the
  last WW - 1 are discarded (a width overhead of (WW - 1) / Wp), and the flat row needs WW - 1
  trailing zeros so the last runs stay inside the buffer.
* **grid** (any stride): a 6-D strided view ``(N, C, HH, WW, H_out, W_out)`` of the padded input;
  copying it gathers exactly the needed values (inner runs of W_out, slower to copy).
"""

from __future__ import annotations

# Working-set size of one batch chunk's column buffer. A few MB keeps the copy, the GEMM that
# reads it and the col2im adds in the CPU cache instead of streaming a whole-batch buffer (tens of
# MB for a CIFAR-sized layer) through main memory three times.
CHUNK_BYTES = 3 << 20


def chunk_size(n: int, per_image_bytes: int) -> int:
    """How many images to process per chunk: as many as fit CHUNK_BYTES, at least 1, at most n."""
    return max(1, min(n, CHUNK_BYTES // max(per_image_bytes, 1)))


def padded_rows(xp, x, pad_h: int, pad_w: int, tail: int, dtype):
    """Zero-padded copy of x (N, C, H, W) in the flat-row layout (N, C, Hp*Wp + tail).

    Returns ``x.reshape(N, C, H*W)`` itself (no copy) when nothing needs padding and x is already
    contiguous in ``dtype``; callers only read the result.
    """
    N, C, H, W = x.shape
    Hp, Wp = H + 2 * pad_h, W + 2 * pad_w
    if pad_h == pad_w == tail == 0 and x.dtype == dtype and x.flags.c_contiguous:
        return x.reshape(N, C, H * W)
    buf = xp.empty((N, C, Hp * Wp + tail), dtype=dtype)
    img = buf[:, :, : Hp * Wp].reshape(N, C, Hp, Wp)
    # Zero only the border and the tail: the interior is overwritten right after.
    if pad_h:
        img[:, :, :pad_h] = 0
        img[:, :, Hp - pad_h :] = 0
    if pad_w:
        img[:, :, pad_h : Hp - pad_h, :pad_w] = 0
        img[:, :, pad_h : Hp - pad_h, Wp - pad_w :] = 0
    if tail:
        buf[:, :, Hp * Wp :] = 0
    img[:, :, pad_h : pad_h + H, pad_w : pad_w + W] = x
    return buf


def row_windows(xp, buf, HH: int, WW: int, Wp: int, L: int):
    """View (N, C, HH, WW, L) of a flat-row buffer: entry [n, c, kh, kw] is buf[n, c, off : off + L]
    with off = kh*Wp + kw. Read-only by convention (the views overlap)."""
    N, C = buf.shape[:2]
    sN, sC, it = buf.strides
    return xp.lib.stride_tricks.as_strided(
        buf, shape=(N, C, HH, WW, L), strides=(sN, sC, Wp * it, it, it)
    )


def padded_image(xp, x, pad: int, dtype):
    """Zero-padded copy (N, C, H + 2*pad, W + 2*pad) of x, or x itself when no copy is needed."""
    if pad == 0 and x.dtype == dtype:
        return x
    N, C, H, W = x.shape
    img = xp.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dtype)
    img[:, :, pad : pad + H, pad : pad + W] = x
    return img


def grid_windows(xp, img, HH: int, WW: int, H_out: int, W_out: int, stride: int):
    """View (N, C, HH, WW, H_out, W_out) of img (N, C, Hp, Wp): [n, c, kh, kw, i, j] is
    img[n, c, i*stride + kh, j*stride + kw]. Read-only by convention (the views overlap)."""
    N, C = img.shape[:2]
    sN, sC, sH, sW = img.strides
    return xp.lib.stride_tricks.as_strided(
        img,
        shape=(N, C, HH, WW, H_out, W_out),
        strides=(sN, sC, sH, sW, stride * sH, stride * sW),
    )
