"""A configurable convolutional network for real accuracy (numnet's own, not the course's).

Architecture::

    {[conv3x3 - norm - relu] x convs_per_stage - [2x2 max pool]} for each of conv_channels
    - {affine - norm - relu - [dropout]} for each of hidden_dims
    - affine - softmax

The default is the Fashion-MNIST recipe's network, about 422k params::

    conv3x3(32)-BN-relu-pool - conv3x3(64)-BN-relu-pool - fc(128)-BN-relu - fc(10)

Dropout is off by default: the default recipe (``configs/default.toml``) trains for 5 epochs, and
over so short a schedule dropout only slows convergence. In torch with this exact net, Adam and a
cosine schedule, 3 epochs without dropout reached 92.7% Fashion-MNIST test accuracy and 4 epochs
with ``dropout_keep_ratio=0.5`` 92.6%. Turn it on (0.5) for longer runs (``configs/long.toml``).

Layers are numbered 1..L in that order: ``W{i}``, ``b{i}`` for every layer and, with
normalisation, ``gamma{i}``/``beta{i}`` for every layer but the last; batchnorm's running
statistics are the buffers ``bn{i}.running_mean`` / ``bn{i}.running_var``.

Normalisation (``normalization``):

* ``"batchnorm"``: spatial batchnorm after convs, batchnorm after affines; ``gamma`` ``(C,)``.
* ``"groupnorm"``: spatial group norm with ``groups`` groups after convs (``gamma`` ``(1, C, 1, 1)``
  as in the course), layer norm after affines (group norm over a feature vector with one group).
* ``"layernorm"``: the same with one group everywhere.
* ``None``: no normalisation.

The hidden affine blocks and the output layer are the fully connected stack of
``numnet.classifiers._affine_stack`` (as in ``FullyConnectedNet``); with ``"groupnorm"`` or
``"layernorm"`` its blocks use layer norm.

Randomness: ``rng=None`` draws weights and dropout masks from NumPy's global state (the course's
convention); an int seed or a Generator becomes ``model.rng``, which draws the weights and a fresh
dropout mask every call, and the global state is never touched. ``seed`` is the deprecated name
of ``rng``.
"""

from __future__ import annotations

import numpy as np

from numnet._checks import check_choice, check_positive_int
from numnet._names import CONV_NORMALIZATIONS
from numnet.classifiers._affine_stack import (
    affine_stack_backward,
    affine_stack_forward,
    hidden_stack_forward,
    stack_activations,
)
from numnet.classifiers._conv_stack import (
    conv_stack_activations,
    conv_stack_backward,
    conv_stack_forward,
)
from numnet.classifiers.base import (
    Model,
    check_feature_layer,
    check_keep_ratio,
    check_param_budget,
    dtype_name,
    int_list,
    rng_arg,
)
from numnet.classifiers.cnn import check_images, check_input_dim
from numnet.initializers import check_scheme, init_weight
from numnet.layers import softmax_loss

#: The norm of the hidden affine blocks for each ``normalization``.
_AFFINE_NORM = {
    None: None,
    "batchnorm": "batchnorm",
    "groupnorm": "layernorm",
    "layernorm": "layernorm",
}


class ConvNet(Model):
    """Configurable conv net: conv stages, hidden affine blocks, softmax (see the module docstring).

    Args:
        input_dim: ``(C, H, W)`` of one image, e.g. ``(1, 28, 28)`` or ``(3, 32, 32)``.
        conv_channels: filters of each stage's convs; ``()`` gives a fully connected net.
        convs_per_stage: conv layers per stage (all with that stage's channel count).
        filter_size: odd kernel size; stride 1 and padding ``(filter_size - 1) // 2`` keep H, W.
        pool: 2x2 max pool (stride 2) after every stage; H and W must then be even before each
            pool.
        hidden_dims: sizes of the hidden affine blocks.
        num_classes: number of classes.
        normalization: None, ``"batchnorm"``, ``"groupnorm"`` or ``"layernorm"``.
        groups: groups of the conv layers' group norm; must divide every conv channel count.
        dropout_keep_ratio: keep probability of the dropout after each hidden affine block, in
            (0, 1]; 1 means no dropout.
        reg: L2 strength on every ``W``.
        init: ``"kaiming"`` (default), ``"xavier"``, ``"gaussian"`` (needs ``weight_scale``), ...
        weight_scale: std of the ``"gaussian"`` init; unused by the other schemes.
        dtype: params and computation dtype (float32 to train, float64 to check gradients).
        rng: None (global NumPy), an int seed or a Generator: ``model.rng`` (init and dropout
            masks).
        seed: deprecated name of ``rng`` (DeprecationWarning).
    """

    renamed_config_keys = (("seed", "rng"),)

    def __init__(
        self,
        input_dim=(1, 28, 28),
        conv_channels=(32, 64),
        convs_per_stage=1,
        filter_size=3,
        pool=True,
        hidden_dims=(128,),
        num_classes=10,
        normalization="batchnorm",
        groups=8,
        dropout_keep_ratio=1.0,
        reg=0.0,
        init="kaiming",
        weight_scale=None,
        dtype=np.float32,
        rng=None,
        *,
        seed=None,
    ):
        c, h, w = check_input_dim(input_dim)
        channels = int_list("conv_channels", conv_channels)
        hidden = int_list("hidden_dims", hidden_dims)
        for name, v in (("convs_per_stage", convs_per_stage), ("filter_size", filter_size)):
            check_positive_int(name, v)
        check_positive_int("num_classes", num_classes)
        check_positive_int("groups", groups)
        if filter_size % 2 != 1:
            raise ValueError(f"filter_size must be odd to preserve H and W, got {filter_size}")
        if not isinstance(pool, bool):
            raise ValueError(f"pool must be True or False, got {pool!r}")
        check_choice("normalization", normalization, CONV_NORMALIZATIONS)
        keep = check_keep_ratio(dropout_keep_ratio)
        check_scheme(init)
        if normalization == "groupnorm":
            bad = [ch for ch in channels if ch % groups]
            if bad:
                raise ValueError(f"groups={groups} must divide every conv channel count, got {bad}")
        if pool:
            size = (h, w)
            for stage in range(len(channels)):
                if size[0] % 2 or size[1] % 2:
                    raise ValueError(
                        f"input_dim {(c, h, w)} cannot be pooled {len(channels)} times: "
                        f"stage {stage + 1} sees H, W = {size}, which a 2x2 pool does not tile"
                    )
                size = (size[0] // 2, size[1] // 2)
        gen, rng_config = rng_arg(rng, seed, "ConvNet")
        super().__init__(reg, dtype, gen)
        self._config = dict(
            input_dim=[c, h, w],
            conv_channels=channels,
            convs_per_stage=int(convs_per_stage),
            filter_size=int(filter_size),
            pool=pool,
            hidden_dims=hidden,
            num_classes=int(num_classes),
            normalization=normalization,
            groups=int(groups),
            dropout_keep_ratio=keep,
            reg=self.reg,
            init=init,
            weight_scale=None if weight_scale is None else float(weight_scale),
            dtype=dtype_name(dtype),
            rng=rng_config,
        )
        self.input_dim, self.num_classes = (c, h, w), int(num_classes)
        self.normalization = normalization
        self.groups = int(groups)
        self.use_dropout = keep != 1
        self.conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}

        # One entry per conv layer: whether a pool follows it.
        self._conv_pool = []
        for _ in channels:
            self._conv_pool += [False] * (convs_per_stage - 1) + [pool]
        self.num_conv = len(self._conv_pool)
        self.num_layers = self.num_conv + len(hidden) + 1
        conv_out = [ch for ch in channels for _ in range(convs_per_stage)]
        hh, ww = (h >> len(channels), w >> len(channels)) if pool else (h, w)
        flat = (conv_out[-1] if conv_out else c) * hh * ww

        shapes = []
        prev = c
        for ch in conv_out:
            shapes.append((ch, prev, filter_size, filter_size))
            prev = ch
        prev = flat
        for d in [*hidden, num_classes]:
            shapes.append((prev, d))
            prev = d
        norm = normalization is not None
        self.bn_params = []
        check_param_budget(shapes)
        for i, shape in enumerate(shapes, start=1):
            self.params[f"W{i}"] = init_weight(shape, init, weight_scale, gen).astype(self.dtype)
            out = shape[0] if len(shape) == 4 else shape[1]
            self.params[f"b{i}"] = np.zeros(out, dtype=self.dtype)
            if norm and i < self.num_layers:
                gshape = (1, out, 1, 1) if len(shape) == 4 and normalization != "batchnorm" else out
                self.params[f"gamma{i}"] = np.ones(gshape, dtype=self.dtype)
                self.params[f"beta{i}"] = np.zeros(gshape, dtype=self.dtype)
                bp = {"mode": "train"}
                if normalization == "batchnorm":
                    bp["running_mean"] = np.zeros(out, dtype=self.dtype)
                    bp["running_var"] = np.zeros(out, dtype=self.dtype)
                self.bn_params.append(bp)
        self._bn_layers = tuple(range(1, len(self.bn_params) + 1))

        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": keep}
            if gen is not None:
                self.dropout_param["rng"] = gen

    def loss(self, X, y=None):
        """Scores, or loss and gradients, for a minibatch.

        Args:
            X: ``(N, C, H, W)`` images; cast to ``dtype``.
            y: ``(N,)`` integer labels in ``[0, num_classes)``, or None for test mode.

        Returns:
            ``y is None``: scores ``(N, num_classes)``. Else ``(loss, grads)``: scalar loss (softmax
            plus ``0.5*reg*sum(W**2)`` over every ``W``) and gradients shaped like ``params``.
        """
        X = check_images(X, self.dtype, self.input_dim, self.xp)
        mode = "test" if y is None else "train"
        if y is not None:
            y = self._labels(y, X.shape[0])
        self._set_modes(mode)

        p, L = self.params, self.num_layers
        h, caches = conv_stack_forward(self, X, self.num_conv, train=y is not None)
        scores, c_fc = affine_stack_forward(
            h,
            p,
            range(self.num_conv + 1, L + 1),
            _AFFINE_NORM[self.normalization],
            self.bn_params,
            self.dropout_param if self.use_dropout else None,
        )
        del h
        if y is None:
            return scores
        if self.keep_activations:
            self._kept_forward = (caches, c_fc)

        loss, dscores = softmax_loss(scores, y, labels_checked=True)
        # Frozen layers below the first trainable one need no gradient (see Model.freeze).
        first = self.first_trainable_layer()
        dh, grads = affine_stack_backward(dscores, c_fc, need_dx=first <= self.num_conv)
        del c_fc
        # The backward drops each cache once used; kept activations need the whole list.
        conv_stack_backward(
            self, dh, list(caches) if self.keep_activations else caches, grads, first
        )
        loss = self._with_l2(loss, grads, [f"W{i}" for i in range(1, L + 1)])
        return loss, grads

    def _activations_from(self, kept):
        caches, c_fc = kept
        out = {f"layer{i}": ("relu", a) for i, a in enumerate(conv_stack_activations(caches), 1)}
        return {**out, **stack_activations(c_fc)}

    def _set_modes(self, mode: str) -> None:
        self.set_norm_modes(mode)
        if self.use_dropout:
            self.dropout_param["mode"] = mode

    def features(self, X, layer=None):
        """Test-mode output of layer ``layer``, flattened: the input of layer ``layer + 1``.

        Args:
            X: ``(N, C, H, W)`` images; cast to ``dtype``.
            layer: 1..L-1; None for L-1, the penultimate layer (the head's input).

        Returns:
            ``(N, D)`` features: after the layer's norm, pool and relu (hidden affine layers:
            after relu; dropout is off in test mode).
        """
        layer = check_feature_layer(layer, self.num_layers)
        X = check_images(X, self.dtype, self.input_dim, self.xp)
        self._set_modes("test")
        h, _ = conv_stack_forward(self, X, min(layer, self.num_conv), train=False)
        if layer > self.num_conv:
            h, _ = hidden_stack_forward(
                h,
                self.params,
                range(self.num_conv + 1, layer + 1),
                _AFFINE_NORM[self.normalization],
                self.bn_params,
                self.dropout_param if self.use_dropout else None,
            )
        return h.reshape(h.shape[0], -1)
