"""The course's ``layer_utils.py``: "sandwich" layers built from the core ones.

As in the course, this module star-imports ``numnet.layers`` and ``numnet.fast_layers``, so
``from numnet.layer_utils import *`` also exposes every layer and the fast conv/pool functions.
Each sandwich forward returns ``(out, cache)`` with ``cache`` the tuple of its parts' caches; its
backward returns the gradients of the inner layers' inputs, in forward order. Normalisation
sandwiches use the closed-form ``batchnorm_backward_alt``. The conv sandwiches use the fast
kernels (``conv_forward_fast`` and friends).
"""

from numnet import fast_layers as _fast_layers
from numnet import layers as _layers
from numnet.fast_layers import *
from numnet.fast_layers import (
    conv_backward_fast,
    conv_forward_fast,
    max_pool_backward_fast,
    max_pool_forward_fast,
)
from numnet.layers import *
from numnet.layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward_alt,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
    relu_backward,
    relu_forward,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
)

_SANDWICHES = [
    "affine_relu_forward",
    "affine_relu_backward",
    "affine_batchnorm_relu_forward",
    "affine_batchnorm_relu_backward",
    "affine_layernorm_relu_forward",
    "affine_layernorm_relu_backward",
    "conv_relu_forward",
    "conv_relu_backward",
    "conv_relu_pool_forward",
    "conv_relu_pool_backward",
    "conv_bn_relu_forward",
    "conv_bn_relu_backward",
    "conv_batchnorm_relu_forward",
    "conv_batchnorm_relu_backward",
]
_FAST = [
    "conv_forward_fast",
    "conv_backward_fast",
    "max_pool_forward_fast",
    "max_pool_backward_fast",
]
__all__ = list(
    dict.fromkeys(
        [*_layers.__all__, *getattr(_fast_layers, "__all__", _FAST), *_FAST, *_SANDWICHES]
    )
)


def affine_relu_forward(x, w, b):
    """Affine -> ReLU.

    Args:
        x: input of shape (N, d_1, ..., d_k).
        w: weights of shape (D, M).
        b: biases of shape (M,).

    Returns:
        ``(out, cache)``: ``out`` of shape (N, M); ``cache = (fc_cache, relu_cache)``.
    """
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """Backward pass of ``affine_relu_forward``.

    Args:
        dout: upstream gradient of shape (N, M).
        cache: ``(fc_cache, relu_cache)``.

    Returns:
        ``(dx, dw, db)`` shaped like ``x``, ``w``, ``b``.
    """
    fc_cache, relu_cache = cache
    da = relu_backward(dout, relu_cache)
    return affine_backward(da, fc_cache)


def affine_batchnorm_relu_forward(x, w, b, gamma, beta, bn_param):
    """Affine -> batch norm -> ReLU.

    Args:
        x: input of shape (N, d_1, ..., d_k).
        w: weights of shape (D, M).
        b: biases of shape (M,).
        gamma: batch-norm scale of shape (M,).
        beta: batch-norm shift of shape (M,).
        bn_param: as for ``batchnorm_forward`` (running statistics are updated in it).

    Returns:
        ``(out, cache)``: ``out`` of shape (N, M); ``cache = (fc_cache, bn_cache, relu_cache)``.
    """
    a, fc_cache = affine_forward(x, w, b)
    an, bn_cache = batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(an)
    return out, (fc_cache, bn_cache, relu_cache)


def affine_batchnorm_relu_backward(dout, cache):
    """Backward pass of ``affine_batchnorm_relu_forward``.

    Args:
        dout: upstream gradient of shape (N, M).
        cache: ``(fc_cache, bn_cache, relu_cache)``.

    Returns:
        ``(dx, dw, db, dgamma, dbeta)``.
    """
    fc_cache, bn_cache, relu_cache = cache
    dan = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = batchnorm_backward_alt(dan, bn_cache)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db, dgamma, dbeta


def affine_layernorm_relu_forward(x, w, b, gamma, beta, ln_param):
    """Affine -> layer norm -> ReLU.

    Args:
        x: input of shape (N, d_1, ..., d_k).
        w: weights of shape (D, M).
        b: biases of shape (M,).
        gamma: layer-norm scale of shape (M,).
        beta: layer-norm shift of shape (M,).
        ln_param: as for ``layernorm_forward``.

    Returns:
        ``(out, cache)``: ``out`` of shape (N, M); ``cache = (fc_cache, ln_cache, relu_cache)``.
    """
    a, fc_cache = affine_forward(x, w, b)
    an, ln_cache = layernorm_forward(a, gamma, beta, ln_param)
    out, relu_cache = relu_forward(an)
    return out, (fc_cache, ln_cache, relu_cache)


def affine_layernorm_relu_backward(dout, cache):
    """Backward pass of ``affine_layernorm_relu_forward``.

    Args:
        dout: upstream gradient of shape (N, M).
        cache: ``(fc_cache, ln_cache, relu_cache)``.

    Returns:
        ``(dx, dw, db, dgamma, dbeta)``.
    """
    fc_cache, ln_cache, relu_cache = cache
    dan = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = layernorm_backward(dan, ln_cache)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db, dgamma, dbeta


def conv_relu_forward(x, w, b, conv_param):
    """Convolution -> ReLU.

    Args:
        x: input of shape (N, C, H, W).
        w: filters of shape (F, C, HH, WW).
        b: biases of shape (F,).
        conv_param: dict with ``stride`` and ``pad``.

    Returns:
        ``(out, cache)``: ``out`` of shape (N, F, H', W'); ``cache = (conv_cache, relu_cache)``.
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache):
    """Backward pass of ``conv_relu_forward``.

    Args:
        dout: upstream gradient of shape (N, F, H', W').
        cache: ``(conv_cache, relu_cache)``.

    Returns:
        ``(dx, dw, db)`` shaped like ``x``, ``w``, ``b``.
    """
    conv_cache, relu_cache = cache
    da = relu_backward(dout, relu_cache)
    return conv_backward_fast(da, conv_cache)


def conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, bn_param):
    """Convolution -> spatial batch norm -> ReLU.

    Args:
        x: input of shape (N, C, H, W).
        w: filters of shape (F, C, HH, WW).
        b: biases of shape (F,).
        gamma: batch-norm scale of shape (F,).
        beta: batch-norm shift of shape (F,).
        conv_param: dict with ``stride`` and ``pad``.
        bn_param: as for ``spatial_batchnorm_forward``.

    Returns:
        ``(out, cache)``: ``out`` of shape (N, F, H', W');
        ``cache = (conv_cache, bn_cache, relu_cache)``.
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    an, bn_cache = spatial_batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(an)
    return out, (conv_cache, bn_cache, relu_cache)


def conv_bn_relu_backward(dout, cache):
    """Backward pass of ``conv_bn_relu_forward``.

    Args:
        dout: upstream gradient of shape (N, F, H', W').
        cache: ``(conv_cache, bn_cache, relu_cache)``.

    Returns:
        ``(dx, dw, db, dgamma, dbeta)``.
    """
    conv_cache, bn_cache, relu_cache = cache
    dan = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = spatial_batchnorm_backward(dan, bn_cache)
    dx, dw, db = conv_backward_fast(da, conv_cache)
    return dx, dw, db, dgamma, dbeta


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """Convolution -> ReLU -> max pool.

    Args:
        x: input of shape (N, C, H, W).
        w: filters of shape (F, C, HH, WW).
        b: biases of shape (F,).
        conv_param: dict with ``stride`` and ``pad``.
        pool_param: dict with ``pool_height``, ``pool_width`` and ``stride``.

    Returns:
        ``(out, cache)``: ``out`` of shape (N, F, H'', W'');
        ``cache = (conv_cache, relu_cache, pool_cache)``.
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout, cache):
    """Backward pass of ``conv_relu_pool_forward``.

    Args:
        dout: upstream gradient of shape (N, F, H'', W'').
        cache: ``(conv_cache, relu_cache, pool_cache)``.

    Returns:
        ``(dx, dw, db)`` shaped like ``x``, ``w``, ``b``.
    """
    conv_cache, relu_cache, pool_cache = cache
    ds = max_pool_backward_fast(dout, pool_cache)
    da = relu_backward(ds, relu_cache)
    return conv_backward_fast(da, conv_cache)


# The conv_bn_relu sandwich under its spelled-out name (the same functions).
conv_batchnorm_relu_forward = conv_bn_relu_forward
conv_batchnorm_relu_backward = conv_bn_relu_backward
