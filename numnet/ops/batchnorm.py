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

    Per-channel arrays in the cache (``std``, ``inv_std``) are shaped to broadcast against ``x``:
    (C,) for 2-D ``x``, (1, C, 1, 1) for 4-D; the running statistics are (C,).
    """
    check_keys("bn_param", bn_param, ("mode",))
    mode = bn_param["mode"]
    if mode not in _MODES:
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"; expected "train" or "test"')
    check_floating("x", x)
    C = x.shape[1]
    check_shape("gamma", gamma, (C,))
    check_shape("beta", beta, (C,))
    xp = get_array_module(x)
    # Python floats keep float32 math in float32 (NumPy float64 scalars would promote).
    eps = float(bn_param.get("eps", 1e-5))
    momentum = float(bn_param.get("momentum", 0.9))
    running_mean = bn_param.get("running_mean")
    running_var = bn_param.get("running_var")
    if running_mean is None:
        running_mean = xp.zeros(C, dtype=x.dtype)
    if running_var is None:
        running_var = xp.zeros(C, dtype=x.dtype)
    check_shape("bn_param['running_mean']", running_mean, (C,))
    check_shape("bn_param['running_var']", running_var, (C,))
    axes = _stat_axes(x)
    shape = _channel_shape(x)

    if mode == "train":
        if x.size == 0:
            raise ValueError(
                f"x must hold at least one value per channel in train mode, got shape {x.shape}"
            )
        # Reducing over the axes directly (no channels-last copy) is 2-3x faster for 4-D x.
        mu = x.mean(axis=axes, keepdims=True)
        xc = x - mu
        var = (xc * xc).mean(axis=axes, keepdims=True)
        std = xp.sqrt(var + eps)
        inv_std = 1.0 / std
        xhat = xc * inv_std
        running_mean = momentum * running_mean + (1 - momentum) * mu.reshape(C)
        running_var = momentum * running_var + (1 - momentum) * var.reshape(C)
        cache = ("train", xhat, xc, std.reshape(shape), inv_std.reshape(shape), gamma)
    else:
        # The running statistics may be stored in another dtype; compute in x's.
        rm = running_mean.astype(x.dtype, copy=False).reshape(shape)
        inv_std = 1.0 / xp.sqrt(running_var.astype(x.dtype, copy=False).reshape(shape) + eps)
        xhat = (x - rm) * inv_std
        cache = ("test", xhat, None, None, inv_std, gamma)
    out = gamma.reshape(shape) * xhat + beta.reshape(shape)
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def _stat_axes(x) -> tuple[int, ...]:
    """Every axis but the channel axis 1."""
    return (0, *range(2, x.ndim))


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
    mode, xhat, xc, std, inv_std, gamma = cache
    # out = gamma * xhat + beta
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    if mode == "test":
        # The running statistics are constants: xhat is affine in x.
        return dxhat * inv_std, dgamma, dbeta
    N = dout.shape[0]
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


def batchnorm_backward_alt(dout, cache):
    """Batch normalisation backward pass in closed form (faster than the graph form).

    ``dx = gamma * inv_std / N * (N * dout - dbeta - xhat * dgamma)``.

    Args:
        dout: upstream gradient of shape (N, D).
        cache: from ``batchnorm_forward`` (the same cache ``batchnorm_backward`` takes).

    Returns:
        ``(dx, dgamma, dbeta)`` of shapes (N, D), (D,), (D,).
    """
    mode, xhat, _, _, inv_std, gamma = cache
    # Also serves spatial batch norm: sums over every axis but the channel axis 1.
    axes = _stat_axes(dout)
    shape = _channel_shape(dout)
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * xhat).sum(axis=axes)
    g = gamma.reshape(shape)
    if mode == "test":
        return dout * (g * inv_std), dgamma, dbeta
    N = dout.size // dout.shape[1]  # values per channel
    dx = (g * inv_std / N) * (N * dout - dbeta.reshape(shape) - xhat * dgamma.reshape(shape))
    return dx, dgamma, dbeta


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
