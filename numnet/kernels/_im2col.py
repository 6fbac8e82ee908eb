"""The "phase-rows" layout of the fast conv kernels: im2col with contiguous copies, any stride.

The zero-padded input (Hp x Wp) of every (image, channel) is split into stride**2 phase planes,
plane (a, b) holding ``x_pad[a::s, b::s]`` (Hq x Wq, Hq = ceil(Hp / s), Wq = ceil(Wp / s)), each
flattened to one row. Filter tap (kh, kw) of every output position (i, j) then reads plane
(kh % s, kw % s) at flat index ``(i + kh // s) * Wq + (j + kw // s)``, so for all positions of an
image it is the *contiguous* run ``plane[off : off + Ho*Wq]`` with ``off = (kh // s)*Wq + kw // s``,
if each output row is computed over Wq columns instead of W_out ("wrapped" columns). Copying
columns is a memcpy per (channel, tap), and col2im is one contiguous add per tap.

The price: the last Wq - W_out columns of each output row are discarded (about (WW - 1) / Wp of the
work at stride 1), and each plane row gets zero padding at its end so the last runs stay inside it.
For stride 1 there is one plane, the padded image itself. For inputs with very few channels the
columns are instead gathered "dense" (exactly H_out x W_out positions, runs of W_out): a few more
copy calls, but no discarded work and the GEMM can write the output directly.

The planes are built a batch chunk at a time into a buffer that is zeroed once and reused: only
the data region is rewritten, so the padding stays zero from chunk to chunk.
"""

from __future__ import annotations

# The cap on a conv call's working memory (scratch beyond its inputs, outputs and cache), per batch
# chunk. A few MB keeps a chunk's planes, columns and GEMM output in the CPU cache instead of
# streaming whole-batch buffers (tens of MB for a CIFAR-sized layer) through main memory, and bounds
# the scratch whatever the batch size (one image at a time at least).
CHUNK_BYTES = 4 << 20


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


def _plane_views(buf, stride: int, Hq: int, Wq: int):
    """``{(a, b): (k, C, Hq, Wq) view of phase plane (a, b)}`` of a plane buffer (k, C, s*s, P)."""
    k, C = buf.shape[:2]
    return {
        (a, b): buf[:, :, a * stride + b, : Hq * Wq].reshape(k, C, Hq, Wq)
        for a in range(stride)
        for b in range(stride)
    }


def fill_planes(buf, x, pad_h: int, pad_w: int, stride: int, Hq: int, Wq: int) -> None:
    """Write x (k, C, H, W) into the data region of the phase planes ``buf`` (k, C, s*s, P).

    The rest of ``buf`` (padding, plane tails) is not touched: the caller zeroes the buffer once.
    """
    H, W = x.shape[2:]
    for (a, b), plane in _plane_views(buf, stride, Hq, Wq).items():
        i0, ys, ny = _phase_slices(H, pad_h, stride, a)
        j0, xs, nx = _phase_slices(W, pad_w, stride, b)
        plane[:, :, i0 : i0 + ny, j0 : j0 + nx] = x[:, :, ys::stride, xs::stride]


def read_planes(buf, out, pad_h: int, pad_w: int, stride: int, Hq: int, Wq: int) -> None:
    """The inverse of ``fill_planes``: out (k, C, H, W) from the planes' data region."""
    H, W = out.shape[2:]
    for (a, b), plane in _plane_views(buf, stride, Hq, Wq).items():
        i0, ys, ny = _phase_slices(H, pad_h, stride, a)
        j0, xs, nx = _phase_slices(W, pad_w, stride, b)
        out[:, :, ys::stride, xs::stride] = plane[:, :, i0 : i0 + ny, j0 : j0 + nx]


def tap_run(kh: int, kw: int, stride: int, Wq: int) -> tuple[int, int]:
    """``(plane, offset)`` where tap (kh, kw) of output position 0 lives in the phase planes."""
    return (kh % stride) * stride + kw % stride, (kh // stride) * Wq + kw // stride


def gather_columns(xp, buf, cols, HH: int, WW: int, stride: int, Wq: int) -> None:
    """Copy the wrapped columns of planes ``buf`` (k, C, s*s, P) into ``cols`` (k, C, HH, WW, L).

    Stride 1: one copy from an overlapping strided view (rows kh*Wq + kw apart). Otherwise one copy
    per tap.
    """
    L = cols.shape[-1]
    if stride == 1:
        sN, sC, _, it = buf.strides
        windows = xp.lib.stride_tricks.as_strided(
            buf, shape=cols.shape, strides=(sN, sC, Wq * it, it, it)
        )
        cols[...] = windows
        return
    for kh in range(HH):
        for kw in range(WW):
            plane, off = tap_run(kh, kw, stride, Wq)
            cols[:, :, kh, kw] = buf[:, :, plane, off : off + L]


def tap_window(buf, kh: int, kw: int, stride: int, Wq: int, Ho: int, Wo: int):
    """Tap (kh, kw) of every output position as a (k, C, Ho, Wo) strided view of the planes."""
    plane, off = tap_run(kh, kw, stride, Wq)
    k, C = buf.shape[:2]
    return buf[:, :, plane, off : off + Ho * Wq].reshape(k, C, Ho, Wq)[:, :, :, :Wo]


def gather_dense(xp, buf, cols, HH: int, WW: int, stride: int, Wq: int) -> None:
    """Copy the dense columns of ``buf`` into ``cols`` (k, C, HH, WW, Ho, Wo).

    Dense columns have exactly Ho x Wo positions (no wrapped columns).
    """
    Ho, Wo = cols.shape[-2:]
    if stride == 1:
        sN, sC, _, it = buf.strides
        windows = xp.lib.stride_tricks.as_strided(
            buf, shape=cols.shape, strides=(sN, sC, Wq * it, it, Wq * it, it)
        )
        cols[...] = windows
        return
    for kh in range(HH):
        for kw in range(WW):
            cols[:, :, kh, kw] = tap_window(buf, kh, kw, stride, Wq, Ho, Wo)
