"""Batch normalisation, vanilla (N, D) and spatial (N, C, H, W).

Course conventions: the batch variance is the *biased* one; ``eps`` defaults to 1e-5;
``momentum`` (default 0.9) weights the OLD running value,
``running = momentum * running + (1 - momentum) * batch`` (torch's momentum weights the new value,
and torch keeps the unbiased variance); running statistics start at zeros of ``x.dtype`` and are
written back into the caller's ``bn_param`` in both modes (the one documented mutation of an
argument).
"""

from __future__ import annotations

from numnet._checks import check_floating, check_keys, check_ndim, check_shape
from numnet.backend import get_array_module
from numnet.ops._channels import as_rows, channel_dot, channel_sum, pattern

_MODES = ("train", "test")


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation forward pass.

    Train mode normalises with the batch mean and biased variance and updates the running
    statistics; test mode normalises with the running statistics.

    Args:
        x: input of shape (N, D).
        gamma: scale of shape (D,).
        beta: shift of shape (D,).
        bn_param: dict with ``mode`` ('train' or 'test', required) and optionally ``eps``
            (default 1e-5), ``momentum`` (default 0.9), ``running_mean`` and ``running_var``
            (each (D,), default zeros of ``x.dtype``). Both running statistics are (re)stored here.

    Returns:
        ``(out, cache)``: ``out`` of shape (N, D) in ``x.dtype``; ``cache`` for the backward passes.

    Raises:
        ValueError: unknown mode, missing ``mode``, wrong ndim of ``x``, or shape mismatch of
            ``gamma``, ``beta`` or the running statistics.
    """
    check_ndim("x", x, 2, "of shape (N, D)")
    return _batchnorm_forward(x, gamma, beta, bn_param)


def _batchnorm_forward(x, gamma, beta, bn_param):
    """Batch norm over every axis of ``x`` but axis 1 (the features or channels, C of them).

    The cache is the tuple ``(mode, xc, x, running_mean, inv_std, gamma)``: train mode keeps
    ``xc = x - batch mean`` (its own array; x is not kept) and None for x and the running mean;
    test mode keeps x itself (not a copy) and the running mean, and None for xc. Either way
    ``xhat = (x - mean) * inv_std``. ``inv_std`` and the running mean are shaped to broadcast
    against ``x``: (C,) for 2-D ``x``, (1, C, 1, 1) for 4-D; the running statistics in
    ``bn_param`` are (C,). Only one activation-sized array is made besides ``out``.
    """
    check_floating("x", x)
    C = x.shape[1]
    check_shape("gamma", gamma, (C,))
    check_shape("beta", beta, (C,))
    xp = get_array_module(x)
    mode, eps, momentum, running_mean, running_var = bn_settings(xp, bn_param, C, x.dtype)
    shape = _channel_shape(x)
    dtype = x.dtype
    if mode == "train" and x.size == 0:
        raise ValueError(
            f"x must hold at least one value per channel in train mode, got shape {x.shape}"
        )
    # (N, C*S) rows: per-channel constants are applied as one-image patterns.
    rows = as_rows(xp, x)

    if mode == "train":
        M = x.size // C  # values per channel
        mu = channel_sum(xp, rows.reshape(x.shape)) / M
        # Two passes (the variance is taken around the mean: no cancellation). The cache keeps
        # xc = x - mu rather than xhat = xc * inv_std: the backward folds inv_std into its
        # per-channel constants, and the forward saves a pass.
        xc = xp.subtract(rows, pattern(xp, mu, x.shape, dtype))
        var = channel_dot(xp, xc.reshape(x.shape), xc.reshape(x.shape)) / M
        inv_std = 1.0 / xp.sqrt(var + eps)
        out = xp.multiply(xc, pattern(xp, gamma * inv_std, x.shape, dtype))
        out += pattern(xp, beta, x.shape, dtype)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        cache = ("train", xc.reshape(x.shape), None, None, inv_std.reshape(shape), gamma)
    else:
        # The running statistics may be stored in another dtype; compute in x's. The cache keeps
        # x itself (no copy): xhat is rebuilt only if a backward asks for it.
        rm = running_mean.astype(dtype, copy=False)
        inv_std = 1.0 / xp.sqrt(running_var.astype(dtype, copy=False) + eps)
        scale = gamma.astype(dtype, copy=False) * inv_std
        out = xp.multiply(rows, pattern(xp, scale, x.shape, dtype))
        out += pattern(xp, beta - rm * scale, x.shape, dtype)
        cache = ("test", None, x, rm.reshape(shape), inv_std.reshape(shape), gamma)
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out.reshape(x.shape), cache


def bn_settings(xp, bn_param, C: int, dtype):
    """Validate ``bn_param`` for C channels: ``(mode, eps, momentum, running_mean, running_var)``.

    ``eps`` and ``momentum`` are Python floats (they keep float32 math in float32, where NumPy
    float64 scalars would promote); missing running statistics are zeros (C,) of ``dtype``.

    Raises:
        ValueError: ``mode`` missing or not 'train' / 'test', or a running statistic not (C,).
    """
    check_keys("bn_param", bn_param, ("mode",))
    mode = bn_param["mode"]
    if mode not in _MODES:
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"; expected "train" or "test"')
    eps = float(bn_param.get("eps", 1e-5))
    momentum = float(bn_param.get("momentum", 0.9))
    running_mean = bn_param.get("running_mean")
    running_var = bn_param.get("running_var")
    if running_mean is None:
        running_mean = xp.zeros(C, dtype=dtype)
    if running_var is None:
        running_var = xp.zeros(C, dtype=dtype)
    check_shape("bn_param['running_mean']", running_mean, (C,))
    check_shape("bn_param['running_var']", running_var, (C,))
    return mode, eps, momentum, running_mean, running_var


def _centered(cache):
    """``x - mean`` of a batch norm cache (batch mean in train mode, running mean in test)."""
    mode, xc, x, rm, _, _ = cache
    return xc if mode == "train" else x - rm


def _channel_shape(x) -> tuple[int, ...]:
    """Shape of a per-channel array broadcast against ``x``: (C,) for 2-D, (1, C, 1, 1) for 4-D."""
    C = x.shape[1]
    return (C,) if x.ndim == 2 else (1, C) + (1,) * (x.ndim - 2)


def batchnorm_backward(dout, cache):
    """Batch normalisation backward pass, step by step through the computation graph.

    Args:
        dout: upstream gradient of shape (N, D).
        cache: from ``batchnorm_forward``.

    Returns:
        ``(dx, dgamma, dbeta)`` of shapes (N, D), (D,), (D,).
    """
    mode, _, _, _, inv_std, gamma = cache
    xc = _centered(cache)
    xhat = xc * inv_std
    # out = gamma * xhat + beta
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    if mode == "test":
        # The running statistics are constants: xhat is affine in x.
        return dxhat * inv_std, dgamma, dbeta
    N = dout.shape[0]
    std = 1.0 / inv_std
    # xhat = xc * inv_std
    dinv_std = (dxhat * xc).sum(axis=0)
    dxc = dxhat * inv_std
    # inv_std = 1 / std;  std = sqrt(var + eps)
    dstd = -dinv_std / (std * std)
    dvar = 0.5 * dstd / std
    # var = mean(xc ** 2) over the batch
    dxc = dxc + (2.0 / N) * xc * dvar
    # xc = x - mu;  mu = mean(x) over the batch
    dmu = -dxc.sum(axis=0)
    dx = dxc + dmu / N
    return dx, dgamma, dbeta


# Bytes of dx computed per step of batchnorm_backward_alt: its scratch stays this small.
_BACKWARD_CHUNK_BYTES = 256 << 10


def batchnorm_backward_alt(dout, cache):
    """Batch normalisation backward pass in closed form (faster than the graph form).

    ``dx = gamma * inv_std / N * (N * dout - dbeta - xhat * dgamma)``, evaluated as
    ``dout * k1 + xc * k2 + k3`` with per-channel k's (``xhat = xc * inv_std``), a few images at
    a time so that one product lives in a small scratch buffer instead of a whole-batch temporary.

    Args:
        dout: upstream gradient of shape (N, D) (or (N, C, H, W) for spatial batch norm).
        cache: from ``batchnorm_forward`` (the same cache ``batchnorm_backward`` takes).

    Returns:
        ``(dx, dgamma, dbeta)`` of shapes (N, D), (D,), (D,).
    """
    mode, _, _, _, inv_std, gamma = cache
    xc = _centered(cache)
    xp = get_array_module(dout, xc)
    dtype = xp.result_type(dout, xc)
    inv_std = inv_std.reshape(-1)
    drows = as_rows(xp, dout)
    # Also serves spatial batch norm: sums over every axis but the channel axis 1.
    dbeta = channel_sum(xp, drows.reshape(dout.shape))
    # dgamma = sum(dout * xhat) with xhat = xc * inv_std: the scale applies per channel.
    dgamma = channel_dot(xp, drows.reshape(dout.shape), xc) * inv_std
    k1 = gamma.astype(dtype, copy=False) * inv_std
    if mode == "test":
        return (drows * pattern(xp, k1, dout.shape, dtype)).reshape(dout.shape), dgamma, dbeta
    M = dout.size // dout.shape[1]  # values per channel
    p1 = pattern(xp, k1, dout.shape, dtype)
    p2 = pattern(xp, k1 * inv_std * (-dgamma / M), dout.shape, dtype)  # multiplies xc
    p3 = pattern(xp, k1 * (-dbeta / M), dout.shape, dtype)
    xrows = xc.reshape(drows.shape)
    dx = xp.empty(drows.shape, dtype=dtype)
    step = max(1, _BACKWARD_CHUNK_BYTES // max(1, drows.shape[1] * dx.itemsize))
    scratch = xp.empty((min(step, drows.shape[0]), drows.shape[1]), dtype=dtype)
    for n0 in range(0, drows.shape[0], step):
        n1 = min(n0 + step, drows.shape[0])
        t = scratch[: n1 - n0]
        xp.multiply(xrows[n0:n1], p2, out=t)
        t += p3
        xp.multiply(drows[n0:n1], p1, out=dx[n0:n1])
        dx[n0:n1] += t
    return dx.reshape(dout.shape), dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Spatial batch normalisation forward pass: per-channel statistics over N, H and W.

    The same computation as ``batchnorm_forward``, reducing over axes (0, 2, 3) in place of the
    course's hint (move channels last, flatten to (N*H*W, C)), which costs two transposed copies.

    Args:
        x: input of shape (N, C, H, W).
        gamma: scale of shape (C,).
        beta: shift of shape (C,).
        bn_param: as for ``batchnorm_forward``; running statistics have shape (C,).

    Returns:
        ``(out, cache)``: ``out`` of shape (N, C, H, W) in ``x.dtype`` (C-contiguous).

    Raises:
        ValueError: as ``batchnorm_forward``, and when ``x`` is not 4-D.
    """
    check_ndim("x", x, 4, "of shape (N, C, H, W)")
    return _batchnorm_forward(x, gamma, beta, bn_param)


def spatial_batchnorm_backward(dout, cache):
    """Spatial batch normalisation backward pass.

    Args:
        dout: upstream gradient of shape (N, C, H, W).
        cache: from ``spatial_batchnorm_forward``.

    Returns:
        ``(dx, dgamma, dbeta)`` of shapes (N, C, H, W), (C,), (C,).
    """
    return batchnorm_backward_alt(dout, cache)
