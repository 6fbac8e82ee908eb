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

Pooling: b x b windows with stride b that tile the conv output (numnet's ConvNet pools 2x2 with
stride 2 on even sizes). The conv writes each image's positions window offset by window offset
(``conv_nhwc.Columns``' blocked order), so the b*b offsets of all windows are b*b contiguous
blocks: the max, the first-maximum search and, in the backward, the gradient's scatter to the
winners run on contiguous arrays (strided channels-last views run NumPy's inner loop once per
run of F values, 2-5x slower).

What is cached: the conv's input (the previous block's output, not a copy), the centred conv
output ``a - mean`` (in the blocked order when pooling), the block's output and, with pooling,
each window's first-maximum offset (one byte per window). The batch norm output is only ever
made a chunk at a time, in cache-sized scratch.
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
    centred conv output ``conv - mean`` as (N, H'*W'*F) rows, positions in the pool's block
    order (``conv_nhwc.Columns``); ``mean`` and ``inv_std`` (F,) the statistics it was
    normalised with; ``out`` the block's output (N, H'', W'', F); ``winner`` (N, H''*W''*F) each
    pooling window's first-maximum offset (row-major), or None without pooling (``pool`` is then
    None too); ``dtypes`` the dtypes of (x, w, b, gamma, beta) for the gradients.
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


def _pool_chunk(xp, z, mx, winner, searching, ne) -> None:
    """Max over the window offsets of z (k, b*b, S''*F) into mx (k, S''*F), first-max offset.

    ``z[:, i]`` holds window offset i (row-major within the window) of every window. The
    first-maximum rule of ``max_pool_backward_fast``; ``winner`` None skips the search.
    """
    mx[...] = z[:, 0]
    for i in range(1, z.shape[1]):
        xp.maximum(mx, z[:, i], out=mx)
    if winner is None:
        return
    # First maximum: the number of leading offsets that are not the max.
    winner[...] = 0
    for i in range(z.shape[1] - 1):
        xp.not_equal(z[:, i], mx, out=ne)
        if i == 0:
            searching[...] = ne
        else:
            searching &= ne
        winner += searching


def pool_block(pool, Ho: int, Wo: int) -> int:
    """The window size b of a tiling pool (b, b, b), 1 for None; else ValueError."""
    if pool is None:
        return 1
    ph, pw, ps = pool
    if not (ph == pw == ps and Ho % ps == 0 and Wo % ps == 0):
        raise ValueError(
            f"the channels-last block pools b x b windows with stride b that tile the conv "
            f"output, got pool {tuple(pool)} on {Ho}x{Wo}"
        )
    return ps


def _center(xp, a, ones, F: int, eps: float, step: int):
    """Subtract the batch mean from a (N, S*F) in place; return mean, variance, inv_std.

    a holds N channels-last images of S = ``ones.shape[0]`` positions (any order). The variance
    is the biased one, ``mean((a - mean)**2)`` (two passes: no cancellation); ``inv_std =
    1 / sqrt(var + eps)``.
    """
    N, S = a.shape[0], ones.shape[0]
    M = N * S
    mu = _channel_sum(xp, a, ones, F) / M
    p_mu = _pattern(xp, mu, S, a.dtype)
    t = xp.empty((min(step, N), S * F), dtype=a.dtype)
    sq = xp.zeros(F, dtype=a.dtype)
    for n0 in range(0, N, step):
        n1 = min(n0 + step, N)
        xc = a[n0:n1]
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
        pool: None or ``(b, b, b)`` (pool height, width, stride) with b dividing the conv
            output's height and width.
        keep_cache: False (inference) returns no cache and skips what only the backward needs.

    Returns:
        ``(out, cache, running_mean, running_var)``: out (N, H'', W'', F) C-contiguous in
        ``result_type(x, w, b)``, a ``BlockCache`` (or None), and the running statistics to store.

    Raises:
        ValueError: a pool that does not tile the conv output.
    """
    xp = get_array_module(x, w, b)
    mode, eps, momentum, running_mean, running_var = settings
    dtype = xp.result_type(x, w, b)
    g = cn.geometry(x.shape, w.shape, pad)
    N, F, S = x.shape[0], g.F, g.S
    block = pool_block(pool, g.Ho, g.Wo)
    a = xp.empty((N, S * F), dtype=dtype)  # positions in block order
    cn.forward_chunks(xp, x, cn.weight_matrix(xp, w, b, g, dtype), g, a, dtype, block)
    step = max(1, _CHUNK_BYTES // max(1, S * F * a.itemsize))
    if mode == "train":
        # From here on a holds a - mean (the backward needs nothing else of it).
        mu, var, inv_std = _center(xp, a, xp.ones(S, dtype=dtype), F, eps, step)
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
    k_max = min(step, N)
    z = xp.empty((k_max, S * F), dtype=dtype)
    S2 = S // (block * block)
    out = xp.empty((N, g.Ho // block, g.Wo // block, F), dtype=dtype)
    out_rows = out.reshape(N, S2 * F)
    winner = None
    if block > 1:
        mx = xp.empty((k_max, S2 * F), dtype=dtype)
        if keep_cache:
            winner = xp.empty((N, S2 * F), dtype=np.min_scalar_type(block * block - 1))
            searching = xp.empty((k_max, S2 * F), dtype=bool)
            ne = xp.empty((k_max, S2 * F), dtype=bool)
    for n0 in range(0, N, step):
        n1 = min(n0 + step, N)
        k = n1 - n0
        t = z[:k]
        # z = (a - mean) * (gamma * inv_std) + beta, or a * scale + (beta - mean * scale) with
        # the running statistics (test mode), as spatial_batchnorm_forward computes it.
        xp.multiply(a[n0:n1], p_scale, out=t)
        t += p_shift
        if block == 1:
            xp.maximum(t, 0, out=out_rows[n0:n1])
            continue
        t3 = t.reshape(k, block * block, S2 * F)
        if winner is None:
            _pool_chunk(xp, t3, mx[:k], None, None, None)
        else:
            _pool_chunk(xp, t3, mx[:k], winner[n0:n1], searching[:k], ne[:k])
        xp.maximum(mx[:k], 0, out=out_rows[n0:n1])
    cache = None
    if keep_cache:
        if mode != "train":
            a -= _pattern(xp, mu, S, dtype)  # the cache holds a - mean in both modes
        dtypes = (x.dtype, w.dtype, b.dtype, gamma.dtype, beta.dtype)
        cache = BlockCache(x, w, g, a, mu, inv_std, gamma, mode, out, winner, pool, dtypes)
    return out, cache, running_mean, running_var


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
    block = pool_block(cache.pool, g.Ho, g.Wo)
    nb, S2 = block * block, S // (block * block)
    # The ReLU's gradient (out > 0 exactly where the pre-ReLU value is), (N, S''*F).
    grad = relu_backward(xp.ascontiguousarray(dout, dtype=dtype), out).reshape(N, S2 * F)
    ones2 = xp.ones(S2, dtype=dtype)
    dbeta = _channel_sum(xp, grad, ones2, F)
    step = max(1, _CHUNK_BYTES // max(1, S * F * a.itemsize))
    if block == 1:
        t = xp.empty((min(step, N), S * F), dtype=dtype)
        dot = xp.zeros(F, dtype=dtype)
        for n0 in range(0, N, step):
            n1 = min(n0 + step, N)
            tk = t[: n1 - n0]
            xp.multiply(a[n0:n1], grad[n0:n1], out=tk)
            dot += _channel_sum(xp, tk, ones2, F)
    else:
        # The batch norm output's gradient is grad at each window's first maximum: its dot with
        # a - mean needs a - mean there only. The winners' masks are made a chunk at a time
        # (b*b whole-batch masks would be the step's largest temporaries).
        a3, winner = a.reshape(N, nb, S2 * F), cache.winner
        hit, t, xc_w = (xp.empty((min(step, N), S2 * F), dtype=dtype) for _ in range(3))
        dot = xp.zeros(F, dtype=dtype)
        for n0 in range(0, N, step):
            n1 = min(n0 + step, N)
            k = n1 - n0
            for i in range(nb):
                xp.equal(winner[n0:n1], i, out=hit[:k])
                xp.multiply(a3[n0:n1, i], hit[:k], out=xc_w[:k] if i == 0 else t[:k])
                if i:
                    xc_w[:k] += t[:k]
            xc_w[:k] *= grad[n0:n1]
            dot += _channel_sum(xp, xc_w[:k], ones2, F)
        del hit, t, xc_w
    dgamma = dot * inv_std
    k1 = gamma.astype(dtype, copy=False) * inv_std
    train = cache.mode == "train"
    if train:
        M = N * S
        p_k2 = _pattern(xp, k1 * inv_std * (-dgamma / M), S, dtype)  # multiplies a - mean
        p_k3 = _pattern(xp, k1 * (-dbeta / M), S, dtype)
    p_k1 = _pattern(xp, k1, S2, dtype)
    scratch = {}
    sub = min(step, N)

    def fill(n0, n1, target):
        # d(conv output) = k1 * dy + k2 * (a - mean) + k3, dy the batch norm output's gradient
        # (grad at the winners), in the forward's position order. The k1 * dy part is made
        # ``sub`` images at a time: its scratch stays cache-sized whatever the conv's chunk.
        k = n1 - n0
        t = target.reshape(k, S * F)
        if train:
            xp.multiply(a[n0:n1], p_k2, out=t)
            t += p_k3
        else:
            t[...] = 0
        if not scratch:
            for name in ("gk",) if block == 1 else ("gk", "add", "hit"):
                scratch[name] = xp.empty((min(sub, k), S2 * F), dtype=dtype)
        for s0 in range(0, k, sub):
            s1 = min(s0 + sub, k)
            j, rows = s1 - s0, slice(n0 + s0, n0 + s1)
            gk = scratch["gk"][:j]
            xp.multiply(grad[rows], p_k1, out=gk)
            if block == 1:
                t[s0:s1] += gk
                continue
            t3, add, hit = t[s0:s1].reshape(j, nb, S2 * F), scratch["add"][:j], scratch["hit"][:j]
            for i in range(nb):
                xp.equal(cache.winner[rows], i, out=hit)
                xp.multiply(gk, hit, out=add)
                t3[:, i] += add

    dx, dw, db = cn.backward_core(xp, cache.x, cache.w, g, need_dx, fill, dtype, block)
    x_dt, w_dt, b_dt, g_dt, beta_dt = cache.dtypes
    return (
        None if dx is None else dx.astype(x_dt, copy=False),
        dw.astype(w_dt, copy=False),
        db.astype(b_dt, copy=False),
        dgamma.astype(g_dt, copy=False),
        dbeta.astype(beta_dt, copy=False),
    )
