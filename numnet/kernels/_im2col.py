"""The "phase-rows" layout of the fast conv kernels: im2col with contiguous copies, any stride.

The zero-padded input (Hp x Wp) of every (image, channel) is split into stride**2 phase planes,
plane (a, b) holding ``x_pad[a::s, b::s]`` (Hq x Wq, Hq = ceil(Hp / s), Wq = ceil(Wp / s)), each
flattened to one row. Filter tap (kh, kw) of every output position (i, j) then reads plane
(kh % s, kw % s) at flat index ``(i + kh // s) * Wq + (j + kw // s)``, so for all positions of an
image it is the *contiguous* run ``plane[off : off + Ho*Wq]`` with ``off = (kh // s)*Wq + kw // s``,
if each output row is computed over Wq columns instead of W_out. Copying columns is a memcpy per
(channel, tap), and col2im is one contiguous add per tap.

The price: the last Wq - W_out columns of each output row are discarded (about (WW - 1) / Wp of the
work at stride 1), and each plane row gets zero padding at its end so the last runs stay inside it.
For stride 1 there is one plane, the padded image itself.
"""

from __future__ import annotations

# Working-set size of one batch chunk's column buffer. A few MB keeps the copy, the GEMM that
# reads it and the col2im adds in the CPU cache instead of streaming a whole-batch buffer (tens of
# MB for a CIFAR-sized layer) through main memory three times.
CHUNK_BYTES = 3 << 20


def chunk_size(n: int, per_image_bytes: int) -> int:
    """How many images to process per chunk: as many as fit CHUNK_BYTES, at least 1, at most n."""
    return max(1, min(n, CHUNK_BYTES // max(per_image_bytes, 1)))


def plane_geometry(H: int, W: int, HH: int, WW: int, stride: int, pad_h: int, pad_w: int):
    """``(Hq, Wq, H_out, W_out, P)``: plane size, output size and the plane row length P."""
    Hp, Wp = H + 2 * pad_h, W + 2 * pad_w
    Hq, Wq = -(-Hp // stride), -(-Wp // stride)
    H_out, W_out = (Hp - HH) // stride + 1, (Wp - WW) // stride + 1
    # The furthest run starts at tap (HH-1, WW-1) and is H_out*Wq long.
    P = max(Hq * Wq, ((HH - 1) // stride + H_out) * Wq + (WW - 1) // stride)
    return Hq, Wq, H_out, W_out, P


def _phase_slices(size: int, pad: int, stride: int, a: int):
    """Plane rows [i0, i0 + n) hold input rows ys, ys + stride, ... of phase a (a 1-D helper)."""
    i0 = -((a - pad) // stride)  # first plane row whose input row is >= 0
    ys = stride * i0 + a - pad
    return i0, ys, len(range(ys, size, stride))


def to_planes(xp, x, pad_h: int, pad_w: int, stride: int, Hq: int, Wq: int, P: int, dtype):
    """Phase planes (N, C, stride**2, P) of x (N, C, H, W) zero-padded by pad_h / pad_w.

    Returns ``x.reshape(N, C, 1, H*W)`` itself (no copy) when there is nothing to pad or split and
    x is already contiguous in ``dtype``; callers only read the result.
    """
    N, C, H, W = x.shape
    if stride == 1 and pad_h == pad_w == 0 and P == H * W:
        if x.dtype == dtype and x.flags.c_contiguous:
            return x.reshape(N, C, 1, H * W)
    if stride == 1:
        # One plane: zero only the border and the tail, the interior is overwritten right after.
        buf = xp.empty((N, C, 1, P), dtype=dtype)
        img = buf[:, :, 0, : Hq * Wq].reshape(N, C, Hq, Wq)
        if pad_h:
            img[:, :, :pad_h] = 0
            img[:, :, Hq - pad_h :] = 0
        if pad_w:
            img[:, :, pad_h : Hq - pad_h, :pad_w] = 0
            img[:, :, pad_h : Hq - pad_h, Wq - pad_w :] = 0
        buf[:, :, 0, Hq * Wq :] = 0
        img[:, :, pad_h : pad_h + H, pad_w : pad_w + W] = x
        return buf
    buf = xp.zeros((N, C, stride * stride, P), dtype=dtype)
    for a in range(stride):
        i0, ys, ny = _phase_slices(H, pad_h, stride, a)
        for b in range(stride):
            j0, xs, nx = _phase_slices(W, pad_w, stride, b)
            plane = buf[:, :, a * stride + b, : Hq * Wq].reshape(N, C, Hq, Wq)
            plane[:, :, i0 : i0 + ny, j0 : j0 + nx] = x[:, :, ys::stride, xs::stride]
    return buf


def from_planes(xp, buf, x_shape, pad: int, stride: int, Hq: int, Wq: int):
    """The inverse of ``to_planes``: x (N, C, H, W) from its phase planes, padding dropped."""
    N, C, H, W = x_shape
    out = xp.empty(x_shape, dtype=buf.dtype)
    for a in range(stride):
        i0, ys, ny = _phase_slices(H, pad, stride, a)
        for b in range(stride):
            j0, xs, nx = _phase_slices(W, pad, stride, b)
            plane = buf[:, :, a * stride + b, : Hq * Wq].reshape(N, C, Hq, Wq)
            out[:, :, ys::stride, xs::stride] = plane[:, :, i0 : i0 + ny, j0 : j0 + nx]
    return out


def tap_run(kh: int, kw: int, stride: int, Wq: int) -> tuple[int, int]:
    """``(plane, offset)`` where tap (kh, kw) of output position 0 lives in the phase planes."""
    return (kh % stride) * stride + kw % stride, (kh // stride) * Wq + kw // stride


def gather_columns(xp, buf, cols, n0: int, n1: int, HH: int, WW: int, stride: int, Wq: int):
    """Copy the columns of images n0..n1 into ``cols`` (n1 - n0, C, HH, WW, L).

    Stride 1: one copy from an overlapping strided view (rows kh*Wq + kw apart). Otherwise one copy
    per tap.
    """
    L = cols.shape[-1]
    if stride == 1:
        sN, sC, _, it = buf.strides
        windows = xp.lib.stride_tricks.as_strided(
            buf[n0:n1], shape=cols.shape, strides=(sN, sC, Wq * it, it, it)
        )
        cols[...] = windows
        return
    for kh in range(HH):
        for kw in range(WW):
            plane, off = tap_run(kh, kw, stride, Wq)
            cols[:, :, kh, kw] = buf[n0:n1, :, plane, off : off + L]
