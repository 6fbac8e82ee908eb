"""Minibatches: shuffled epochs from a seeded Generator, and light per-batch augmentation.

Every sample appears exactly once per epoch (sampling *without* replacement; the course's Solver
samples with replacement, see ``Solver(shuffle=True)``). Augmentation runs on each batch as it is
drawn, so no augmented copy of the data set is ever stored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from .._checks import check_ndim, check_positive_int
from .._random import as_generator


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
        out = random_crop(x, self.pad, rng) if self.pad else x
        return random_flip(out, rng) if self.flip else (out if out is not x else x.copy())

    def __repr__(self) -> str:
        return f"Augment(pad={self.pad}, flip={self.flip})"


def iterate_minibatches(
    X,
    y,
    batch_size: int,
    *,
    shuffle: bool = True,
    rng=None,
    drop_last: bool = False,
    augment: Callable | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of minibatches.

    Args:
        X: (N, ...) images: an array or anything indexable by an int array with ``len``
            (e.g. :class:`~numnet.data.NormalizedImages`).
        y: (N,) labels.
        batch_size: samples per batch.
        shuffle: visit samples in a random order (else in order).
        rng: seed or Generator for the order and the augmentation.
        drop_last: drop the final batch if it is smaller than ``batch_size``.
        augment: optional ``f(X_batch, rng) -> X_batch`` (e.g. :class:`Augment`).

    Yields:
        (X_batch (B, ...), y_batch (B,)), every sample exactly once per epoch (B <= batch_size).
    """
    check_positive_int("batch_size", batch_size)
    n = len(X)
    if len(y) != n:
        raise ValueError(f"y must have {n} labels (one per row of X), got {len(y)}")
    rng = as_generator(rng, "rng", none="draw_seed")
    order = rng.permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        if drop_last and len(idx) < batch_size:
            return
        xb = X[idx]
        yield (augment(xb, rng) if augment is not None else xb), y[idx]


class BatchIterator:
    """Reusable epochs: each ``iter()`` is one new shuffled epoch from the same Generator.

    Args:
        X, y, batch_size, shuffle, drop_last, augment: as :func:`iterate_minibatches`.
        seed: int or Generator; None draws a seed from NumPy's global state.

    Attributes:
        epoch: epochs started so far.
    """

    def __init__(
        self,
        X,
        y,
        batch_size: int = 100,
        *,
        shuffle: bool = True,
        seed=None,
        drop_last: bool = False,
        augment: Callable | None = None,
    ):
        check_positive_int("batch_size", batch_size)
        if len(y) != len(X):
            raise ValueError(f"y must have {len(X)} labels (one per row of X), got {len(y)}")
        self.X, self.y, self.batch_size = X, y, batch_size
        self.shuffle, self.drop_last, self.augment = shuffle, drop_last, augment
        self.rng = as_generator(seed, "seed", none="draw_seed")
        self.epoch = 0

    def __len__(self) -> int:
        """Batches per epoch."""
        n = len(self.X)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        self.epoch += 1
        return iterate_minibatches(
            self.X,
            self.y,
            self.batch_size,
            shuffle=self.shuffle,
            rng=self.rng,
            drop_last=self.drop_last,
            augment=self.augment,
        )
