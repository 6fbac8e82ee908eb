"""Spatial group normalisation: each sample's C channels split into G contiguous groups.

Each group is normalised over its (C/G)*H*W values (no running statistics), then a per-channel
scale and shift of shape (1, C, 1, 1) is applied, as in the course.
"""

from __future__ import annotations

from numnet._checks import check_floating, check_ndim, check_positive_int, check_shape
from numnet.ops._norm import normalize, normalize_backward

_GROUP_AXES = (2, 3, 4)


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """Spatial group normalisation forward pass.

    Args:
        x: input of shape (N, C, H, W).
        gamma: scale of shape (1, C, 1, 1).
        beta: shift of shape (1, C, 1, 1).
        G: number of groups; must divide C. Group g holds channels [g*C/G, (g+1)*C/G).
        gn_param: dict that may hold ``eps`` (default 1e-5); other keys are ignored.

    Returns:
        ``(out, cache)``: ``out`` of shape (N, C, H, W) in ``x.dtype``.

    Raises:
        ValueError: ``x`` is not 4-D floating, ``G`` is not a positive integer dividing C, or
            ``gamma``/``beta`` are not (1, C, 1, 1).
    """
    check_ndim("x", x, 4, "of shape (N, C, H, W)")
    check_floating("x", x)
    N, C, H, W = x.shape
    check_positive_int("G", G)
    if C % G:
        raise ValueError(f"G must divide the number of channels C={C}, got G={G}")
    check_shape("gamma", gamma, (1, C, 1, 1))
    check_shape("beta", beta, (1, C, 1, 1))
    eps = float(gn_param.get("eps", 1e-5))
    xhat_g, _, _, inv_std = normalize(x.reshape(N, G, C // G, H, W), _GROUP_AXES, eps)
    xhat = xhat_g.reshape(N, C, H, W)
    out = gamma * xhat + beta
    return out, (xhat, inv_std, gamma, G)


def spatial_groupnorm_backward(dout, cache):
    """Spatial group normalisation backward pass.

    Args:
        dout: upstream gradient of shape (N, C, H, W).
        cache: from ``spatial_groupnorm_forward``.

    Returns:
        ``(dx, dgamma, dbeta)`` of shapes (N, C, H, W), (1, C, 1, 1), (1, C, 1, 1); the 4-D
        parameter gradients match the course's numeric checks.
    """
    xhat, inv_std, gamma, G = cache
    N, C, H, W = dout.shape
    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)
    dgamma = (dout * xhat).sum(axis=(0, 2, 3), keepdims=True)
    shape_g = (N, G, C // G, H, W)
    dx_g = normalize_backward(
        (dout * gamma).reshape(shape_g), xhat.reshape(shape_g), inv_std, _GROUP_AXES
    )
    return dx_g.reshape(N, C, H, W), dgamma, dbeta
