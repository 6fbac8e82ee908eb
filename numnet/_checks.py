"""Validation helpers for public edges.

Every error names the argument, what was expected and what came. Hot inner loops do not call these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np


def _shape_str(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def check_ndim(name: str, x, ndim: int | Iterable[int], what: str = "") -> None:
    """Raise ValueError unless ``x.ndim`` is ``ndim`` (or one of them)."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if getattr(x, "ndim", None) not in allowed:
        exp = " or ".join(str(a) for a in allowed)
        extra = f" {what}" if what else ""
        got = getattr(x, "shape", type(x).__name__)
        raise ValueError(
            f"{name} must be a {exp}-D array{extra}, got ndim={getattr(x, 'ndim', None)} "
            f"(shape {_shape_str(got) if isinstance(got, tuple) else got})"
        )


def check_shape(name: str, x, expected: tuple) -> None:
    """Raise ValueError unless ``x.shape == expected`` (``None`` entries match any size)."""
    shape = getattr(x, "shape", None)
    ok = shape is not None and len(shape) == len(expected)
    ok = ok and all(e is None or e == s for e, s in zip(expected, shape))
    if not ok:
        exp = _shape_str(tuple("*" if e is None else e for e in expected))
        got = _shape_str(shape) if shape is not None else type(x).__name__
        raise ValueError(f"{name} must have shape {exp}, got {got}")


def check_floating(name: str, x) -> None:
    """Raise ValueError unless ``x`` has a floating dtype."""
    dtype = getattr(x, "dtype", None)
    if dtype is None or not np.issubdtype(dtype, np.floating):
        raise ValueError(f"{name} must be a floating-point array, got dtype {dtype}")


def check_labels(name: str, y, num_samples: int, num_classes: int) -> None:
    """Raise ValueError unless ``y`` is ``num_samples`` integer labels in ``[0, num_classes)``."""
    shape = getattr(y, "shape", None)
    if shape != (num_samples,):
        got = _shape_str(shape) if shape is not None else type(y).__name__
        raise ValueError(f"{name} must have shape ({num_samples},), got {got}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if num_samples:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= num_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{name} must be in [0, {num_classes}), got label {bad}")


def check_choice(name: str, value, allowed: Iterable) -> None:
    """Raise ValueError unless ``value`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        opts = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {opts}; got {value!r}")


def check_keys(name: str, mapping: Mapping, required: Iterable[str]) -> None:
    """Raise ValueError unless ``mapping`` holds every key in ``required``."""
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{name} must be a dict, got {type(mapping).__name__}")
    missing = [k for k in required if k not in mapping]
    if missing:
        raise ValueError(f"{name} is missing key(s) {missing}; it has {sorted(mapping)}")


def check_positive_int(name: str, value) -> None:
    """Raise ValueError unless ``value`` is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
