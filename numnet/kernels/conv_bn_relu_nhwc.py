"""Fused conv -> batch norm -> [max pool] -> ReLU on channels-last activations (N, H, W, C).

The block of numnet's ConvNet (which keeps its activations channels-last between convs), with the
values and gradients of the course's layers ``conv_forward_fast`` -> ``spatial_batchnorm_forward``
-> [``max_pool_forward_fast``] -> ``relu_forward`` and their backward composition (the pooling's
first-maximum tie rule included) up to float rounding: the conv runs as ``numnet.kernels.
conv_nhwc``'s GEMMs and the per-channel sums as matrix-vector products, so the last bits differ
from the NCHW kernels'. Stride 1; the pool (if any) is applied before the ReLU (they commute).

Per-channel reductions: a (k, S, F) block summed over S by ``ones(S) @ block`` (a BLAS
matrix-vector product per image, float32 accumulation in short blocked runs: as accurate as
NumPy's pairwise sums here, and ~7x faster than reducing over a non-contiguous axis), then over
the images. Per-channel scaling: the constants (F,) are tiled to one image's (1, S*F) pattern and
applied to the array viewed as (N, S*F) rows, a flat inner loop (``numnet.ops._channels``).

What is cached: the conv's input (the previous block's output, not a copy), the conv output
``a``, the block's output and, with pooling, each window's first-maximum offset (one byte per
window). The batch norm output is only ever made a chunk at a time, in cache-sized scratch.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np  # dtype metadata only; array math uses xp

from numnet.backend import get_array_module
from numnet.kernels import conv_nhwc as cn
from numnet.ops.activations import relu_backward

# Bytes of conv output normalised per step: the scratch stays cache-sized.
_CHUNK_BYTES = 1 << 20


class BlockCache(NamedTuple):
    """What ``block_backward`` reads.

    ``x`` the conv input (N, H, W, C); ``w`` the filters; ``g`` the conv geometry; ``a`` the
    centred conv output ``conv - mean`` (N, H', W', F); ``mean`` and ``inv_std`` (F,) the
    statistics it was normalised with; ``out`` the block's output; ``winner`` (N, H'', W'', F)
    each pooling window's first-maximum offset (row-major), or None without pooling (``pool`` is
    then None too); ``dtypes`` the dtypes of (x, w, b, gamma, beta) for the gradients.
    """

    x: Any
    w: Any
    g: cn.Geometry
    a: Any
    mean: Any
    inv_std: Any
    gamma: Any
    mode: str
    out: Any
    winner: Any
    pool: Any
    dtypes: tuple


def _pattern(xp, v, S: int, dtype):
    """Per-channel values v (F,) as one channels-last image of S positions: (1, S*F)."""
    v = xp.asarray(v).astype(dtype, copy=False)
    return xp.tile(v, S).reshape(1, S * v.shape[0])


def _channel_sum(xp, a, ones, F: int):
    """Per-channel sums (F,) of a channels-last a (N, ...) of ``ones.shape[0]`` positions."""
    N = a.shape[0]
    return xp.matmul(ones, a.reshape(N, ones.shape[0], F)).sum(axis=0)


def _window_views(a, ph: int, pw: int, s: int, H2: int, W2: int):
    """The ph*pw strided views (n, H2, W2, F) of a (n, H, W, F), one per window offset."""
    return [
        a[:, i : i + s * (H2 - 1) + 1 : s, j : j + s * (W2 - 1) + 1 : s]
        for i in range(ph)
        for j in range(pw)
    ]


def _pool_chunk(xp, z, pool, mx, winner, searching, ne) -> None:
    """Max of each window of z (k, H', W', F) into mx; its first maximum's offset into winner.

    The first-maximum rule of ``max_pool_backward_fast``; ``winner`` None skips the search.
    """
    ph, pw, ps = pool
    views = _window_views(z, ph, pw, ps, *mx.shape[1:3])
    mx[...] = views[0]
    for v in views[1:]:
        xp.maximum(mx, v, out=mx)
    if winner is None:
        return
    # First maximum: the number of leading offsets that are not the max.
    winner[...] = 0
    for i, v in enumerate(views[:-1]):
        xp.not_equal(v, mx, out=ne)
        if i == 0:
            searching[...] = ne
        else:
            searching &= ne
        winner += searching


def _center(xp, a, ones, eps: float, step: int):
    """Subtract the batch mean from a (N, H', W', F) in place; return mean, variance, inv_std.

    The variance is the biased one, ``mean((a - mean)**2)`` (two passes: no cancellation);
    ``inv_std = 1 / sqrt(var + eps)``.
    """
    N, F = a.shape[0], a.shape[-1]
    S = ones.shape[0]
    M = N * S
    mu = _channel_sum(xp, a, ones, F) / M
    p_mu = _pattern(xp, mu, S, a.dtype)
    rows = a.reshape(N, S * F)
    t = xp.empty((min(step, N), S * F), dtype=a.dtype)
    sq = xp.zeros(F, dtype=a.dtype)
    for n0 in range(0, N, step):
        n1 = min(n0 + step, N)
        xc = rows[n0:n1]
        xc -= p_mu
        tk = t[: n1 - n0]
        xp.multiply(xc, xc, out=tk)
        sq += _channel_sum(xp, tk, ones, F)
    var = sq / M
    return mu, var, 1.0 / xp.sqrt(var + eps)


def block_forward(x, w, b, gamma, beta, pad: int, settings, pool, keep_cache: bool = True):
    """Fused forward on already-validated arguments.

    Args:
        x: input (N, H, W, C), any strides.
        w: filters (F, C, HH, WW).
        b: conv biases (F,).
        gamma: batch norm scale (F,).
        beta: batch norm shift (F,).
        pad: zero padding of the stride-1 conv (both sides, both axes).
        settings: ``(mode, eps, momentum, running_mean, running_var)`` as from
            ``numnet.ops.batchnorm.bn_settings``.
        pool: ``(pool_height, pool_width, pool_stride)`` or None.
        keep_cache: False (inference) returns no cache and skips what only the backward needs.

    Returns:
        ``(out, cache, running_mean, running_var)``: out (N, H'', W'', F) C-contiguous in
        ``result_type(x, w, b)``, a ``BlockCache`` (or None), and the running statistics to store.
    """
    xp = get_array_module(x, w, b)
    mode, eps, momentum, running_mean, running_var = settings
    dtype = xp.result_type(x, w, b)
    g = cn.geometry(x.shape, w.shape, pad)
    N, F, S = x.shape[0], g.F, g.S
    a = xp.empty((N, g.Ho, g.Wo, F), dtype=dtype)
    cn.forward_chunks(xp, x, cn.weight_matrix(xp, w, b, g, dtype), g, a, dtype)
    step = max(1, _CHUNK_BYTES // max(1, S * F * a.itemsize))
    if mode == "train":
        # From here on a holds a - mean (the backward needs nothing else of it).
        mu, var, inv_std = _center(xp, a, xp.ones(S, dtype=dtype), eps, step)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        p_scale = _pattern(xp, gamma * inv_std, S, dtype)
        p_shift = _pattern(xp, beta, S, dtype)
    else:
        mu = running_mean.astype(dtype, copy=False)
        inv_std = 1.0 / xp.sqrt(running_var.astype(dtype, copy=False) + eps)
        scale = gamma.astype(dtype, copy=False) * inv_std
        p_scale = _pattern(xp, scale, S, dtype)
        p_shift = _pattern(xp, beta - mu * scale, S, dtype)
    rows = a.reshape(N, S * F)
    k_max = min(step, N)
    z = xp.empty((k_max, S * F), dtype=dtype)
    winner = None
    if pool is None:
        out = xp.empty(a.shape, dtype=dtype)
    else:
        ph, pw, ps = pool
        H2, W2 = (g.Ho - ph) // ps + 1, (g.Wo - pw) // ps + 1
        out = xp.empty((N, H2, W2, F), dtype=dtype)
        mx = xp.empty((k_max, H2, W2, F), dtype=dtype)
        if keep_cache:
            winner = xp.empty((N, H2, W2, F), dtype=np.min_scalar_type(ph * pw - 1))
            searching = xp.empty((k_max, H2, W2, F), dtype=bool)
            ne = xp.empty((k_max, H2, W2, F), dtype=bool)
    for n0 in range(0, N, step):
        n1 = min(n0 + step, N)
        k = n1 - n0
        t = z[:k]
        # z = (a - mean) * (gamma * inv_std) + beta, or a * scale + (beta - mean * scale) with
        # the running statistics (test mode), as spatial_batchnorm_forward computes it.
        xp.multiply(rows[n0:n1], p_scale, out=t)
        t += p_shift
        t4 = t.reshape(k, g.Ho, g.Wo, F)
        if pool is None:
            xp.maximum(t4, 0, out=out[n0:n1])
            continue
        if winner is None:
            _pool_chunk(xp, t4, pool, mx[:k], None, None, None)
        else:
            _pool_chunk(xp, t4, pool, mx[:k], winner[n0:n1], searching[:k], ne[:k])
        xp.maximum(mx[:k], 0, out=out[n0:n1])
    cache = None
    if keep_cache:
        if mode != "train":
            rows -= _pattern(xp, mu, S, dtype)  # the cache holds a - mean in both modes
        dtypes = (x.dtype, w.dtype, b.dtype, gamma.dtype, beta.dtype)
        cache = BlockCache(x, w, g, a, mu, inv_std, gamma, mode, out, winner, pool, dtypes)
    return out, cache, running_mean, running_var


def _winner_values(xp, a, cache: BlockCache, hits):
    """The values of a (N, H', W', F) at each pooling window's first maximum: (N, H'', W'', F).

    ``hits[i]`` is ``cache.winner == i``, one per window offset.
    """
    ph, pw, ps = cache.pool
    H2, W2 = cache.out.shape[1:3]
    vals = xp.zeros(cache.out.shape, dtype=a.dtype)
    scratch = xp.empty(cache.out.shape, dtype=a.dtype)
    for hit, view in zip(hits, _window_views(a, ph, pw, ps, H2, W2)):
        xp.multiply(view, hit, out=scratch)
        vals += scratch
    return vals


def block_backward(dout, cache: BlockCache, need_dx: bool = True):
    """Fused backward of ``block_forward``.

    Args:
        dout: upstream gradient (N, H'', W'', F), any strides.
        cache: the forward's ``BlockCache``.
        need_dx: False skips the input gradient (a network's first layer).

    Returns:
        ``(dx, dw, db, dgamma, dbeta)`` in the dtypes of x, w, b, gamma and beta; dx (N, H, W, C)
        C-contiguous, or None when ``need_dx`` is False.
    """
    a, inv_std, gamma, out, g = cache.a, cache.inv_std, cache.gamma, cache.out, cache.g
    xp = get_array_module(dout, a)
    dtype = a.dtype
    N, F, S = a.shape[0], g.F, g.S
    S2 = out.shape[1] * out.shape[2]
    # The ReLU's gradient (out > 0 exactly where the pre-ReLU value is).
    grad = relu_backward(xp.ascontiguousarray(dout, dtype=dtype), out)
    ones2 = xp.ones(S2, dtype=dtype)
    dbeta = _channel_sum(xp, grad, ones2, F)
    step = max(1, _CHUNK_BYTES // max(1, S * F * a.itemsize))
    rows = a.reshape(N, S * F)  # a - mean
    if cache.pool is None:
        t = xp.empty((min(step, N), S * F), dtype=dtype)
        grows = grad.reshape(N, S * F)
        dot = xp.zeros(F, dtype=dtype)
        for n0 in range(0, N, step):
            n1 = min(n0 + step, N)
            tk = t[: n1 - n0]
            xp.multiply(rows[n0:n1], grows[n0:n1], out=tk)
            dot += _channel_sum(xp, tk, ones2, F)
    else:
        hits = [cache.winner == i for i in range(cache.pool[0] * cache.pool[1])]
        xc_w = _winner_values(xp, a, cache, hits)
        xc_w *= grad
        dot = _channel_sum(xp, xc_w, ones2, F)
    dgamma = dot * inv_std
    k1 = gamma.astype(dtype, copy=False) * inv_std
    train = cache.mode == "train"
    if train:
        M = N * S
        p_k2 = _pattern(xp, k1 * inv_std * (-dgamma / M), S, dtype)  # multiplies a - mu
        p_k3 = _pattern(xp, k1 * (-dbeta / M), S, dtype)
    p_k1 = _pattern(xp, k1, S2, dtype)
    scratch = {}

    def fill(n0, n1, target):
        # d(conv output) = k1 * dy + k2 * (a - mu) + k3, dy the batch norm output's gradient.
        k = n1 - n0
        if not scratch:
            scratch["gk"] = xp.empty((k, S2 * F), dtype=dtype)
            if cache.pool is not None:
                scratch["add"] = xp.empty((k, *out.shape[1:]), dtype=dtype)
        t = target.reshape(k, S * F)
        if train:
            xp.multiply(rows[n0:n1], p_k2, out=t)
            t += p_k3
        else:
            t[...] = 0
        gk = scratch["gk"][:k]
        xp.multiply(grad[n0:n1].reshape(k, S2 * F), p_k1, out=gk)
        if cache.pool is None:
            t += gk
            return
        gk4 = gk.reshape(k, *out.shape[1:])
        add = scratch["add"][:k]
        ph, pw, ps = cache.pool
        for hit, view in zip(hits, _window_views(target, ph, pw, ps, *out.shape[1:3])):
            xp.multiply(gk4, hit[n0:n1], out=add)
            view += add

    dx, dw, db = cn.backward_core(xp, cache.x, cache.w, g, need_dx, fill, dtype)
    x_dt, w_dt, b_dt, g_dt, beta_dt = cache.dtypes
    return (
        None if dx is None else dx.astype(x_dt, copy=False),
        dw.astype(w_dt, copy=False),
        db.astype(b_dt, copy=False),
        dgamma.astype(g_dt, copy=False),
        dbeta.astype(beta_dt, copy=False),
    )
