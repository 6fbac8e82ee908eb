"""Per-channel reductions and per-channel scaling of (N, C, ...) arrays, in few NumPy passes.

Batch norm (and the fused kernels built on it) reduce over every axis but the channel axis 1 and
scale or shift every value by its channel's constant. NumPy's broadcasting of a (1, C, 1, 1)
constant runs an inner loop per (image, channel) row, about half the speed of a flat loop; so the
constants are expanded once to the pattern of one image, (1, C*S) with S = H*W (a few kB to 100 kB,
cache-resident), and applied to the array viewed as (N, C*S) rows: one long contiguous inner loop
per image.
"""

from __future__ import annotations

import math


def as_rows(xp, x):
    """``x`` (N, C, ...) as an (N, C*S) C-contiguous view (a copy only if x is not contiguous)."""
    return xp.ascontiguousarray(x).reshape(x.shape[0], math.prod(x.shape[1:]))


def pattern(xp, k, x_shape, dtype):
    """Per-channel values ``k`` (C,) laid out as one image of ``x_shape`` (N, C, ...): (1, C*S)."""
    C, S = x_shape[1], math.prod(x_shape[2:])
    k = xp.asarray(k).reshape(C, 1).astype(dtype, copy=False)
    return xp.ascontiguousarray(xp.broadcast_to(k, (C, S))).reshape(1, C * S)


def channel_sum(xp, a):
    """Per-channel sums (C,) of ``a`` (N, C, ...) over every axis but 1, in ``a.dtype``.

    Each image's channel is summed along its contiguous run (SIMD), then the N partial sums are
    added: faster than reducing over axes (0, 2, 3) directly, and as accurate.
    """
    if a.ndim == 2:
        return a.sum(axis=0)
    a3 = a.reshape(a.shape[0], a.shape[1], -1)
    return xp.einsum("ncs->nc", a3).sum(axis=0)


def channel_dot(xp, a, b):
    """Per-channel ``sum(a * b)`` (C,) over every axis but 1 of same-shape ``a``, ``b`` (N, C, ...).

    No product array is formed: ``vecdot`` (a BLAS dot per image and channel) where the array
    library has it, else ``einsum``.
    """
    if a.ndim == 2:
        return xp.einsum("nc,nc->c", a, b)
    return channel_dot_partial(xp, a, b).sum(axis=0)


def channel_dot_partial(xp, a, b):
    """Per-image, per-channel ``sum(a * b)`` (N, C) over the axes after 1 of (N, C, ...) arrays.

    ``channel_dot`` is its sum over axis 0; computing it image chunk by image chunk and summing at
    the end gives bitwise the same result.
    """
    a3 = a.reshape(a.shape[0], a.shape[1], -1)
    b3 = b.reshape(a3.shape)
    vecdot = getattr(xp, "vecdot", None)
    return vecdot(a3, b3) if vecdot is not None else xp.einsum("ncs,ncs->nc", a3, b3)
