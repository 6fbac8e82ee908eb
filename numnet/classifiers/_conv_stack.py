"""The conv layers of ``ConvNet``: ``{conv - [norm] - [2x2 max pool] - relu}`` per conv layer.

With batch norm (the recipes' nets) each layer is one fused block on channels-last activations
(``numnet.kernels.conv_bn_relu_nhwc``): the images are viewed channels-last (no copy for one
channel), every block reads and writes (N, H, W, C) arrays, and only the last block's output is
copied back to (N, C, H, W) for the fully connected layers, whose weights keep the course's
flattening order. Params, buffers and results are those of the layer-by-layer composition (to
float rounding); the layouts are internal to ``ConvNet.loss``.

Other normalisations run the course's layers one by one on (N, C, H, W) arrays. Either way the
backward releases each layer's cache as soon as it has run, so a step's peak memory is the
forward's caches plus one layer's backward scratch, not every cache until the step ends.

ReLU and max pool commute exactly (values and gradients): pooling first lets the ReLU touch 4x
fewer values.
"""

from __future__ import annotations

from numnet.backend import get_array_module
from numnet.fast_layers import (
    conv_backward_fast,
    conv_forward_fast,
    max_pool_backward_fast,
    max_pool_forward_fast,
)
from numnet.kernels.conv_bn_relu_nhwc import BlockCache, block_backward, block_forward
from numnet.layers import (
    relu_backward,
    relu_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
)
from numnet.ops.batchnorm import bn_settings

POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
_POOL_TUPLE = (2, 2, 2)


def conv_stack_forward(model, X, last: int, train: bool):
    """Conv layers 1..``last`` forward.

    Args:
        model: the ``ConvNet`` (params, bn_params, conv_param, normalization, groups, the
            layers' pooling flags ``_conv_pool``).
        X: (N, C, H, W) images in the model's dtype.
        last: how many conv layers to run (0..num_conv).
        train: whether a backward follows (False keeps no caches).

    Returns:
        ``(h, caches)``: h (N, F, H', W'), layer ``last``'s output (C-contiguous; ``X`` itself
        when ``last`` is 0); caches, one per layer run (None entries when not ``train``), for
        ``conv_stack_backward``.
    """
    if last == 0:
        return X, []
    if model.normalization == "batchnorm":
        return _fused_forward(model, X, last, train)
    p, norm = model.params, model.normalization is not None
    h, caches = X, []
    for i in range(1, last + 1):
        h, c_conv = conv_forward_fast(h, p[f"W{i}"], p[f"b{i}"], model.conv_param)
        c_norm = c_pool = None
        if norm:
            groups = model.groups if model.normalization == "groupnorm" else 1
            bp = model.bn_params[i - 1]
            h, c_norm = spatial_groupnorm_forward(h, p[f"gamma{i}"], p[f"beta{i}"], groups, bp)
        if model._conv_pool[i - 1]:
            h, c_pool = max_pool_forward_fast(h, POOL)
        h, c_relu = relu_forward(h)
        caches.append((c_conv, c_norm, c_pool, c_relu) if train else None)
    return h, caches


def _fused_forward(model, X, last: int, train: bool):
    p, pad = model.params, model.conv_param["pad"]
    xp = get_array_module(X)
    h, caches = X.transpose(0, 2, 3, 1), []
    for i in range(1, last + 1):
        bp = model.bn_params[i - 1]
        w = p[f"W{i}"]
        settings = bn_settings(xp, bp, w.shape[0], h.dtype)
        pool = _POOL_TUPLE if model._conv_pool[i - 1] else None
        h, cache, bp["running_mean"], bp["running_var"] = block_forward(
            h, w, p[f"b{i}"], p[f"gamma{i}"], p[f"beta{i}"], pad, settings, pool, train
        )
        caches.append(cache)
    return xp.ascontiguousarray(h.transpose(0, 3, 1, 2)), caches


def conv_stack_backward(model, dh, caches: list, grads: dict, first: int = 1) -> None:
    """The conv layers' backward down to layer ``first``: fills ``grads``, pops ``caches``.

    Args:
        model: the ``ConvNet``.
        dh: (N, F, H', W') gradient of the last conv layer's output.
        caches: from ``conv_stack_forward`` (train) over every conv layer; each is dropped
            once its backward has run.
        grads: dict to receive ``W{i}``, ``b{i}`` and, when normalised, ``gamma{i}``, ``beta{i}``.
        first: the lowest layer that gets gradients (layers below it are frozen); none of the
            conv layers when above ``num_conv``.
    """
    if model.num_conv < first:
        return
    norm = model.normalization is not None
    fused = model.normalization == "batchnorm"
    if fused:
        dh = dh.transpose(0, 2, 3, 1)
    for i in range(model.num_conv, first - 1, -1):
        cache = caches.pop()
        # The images (or a frozen layer's output) need no gradient: layer first skips its dx.
        if fused:
            dh, grads[f"W{i}"], grads[f"b{i}"], grads[f"gamma{i}"], grads[f"beta{i}"] = (
                block_backward(dh, cache, need_dx=i > first)
            )
            del cache
            continue
        c_conv, c_norm, c_pool, c_relu = cache
        del cache
        dh = relu_backward(dh, c_relu)
        if c_pool is not None:
            dh = max_pool_backward_fast(dh, c_pool)
        if norm:
            dh, grads[f"gamma{i}"], grads[f"beta{i}"] = spatial_groupnorm_backward(dh, c_norm)
        del c_relu, c_pool, c_norm
        dh, grads[f"W{i}"], grads[f"b{i}"] = conv_backward_fast(dh, c_conv, need_dx=i > first)


def conv_stack_activations(caches: list) -> list:
    """Each conv layer's output (after its ReLU) from a training forward's caches.

    Args:
        caches: ``conv_stack_forward``'s caches (train), not yet consumed by a backward.

    Returns:
        One (N, F, H', W') array per conv layer (the fused blocks' channels-last outputs
        viewed in that order).
    """
    out = []
    for cache in caches:
        if isinstance(cache, BlockCache):
            out.append(cache.out.transpose(0, 3, 1, 2))
        else:
            c_relu = cache[3]
            out.append(get_array_module(c_relu).maximum(c_relu, 0))
    return out
