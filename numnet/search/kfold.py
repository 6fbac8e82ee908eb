"""k-fold cross-validation over a data dict's training split, for small data sets.

The folds are fixed by ``(n, k, seed)``: a search stores its seed once, so every trial, every
worker and every restart trains on the same folds. Fold ``i`` validates on the ``i``-th of ``k``
near-equal parts of a seeded permutation and trains on the rest, so no index is in both.

:func:`fold_data` gives the Solver a data dict whose ``X_train``/``X_val`` are :class:`Rows`
views into the original training images (no copy of the data set is made). The original
validation split is not used by the folds. Normalisation statistics stay those the data dict
was made with (from the whole training split).
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["Rows", "fold_data", "kfold_indices"]


def kfold_indices(n: int, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train_rows, val_rows) pairs over ``n`` samples.

    Args:
        n: samples in the training split.
        k: folds, ``2 <= k <= n``.
        seed: int >= 0; the permutation is ``default_rng(seed).permutation(n)``.

    Returns:
        A list of ``k`` pairs of sorted int64 index arrays; the val parts partition
        ``range(n)`` and each train part is the complement of its val part.
    """
    for name, v, low in (("n", n, 1), ("k", k, 2), ("seed", seed, 0)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    if k > n:
        raise ValueError(f"k-fold needs k <= n samples, got k={k} and n={n}")
    perm = np.random.default_rng(int(seed)).permutation(int(n))
    parts = np.array_split(perm, int(k))
    out = []
    for i, val in enumerate(parts):
        train = np.concatenate([p for j, p in enumerate(parts) if j != i])
        out.append((np.sort(train).astype(np.int64), np.sort(val).astype(np.int64)))
    return out


class Rows:
    """The rows ``rows`` of an indexable array ``base``, fetched only when indexed.

    ``Rows(X, rows)[idx]`` is ``X[rows[idx]]`` for an int, a slice, an int array or a boolean
    mask; ``shape``, ``dtype``, ``ndim`` and ``len`` are those of the selection.

    Args:
        base: (N, ...) array or array-like with fancy indexing (e.g. ``NormalizedImages``).
        rows: int array of row indices into ``base``, shape (n,).
    """

    def __init__(self, base, rows):
        rows = np.asarray(rows)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise ValueError(f"rows must be a 1-D int array, got shape {rows.shape} {rows.dtype}")
        self.base, self.rows = base, rows
        self.shape = (len(rows), *tuple(base.shape[1:]))
        self.dtype, self.ndim = base.dtype, len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        if isinstance(key, tuple):
            return self.base[(self.rows[key[0]], *key[1:])]
        return self.base[self.rows[key]]

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self.base[self.rows])
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"Rows({self.shape}, of {type(self.base).__name__})"


def fold_data(data, train_rows, val_rows) -> dict:
    """A copy of ``data`` that trains on ``train_rows`` and validates on ``val_rows``.

    Both index its training split (``data["X_train"]``, ``data["y_train"]``); other keys are
    kept.

    An ``numnet.data.AugmentedImages`` training set is rebuilt over the fold's rows with the
    same augmentation and seed; find it in the result's ``"X_train"`` (it is also the callback
    the Solver needs, see :func:`fold_callbacks`).
    """
    from numnet.data import AugmentedImages

    X, y = data["X_train"], np.asarray(data["y_train"])
    base = X.base if isinstance(X, AugmentedImages) else X
    train_X = Rows(base, train_rows)
    if isinstance(X, AugmentedImages):
        train_X = AugmentedImages(train_X, X.augment, X.seed)
    out = dict(data)
    out.update(X_train=train_X, y_train=y[train_rows], X_val=Rows(base, val_rows),
               y_val=y[val_rows])  # fmt: skip
    return out


def fold_callbacks(callbacks, old_data, new_data) -> list:
    """``callbacks`` with the old training set (when it is a callback) swapped for the fold's."""
    old, new = old_data["X_train"], new_data["X_train"]
    return [new if cb is old else cb for cb in callbacks]
