"""Inverted dropout: ``p`` is the KEEP probability; kept units are scaled by ``1/p`` at train time.

Randomness, in order of precedence:

* ``dropout_param['rng']``: an ``np.random.Generator`` (numnet extra). It alone draws the mask;
  NumPy's global state is never touched (``seed`` is then ignored).
* ``dropout_param['seed']``: the course behaviour, ``np.random.seed(seed)`` on **every** call, then
  a draw from the global state (so every call with the same seed draws the same mask). A seed of
  None is treated as absent (the course would reseed from OS entropy).
* neither: a draw from NumPy's global state, ``np.random.rand(*x.shape) < p``, as the course does.

For cupy inputs the global path uses ``cupy.random``; a Generator draws on the host.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from numnet._checks import check_keys
from numnet.backend import get_array_module

_MODES = ("train", "test")


def dropout_forward(x, dropout_param):
    """Inverted dropout forward pass.

    Args:
        x: input of any shape.
        dropout_param: dict with ``p`` (keep probability in (0, 1]), ``mode`` ('train' or
            'test'), and optionally ``seed`` (int) or ``rng`` (``np.random.Generator``).

    Returns:
        ``(out, cache)``: ``out`` shaped like ``x`` in ``x.dtype`` (``x`` itself in test mode);
        ``cache = (dropout_param, mask)``, ``mask`` in ``x.dtype`` with values 0 or 1/p (None in
        test mode).

    Raises:
        ValueError: missing keys, ``p`` outside (0, 1], unknown ``mode``, or an ``rng`` that is
            not an ``np.random.Generator``.
    """
    check_keys("dropout_param", dropout_param, ("p", "mode"))
    p, mode = dropout_param["p"], dropout_param["mode"]
    if (
        isinstance(p, bool)
        or not isinstance(p, numbers.Real)
        or not math.isfinite(p)
        or not 0 < p <= 1
    ):
        raise ValueError(f"dropout_param['p'] (keep probability) must be in (0, 1], got {p!r}")
    if mode not in _MODES:
        raise ValueError(f"dropout_param['mode'] must be 'train' or 'test', got {mode!r}")
    rng = dropout_param.get("rng")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"dropout_param['rng'] must be a numpy.random.Generator, got {type(rng).__name__}"
        )
    if mode == "test":
        return x, (dropout_param, None)

    xp = get_array_module(x)
    p = float(p)
    if rng is not None:
        keep = xp.asarray(rng.random(x.shape) < p)
    else:
        seed = dropout_param.get("seed")
        if seed is not None:
            xp.random.seed(seed)
        keep = xp.random.rand(*x.shape) < p
    mask = keep.astype(x.dtype)
    mask /= p
    out = (x * mask).astype(x.dtype, copy=False)
    return out, (dropout_param, mask)


def dropout_backward(dout, cache):
    """Inverted dropout backward pass.

    Args:
        dout: upstream gradient shaped like the forward's ``x``.
        cache: ``(dropout_param, mask)`` from ``dropout_forward``.

    Returns:
        ``dx``: ``dout * mask`` after a train-mode forward; ``dout`` itself after a test-mode one.
    """
    _, mask = cache
    # The mask, not dropout_param['mode'], says which forward ran: models share one dict and
    # may flip its mode between the forward and the backward.
    if mask is None:
        return dout
    return dout * mask
