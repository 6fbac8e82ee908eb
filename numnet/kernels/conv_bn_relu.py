"""Fused conv -> spatial batch norm -> [max pool] -> ReLU, forward and backward.

The block of numnet's ConvNet (it pools before the ReLU; the two commute). Same values as
``conv_forward_fast`` -> ``spatial_batchnorm_forward`` -> [``max_pool_forward_fast``] ->
``relu_forward`` (the batch norm output is computed by the same operations in the same order, so
the pooling picks the same winners) and the same gradients as their backward composition, tie rule
included; running statistics are updated as ``spatial_batchnorm_forward`` does.

What it saves. Forward: the batch norm output (N, F, H', W') is never stored; it is made a batch
chunk at a time in a cache-sized scratch buffer, pooled and rectified there. The cache holds the
conv output, the block's output and, when pooling, the offset of each window's first maximum (one
byte per window), against the conv output, the normalised activations, the batch norm output and
the pooled output of the unfused layers. Backward: neither the pooling's nor the batch norm's input
gradient (each activation-sized) is formed. The batch norm's reductions need only the gradient at
the pooling winners (a quarter of the values for 2x2 pools); then the batch norm backward, dense,
is written chunk by chunk straight into the conv backward's scratch buffer.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np  # dtype metadata only; array math uses xp

from numnet.backend import get_array_module
from numnet.kernels.conv import ConvCache, conv2d_forward, conv_backward_core
from numnet.kernels.conv_relu_pool import _pool_chunk, _window_views
from numnet.ops._channels import (
    as_rows,
    channel_dot,
    channel_dot_partial,
    channel_sum,
    pattern,
)
from numnet.ops.activations import relu_backward

# Bytes of conv output normalised per step of the forward: the scratch stays cache-sized.
_CHUNK_BYTES = 1 << 20


class ConvBNReluCache(NamedTuple):
    """What ``conv_bn_relu_pool2d_backward`` reads.

    ``a`` is the conv output (N, F, H', W'); ``mean`` and ``inv_std`` (F,) the statistics it was
    normalised with (the batch's in train mode, the running ones in test mode); ``out`` the
    block's output; ``winner`` (N, F, H'', W'') the row-major offset of each pooling window's
    first maximum, or None without pooling (then ``pool`` is None too).
    """

    conv: ConvCache
    a: Any
    mean: Any
    inv_std: Any
    gamma: Any
    beta_dtype: Any
    mode: str
    out: Any
    winner: Any
    pool: Any


def _centered_sumsq(xp, a, mu, step: int):
    """Per-channel ``sum((a - mu)**2)`` (F,), a chunk of ``step`` images at a time.

    Bitwise ``channel_dot(a - mu, a - mu)``, without the activation-sized ``a - mu``.
    """
    rows = as_rows(xp, a)
    p_mu = pattern(xp, mu, a.shape, a.dtype)
    scratch = xp.empty((min(step, a.shape[0]), rows.shape[1]), dtype=a.dtype)
    partial = xp.empty(a.shape[:2], dtype=a.dtype)
    for n0 in range(0, a.shape[0], step):
        n1 = min(n0 + step, a.shape[0])
        t = scratch[: n1 - n0]
        xp.subtract(rows[n0:n1], p_mu, out=t)
        t3 = t.reshape(n1 - n0, *a.shape[1:])
        partial[n0:n1] = channel_dot_partial(xp, t3, t3)
    return partial.sum(axis=0)


def conv_bn_relu_pool2d_forward(x, w, b, gamma, beta, stride: int, pad: int, settings, pool):
    """Fused forward on already-validated arguments (see ``conv_bn_relu_pool_forward_fast``).

    Args:
        x: input (N, C, H, W).
        w: filters (F, C, HH, WW).
        b: conv biases (F,).
        gamma: batch norm scale (F,).
        beta: batch norm shift (F,).
        stride: conv stride.
        pad: conv zero padding.
        settings: ``(mode, eps, momentum, running_mean, running_var)`` from ``bn_settings``.
        pool: ``(pool_height, pool_width, pool_stride)`` or None.

    Returns:
        ``(out, cache, running_mean, running_var)``: out (N, F, H'', W'') in
        ``result_type(x, w, b)``, a ``ConvBNReluCache``, and the running statistics to store.
    """
    xp = get_array_module(x, w, b)
    mode, eps, momentum, running_mean, running_var = settings
    a, conv_cache = conv2d_forward(x, w, b, stride, pad)
    dtype = a.dtype
    N, F, Ho, Wo = a.shape
    step = max(1, _CHUNK_BYTES // max(1, a[0].size * a.itemsize))
    if mode == "train":
        M = N * Ho * Wo
        mu = channel_sum(xp, a) / M
        var = _centered_sumsq(xp, a, mu, step) / M
        inv_std = 1.0 / xp.sqrt(var + eps)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    else:
        mu = running_mean.astype(dtype, copy=False)
        inv_std = 1.0 / xp.sqrt(running_var.astype(dtype, copy=False) + eps)
    # z: spatial_batchnorm_forward's operations, in its order: (a - mu) * (gamma * inv_std) + beta
    # in train mode, a * scale + (beta - mean * scale) in test mode.
    if mode == "train":
        p_mu = pattern(xp, mu, a.shape, dtype)
        p_scale = pattern(xp, gamma * inv_std, a.shape, dtype)
        p_shift = pattern(xp, beta, a.shape, dtype)
    else:
        scale = gamma.astype(dtype, copy=False) * inv_std
        p_scale = pattern(xp, scale, a.shape, dtype)
        p_shift = pattern(xp, beta - mu * scale, a.shape, dtype)
    rows = as_rows(xp, a)
    k_max = min(step, N)
    z = xp.empty((k_max, rows.shape[1]), dtype=dtype)
    if pool is None:
        out = xp.empty(a.shape, dtype=dtype)
        winner = None
    else:
        ph, pw, ps = pool
        H2, W2 = (Ho - ph) // ps + 1, (Wo - pw) // ps + 1
        out = xp.empty((N, F, H2, W2), dtype=dtype)
        winner = xp.empty((N, F, H2, W2), dtype=np.min_scalar_type(ph * pw - 1))
        mx = xp.empty((k_max, F, H2, W2), dtype=dtype)
        searching = xp.empty((k_max, F, H2, W2), dtype=bool)
        ne = xp.empty((k_max, F, H2, W2), dtype=bool)
    for n0 in range(0, N, step):
        n1 = min(n0 + step, N)
        k = n1 - n0
        t = z[:k]
        if mode == "train":
            xp.subtract(rows[n0:n1], p_mu, out=t)
            t *= p_scale
        else:
            xp.multiply(rows[n0:n1], p_scale, out=t)
        t += p_shift
        t4 = t.reshape(k, F, Ho, Wo)
        if pool is None:
            xp.maximum(t4, 0, out=out[n0:n1])
        else:
            _pool_chunk(xp, t4, ph, pw, ps, mx[:k], winner[n0:n1], searching[:k], ne[:k])
            xp.maximum(mx[:k], 0, out=out[n0:n1])
    cache = ConvBNReluCache(conv_cache, a, mu, inv_std, gamma, beta.dtype, mode, out, winner, pool)
    return out, cache, running_mean, running_var


def _winner_values(xp, a, cache: ConvBNReluCache):
    """The conv output at each pooling window's first maximum: (N, F, H'', W'')."""
    ph, pw, ps = cache.pool
    H2, W2 = cache.out.shape[2:]
    vals = xp.zeros(cache.out.shape, dtype=a.dtype)
    hit = xp.empty(cache.out.shape, dtype=bool)
    for i, view in enumerate(_window_views(a, ph, pw, ps, H2, W2)):
        xp.equal(cache.winner, i, out=hit)
        vals += view * hit
    return vals


def conv_bn_relu_pool2d_backward(dout, cache: ConvBNReluCache, need_dx: bool = True):
    """Fused backward (see ``conv_bn_relu_pool_backward_fast``).

    Returns:
        ``(dx, dw, db, dgamma, dbeta)`` in the dtypes of x, w, b, gamma and beta; ``dx`` is None
        when ``need_dx`` is False.
    """
    a, mu, inv_std, gamma, out = cache.a, cache.mean, cache.inv_std, cache.gamma, cache.out
    xp = get_array_module(dout, a)
    dtype = a.dtype
    N, F, Ho, Wo = a.shape
    # The ReLU's gradient, exactly relu_backward's (out > 0 exactly where the pre-ReLU value is).
    g = relu_backward(xp.asarray(dout, dtype=dtype), out)
    # The batch norm output's gradient is g at the winners (the pooling) or g itself: its sums.
    dbeta = channel_sum(xp, g)
    if cache.pool is None:
        step = max(1, _CHUNK_BYTES // max(1, a[0].size * a.itemsize))
        p_mu = pattern(xp, mu, a.shape, dtype)
        rows, grows = as_rows(xp, a), as_rows(xp, g)
        t = xp.empty((min(step, N), rows.shape[1]), dtype=dtype)
        dot = xp.zeros(F, dtype=dtype)
        for n0 in range(0, N, step):
            n1 = min(n0 + step, N)
            xp.subtract(rows[n0:n1], p_mu, out=t[: n1 - n0])
            shape = (n1 - n0, F, Ho, Wo)
            dot += channel_dot(xp, grows[n0:n1].reshape(shape), t[: n1 - n0].reshape(shape))
    else:
        xc_w = _winner_values(xp, a, cache)
        xc_w -= mu.reshape(1, F, 1, 1)
        dot = channel_dot(xp, g, xc_w)
    dgamma = dot * inv_std
    k1 = gamma.astype(dtype, copy=False) * inv_std
    train = cache.mode == "train"
    if train:
        M = N * Ho * Wo
        p_mu = pattern(xp, mu, a.shape, dtype)
        p_k2 = pattern(xp, k1 * inv_std * (-dgamma / M), a.shape, dtype)  # multiplies a - mu
        p_k3 = pattern(xp, k1 * (-dbeta / M), a.shape, dtype)
    rows = as_rows(xp, a)
    scratch = {}

    def fill(n0, n1, target):
        # d(conv output) = k1 * dy + k2 * (a - mu) + k3, dy the batch norm output's gradient,
        # made in contiguous scratch (flat loops over one-image patterns), then copied to target.
        k = n1 - n0
        if not scratch:
            scratch["t"] = xp.empty((k, rows.shape[1]), dtype=dtype)
            pooled = out.shape[1:] if cache.pool is not None else a.shape[1:]
            scratch["gk"] = xp.empty((k, *pooled), dtype=dtype)
            scratch["hit"] = xp.empty((k, *pooled), dtype=bool)
            scratch["add"] = xp.empty((k, *pooled), dtype=dtype)
        t, gk, hit, add = (scratch[key][:k] for key in ("t", "gk", "hit", "add"))
        if train:
            xp.subtract(rows[n0:n1], p_mu, out=t)
            t *= p_k2
            t += p_k3
        else:
            t[...] = 0
        t4 = t.reshape(k, F, Ho, Wo)
        xp.multiply(g[n0:n1], k1.reshape(1, F, 1, 1), out=gk)
        if cache.pool is None:
            t4 += gk
        else:
            ph, pw, ps = cache.pool
            H2, W2 = out.shape[2:]
            for i, view in enumerate(_window_views(t4, ph, pw, ps, H2, W2)):
                xp.equal(cache.winner[n0:n1], i, out=hit)
                xp.multiply(gk, hit, out=add)
                view += add
        target[...] = t4

    dx, dw, db = conv_backward_core(xp, cache.conv, need_dx, fill)
    return (
        dx,
        dw,
        db,
        dgamma.astype(gamma.dtype, copy=False),
        dbeta.astype(cache.beta_dtype, copy=False),
    )
