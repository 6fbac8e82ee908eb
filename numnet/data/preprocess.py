"""Preprocessing as data: splits, normalisation statistics, float conversion.

Statistics are computed from the training split only (validation and test data never leak into
them) by streaming over uint8 chunks with float64 accumulators, so no full-size float temporary
is made. Memory: the uint8 :class:`~numnet.data.Dataset` stays the source, and each split gets
at most one float copy:

* ``prepare(..., per_batch=False)`` (default) converts each split once into a float array,
  chunk by chunk straight from the uint8 source (peak: the uint8 source + one float copy);
* ``prepare(..., per_batch=True)`` stores a :class:`NormalizedImages` instead: a read-only
  array-like over the uint8 source that converts only the rows asked for, so ``X[idx]`` on a
  batch of indices costs one batch of floats (no float copy of the split is ever held).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_choice
from .._random import as_generator
from .subsets import per_class_rows

NORMALIZE_MODES = ("standardize", "mean", "scale", None)
_CHUNK_BYTES = 1 << 21  # rows per chunk: 2 MB of uint8, so float64 temporaries stay ~16 MB


def _chunk_rows(X) -> int:
    return max(1, _CHUNK_BYTES // max(1, int(np.prod(X.shape[1:]))))


def _take(X, rows, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of the selection ``rows`` (None: all rows) of ``X``."""
    return X[start:stop] if rows is None else X[rows[start:stop]]


@dataclass(frozen=True)
class Normalization:
    """``x -> (x - shift) / scale``, with both broadcastable to one image (C, H, W).

    Attributes:
        mode: ``"standardize"`` (shift, scale: per-channel mean and std, shape (C, 1, 1)),
            ``"mean"`` (shift: the mean image (C, H, W); no scale, as the course),
            ``"scale"`` (scale 255: pixels to [0, 1]) or None (identity).
        shift: float64 array or None.
        scale: float64 array or None.
    """

    mode: str | None
    shift: np.ndarray | None = None
    scale: np.ndarray | None = None

    def apply(self, x, dtype=np.float32, out: np.ndarray | None = None) -> np.ndarray:
        """Normalise ``x`` into a new ``dtype`` array (or into ``out``).

        Args:
            x: (N, C, H, W) or (C, H, W) images, any numeric dtype (typically uint8).
            dtype: result dtype (float32 for training, float64 for checks).
            out: optional preallocated result of ``x``'s shape.

        Returns:
            The normalised images, same shape as ``x``.
        """
        if out is None:
            out = np.asarray(x).astype(dtype)
        else:
            out[...] = x
        if self.shift is not None:
            out -= self.shift.astype(out.dtype, copy=False)
        if self.scale is not None:
            out /= self.scale.astype(out.dtype, copy=False)
        return out

    def to_dict(self) -> dict:
        """JSON-able form (lists), e.g. for a checkpoint's metadata."""
        shift, scale = _array_to_json(self.shift), _array_to_json(self.scale)
        return {"mode": self.mode, "shift": shift, "scale": scale}

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        """Inverse of :meth:`to_dict`."""
        return cls(d["mode"], _array_from_json(d.get("shift")), _array_from_json(d.get("scale")))


def _array_to_json(a):
    return None if a is None else {"shape": list(a.shape), "data": a.ravel().tolist()}


def _array_from_json(v):
    return None if v is None else np.asarray(v["data"], np.float64).reshape(v["shape"])


def compute_normalization(X, mode: str | None = "standardize", rows=None) -> Normalization:
    """Statistics for ``mode`` from the training images ``X[rows]`` only.

    Args:
        X: (N, C, H, W) images, typically uint8.
        mode: one of ``NORMALIZE_MODES``.
        rows: int array of the training rows, or None for all of ``X``.

    Returns:
        A :class:`Normalization` (float64 statistics).
    """
    check_choice("normalize", mode, NORMALIZE_MODES)
    if mode is None:
        return Normalization(None)
    if mode == "scale":
        return Normalization("scale", None, np.array(255.0))
    n = X.shape[0] if rows is None else len(rows)
    if n == 0:
        raise ValueError("normalize needs at least one training image, got 0")
    C = X.shape[1]
    step = _chunk_rows(X)
    if mode == "mean":
        total = np.zeros(X.shape[1:], np.float64)
        for s in range(0, n, step):
            total += np.add.reduce(_take(X, rows, s, s + step), axis=0, dtype=np.float64)
        return Normalization("mean", total / n)
    s1 = np.zeros(C, np.float64)
    s2 = np.zeros(C, np.float64)
    for s in range(0, n, step):
        chunk = _take(X, rows, s, s + step).astype(np.float64)
        s1 += chunk.sum(axis=(0, 2, 3))
        s2 += np.square(chunk).sum(axis=(0, 2, 3))
    count = n * X.shape[2] * X.shape[3]
    mean = s1 / count
    std = np.sqrt(np.maximum(s2 / count - mean**2, 0.0))
    std[std == 0] = 1.0  # a constant channel carries no information; leave it unscaled
    return Normalization("standardize", mean.reshape(C, 1, 1), std.reshape(C, 1, 1))


def materialize(X, norm: Normalization, rows=None, dtype=np.float32) -> np.ndarray:
    """One float copy of ``X[rows]``, normalised, filled chunk by chunk (no other temporaries).

    Returns:
        (n, C, H, W) array of ``dtype``.
    """
    n = X.shape[0] if rows is None else len(rows)
    out = np.empty((n, *X.shape[1:]), dtype=dtype)
    step = _chunk_rows(X)
    for s in range(0, n, step):
        norm.apply(_take(X, rows, s, s + step), out=out[s : s + step])
    return out


class NormalizedImages:
    """A read-only float view of uint8 images that converts only the rows indexed.

    Supports what the Solver and the batch iterator use: ``len``, ``shape``, ``dtype``,
    ``ndim``, and ``X[idx]`` with an int, a slice, an int array or a boolean mask (optionally
    followed by more indices); ``np.asarray(X)`` makes the full float copy.

    Args:
        source: (N, C, H, W) images (uint8), not copied.
        norm: the :class:`Normalization` to apply.
        rows: int array selecting this split's rows of ``source``, or None for all.
        dtype: float dtype of every result.
    """

    def __init__(self, source, norm: Normalization, rows=None, dtype=np.float32):
        self.source = source
        self.norm = norm
        self.rows = None if rows is None else np.asarray(rows)
        self.dtype = np.dtype(dtype)
        n = source.shape[0] if self.rows is None else len(self.rows)
        self.shape = (n, *source.shape[1:])
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def size(self) -> int:
        """Number of elements, as ``ndarray.size``."""
        return int(np.prod(self.shape))

    def __getitem__(self, key):
        if isinstance(key, tuple):
            if not key or any(k is Ellipsis for k in key):
                return self[:][key]
            if len(key) > 1:
                batch = self[key[0]]
                # An integer first index drops the sample axis; a slice or an array keeps it.
                keeps_axis = isinstance(key[0], slice) or np.ndim(key[0]) > 0
                return batch[(slice(None), *key[1:])] if keeps_axis else batch[key[1:]]
            key = key[0]
        src = self.source[key] if self.rows is None else self.source[self.rows[key]]
        return self.norm.apply(src, self.dtype)

    def __array__(self, dtype=None, copy=None):
        if copy is False:
            raise ValueError("NormalizedImages cannot be viewed without a copy; it converts")
        out = materialize(self.source, self.norm, self.rows, self.dtype)
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"NormalizedImages(shape={self.shape}, dtype={self.dtype}, mode={self.norm.mode!r})"


class PreparedData(dict):
    """The Solver-ready dict: exactly ``X_train, y_train, X_val, y_val, X_test, y_test``.

    Metadata rides on attributes, not keys, so ``for k, v in data.items(): v.shape`` (as the
    course's notebooks do) keeps working: ``normalization`` (apply it to new images before
    predicting) and ``class_names``.
    """

    normalization: Normalization
    class_names: tuple[str, ...]


def split_indices(n: int, num_train: int, num_val: int, seed=None):
    """Training and validation rows out of ``n``.

    Args:
        n: number of training-set images.
        num_train: rows in the training split.
        num_val: rows in the validation split; ``num_train + num_val <= n``.
        seed: None for the course's contiguous split (train first, validation right after);
            an int or Generator for a random split (each split's rows sorted, so reads stay
            sequential; batches are shuffled later anyway).

    Returns:
        (train_rows, val_rows) as int64 arrays.

    Raises:
        ValueError: a negative size, or ``num_train + num_val > n``.
    """
    if num_train < 0 or num_val < 0 or num_train + num_val > n:
        raise ValueError(
            f"num_train + num_val must be <= {n} (the training images), got {num_train} + {num_val}"
        )
    if seed is None:
        order = np.arange(num_train + num_val)
    else:
        rng = as_generator(seed, "seed")
        order = rng.permutation(n)[: num_train + num_val]
    return np.sort(order[:num_train]), np.sort(order[num_train:])


def prepare(
    dataset,
    *,
    num_train: int | None = None,
    num_val: int = 5000,
    num_test: int | None = None,
    seed=None,
    normalize: str | None = "standardize",
    dtype=np.float32,
    per_batch: bool = False,
    per_class: int | None = None,
    normalization: Normalization | None = None,
) -> PreparedData:
    """Split, normalise and convert a :class:`~numnet.data.Dataset` for the Solver.

    Args:
        dataset: a Dataset (or anything with uint8 ``X_train, y_train, X_test, y_test``).
        num_train: training images; None: all that the validation split leaves.
        num_val: validation images, taken from the training set.
        num_test: test images (the first ones, as the course); None: all.
        seed: None for the course's contiguous split (validation right after the training
            images); an int or Generator for a random split.
        normalize: ``"standardize"`` (per-channel mean/std), ``"mean"`` (mean image, as the
            course), ``"scale"`` (to [0, 1]) or None; statistics come from the training split.
        dtype: float dtype of the images (float32 for training; float64 for course numbers).
        per_batch: store :class:`NormalizedImages` (convert per batch) instead of float arrays.
        per_class: train on exactly this many images of each class, drawn with ``seed`` from
            the training split (see ``numnet.data.subsets.per_class_rows``); not together
            with ``num_train``.
        normalization: use these statistics instead of the training split's (a pretrained
            model's own preprocessing, for transfer learning); ``normalize`` is then ignored.

    Returns:
        A :class:`PreparedData` dict with X_train (num_train, C, H, W), y_train (num_train,),
        X_val, y_val, X_test, y_test; ``.normalization`` and ``.class_names`` attributes.
    """
    check_choice("normalize", normalize, NORMALIZE_MODES)
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating dtype, got {dtype}")
    n, n_test = dataset.X_train.shape[0], dataset.X_test.shape[0]
    if per_class is not None and num_train is not None:
        raise ValueError(f"give num_train or per_class, not both (got {num_train}, {per_class})")
    if num_train is None:
        num_train = n - num_val
    num_test = n_test if num_test is None else num_test
    if not 0 <= num_test <= n_test:
        raise ValueError(f"num_test must be in [0, {n_test}], got {num_test}")
    rng = None if seed is None else as_generator(seed, "seed")  # one stream for both draws
    train_rows, val_rows = split_indices(n, num_train, num_val, rng)
    if per_class is not None:
        train_rows = per_class_rows(dataset.y_train, train_rows, per_class, rng)
    test_rows = np.arange(num_test)
    norm = normalization or compute_normalization(dataset.X_train, normalize, train_rows)

    def images(X, rows):
        if per_batch:
            return NormalizedImages(X, norm, rows, dtype)
        return materialize(X, norm, rows, dtype)

    data = PreparedData(
        X_train=images(dataset.X_train, train_rows),
        y_train=dataset.y_train[train_rows],
        X_val=images(dataset.X_train, val_rows),
        y_val=dataset.y_train[val_rows],
        X_test=images(dataset.X_test, test_rows),
        y_test=dataset.y_test[test_rows],
    )
    data.normalization = norm
    data.class_names = tuple(getattr(dataset, "class_names", ()))
    return data
