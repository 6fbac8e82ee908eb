"""Layer normalisation: each sample (row) normalised over its D features; no running statistics."""

from __future__ import annotations

from numnet._checks import check_floating, check_ndim, check_shape
from numnet.ops._norm import normalize, normalize_backward


def layernorm_forward(x, gamma, beta, ln_param):
    """Layer normalisation forward pass (identical at train and test time).

    Args:
        x: input of shape (N, D).
        gamma: scale of shape (D,).
        beta: shift of shape (D,).
        ln_param: dict that may hold ``eps`` (default 1e-5); other keys (the course passes
            ``{'mode': 'train'}``) are ignored.

    Returns:
        ``(out, cache)``: ``out`` of shape (N, D) in ``x.dtype``.

    Raises:
        ValueError: ``x`` is not 2-D floating, or ``gamma``/``beta`` are not (D,).
    """
    check_ndim("x", x, 2, "of shape (N, D)")
    check_floating("x", x)
    D = x.shape[1]
    check_shape("gamma", gamma, (D,))
    check_shape("beta", beta, (D,))
    eps = float(ln_param.get("eps", 1e-5))
    xhat, _, _, inv_std = normalize(x, 1, eps)
    out = gamma * xhat + beta
    return out, (xhat, inv_std, gamma)


def layernorm_backward(dout, cache):
    """Layer normalisation backward pass.

    Args:
        dout: upstream gradient of shape (N, D).
        cache: from ``layernorm_forward``.

    Returns:
        ``(dx, dgamma, dbeta)`` of shapes (N, D), (D,), (D,).
    """
    xhat, inv_std, gamma = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dx = normalize_backward(dout * gamma, xhat, inv_std, 1)
    return dx, dgamma, dbeta
