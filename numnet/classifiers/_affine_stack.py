"""The fully connected stack that ``TwoLayerNet``, ``FullyConnectedNet`` and ``ConvNet`` end in.

::

    {affine - [batch/layer norm] - relu - [dropout]} for each hidden layer - affine

Layers are numbered as in the models: layer ``i`` reads ``W{i}``, ``b{i}`` and, when normalised,
``gamma{i}``, ``beta{i}`` and ``bn_params[i - 1]``; every hidden block shares one dropout dict.
The backward returns gradients under the same names. Batchnorm's backward is the closed-form
``batchnorm_backward_alt``.
"""

from __future__ import annotations

from numnet.backend import get_array_module
from numnet.layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward_alt,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
    layernorm_backward,
    layernorm_forward,
    relu_backward,
    relu_forward,
)

#: Normalisations of a feature vector: name -> (forward, backward).
NORMS = {
    "batchnorm": (batchnorm_forward, batchnorm_backward_alt),
    "layernorm": (layernorm_forward, layernorm_backward),
}


def affine_param_grads(dout, cache):
    """``(dw, db)`` of ``affine_backward`` without ``dx``.

    The first layer's ``dx`` (gradient w.r.t. the data, ``(N, D)``) is never used, and its matmul
    is a third of that layer's backward cost. ``cache`` is the course's ``(x, w, b)``.
    """
    x = cache[0]
    return x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)


def _affine_backward(dout, cache, need_dx: bool):
    if need_dx:
        return affine_backward(dout, cache)
    return (None, *affine_param_grads(dout, cache))


def hidden_block_forward(x, w, b, gamma, beta, norm, bn_param, dropout_param):
    """Forward of one hidden block: affine - [norm] - relu - [dropout].

    Args:
        x: ``(N, d_1, ..., d_k)`` with ``prod(d_i) == D``.
        w: ``(D, M)`` weights.
        b: ``(M,)`` biases.
        gamma: ``(M,)`` scale of the norm; unused when ``norm`` is None.
        beta: ``(M,)`` shift of the norm; unused when ``norm`` is None.
        norm: None, ``"batchnorm"`` or ``"layernorm"``.
        bn_param: the norm's dict (mode, running statistics); unused when ``norm`` is None.
        dropout_param: the dropout dict, or None for no dropout.

    Returns:
        ``(out, cache)`` with ``out`` of shape ``(N, M)``.
    """
    out, c_aff = affine_forward(x, w, b)
    c_norm = c_drop = None
    if norm is not None:
        out, c_norm = NORMS[norm][0](out, gamma, beta, bn_param)
    out, c_relu = relu_forward(out)
    if dropout_param is not None:
        out, c_drop = dropout_forward(out, dropout_param)
    return out, (norm, c_aff, c_norm, c_relu, c_drop)


def hidden_block_backward(dout, cache, need_dx: bool = True):
    """Backward of ``hidden_block_forward``.

    Args:
        dout: ``(N, M)`` upstream gradient.
        cache: from ``hidden_block_forward``.
        need_dx: False skips the input gradient (the block reads the data itself).

    Returns:
        ``(dx, dw, db, dgamma, dbeta)``: ``dx`` shaped like the block's input (None without
        ``need_dx``), ``dgamma``/``dbeta`` ``(M,)`` (None without a norm).
    """
    norm, c_aff, c_norm, c_relu, c_drop = cache
    if c_drop is not None:
        dout = dropout_backward(dout, c_drop)
    dout = relu_backward(dout, c_relu)
    dgamma = dbeta = None
    if norm is not None:
        dout, dgamma, dbeta = NORMS[norm][1](dout, c_norm)
    dx, dw, db = _affine_backward(dout, c_aff, need_dx)
    return dx, dw, db, dgamma, dbeta


def hidden_stack_forward(x, params, layers, norm, bn_params, dropout_param):
    """Hidden blocks (affine - [norm] - relu - [dropout]) for every layer of ``layers``.

    Args:
        x: ``(N, d_1, ..., d_k)`` input of layer ``layers[0]``.
        params: the model's params (``W{i}``, ``b{i}``, ``gamma{i}``, ``beta{i}``).
        layers: increasing layer numbers, every one a hidden block.
        norm: None, ``"batchnorm"`` or ``"layernorm"`` for every block.
        bn_params: one dict per layer, ``bn_params[i - 1]`` for layer ``i``.
        dropout_param: the dropout dict every block shares, or None for no dropout.

    Returns:
        ``(h, caches)``: ``h`` ``(N, M)`` output of the last block (``x`` when ``layers`` is
        empty) and ``[(layer, block cache), ...]``.
    """
    h, caches = x, []
    for i in layers:
        gamma, beta = params.get(f"gamma{i}"), params.get(f"beta{i}")
        bn_param = None if norm is None else bn_params[i - 1]
        h, cache = hidden_block_forward(
            h, params[f"W{i}"], params[f"b{i}"], gamma, beta, norm, bn_param, dropout_param
        )
        caches.append((i, cache))
    return h, caches


def affine_stack_forward(x, params, layers, norm, bn_params, dropout_param):
    """Hidden blocks for every layer of ``layers`` but the last, then the output affine.

    Args:
        x: ``(N, d_1, ..., d_k)`` input of layer ``layers[0]``.
        params: the model's params (``W{i}``, ``b{i}``, ``gamma{i}``, ``beta{i}``).
        layers: increasing layer numbers, e.g. ``range(1, L + 1)``; the last is the output layer.
        norm: None, ``"batchnorm"`` or ``"layernorm"`` for every hidden block.
        bn_params: one dict per layer, ``bn_params[i - 1]`` for layer ``i``; unused when ``norm``
            is None.
        dropout_param: the dropout dict every hidden block shares, or None for no dropout.

    Returns:
        ``(scores, cache)``: ``scores`` ``(N, M)`` of the output layer.
    """
    *hidden, last = layers
    h, caches = hidden_stack_forward(x, params, hidden, norm, bn_params, dropout_param)
    scores, c_out = affine_forward(h, params[f"W{last}"], params[f"b{last}"])
    return scores, (caches, last, c_out)


def affine_stack_backward(dscores, cache, need_dx: bool = True):
    """Backward of ``affine_stack_forward``.

    Args:
        dscores: ``(N, M)`` gradient of the scores.
        cache: from ``affine_stack_forward``.
        need_dx: False skips the gradient of the stack's input (when it is the data).

    Returns:
        ``(dx, grads)``: ``dx`` shaped like the stack's input (None without ``need_dx``) and a
        dict of gradients named like the params the stack read.
    """
    caches, last, c_out = cache
    grads = {}
    dh, grads[f"W{last}"], grads[f"b{last}"] = _affine_backward(
        dscores, c_out, need_dx or bool(caches)
    )
    for n, (i, c) in enumerate(reversed(caches), start=1):
        first = n == len(caches)
        dh, dw, db, dgamma, dbeta = hidden_block_backward(dh, c, need_dx or not first)
        grads[f"W{i}"], grads[f"b{i}"] = dw, db
        if dgamma is not None:
            grads[f"gamma{i}"], grads[f"beta{i}"] = dgamma, dbeta
    return dh, grads


def stack_activations(cache) -> dict:
    """The hidden blocks' ReLU outputs from an ``affine_stack_forward`` cache.

    Returns:
        ``{"layer<i>": ("relu", a)}`` for each hidden layer ``i``, ``a`` of shape ``(N, M)``
        (before dropout), as ``Model.activations`` gives them.
    """
    out = {}
    for i, (_, _, _, c_relu, _) in cache[0]:
        out[f"layer{i}"] = ("relu", get_array_module(c_relu).maximum(c_relu, 0))
    return out
