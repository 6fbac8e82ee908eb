"""Weight initialisation schemes for the models.

Every scheme draws a standard normal array and scales it by a per-scheme standard deviation:

* ``"gaussian"`` (the course's): ``std = weight_scale``.
* ``"xavier"`` (Glorot & Bengio 2010, normal variant): ``std = sqrt(2 / (fan_in + fan_out))``.
  The averaged form keeps both the forward activations' and the backward gradients' variance
  roughly constant through linear or tanh layers; it is the ``torch.nn.init.xavier_normal_`` std.
* ``"kaiming"`` / ``"he"`` (He et al. 2015): ``std = sqrt(2 / fan_in)``, which keeps the forward
  variance constant through ReLU layers (``torch.nn.init.kaiming_normal_`` with its defaults
  ``mode="fan_in"``, ``nonlinearity="relu"``).

``weight_scale`` only means something for ``"gaussian"``; the other schemes derive their std from
the shape alone, so a model's default ``weight_scale`` does not have to be cleared to use them.

Fans: an affine weight ``(D, M)`` has ``fan_in = D`` and ``fan_out = M``; a conv weight
``(F, C, HH, WW)`` has ``fan_in = C*HH*WW`` and ``fan_out = F*HH*WW``.

Randomness: with ``rng=None`` the draw is ``weight_scale * np.random.randn(*shape)``, exactly the
course's call on NumPy's global state, so course code that calls ``np.random.seed`` first gets the
notebooks' numbers. With a ``np.random.Generator`` the draw is ``rng.standard_normal(shape)`` and
the global state is never touched.
"""

from __future__ import annotations

import math

import numpy as np

from numnet._names import INIT_SCHEMES
from numnet._random import as_generator  # noqa: F401 (public: numnet.initializers.as_generator)


def fans(shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of an affine ``(D, M)`` or conv ``(F, C, HH, WW)`` weight shape."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) == 4:
        f, c, hh, ww = shape
        return c * hh * ww, f * hh * ww
    raise ValueError(
        f"shape must be an affine (D, M) or conv (F, C, HH, WW) weight shape, got {shape}"
    )


def check_scheme(scheme) -> str:
    """Return ``scheme`` if it is a known scheme, else raise ValueError listing the allowed ones."""
    if scheme not in INIT_SCHEMES:
        allowed = ", ".join(repr(s) for s in INIT_SCHEMES)
        raise ValueError(f"init must be one of {allowed}; got {scheme!r}")
    return scheme


def init_std(shape, scheme: str = "gaussian", weight_scale: float | None = 1e-3) -> float:
    """Standard deviation that ``scheme`` gives a weight of ``shape`` (see the module docstring)."""
    check_scheme(scheme)
    if scheme == "gaussian":
        if weight_scale is None or not math.isfinite(weight_scale) or weight_scale < 0:
            raise ValueError(
                'weight_scale must be a finite number >= 0 for init "gaussian", '
                f"got {weight_scale!r}"
            )
        return float(weight_scale)
    fan_in, fan_out = fans(shape)
    if scheme == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    return math.sqrt(2.0 / fan_in)  # kaiming / he


def init_weight(shape, scheme: str = "gaussian", weight_scale: float | None = 1e-3, rng=None):
    """Draw one weight array.

    Args:
        shape: ``(D, M)`` for an affine layer or ``(F, C, HH, WW)`` for a conv layer.
        scheme: one of ``INIT_SCHEMES``.
        weight_scale: the std of ``"gaussian"``; ignored by the other schemes.
        rng: ``None`` for the course's ``np.random.randn`` on the global state, or a
            ``np.random.Generator``.

    Returns:
        float64 array of ``shape`` (models cast it to their dtype afterwards, as the course does).
    """
    shape = tuple(int(s) for s in shape)
    std = init_std(shape, scheme, weight_scale)
    if rng is None:
        # Same expression as the course so the global-state draws match bit for bit.
        return std * np.random.randn(*shape)  # noqa: NPY002 (the course's global state)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be None or a np.random.Generator, got {type(rng).__name__}")
    return std * rng.standard_normal(shape)
