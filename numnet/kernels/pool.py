"""Fast max pooling in pure array code: one elementwise pass per window offset.

A pool window of ph x pw has ph*pw offsets (a, b); the strided slice
``x[:, :, a : a + s*(H'-1) + 1 : s, b : b + s*(W'-1) + 1 : s]`` holds offset (a, b) of every
window at once. The forward takes the elementwise maximum of these ph*pw views (no window copy, no
reductions over tiny axes); this covers tiling, overlapping (stride < size) and gapped windows.

The backward reproduces the naive version's tie rule exactly: the gradient of a window goes to its
*first* maximum in row-major order. Walking the offsets in that order, an offset wins where it
equals the window max and no earlier offset has won; the last offset wins wherever nothing has (so
exactly one position per window receives the gradient). When windows do not overlap, each x
position is hit by at most one (window, offset) pair, so the gradient is written with a single
multiply per offset; overlapping windows accumulate with adds.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from numnet.backend import get_array_module


class PoolCache(NamedTuple):
    """What ``max_pool2d_backward`` reads: the input, the pooled output and the window geometry."""

    x: Any
    out: Any
    pool_height: int
    pool_width: int
    stride: int


def _offset_view(x, a: int, b: int, stride: int, H_out: int, W_out: int):
    """Offset (a, b) of every window: shape (N, C, H_out, W_out), a strided view of x."""
    return x[
        :,
        :,
        a : a + stride * (H_out - 1) + 1 : stride,
        b : b + stride * (W_out - 1) + 1 : stride,
    ]


def max_pool2d_forward(x, pool_height: int, pool_width: int, stride: int):
    """Max pooling forward on already-validated arguments (see ``max_pool_forward_fast``).

    Returns:
        ``(out, cache)``: out (N, C, H', W') with H' = 1 + (H - pool_height) // stride (likewise
        W'), dtype of x; cache a ``PoolCache``.
    """
    xp = get_array_module(x)
    H_out = (x.shape[2] - pool_height) // stride + 1
    W_out = (x.shape[3] - pool_width) // stride + 1
    out = xp.array(_offset_view(x, 0, 0, stride, H_out, W_out), copy=True)
    for a in range(pool_height):
        for b in range(pool_width):
            if a or b:
                xp.maximum(out, _offset_view(x, a, b, stride, H_out, W_out), out=out)
    return out, PoolCache(x, out, pool_height, pool_width, stride)


def max_pool2d_backward(dout, cache: PoolCache):
    """Max pooling backward (see ``max_pool_backward_fast``).

    Returns:
        dx (N, C, H, W) in the dtype of the cached x.
    """
    x, out, ph, pw, s = cache
    xp = get_array_module(dout, x)
    H, W = x.shape[2:]
    H_out, W_out = out.shape[2:]
    overlap = s < ph or s < pw
    covers_all = s == ph == pw and H_out * ph == H and W_out * pw == W
    # Every position is written exactly once only when the windows tile x; otherwise start at zero.
    dx = xp.empty_like(x) if covers_all else xp.zeros_like(x)
    offsets = [(a, b) for a in range(ph) for b in range(pw)]
    won = None  # windows whose gradient an earlier offset already took
    hit = xp.empty(out.shape, dtype=bool)
    spill = xp.empty(out.shape, dtype=dx.dtype) if overlap else None
    for i, (a, b) in enumerate(offsets):
        if i == len(offsets) - 1:
            hit = xp.logical_not(won) if won is not None else xp.ones(out.shape, dtype=bool)
        else:
            xp.equal(_offset_view(x, a, b, s, H_out, W_out), out, out=hit)
            if won is None:
                won = hit.copy()
            else:
                # hit > won on booleans is "hit and not won": earlier offsets keep their ties.
                xp.greater(hit, won, out=hit)
                won |= hit
        target = _offset_view(dx, a, b, s, H_out, W_out)
        if overlap:
            xp.multiply(dout, hit, out=spill)
            target += spill
        else:
            xp.multiply(dout, hit, out=target)
    return dx
