"""``load_dataset``: one call from a name to verified uint8 arrays."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cifar import load_cifar_batch
from .errors import DataError
from .idx import read_idx
from .integrity import verify_dataset
from .locations import locate, not_found
from .registry import (
    IDX_TEST_IMAGES,
    IDX_TEST_LABELS,
    IDX_TRAIN_IMAGES,
    IDX_TRAIN_LABELS,
    DatasetSpec,
    get_spec,
)


@dataclass(frozen=True, repr=False)
class Dataset:
    """A data set as stored: the compact uint8 source that every float copy is made from.

    Attributes:
        name: registry key.
        X_train: (N, C, H, W) uint8 training images.
        y_train: (N,) int64 labels in [0, num_classes).
        X_test: (N_test, C, H, W) uint8 test images.
        y_test: (N_test,) int64 labels.
        class_names: label ``i`` is ``class_names[i]``.
        source: the folder the files were read from.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: Path | None = None

    @property
    def num_classes(self) -> int:
        """C, the number of classes."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.X_train.shape[1:])

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={self.X_train.shape}, test={self.X_test.shape}, "
            f"dtype={self.X_train.dtype}, classes={self.num_classes}, source={self.source})"
        )


def _check_split(spec: DatasetSpec, where: str, X, y, expected: int | None) -> None:
    n = X.shape[0]
    if tuple(X.shape[1:]) != spec.image_shape:
        raise DataError(f"{where}: expected images of shape {spec.image_shape}, got {X.shape[1:]}")
    if expected is not None and n != expected:
        raise DataError(f"{where}: expected {expected} images, got {n}")
    if y.shape != (n,):
        raise DataError(f"{where}: {n} images but {y.shape[0]} labels")
    if n and (int(y.min()) < 0 or int(y.max()) >= spec.num_classes):
        raise DataError(
            f"{where}: labels must be in [0, {spec.num_classes}), got [{y.min()}, {y.max()}]"
        )


def _load_idx_split(folder: Path, spec: DatasetSpec, images: str, labels: str):
    C, H, W = spec.image_shape
    X = read_idx(folder / images, ndim=3, dims=(None, H, W))
    y = read_idx(folder / labels, ndim=1)
    if X.dtype != np.uint8 or y.dtype != np.uint8:
        raise DataError(f"{folder}: expected uint8 IDX files, got {X.dtype} / {y.dtype}")
    return X.reshape(X.shape[0], C, H, W), y.astype(np.int64)


def _load_cifar_split(folder: Path, spec: DatasetSpec, members) -> tuple[np.ndarray, np.ndarray]:
    parts = [load_cifar_batch(folder / m.name, spec.format) for m in members]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def load_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    download: bool = False,
    *,
    verify: bool = True,
    spec: DatasetSpec | None = None,
    progress: bool | None = None,
) -> Dataset:
    """Load a data set as uint8 images (N, C, H, W) and int64 labels.

    Args:
        name: ``"fashion-mnist"``, ``"mnist"``, ``"cifar10"`` or ``"cifar10-binary"``.
        root: an explicit folder (searched alone); None searches the cache, then the system copy
            (see :mod:`numnet.data.locations`).
        download: if the data set is missing, fetch it (into ``root`` or the cache).
        verify: check the pinned checksums of the files read (a fraction of a second).
        spec: use this spec instead of ``DATASETS[name]``.
        progress: download progress bar on/off; None: when stderr is a terminal.

    Returns:
        A :class:`Dataset`.

    Raises:
        DatasetNotFoundError: missing and ``download`` is False; says where it looked and how
            to get it.
        DataError: a file is truncated, corrupt, mis-shaped or fails its checksum.
    """
    spec = spec or get_spec(name)
    loc = locate(name, root, spec=spec)
    if loc is None:
        if not download:
            raise not_found(name, root, spec=spec)
        from .download import fetch

        loc = fetch(name, root, spec=spec, progress=progress)
    elif verify:
        verify_dataset(loc.path, spec)
    if spec.format == "idx":
        X_tr, y_tr = _load_idx_split(loc.path, spec, IDX_TRAIN_IMAGES, IDX_TRAIN_LABELS)
        X_te, y_te = _load_idx_split(loc.path, spec, IDX_TEST_IMAGES, IDX_TEST_LABELS)
    else:
        X_tr, y_tr = _load_cifar_split(loc.path, spec, spec.members[:-1])
        X_te, y_te = _load_cifar_split(loc.path, spec, spec.members[-1:])
    _check_split(spec, f"{loc.path} (train)", X_tr, y_tr, spec.num_train)
    _check_split(spec, f"{loc.path} (test)", X_te, y_te, spec.num_test)
    return Dataset(spec.name, X_tr, y_tr, X_te, y_te, spec.class_names, loc.path)
