"""Fully connected networks: the course's ``TwoLayerNet`` and ``FullyConnectedNet``.

As in the course, this module star-imports ``numnet.layers`` and ``numnet.layer_utils``, so
``from numnet.classifiers.fc_net import *`` also brings every layer function into scope (the
notebooks call ``affine_forward``, ``batchnorm_backward_alt``, ``dropout_forward``, ... as bare
names after that one import).

Randomness (course first, numnet beside it):

* No ``seed``/``rng``: weights are ``weight_scale * np.random.randn(...)`` on NumPy's global state
  in layer order (W1, W2, ...), dropout masks come from the global state: the course exactly.
* ``rng=<int or np.random.Generator>`` (both models): numnet's own randomness. The Generator
  (kept as ``model.rng``) draws the weights and, in ``FullyConnectedNet``, through
  ``dropout_param['rng']`` a fresh dropout mask on every call; the global state is never touched.
* ``FullyConnectedNet(seed=<int>)``: the course's meaning, which its notebooks rely on.
  Weights come from the global state, and ``dropout_param['seed'] = seed`` makes every
  dropout call re-seed the global state, i.e. the *same* mask on every call. That is what the
  notebooks' gradient checks need; it is not what training wants. ``seed`` and ``rng`` cannot be
  combined.
* ``TwoLayerNet(seed=<int>)`` is the deprecated name of ``TwoLayerNet(rng=<int>)`` (the course's
  ``TwoLayerNet`` has no seed).

Both models are the shared fully connected stack of ``numnet.classifiers._affine_stack``.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from numnet._checks import check_choice, check_positive_int
from numnet._names import FC_NORMALIZATIONS
from numnet._random import as_generator
from numnet.backend import get_array_module
from numnet.classifiers._affine_stack import (
    affine_stack_backward,
    affine_stack_forward,
    hidden_stack_forward,
    stack_activations,
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
from numnet.initializers import check_scheme, init_weight
from numnet.layer_utils import *
from numnet.layers import *

NORMALIZATIONS = FC_NORMALIZATIONS


def check_X(X, dtype, input_dim, xp=None) -> np.ndarray:
    """``X`` as an array of ``dtype``, checked to be ``(N, *)`` with ``prod(*) == input_dim``.

    No copy is made when ``X`` already is such an array. ``xp``: the array module to put it in (a
    model's: a host batch goes to the model's GPU); None keeps ``X``'s own.

    Raises:
        ValueError: ``X`` has fewer than 2 dimensions or the wrong number of features per row.
    """
    X = (get_array_module(X) if xp is None else xp).asarray(X, dtype=dtype)
    if X.ndim < 2 or int(np.prod(X.shape[1:])) != input_dim:
        raise ValueError(
            f"X must have shape (N, ...) with {input_dim} features per row, got shape {X.shape}"
        )
    return X


class TwoLayerNet(Model):
    """affine - relu - affine - softmax, with L2 on the weights.

    Params: ``W1 (D, H)``, ``b1 (H,)``, ``W2 (H, C)``, ``b2 (C,)``.

    Args:
        input_dim: D. hidden_dim: H. num_classes: C.
        weight_scale: std of the ``"gaussian"`` init.
        reg: L2 strength.
        dtype: numnet extra; the course's float64 by default.
        init: numnet extra, a scheme of ``numnet.initializers``.
        rng: numnet extra: None draws from NumPy's global state as the course does; an int seed
            or a Generator becomes ``model.rng``, which draws the init.
        seed: deprecated name of ``rng`` (DeprecationWarning).
    """

    renamed_config_keys = (("seed", "rng"),)

    def __init__(
        self,
        input_dim=3 * 32 * 32,
        hidden_dim=100,
        num_classes=10,
        weight_scale=1e-3,
        reg=0.0,
        *,
        dtype=np.float64,
        init="gaussian",
        rng=None,
        seed=None,
    ):
        for name, v in (("input_dim", input_dim), ("hidden_dim", hidden_dim)):
            check_positive_int(name, v)
        check_positive_int("num_classes", num_classes)
        check_scheme(init)
        gen, rng_config = rng_arg(rng, seed, "TwoLayerNet")
        super().__init__(reg, dtype, gen)
        self._config = dict(
            input_dim=int(input_dim),
            hidden_dim=int(hidden_dim),
            num_classes=int(num_classes),
            weight_scale=None if weight_scale is None else float(weight_scale),
            reg=self.reg,
            dtype=dtype_name(dtype),
            init=init,
            rng=rng_config,
        )
        self.input_dim, self.num_classes = int(input_dim), int(num_classes)
        dims = [self.input_dim, int(hidden_dim), self.num_classes]
        check_param_budget(pairwise(dims))
        for i in (1, 2):
            w = init_weight((dims[i - 1], dims[i]), init, weight_scale, gen)
            self.params[f"W{i}"] = w.astype(self.dtype)
            self.params[f"b{i}"] = np.zeros(dims[i], dtype=self.dtype)

    def loss(self, X, y=None):
        """Scores, or loss and gradients, for a minibatch.

        Args:
            X: ``(N, d_1, ..., d_k)`` with ``prod(d_i) == D``.
            y: ``(N,)`` integer labels in ``[0, C)``, or None.

        Returns:
            ``y is None``: scores ``(N, C)``. Else ``(loss, grads)``: scalar loss (softmax plus
            ``0.5*reg*(sum(W1**2) + sum(W2**2))``) and a dict of gradients shaped like ``params``.
        """
        X = check_X(X, self.dtype, self.input_dim, self.xp)
        scores, cache = affine_stack_forward(X, self.params, (1, 2), None, [], None)
        if y is None:
            return scores
        y = self._labels(y, X.shape[0])
        if self.keep_activations:
            self._kept_forward = cache
        loss, dscores = softmax_loss(scores, y, labels_checked=True)
        _, grads = affine_stack_backward(dscores, cache, need_dx=False)
        loss = self._with_l2(loss, grads, ("W1", "W2"))
        return loss, grads

    def _activations_from(self, kept):
        return stack_activations(kept)

    def features(self, X, layer=None):
        """Test-mode output of the hidden layer (after relu), ``(N, H)``: the head's input.

        Args:
            X: ``(N, d_1, ..., d_k)`` with ``prod(d_i) == D``.
            layer: 1 or None (the only hidden layer).
        """
        check_feature_layer(layer, 2)
        X = check_X(X, self.dtype, self.input_dim, self.xp)
        h, _ = hidden_stack_forward(X.reshape(X.shape[0], -1), self.params, (1,), None, [], None)
        return h


class FullyConnectedNet(Model):
    """``{affine - [batch/layer norm] - relu - [dropout]} x (L - 1) - affine - softmax``.

    Params: ``W1..WL``, ``b1..bL``, and with normalisation ``gamma1..gamma{L-1}`` (ones) and
    ``beta1..beta{L-1}`` (zeros). Course attributes: ``normalization``, ``use_dropout``, ``reg``,
    ``num_layers`` (= L), ``dtype``, ``params``, ``dropout_param`` (one dict shared by every
    dropout layer), ``bn_params`` (``bn_params[i]`` feeds norm layer i + 1; batchnorm's hold the
    running statistics, pre-filled with zeros as the layer's own default would be).

    Args:
        hidden_dims: list of the L - 1 hidden sizes.
        input_dim: D. num_classes: C.
        dropout_keep_ratio: keep probability in (0, 1]; 1 means no dropout.
        normalization: None, ``"batchnorm"`` or ``"layernorm"``.
        reg: L2 strength. weight_scale: std of the ``"gaussian"`` init.
        dtype: params and computation dtype (float32 to train, float64 to check gradients).
        seed: the course's fixed-dropout-mask seed (see the module docstring).
        dropout: the 2019-20 course name of ``dropout_keep_ratio``; give one of the two.
        init: a scheme of ``numnet.initializers``.
        rng: numnet's randomness: an int seed or a Generator (see the module docstring).
    """

    def __init__(
        self,
        hidden_dims,
        input_dim=3 * 32 * 32,
        num_classes=10,
        dropout_keep_ratio=1,
        normalization=None,
        reg=0.0,
        weight_scale=1e-2,
        dtype=np.float32,
        seed=None,
        *,
        dropout=None,
        init="gaussian",
        rng=None,
    ):
        if dropout is not None:
            if dropout_keep_ratio != 1:
                raise ValueError(
                    "give dropout_keep_ratio or its older name dropout, not both "
                    f"(got dropout_keep_ratio={dropout_keep_ratio!r}, dropout={dropout!r})"
                )
            dropout_keep_ratio = dropout
        keep = check_keep_ratio(dropout_keep_ratio)
        hidden = int_list("hidden_dims", hidden_dims)
        check_positive_int("input_dim", input_dim)
        check_positive_int("num_classes", num_classes)
        check_choice("normalization", normalization, NORMALIZATIONS)
        check_scheme(init)
        if seed is not None and rng is not None:
            raise ValueError(
                "give seed (the course's fixed dropout mask) or rng (numnet's Generator), not both"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"seed must be None or an int, got {seed!r}")
        gen = as_generator(rng)
        super().__init__(reg, dtype, gen)
        self._config = dict(
            hidden_dims=hidden,
            input_dim=int(input_dim),
            num_classes=int(num_classes),
            dropout_keep_ratio=keep,
            normalization=normalization,
            reg=self.reg,
            weight_scale=None if weight_scale is None else float(weight_scale),
            dtype=dtype_name(dtype),
            seed=None if seed is None else int(seed),
            init=init,
            rng=int(rng) if isinstance(rng, (int, np.integer)) else None,
        )
        self.normalization = normalization
        self.use_dropout = keep != 1
        self.num_layers = 1 + len(hidden)
        self.input_dim, self.num_classes = int(input_dim), int(num_classes)

        dims = [self.input_dim, *hidden, self.num_classes]
        check_param_budget(pairwise(dims))
        for i in range(1, self.num_layers + 1):
            w = init_weight((dims[i - 1], dims[i]), init, weight_scale, gen)
            self.params[f"W{i}"] = w.astype(self.dtype)
            self.params[f"b{i}"] = np.zeros(dims[i], dtype=self.dtype)
            if normalization is not None and i < self.num_layers:
                self.params[f"gamma{i}"] = np.ones(dims[i], dtype=self.dtype)
                self.params[f"beta{i}"] = np.zeros(dims[i], dtype=self.dtype)

        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": keep}
            if seed is not None:
                self.dropout_param["seed"] = int(seed)
            if gen is not None:
                self.dropout_param["rng"] = gen
        self.bn_params = []
        if normalization == "batchnorm":
            self.bn_params = [
                {
                    "mode": "train",
                    "running_mean": np.zeros(d, dtype=self.dtype),
                    "running_var": np.zeros(d, dtype=self.dtype),
                }
                for d in hidden
            ]
        elif normalization == "layernorm":
            self.bn_params = [{} for _ in hidden]
        self._bn_layers = tuple(range(1, self.num_layers))

    def loss(self, X, y=None):
        """Scores, or loss and gradients, for a minibatch.

        Args:
            X: ``(N, d_1, ..., d_k)`` with ``prod(d_i) == D``; cast to ``dtype``.
            y: ``(N,)`` integer labels in ``[0, C)``, or None for test mode.

        Returns:
            ``y is None``: scores ``(N, C)``. Else ``(loss, grads)``: scalar loss (softmax plus
            ``0.5*reg*sum_i sum(Wi**2)``) and a dict of gradients shaped like ``params``.
        """
        X = check_X(X, self.dtype, self.input_dim, self.xp)
        mode = "test" if y is None else "train"
        if y is not None:
            y = self._labels(y, X.shape[0])
        if self.use_dropout:
            self.dropout_param["mode"] = mode
        if self.normalization == "batchnorm":
            self.set_norm_modes(mode)

        L = self.num_layers
        scores, cache = affine_stack_forward(
            X.reshape(X.shape[0], -1),
            self.params,
            range(1, L + 1),
            self.normalization,
            self.bn_params,
            self.dropout_param if self.use_dropout else None,
        )
        if y is None:
            return scores
        if self.keep_activations:
            self._kept_forward = cache
        loss, dscores = softmax_loss(scores, y, labels_checked=True)
        _, grads = affine_stack_backward(dscores, cache, need_dx=False)
        loss = self._with_l2(loss, grads, [f"W{i}" for i in range(1, L + 1)])
        return loss, grads

    def _activations_from(self, kept):
        return stack_activations(kept)

    def features(self, X, layer=None):
        """Test-mode output of hidden layer ``layer`` (after relu): the input of ``layer + 1``.

        Args:
            X: ``(N, d_1, ..., d_k)`` with ``prod(d_i) == D``; cast to ``dtype``.
            layer: 1..L-1; None for L-1, the penultimate layer (the head's input).

        Returns:
            ``(N, hidden_dims[layer - 1])`` features.
        """
        layer = check_feature_layer(layer, self.num_layers)
        X = check_X(X, self.dtype, self.input_dim, self.xp)
        if self.use_dropout:
            self.dropout_param["mode"] = "test"
        if self.normalization == "batchnorm":
            self.set_norm_modes("test")
        h, _ = hidden_stack_forward(
            X.reshape(X.shape[0], -1),
            self.params,
            range(1, layer + 1),
            self.normalization,
            self.bn_params,
            self.dropout_param if self.use_dropout else None,
        )
        return h
