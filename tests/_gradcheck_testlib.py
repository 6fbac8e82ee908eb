"""Backwards broken on purpose, the way people break them, for the gradient-check tests."""

import numpy as np

from numnet.layers import (
    affine_backward,
    conv_backward_naive,
    sigmoid_backward,
    softmax_loss,
)

# The originals are bound here, so a test may monkeypatch numnet.layers with these functions.


def sigmoid_backward_times_1_01(dout, cache):
    return 1.01 * sigmoid_backward(dout, cache)


def softmax_loss_without_the_label_term(x, y):
    # The course's classic: dx = softmax / N, forgetting to subtract 1 at the true class.
    loss, dx = softmax_loss(x, y)
    dx = dx.copy()
    dx[np.arange(len(y)), y] += 1.0 / len(y)
    return loss, dx


def batchnorm_backward_without_the_variance_path(dout, cache):
    # The closed form with its last term (through the batch variance) dropped.
    _, xhat, _, _, inv_std, gamma = cache
    N = dout.shape[0]
    dbeta, dgamma = dout.sum(axis=0), (dout * xhat).sum(axis=0)
    return gamma * inv_std / N * (N * dout - dbeta), dgamma, dbeta


def affine_backward_transposed_dw(dout, cache):
    dx, dw, db = affine_backward(dout, cache)
    return dx, dw.T, db


def conv_backward_transposed_kernel(dout, cache):
    dx, dw, db = conv_backward_naive(dout, cache)
    return dx, dw.transpose(0, 1, 3, 2), db  # HH and WW swapped: same shape for square kernels


def max_pool_backward_to_first_entry(dout, cache):
    # The gradient goes to each window's first entry instead of its max.
    x, pool_param = cache
    s = pool_param["stride"]
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            dx[:, :, i * s, j * s] += dout[:, :, i, j]
    return dx


def distinct(rng, *shape):
    """Values at least 1e-3 apart, so no max-pool window has a tie within the step."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 1e-3 - n * 1e-3 / 2).reshape(shape)


def scale_grad(name, factor):
    """A corruption of a model's gradients: ``grads[name] *= factor``."""

    def corrupt(grads):
        grads[name] *= factor

    return corrupt


def nudge_grad_entry(name, index, relative):
    """A corruption: one entry moved by ``relative`` times the model's largest gradient."""

    def corrupt(grads):
        scale = max(float(np.abs(g).max()) for g in grads.values())
        grads[name][index] += relative * scale

    return corrupt


def broken_loss(loss, corrupt):
    """``loss(X, y)`` whose gradients pass through ``corrupt(grads)`` (scores untouched)."""

    def wrapped(*args, **kwargs):
        out = loss(*args, **kwargs)
        if not isinstance(out, tuple):
            return out
        value, grads = out
        grads = {k: v.copy() for k, v in grads.items()}
        corrupt(grads)
        return value, grads

    return wrapped
