"""The one place that picks the array library.

Array math in numnet is written against ``xp``: ``numpy`` for host arrays, ``cupy`` when the arrays
live on a GPU. Nothing else in the package imports cupy.
"""

from __future__ import annotations

import importlib
import types

import numpy as np


def _cupy() -> types.ModuleType | None:
    try:
        return importlib.import_module("cupy")
    except ImportError:
        return None


def get_array_module(*arrays) -> types.ModuleType:
    """Return the array module (``numpy`` or ``cupy``) that owns ``arrays``.

    Args:
        *arrays: arrays or scalars; ``None`` is ignored.

    Returns:
        ``cupy`` if any argument is a cupy array, else ``numpy``.
    """
    for a in arrays:
        if a is not None and type(a).__module__.split(".", 1)[0] == "cupy":
            cp = _cupy()
            if cp is not None:
                return cp
    return np


def available_backends() -> list[str]:
    """Names of the array libraries usable here: always ``"numpy"``, plus ``"cupy"`` with a GPU."""
    names = ["numpy"]
    cp = _cupy()
    if cp is not None:
        try:
            if cp.cuda.runtime.getDeviceCount() > 0:
                names.append("cupy")
        except Exception:  # no driver or no device: cupy is installed but unusable
            pass
    return names


def backend_module(name: str) -> types.ModuleType:
    """The array module called ``name`` (``"numpy"`` or ``"cupy"``)."""
    if name == "numpy":
        return np
    if name == "cupy":
        cp = _cupy()
        if cp is None:
            raise ValueError('backend "cupy" requested but cupy is not installed')
        return cp
    raise ValueError(f'backend must be "numpy" or "cupy", got {name!r}')


def to_numpy(a) -> np.ndarray:
    """Copy ``a`` to a host NumPy array (no copy if it already is one)."""
    if isinstance(a, np.ndarray):
        return a
    get = getattr(a, "get", None)
    return get() if callable(get) else np.asarray(a)
