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
    check_keys("bn_param", bn_param, ("mode",))
    mode = bn_param["mode"]
    if mode not in _MODES:
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"; expected "train" or "test"')
    check_ndim("x", x, 2, "of shape (N, D)")
    check_floating("x", x)
    D = x.shape[1]
    check_shape("gamma", gamma, (D,))
    check_shape("beta", beta, (D,))
    xp = get_array_module(x)
    # Python floats keep float32 math in float32 (NumPy float64 scalars would promote).
    eps = float(bn_param.get("eps", 1e-5))
    momentum = float(bn_param.get("momentum", 0.9))
    running_mean = bn_param.get("running_mean")
    running_var = bn_param.get("running_var")
    if running_mean is None:
        running_mean = xp.zeros(D, dtype=x.dtype)
    if running_var is None:
        running_var = xp.zeros(D, dtype=x.dtype)
    check_shape("bn_param['running_mean']", running_mean, (D,))
    check_shape("bn_param['running_var']", running_var, (D,))

    if mode == "train":
        if x.shape[0] == 0:
            raise ValueError("x must hold at least one sample in train mode, got shape (0, D)")
        mu = x.mean(axis=0)
        xc = x - mu
        var = (xc * xc).mean(axis=0)
        std = xp.sqrt(var + eps)
        inv_std = 1.0 / std
        xhat = xc * inv_std
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        cache = ("train", xhat, xc, std, inv_std, gamma)
    else:
        # The running statistics may be stored in another dtype; compute in x's.
        rm = running_mean.astype(x.dtype, copy=False)
        inv_std = 1.0 / xp.sqrt(running_var.astype(x.dtype, copy=False) + eps)
        xhat = (x - rm) * inv_std
        cache = ("test", xhat, None, None, inv_std, gamma)
    out = gamma * xhat + beta
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


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
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    if mode == "test":
        return dout * (gamma * inv_std), dgamma, dbeta
    N = dout.shape[0]
    dx = (gamma * inv_std / N) * (N * dout - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Spatial batch normalisation forward pass: per-channel statistics over N, H and W.

    Reuses ``batchnorm_forward`` on ``x`` moved channels-last and flattened to (N*H*W, C).

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
    N, C, H, W = x.shape
    check_shape("gamma", gamma, (C,))
    check_shape("beta", beta, (C,))
    xp = get_array_module(x)
    x2 = x.transpose(0, 2, 3, 1).reshape(-1, C)
    out2, bn_cache = batchnorm_forward(x2, gamma, beta, bn_param)
    out = xp.ascontiguousarray(out2.reshape(N, H, W, C).transpose(0, 3, 1, 2))
    return out, bn_cache


def spatial_batchnorm_backward(dout, cache):
    """Spatial batch normalisation backward pass.

    Args:
        dout: upstream gradient of shape (N, C, H, W).
        cache: from ``spatial_batchnorm_forward``.

    Returns:
        ``(dx, dgamma, dbeta)`` of shapes (N, C, H, W), (C,), (C,).
    """
    N, C, H, W = dout.shape
    xp = get_array_module(dout)
    dout2 = dout.transpose(0, 2, 3, 1).reshape(-1, C)
    dx2, dgamma, dbeta = batchnorm_backward_alt(dout2, cache)
    dx = xp.ascontiguousarray(dx2.reshape(N, H, W, C).transpose(0, 3, 1, 2))
    return dx, dgamma, dbeta
