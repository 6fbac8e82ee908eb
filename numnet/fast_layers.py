"""Fast conv and max-pool layers under the course's names, in pure NumPy (no Cython build step).

Same signatures as the naive layers in ``numnet.layers``; the caches differ (they hold only what the
fast backward reads) and must be passed back to the matching fast backward. The course's other
entry points are aliases: ``conv_forward_strides`` / ``conv_forward_im2col`` (and their backward)
are ``conv_forward_fast`` (``conv_backward_fast``); the pooling variants likewise.
"""

from __future__ import annotations

from numnet._checks import check_shape
from numnet.backend import get_array_module
from numnet.kernels.conv import ConvCache, conv2d_backward, conv2d_forward
from numnet.kernels.conv_bn_relu import (
    ConvBNReluCache,
    conv_bn_relu_pool2d_backward,
    conv_bn_relu_pool2d_forward,
)
from numnet.kernels.conv_relu_pool import (
    ConvReluPoolCache,
    conv_relu_pool2d_backward,
    conv_relu_pool2d_forward,
)
from numnet.kernels.pool import PoolCache, max_pool2d_backward, max_pool2d_forward
from numnet.ops._conv_shapes import check_dout, conv_geometry, pool_dims, pool_geometry
from numnet.ops.batchnorm import bn_settings

__all__ = [
    "conv_backward_fast",
    "conv_bn_relu_pool_backward_fast",
    "conv_bn_relu_pool_forward_fast",
    "conv_backward_im2col",
    "conv_backward_strides",
    "conv_forward_fast",
    "conv_forward_im2col",
    "conv_forward_strides",
    "conv_relu_pool_backward_fast",
    "conv_relu_pool_forward_fast",
    "max_pool_backward_fast",
    "max_pool_backward_im2col",
    "max_pool_backward_reshape",
    "max_pool_forward_fast",
    "max_pool_forward_im2col",
    "max_pool_forward_reshape",
]


def conv_forward_fast(x, w, b, conv_param):
    """Convolution forward pass (im2col by batch chunks + GEMM).

    Args:
        x: input of shape (N, C, H, W).
        w: filters of shape (F, C, HH, WW).
        b: biases of shape (F,).
        conv_param: dict with ``'stride'`` (int >= 1) and ``'pad'`` (int >= 0, symmetric zeros).

    Returns:
        ``(out, cache)``: ``out`` of shape (N, F, H', W'), ``H' = 1 + (H + 2*pad - HH) / stride``
        (likewise W'), in ``result_type(x, w, b)`` (float32 stays float32); ``cache`` a
        ``numnet.kernels.ConvCache`` for ``conv_backward_fast``.

    Raises:
        ValueError: as ``conv_forward_naive`` (ndim, shapes, channels, conv_param, output size).
    """
    stride, pad, _, _ = conv_geometry(x, w, b, conv_param)
    return conv2d_forward(x, w, b, stride, pad)


def _check_cache(cache, kind, producer: str) -> None:
    if not isinstance(cache, kind):
        raise ValueError(
            f"cache must be the cache returned by {producer}, got {type(cache).__name__}"
        )


def conv_backward_fast(dout, cache, need_dx=True):
    """Convolution backward pass.

    Args:
        dout: upstream gradient of shape (N, F, H', W').
        cache: the cache from ``conv_forward_fast``.
        need_dx: numnet extra; False skips the input gradient (returned as None), as torch does for
            an input that does not require grad, e.g. the images fed to a network's first layer.

    Returns:
        ``(dx, dw, db)`` with the shapes and dtypes of ``x`` (N, C, H, W), ``w`` (F, C, HH, WW) and
        ``b`` (F,).

    Raises:
        ValueError: ``cache`` is not a conv_forward_fast cache, or ``dout`` has the wrong shape.
    """
    _check_cache(cache, ConvCache, "conv_forward_fast")
    check_dout(dout, cache.out_shape)
    return conv2d_backward(dout, cache, need_dx=need_dx)


def max_pool_forward_fast(x, pool_param):
    """Max-pooling forward pass (elementwise max over the window offsets).

    Windows may overlap or leave gaps; windows that do not tile x follow floor semantics (torch's
    ``ceil_mode=False``).

    Args:
        x: input of shape (N, C, H, W).
        pool_param: dict with ``'pool_height'``, ``'pool_width'`` and ``'stride'`` (ints >= 1).

    Returns:
        ``(out, cache)``: ``out`` of shape (N, C, H', W'), ``H' = 1 + (H - pool_height) // stride``
        (likewise W'), dtype of x; ``cache`` a ``numnet.kernels.PoolCache``.

    Raises:
        ValueError: as ``max_pool_forward_naive``.
    """
    ph, pw, stride, _, _ = pool_geometry(x, pool_param)
    return max_pool2d_forward(x, ph, pw, stride)


def max_pool_backward_fast(dout, cache):
    """Max-pooling backward pass; ties go to the first maximum of each window (row-major).

    Args:
        dout: upstream gradient of shape (N, C, H', W').
        cache: the cache from ``max_pool_forward_fast``.

    Returns:
        ``dx`` of shape (N, C, H, W), dtype of x.

    Raises:
        ValueError: ``cache`` is not a max_pool_forward_fast cache, or ``dout`` has the wrong shape.
    """
    _check_cache(cache, PoolCache, "max_pool_forward_fast")
    check_dout(dout, cache.out.shape)
    return max_pool2d_backward(dout, cache)


def conv_relu_pool_forward_fast(x, w, b, conv_param, pool_param):
    """Conv -> ReLU -> max pool, fused (the course's sandwich is ``conv_relu_pool_forward``).

    The sandwich lives in ``numnet.layer_utils``; this fused form is numnet's.

    Equal to the sandwich in value and gradient, but the conv and ReLU outputs (N, F, H', W') are
    never stored: each batch chunk is pooled while it is in cache, and the cache holds one byte per
    pooling window instead of two activation-sized arrays.

    Args:
        x: input of shape (N, C, H, W).
        w: filters of shape (F, C, HH, WW).
        b: biases of shape (F,).
        conv_param: dict with ``'stride'`` and ``'pad'``, as for ``conv_forward_fast``.
        pool_param: dict with ``'pool_height'``, ``'pool_width'`` and ``'stride'``, applied to the
            conv output of shape (N, F, H', W').

    Returns:
        ``(out, cache)``: ``out`` of shape (N, F, H'', W''), ``H'' = 1 + (H' - pool_height) //
        pool stride``; ``cache`` a ``numnet.kernels.ConvReluPoolCache``.

    Raises:
        ValueError: as ``conv_forward_fast`` and ``max_pool_forward_fast``.
    """
    stride, pad, H_out, W_out = conv_geometry(x, w, b, conv_param)
    ph, pw, ps, _, _ = pool_dims(H_out, W_out, pool_param)
    return conv_relu_pool2d_forward(x, w, b, stride, pad, ph, pw, ps)


def conv_relu_pool_backward_fast(dout, cache, need_dx=True):
    """Backward pass of ``conv_relu_pool_forward_fast``.

    Args:
        dout: upstream gradient of shape (N, F, H'', W'').
        cache: the cache from ``conv_relu_pool_forward_fast``.
        need_dx: False skips the input gradient (returned as None), e.g. for a first layer.

    Returns:
        ``(dx, dw, db)`` shaped like ``x``, ``w`` and ``b``, in their dtypes.

    Raises:
        ValueError: ``cache`` is not a conv_relu_pool_forward_fast cache, or ``dout`` has the
            wrong shape.
    """
    _check_cache(cache, ConvReluPoolCache, "conv_relu_pool_forward_fast")
    check_dout(dout, cache.out.shape)
    return conv_relu_pool2d_backward(dout, cache, need_dx=need_dx)


def conv_bn_relu_pool_forward_fast(x, w, b, gamma, beta, conv_param, bn_param, pool_param=None):
    """Conv -> spatial batch norm -> [max pool] -> ReLU, fused (numnet extra).

    The block of ``numnet.classifiers.convnet.ConvNet``, which pools before the ReLU (the two
    commute).

    Equal to ``conv_forward_fast`` -> ``spatial_batchnorm_forward`` -> [``max_pool_forward_fast``]
    -> ``relu_forward`` in value (the same operations in the same order) and gradient, but the
    batch norm output is never stored and the backward forms neither the pooling's nor the batch
    norm's input gradient (see ``numnet.kernels.conv_bn_relu``). Like
    ``spatial_batchnorm_forward`` it writes the running statistics back into ``bn_param``.

    Args:
        x: input of shape (N, C, H, W).
        w: filters of shape (F, C, HH, WW).
        b: conv biases of shape (F,).
        gamma: batch norm scale of shape (F,).
        beta: batch norm shift of shape (F,).
        conv_param: dict with ``'stride'`` and ``'pad'``, as for ``conv_forward_fast``.
        bn_param: as for ``spatial_batchnorm_forward`` (``mode`` 'train' or 'test', optional
            ``eps``, ``momentum``, ``running_mean``, ``running_var``).
        pool_param: None (no pooling) or a dict with ``'pool_height'``, ``'pool_width'`` and
            ``'stride'``, applied to the batch norm output of shape (N, F, H', W').

    Returns:
        ``(out, cache)``: ``out`` of shape (N, F, H', W'), or (N, F, H'', W'') with pooling, in
        ``result_type(x, w, b)``; ``cache`` a ``numnet.kernels.conv_bn_relu.ConvBNReluCache``.

    Raises:
        ValueError: as ``conv_forward_fast``, ``spatial_batchnorm_forward`` and
            ``max_pool_forward_fast``.
    """
    stride, pad, H_out, W_out = conv_geometry(x, w, b, conv_param)
    F = w.shape[0]
    check_shape("gamma", gamma, (F,))
    check_shape("beta", beta, (F,))
    xp = get_array_module(x, w, b)
    settings = bn_settings(xp, bn_param, F, xp.result_type(x, w, b))
    pool = None if pool_param is None else pool_dims(H_out, W_out, pool_param)[:3]
    out, cache, running_mean, running_var = conv_bn_relu_pool2d_forward(
        x, w, b, gamma, beta, stride, pad, settings, pool
    )
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def conv_bn_relu_pool_backward_fast(dout, cache, need_dx=True):
    """Backward pass of ``conv_bn_relu_pool_forward_fast``.

    Args:
        dout: upstream gradient shaped like the forward's output.
        cache: the cache from ``conv_bn_relu_pool_forward_fast``.
        need_dx: False skips the input gradient (returned as None), e.g. for a first layer.

    Returns:
        ``(dx, dw, db, dgamma, dbeta)`` shaped like ``x``, ``w``, ``b``, ``gamma`` and ``beta``,
        in their dtypes.

    Raises:
        ValueError: ``cache`` is not a conv_bn_relu_pool_forward_fast cache, or ``dout`` has the
            wrong shape.
    """
    _check_cache(cache, ConvBNReluCache, "conv_bn_relu_pool_forward_fast")
    check_dout(dout, cache.out.shape)
    return conv_bn_relu_pool2d_backward(dout, cache, need_dx=need_dx)


# The course's names for its two conv implementations and two pooling paths: one fast path here.
conv_forward_strides = conv_forward_im2col = conv_forward_fast
conv_backward_strides = conv_backward_im2col = conv_backward_fast
max_pool_forward_reshape = max_pool_forward_im2col = max_pool_forward_fast
max_pool_backward_reshape = max_pool_backward_im2col = max_pool_backward_fast
