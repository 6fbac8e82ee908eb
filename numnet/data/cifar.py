"""CIFAR-10 batch files: the python version (pickles) and the binary version (fixed records).

A pickle runs code when loaded, so the python batches go through :class:`RestrictedUnpickler`,
which resolves only the globals those files need (numpy's array reconstructor, ``ndarray`` and
``dtype``) and refuses everything else, ``os.system`` and ``builtins.eval`` included, before any of
it is called. Dicts, lists, strings, bytes and ints need no globals at all.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from .errors import DataError, UnsafePickleError

CIFAR_IMAGE_SHAPE = (3, 32, 32)
_PIXELS = 3 * 32 * 32
_RECORD = 1 + _PIXELS  # binary version: one label byte, then 1024 red, 1024 green, 1024 blue
_NUM_CLASSES = 10

# numpy's array-rebuilding function, wherever this numpy version keeps it (numpy.core in 1.x,
# numpy._core in 2.x); the files name it by its numpy 1.x path.
_RECONSTRUCT = np.zeros(1).__reduce__()[0]


def _dtype(spec, align=False, copy=True):
    """``numpy.dtype`` for the unpickler, refusing object dtypes (they would unpickle objects)."""
    dt = np.dtype(spec, bool(align), bool(copy))
    if dt.hasobject:
        raise UnsafePickleError(f"refused numpy dtype {spec!r}: object arrays are not allowed")
    return dt


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only the globals a CIFAR python batch needs.

    Raises:
        UnsafePickleError: on any other global, naming it (e.g. ``os.system``); it is refused
            when the pickle names it, so nothing is ever called.
    """

    def find_class(self, module: str, name: str):
        """Return the allowed global ``module.name``; raise UnsafePickleError for any other."""
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            allowed = ", ".join(f"{m}.{n}" for m, n in _ALLOWED)
            raise UnsafePickleError(
                f"refused global {module}.{name}: only {allowed} are allowed"
            ) from None


def restricted_load(f, encoding: str = "latin1"):
    """Unpickle from the binary file ``f`` with :class:`RestrictedUnpickler`.

    ``encoding="latin1"`` is what the course uses for the Python-2 pickles: their ``str`` objects
    (keys and the raw array bytes) arrive as ``str`` and numpy accepts them as array data.
    """
    return RestrictedUnpickler(f, encoding=encoding).load()


def _read_pickle_dict(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            obj = restricted_load(f)
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{path}: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise DataError(f"{path}: not a CIFAR-10 python batch ({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    # Python-2 str keys arrive as str with latin1, as bytes with encoding="bytes": accept both.
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _check_labels(path: Path, y: np.ndarray, n: int) -> np.ndarray:
    if y.shape != (n,):
        raise DataError(f"{path}: expected {n} labels (one per image), got shape {y.shape}")
    if n and (y.min() < 0 or y.max() >= _NUM_CLASSES):
        raise DataError(f"{path}: labels must be in [0, 10), got range [{y.min()}, {y.max()}]")
    return y


def load_cifar_python_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one python-version batch (``data_batch_1`` ... ``test_batch``).

    Args:
        path: the pickle file.

    Returns:
        X: (N, 3, 32, 32) uint8, channels-first (the file's row layout is R, G, B planes).
        y: (N,) int64 labels in [0, 10).

    Raises:
        UnsafePickleError: the pickle names a global outside the allow-list.
        DataError: not a CIFAR batch, or wrong keys, dtype, shape or label count.
    """
    path = Path(path)
    d = _read_pickle_dict(path)
    for key in ("data", "labels"):
        if key not in d:
            raise DataError(f"{path}: missing key {key!r}; the dict has {sorted(map(str, d))}")
    data = d["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        got = (data.dtype, data.shape) if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{path}: 'data' must be a 2-D uint8 array (N, 3072), got {got}")
    if data.shape[1] != _PIXELS:
        raise DataError(f"{path}: 'data' must have {_PIXELS} columns, got shape {data.shape}")
    try:
        y = np.asarray(d["labels"], dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as e:
        raise DataError(f"{path}: 'labels' must be a list of ints ({e})") from e
    n = data.shape[0]
    return data.reshape(n, *CIFAR_IMAGE_SHAPE), _check_labels(path, y, n)


def load_cifar_binary_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one binary-version batch (``data_batch_1.bin`` ... ``test_batch.bin``).

    Args:
        path: a file of N records, each 1 label byte then 3072 pixel bytes.

    Returns:
        X: (N, 3, 32, 32) uint8; y: (N,) int64 labels in [0, 10).

    Raises:
        DataError: the size is not a whole number of records, or a label is out of range.
    """
    path = Path(path)
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % _RECORD:
        raise DataError(
            f"{path}: expected a multiple of {_RECORD} bytes (label + 3072 pixels per record), "
            f"got {raw.size} bytes"
        )
    records = raw.reshape(-1, _RECORD)
    n = records.shape[0]
    y = records[:, 0].astype(np.int64)
    # Copy the pixels out of the record-strided view so the label bytes can be freed.
    X = np.ascontiguousarray(records[:, 1:]).reshape(n, *CIFAR_IMAGE_SHAPE)
    return X, _check_labels(path, y, n)


def load_cifar_batch(path: str | os.PathLike, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """Dispatch on ``fmt`` (``"cifar-python"`` or ``"cifar-binary"``)."""
    if fmt == "cifar-python":
        return load_cifar_python_batch(path)
    if fmt == "cifar-binary":
        return load_cifar_binary_batch(path)
    raise ValueError(f'fmt must be "cifar-python" or "cifar-binary"; got {fmt!r}')
