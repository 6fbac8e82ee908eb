"""Data sets for numnet: Fashion-MNIST, MNIST and CIFAR-10, verified, cached and memory-light.

Typical use::

    from numnet.data import load_dataset, prepare, Augment, AugmentedImages
    ds = load_dataset("fashion-mnist")              # uint8 (N, 1, 28, 28), int64 labels
    data = prepare(ds, num_val=5000, seed=0)         # Solver-ready dict of float32 arrays
    X = AugmentedImages(data["X_train"], Augment(pad=2), seed=0)   # optional: crop and flip
    solver = Solver(model, {**data, "X_train": X}, callbacks=[X], shuffle=True, seed=0)

Modules: ``registry`` (files, checksums, mirrors, classes), ``locations`` (search order and cache
directory), ``download`` (fetch), ``idx`` and ``cifar`` (file formats), ``integrity``
(checksums), ``datasets`` (load_dataset), ``preprocess`` (splits, normalisation), ``subsets``
(class subsets and per-class samples), ``batches`` (per-batch augmentation). The course's
loaders are in :mod:`numnet.data_utils`.
"""

from .batches import Augment, AugmentedImages, random_crop, random_flip
from .cifar import RestrictedUnpickler, load_cifar_binary_batch, load_cifar_python_batch
from .datasets import Dataset, load_dataset
from .download import download_file, extract_members, fetch
from .errors import (
    ChecksumError,
    DataError,
    DatasetNotFoundError,
    DownloadError,
    UnsafePickleError,
)
from .idx import encode_idx, read_idx
from .integrity import verify_dataset, verify_file
from .locations import Location, cache_dir, describe, find_all, locate
from .preprocess import (
    NORMALIZE_MODES,
    Normalization,
    NormalizedImages,
    PreparedData,
    compute_normalization,
    prepare,
    split_indices,
)
from .registry import DATASETS, DatasetSpec, FileSpec, get_spec
from .subsets import check_classes, per_class_rows, select_classes

__all__ = [
    "DATASETS",
    "NORMALIZE_MODES",
    "Augment",
    "AugmentedImages",
    "ChecksumError",
    "DataError",
    "Dataset",
    "DatasetNotFoundError",
    "DatasetSpec",
    "DownloadError",
    "FileSpec",
    "Location",
    "NormalizedImages",
    "Normalization",
    "PreparedData",
    "RestrictedUnpickler",
    "UnsafePickleError",
    "cache_dir",
    "check_classes",
    "compute_normalization",
    "describe",
    "download_file",
    "encode_idx",
    "extract_members",
    "fetch",
    "find_all",
    "get_spec",
    "load_cifar_binary_batch",
    "load_cifar_python_batch",
    "load_dataset",
    "locate",
    "per_class_rows",
    "prepare",
    "random_crop",
    "random_flip",
    "read_idx",
    "select_classes",
    "split_indices",
    "verify_dataset",
    "verify_file",
]
