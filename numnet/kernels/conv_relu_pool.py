"""Fused conv -> ReLU -> max pool, computed chunk by chunk while the conv output is in cache.

Same values as ``conv_forward_fast`` -> ``relu_forward`` -> ``max_pool_forward_fast`` (the same
operations on the same numbers) and the same gradients as their backward composition, pooling tie
rule included; but the (N, F, H', W') conv and ReLU outputs are never stored. The cache keeps the
conv's input, the pooled output and, per pooling window, the offset of its first maximum
(one byte per window), instead of two activation-sized arrays; the backward rebuilds the conv
output's gradient chunk by chunk straight into the conv backward's scratch buffer.

Why the offset is all the backward needs: ``max(relu(a)) == relu(max(a))``, and the composite
gradient reaches conv output position p only if p is the window's first maximum of relu(a) and
a[p] > 0. When the window max is > 0, the first maximum of relu(a) is the first maximum of a; when
it is <= 0, nothing passes the ReLU. So dout goes to the first argmax of a where the pooled output
is > 0, and nowhere else.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np  # dtype metadata only; array math uses xp

from numnet.backend import get_array_module
from numnet.kernels.conv import ConvCache, _forward_chunks, conv_backward_core, geometry


class ConvReluPoolCache(NamedTuple):
    """What ``conv_relu_pool2d_backward`` reads.

    ``winner`` (N, F, H'', W'') holds, per pooling window, the row-major offset of the first
    maximum of the conv output; ``out`` is the pooled output (its sign gates the ReLU).
    """

    conv: ConvCache
    out: Any
    winner: Any
    pool_height: int
    pool_width: int
    pool_stride: int


def _window_views(a, ph: int, pw: int, s: int, H2: int, W2: int):
    """The ph*pw strided views (n, F, H2, W2) of a, one per window offset in row-major order."""
    return [
        a[:, :, i : i + s * (H2 - 1) + 1 : s, j : j + s * (W2 - 1) + 1 : s]
        for i in range(ph)
        for j in range(pw)
    ]


def _pool_chunk(xp, z, ph: int, pw: int, ps: int, mx, winner, searching, ne) -> None:
    """Max of each window of z (k, F, H', W') into mx, its first maximum's offset into winner.

    The same first-maximum rule as ``max_pool_backward_fast``.
    """
    H2, W2 = mx.shape[2:]
    views = _window_views(z, ph, pw, ps, H2, W2)
    mx[...] = views[0]
    for v in views[1:]:
        xp.maximum(mx, v, out=mx)
    # First maximum: the number of leading offsets that are not the max.
    winner[...] = 0
    for i, v in enumerate(views[:-1]):
        xp.not_equal(v, mx, out=ne)
        if i == 0:
            searching[...] = ne
        else:
            searching &= ne
        winner += searching


def conv_relu_pool2d_forward(x, w, b, stride: int, pad: int, ph: int, pw: int, ps: int):
    """Fused forward on already-validated arguments (see ``conv_relu_pool_forward_fast``).

    Returns:
        ``(out, cache)``: out (N, F, H'', W''), the pooled ReLU of the conv, in
        ``result_type(x, w, b)``; cache a ``ConvReluPoolCache``.
    """
    xp = get_array_module(x, w, b)
    dtype = xp.result_type(x, w, b)
    g = geometry(x.shape, w.shape, stride, pad, pad)
    N, F, Ho, Wo = x.shape[0], g.F, g.Ho, g.Wo
    H2, W2 = (Ho - ph) // ps + 1, (Wo - pw) // ps + 1
    xc = x.astype(dtype, copy=False)
    w_rows = w.astype(dtype, copy=False).reshape(F, g.K)
    out = xp.empty((N, F, H2, W2), dtype=dtype)
    winner = xp.empty((N, F, H2, W2), dtype=np.min_scalar_type(ph * pw - 1))
    scratch = {}

    def epilogue(n0, n1, a):
        k = n1 - n0
        if not scratch:
            scratch["mx"] = xp.empty((k, F, H2, W2), dtype=dtype)
            scratch["searching"] = xp.empty((k, F, H2, W2), dtype=bool)
            scratch["ne"] = xp.empty((k, F, H2, W2), dtype=bool)
        mx, searching, ne = scratch["mx"][:k], scratch["searching"][:k], scratch["ne"][:k]
        # a: the conv output, exactly as conv_forward_fast computes it
        _pool_chunk(xp, a, ph, pw, ps, mx, winner[n0:n1], searching, ne)
        xp.maximum(mx, 0, out=out[n0:n1])

    bias = b.astype(dtype, copy=False)
    _forward_chunks(xp, xc, w_rows, bias, g, dtype, epilogue=epilogue)
    conv_cache = ConvCache(xc, w, x.dtype, b.dtype, stride, pad, (N, F, Ho, Wo))
    return out, ConvReluPoolCache(conv_cache, out, winner, ph, pw, ps)


def conv_relu_pool2d_backward(dout, cache: ConvReluPoolCache, need_dx: bool = True):
    """Fused backward (see ``conv_relu_pool_backward_fast``).

    Returns:
        ``(dx, dw, db)`` in the dtypes of x, w and b; ``dx`` is None when ``need_dx`` is False.
    """
    conv, out, winner, ph, pw, ps = cache
    xp = get_array_module(dout, out)
    dtype = conv.x.dtype
    Ho, Wo = conv.out_shape[2:]
    H2, W2 = out.shape[2:]
    overlap = ps < ph or ps < pw
    covers_all = ps == ph == pw and H2 * ph == Ho and W2 * pw == Wo
    scratch = {}

    def fill(n0, n1, target):
        k = n1 - n0
        if not scratch:
            scratch["g"] = xp.empty((k, *out.shape[1:]), dtype=dtype)
            scratch["hit"] = xp.empty((k, *out.shape[1:]), dtype=bool)
        g, hit = scratch["g"][:k], scratch["hit"][:k]
        # The ReLU passes a window's gradient only where the pooled output is positive.
        xp.greater(out[n0:n1], 0, out=hit)
        xp.multiply(dout[n0:n1], hit, out=g)
        if not covers_all:
            target[...] = 0
        for i, view in enumerate(_window_views(target, ph, pw, ps, H2, W2)):
            xp.equal(winner[n0:n1], i, out=hit)
            if overlap:
                view += g * hit
            else:
                xp.multiply(g, hit, out=view)

    return conv_backward_core(xp, conv, need_dx, fill)
