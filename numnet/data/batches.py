"""Light per-batch augmentation of training images, and the view that feeds it to the Solver.

The Solver draws the minibatches (``Solver(shuffle=True)``: every sample once per epoch);
:class:`AugmentedImages` augments each one as it is drawn, so no augmented copy of the data set
is ever stored, and keys the randomness by the step number, so a resumed run augments exactly as
the uninterrupted one.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np

from .._checks import check_ndim


def random_crop(x: np.ndarray, pad: int, rng: np.random.Generator) -> np.ndarray:
    """Pad each image with ``pad`` zeros on every side and cut a random (H, W) window from it.

    Args:
        x: (N, C, H, W) images, any dtype (uint8 or float; zero is black or the mean).
        pad: padding in pixels (0: no-op copy).
        rng: source of the N window offsets.

    Returns:
        A new (N, C, H, W) array of ``x.dtype``.
    """
    check_ndim("x", x, 4, "(N, C, H, W)")
    N, C, H, W = x.shape
    if pad == 0:
        return x.copy()
    padded = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=x.dtype)
    padded[:, :, pad : pad + H, pad : pad + W] = x
    dy = rng.integers(0, 2 * pad + 1, size=N)
    dx = rng.integers(0, 2 * pad + 1, size=N)
    rows = (dy[:, None] + np.arange(H))[:, None, :, None]  # (N, 1, H, 1)
    cols = (dx[:, None] + np.arange(W))[:, None, None, :]  # (N, 1, 1, W)
    return padded[np.arange(N)[:, None, None, None], np.arange(C)[None, :, None, None], rows, cols]


def random_flip(x: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Mirror each image left-right with probability ``p``.

    Args:
        x: (N, C, H, W) images, any dtype.
        rng: source of the N coin flips.
        p: flip probability.

    Returns:
        A new (N, C, H, W) array of ``x.dtype``.
    """
    check_ndim("x", x, 4, "(N, C, H, W)")
    out = x.copy()
    flip = rng.random(x.shape[0]) < p
    out[flip] = x[flip][..., ::-1]
    return out


class Augment:
    """Light image augmentation applied per batch: random crop with zero padding, then flip.

    Args:
        pad: crop padding in pixels (0: no crop).
        flip: mirror half of the images left-right.

    Calling ``aug(x, rng)`` with x (N, C, H, W) returns a new array of the same shape and dtype.
    """

    def __init__(self, pad: int = 4, flip: bool = True):
        if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
            raise ValueError(f"pad must be a non-negative int, got {pad!r}")
        self.pad, self.flip = pad, bool(flip)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment ``x`` (N, C, H, W) with ``rng``; returns a new array of its shape and dtype."""
        out = random_crop(x, self.pad, rng) if self.pad else x
        return random_flip(out, rng) if self.flip else (out if out is not x else x.copy())

    def __repr__(self) -> str:
        return f"Augment(pad={self.pad}, flip={self.flip})"


class AugmentedImages:
    """Training images whose minibatch for each Solver step is augmented.

    Give it to the Solver twice, as ``data["X_train"]`` and as a callback::

        X = AugmentedImages(data["X_train"], Augment(pad=2), seed=0)
        solver = Solver(model, {**data, "X_train": X}, callbacks=[X], shuffle=True, seed=0)

    Before step ``t`` (0-based) the callback hook notes ``t``; the step's fetch ``X[idx]`` is then
    ``augment(base[idx], np.random.default_rng([seed, t]))``. Any other fetch (the Solver's
    training-accuracy sample, a caller's ``X[:10]``) returns clean images. Since the randomness of
    a step depends on nothing but ``seed`` and ``t``, a run resumed at any step augments exactly
    as the uninterrupted run would.

    Args:
        base: (N, C, H, W) images supporting fancy indexing (an array or ``NormalizedImages``).
        augment: ``augment(X_batch, rng) -> X_batch`` of the same shape and dtype, e.g.
            :class:`Augment`.
        seed: int >= 0.

    Attributes:
        shape, dtype, ndim: those of ``base``.
    """

    def __init__(self, base, augment: Callable, seed: int):
        check_ndim("base", base, 4, "of images (N, C, H, W)")
        if not callable(augment):
            raise ValueError(f"augment must be callable as augment(X, rng), got {augment!r}")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.base, self.augment, self.seed = base, augment, int(seed)
        self.shape, self.dtype, self.ndim = base.shape, base.dtype, base.ndim
        self._step = None

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        x = np.asarray(self.base[key])
        if self._step is None:
            return x
        rng = np.random.default_rng([self.seed, self._step])
        self._step = None
        return self.augment(x, rng)

    def on_train_begin(self, solver):
        """Refuse a Solver that trains on other images (the augmentation would never run)."""
        if solver.X_train is not self:
            raise ValueError(
                "AugmentedImages is a callback of a Solver whose data['X_train'] is not this "
                "object; pass the same object as both"
            )

    def on_batch_begin(self, solver):
        """The next fetch is step ``solver.iteration``'s minibatch."""
        self._step = solver.iteration

    def __repr__(self) -> str:
        return f"AugmentedImages({self.shape}, {self.augment!r}, seed={self.seed})"
