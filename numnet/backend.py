"""The one place that picks the array library.

Array math in numnet is written against ``xp``: ``numpy`` for host arrays, ``cupy`` when the arrays
live on a GPU. Nothing else in the package imports cupy, and ``import numnet`` never needs it: CuPy
is loaded only when a CuPy array or the ``"cuda"`` device is met.

Devices, as the command names them: ``"cpu"`` is NumPy, ``"cuda"`` is CuPy on an NVIDIA GPU
(``pip install 'numnet[gpu]'``). ``device_module`` turns a name into the module, with a one-line
error when CuPy or a usable GPU is missing; ``to_device`` moves one array, ``Model.to`` a model.

An array type other than NumPy's or CuPy's may name its array module in the class attribute
``__numnet_array_module__``; ``get_array_module`` then returns it (the test suite's guard array
does, so the CPU test run checks that the code never leaves its array module).
"""

from __future__ import annotations

import importlib
import math
import types

import numpy as np

from numnet._names import DEVICES

__all__ = [
    "DEVICES",
    "available_backends",
    "backend_module",
    "device_module",
    "get_array_module",
    "host_floats",
    "to_device",
    "to_numpy",
]

#: What ``pip`` installs for the ``"cuda"`` device (the ``gpu`` extra), and the CUDA 13 variant.
GPU_INSTALL = (
    "pip install 'numnet[gpu]' (cupy-cuda12x; for CUDA 13 drivers pip install cupy-cuda13x)"
)


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
        ``cupy`` if any argument is a cupy array; the module named by an argument's
        ``__numnet_array_module__`` if it has one; else ``numpy``.
    """
    for a in arrays:
        t = type(a)
        if t is np.ndarray or a is None:
            continue
        named = getattr(t, "__numnet_array_module__", None)
        if named is not None:
            return named
        if t.__module__.split(".", 1)[0] == "cupy":
            cp = _cupy()
            if cp is not None:
                return cp
    return np


def _gpu_problem(cp) -> str | None:
    """Why CuPy cannot compute here (no driver, no device), or None when it can."""
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDARuntimeError, a missing driver library, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return f"CuPy found no usable GPU ({first})"
    if count < 1:
        return "CuPy found no GPU"
    return None


def available_backends() -> list[str]:
    """Names of the array libraries usable here: always ``"numpy"``, plus ``"cupy"`` with a GPU."""
    names = ["numpy"]
    cp = _cupy()
    if cp is not None and _gpu_problem(cp) is None:
        names.append("cupy")
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


def device_module(device) -> types.ModuleType:
    """The array module of a device: ``"cpu"`` -> numpy, ``"cuda"`` -> cupy on a usable GPU.

    Args:
        device: ``"cpu"``, ``"cuda"``, or an array module (returned as it is).

    Returns:
        The array module.

    Raises:
        ValueError: an unknown device name.
        RuntimeError: ``"cuda"`` without CuPy installed, or without a GPU CuPy can use; the
            message is one line and says what to install or what CuPy reported.
    """
    if isinstance(device, types.ModuleType):
        return device
    if device == "cpu":
        return np
    if device != "cuda":
        raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
    cp = _cupy()
    if cp is None:
        raise RuntimeError(f"device 'cuda' needs CuPy, which is not installed: {GPU_INSTALL}")
    problem = _gpu_problem(cp)
    if problem is not None:
        raise RuntimeError(f"device 'cuda' is not usable: {problem}")
    return cp


def to_numpy(a) -> np.ndarray:
    """Copy ``a`` to a host NumPy array (no copy if it already is one)."""
    if isinstance(a, np.ndarray):
        return a
    get = getattr(a, "get", None)
    return get() if callable(get) else np.asarray(a)


def to_device(a, xp):
    """``a`` as an array of the module ``xp`` (``a`` itself when it already is one).

    Between modules the data goes through the host: a device array is copied off its device,
    then onto ``xp``'s.
    """
    if a is None or get_array_module(a) is xp:
        return a
    return xp.asarray(to_numpy(a))


def host_floats(*values) -> list[float]:
    """Python floats of scalars that may live on a device, fetched in one transfer.

    A training step needs its loss (and the gradient norm) on the host; copying each device
    scalar on its own would wait for the device once per scalar. Host values cost nothing.

    Args:
        *values: Python or NumPy scalars, or 0-d arrays of one array module.

    Returns:
        ``[float(v) for v in values]``.
    """
    on_device = [i for i, v in enumerate(values) if get_array_module(v) is not np]
    out = [math.nan if i in on_device else float(v) for i, v in enumerate(values)]
    if on_device:
        xp = get_array_module(values[on_device[0]])
        stacked = xp.stack([xp.asarray(values[i], dtype=xp.float64) for i in on_device])
        for i, v in zip(on_device, to_numpy(stacked).tolist()):
            out[i] = float(v)
    return out
