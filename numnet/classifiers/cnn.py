"""The course's ``ThreeLayerConvNet``: conv - relu - 2x2 pool - affine - relu - affine - softmax.

Built from the fast layers (the fused ``conv_relu_pool_forward_fast``) and ``affine_relu_forward``.
Like the course's ``cnn.py`` this module star-imports ``numnet.layers``, ``numnet.fast_layers`` and
``numnet.layer_utils``.

Departure from the course skeleton: ``loss`` casts ``X`` to ``dtype`` (the skeleton did not, so a
float64 batch against float32 weights silently computed in float64).
"""

from __future__ import annotations

import numpy as np

from numnet._checks import check_positive_int
from numnet.backend import get_array_module
from numnet.classifiers.base import (
    Model,
    check_feature_layer,
    check_param_budget,
    dtype_name,
    rng_arg,
)
from numnet.fast_layers import *
from numnet.initializers import check_scheme, init_weight
from numnet.layer_utils import *
from numnet.layers import *


def check_input_dim(input_dim) -> tuple[int, int, int]:
    """``input_dim`` as a ``(C, H, W)`` tuple of positive ints."""
    try:
        dims = tuple(input_dim)
    except TypeError:
        dims = ()
    if len(dims) != 3:
        raise ValueError(f"input_dim must be (C, H, W), got {input_dim!r}")
    for name, v in zip(("C", "H", "W"), dims):
        check_positive_int(f"input_dim {name}", v)
    return tuple(int(v) for v in dims)


def check_images(X, dtype, input_dim, xp=None) -> np.ndarray:
    """``X`` as an ``(N, C, H, W)`` array of ``dtype`` matching ``input_dim`` (no needless copy).

    ``xp``: the array module to put it in (a model's); None keeps ``X``'s own.
    """
    X = (get_array_module(X) if xp is None else xp).asarray(X, dtype=dtype)
    if X.ndim != 4 or X.shape[1:] != tuple(input_dim):
        c, h, w = input_dim
        raise ValueError(f"X must have shape (N, {c}, {h}, {w}), got {X.shape}")
    return X


class ThreeLayerConvNet(Model):
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax.

    Params: ``W1 (F, C, fs, fs)``, ``b1 (F,)``, ``W2 (F*(H/2)*(W/2), hidden_dim)``, ``b2``,
    ``W3 (hidden_dim, num_classes)``, ``b3``; drawn in that order (the course's).
    The conv keeps H and W (stride 1, pad ``(fs - 1) // 2``); the pool halves them.

    Args:
        input_dim: ``(C, H, W)``; H and W even so the 2x2 pool tiles them.
        num_filters: F. filter_size: fs, odd so the padding preserves H and W.
        hidden_dim: size of the hidden affine layer. num_classes: C.
        weight_scale: std of the ``"gaussian"`` init. reg: L2 strength.
        dtype: params and computation dtype.
        init: numnet extra, a scheme of ``numnet.initializers``.
        rng: numnet extra: None for the course's global NumPy draws, else an int seed or a
            Generator: the model's ``model.rng``, which draws the init.
        seed: deprecated name of ``rng`` (DeprecationWarning).
    """

    renamed_config_keys = (("seed", "rng"),)

    def __init__(
        self,
        input_dim=(3, 32, 32),
        num_filters=32,
        filter_size=7,
        hidden_dim=100,
        num_classes=10,
        weight_scale=1e-3,
        reg=0.0,
        dtype=np.float32,
        *,
        init="gaussian",
        rng=None,
        seed=None,
    ):
        c, h, w = check_input_dim(input_dim)
        for name, v in (("num_filters", num_filters), ("filter_size", filter_size)):
            check_positive_int(name, v)
        check_positive_int("hidden_dim", hidden_dim)
        check_positive_int("num_classes", num_classes)
        if filter_size % 2 != 1:
            raise ValueError(f"filter_size must be odd to preserve H and W, got {filter_size}")
        if h % 2 or w % 2:
            raise ValueError(f"input_dim H and W must be even for the 2x2 pool, got {(h, w)}")
        check_scheme(init)
        gen, rng_config = rng_arg(rng, seed, "ThreeLayerConvNet")
        super().__init__(reg, dtype, gen)
        self._config = dict(
            input_dim=[c, h, w],
            num_filters=int(num_filters),
            filter_size=int(filter_size),
            hidden_dim=int(hidden_dim),
            num_classes=int(num_classes),
            weight_scale=None if weight_scale is None else float(weight_scale),
            reg=self.reg,
            dtype=dtype_name(dtype),
            init=init,
            rng=rng_config,
        )
        self.input_dim, self.num_classes = (c, h, w), int(num_classes)
        self.filter_size = int(filter_size)
        f = int(num_filters)
        shapes = [(f, c, filter_size, filter_size), (f * (h // 2) * (w // 2), hidden_dim)]
        shapes.append((hidden_dim, num_classes))
        check_param_budget(shapes)
        for i, shape in enumerate(shapes, start=1):
            self.params[f"W{i}"] = init_weight(shape, init, weight_scale, gen).astype(self.dtype)
            self.params[f"b{i}"] = np.zeros(shape[0] if i == 1 else shape[1], dtype=self.dtype)

    def loss(self, X, y=None):
        """Scores, or loss and gradients, for a minibatch.

        Args:
            X: ``(N, C, H, W)``; cast to ``dtype``.
            y: ``(N,)`` integer labels in ``[0, num_classes)``, or None.

        Returns:
            ``y is None``: scores ``(N, num_classes)``. Else ``(loss, grads)``: scalar loss
            (softmax plus ``0.5*reg*sum`` of the squared W1..W3) and gradients shaped like params.
        """
        X = check_images(X, self.dtype, self.input_dim, self.xp)
        if y is not None:
            y = self._labels(y, X.shape[0])
        p = self.params
        conv_param = {"stride": 1, "pad": (self.filter_size - 1) // 2}
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

        # The fused kernel never stores the conv and relu outputs; same values and gradients.
        h1, cache1 = conv_relu_pool_forward_fast(X, p["W1"], p["b1"], conv_param, pool_param)
        h2, cache2 = affine_relu_forward(h1, p["W2"], p["b2"])
        scores, cache3 = affine_forward(h2, p["W3"], p["b3"])
        if y is None:
            return scores
        if self.keep_activations:
            self._kept_forward = cache2

        loss, dscores = softmax_loss(scores, y, labels_checked=True)
        grads = {}
        dh2, grads["W3"], grads["b3"] = affine_backward(dscores, cache3)
        dh1, grads["W2"], grads["b2"] = affine_relu_backward(dh2, cache2)
        # The images' gradient is never needed, so it is never computed.
        _, grads["W1"], grads["b1"] = conv_relu_pool_backward_fast(dh1, cache1, need_dx=False)
        loss = self._with_l2(loss, grads, ("W1", "W2", "W3"))
        return loss, grads

    def _activations_from(self, kept):
        # The fused conv-relu-pool stores no conv output; its pooled ReLU output is the next
        # layer's input, which the affine-relu cache holds as (fc_cache, relu_cache).
        (h1, _, _), relu_in = kept
        xp = get_array_module(relu_in)
        return {"layer1": ("relu", h1), "layer2": ("relu", xp.maximum(relu_in, 0))}

    def features(self, X, layer=None):
        """Output of layer ``layer``, flattened: the input of layer ``layer + 1``.

        Args:
            X: ``(N, C, H, W)``; cast to ``dtype``.
            layer: 1 (conv - relu - pool, ``(N, F * H/2 * W/2)``), 2 or None (the hidden
                affine - relu, ``(N, hidden_dim)``: the head's input).
        """
        layer = check_feature_layer(layer, 3)
        X = check_images(X, self.dtype, self.input_dim, self.xp)
        p = self.params
        conv_param = {"stride": 1, "pad": (self.filter_size - 1) // 2}
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        h, _ = conv_relu_pool_forward_fast(X, p["W1"], p["b1"], conv_param, pool_param)
        if layer == 2:
            h, _ = affine_relu_forward(h, p["W2"], p["b2"])
        return h.reshape(h.shape[0], -1)
