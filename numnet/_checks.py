"""Validation helpers for public edges.

Every error names the argument, what was expected and what came. Hot inner loops do not call these.
This module imports no array library (dtypes are told apart by ``dtype.kind``): the command's
argument parsing uses it before NumPy may be loaded, which must wait for the thread settings.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping

_INTEGER_KINDS = ("i", "u")


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
    if getattr(dtype, "kind", None) != "f":
        raise ValueError(f"{name} must be a floating-point array, got dtype {dtype}")


def check_labels(name: str, y, num_samples: int, num_classes: int) -> None:
    """Raise ValueError unless ``y`` is ``num_samples`` integer labels in ``[0, num_classes)``."""
    shape = getattr(y, "shape", None)
    if shape != (num_samples,):
        got = _shape_str(shape) if shape is not None else type(y).__name__
        raise ValueError(f"{name} must have shape ({num_samples},), got {got}")
    if y.dtype.kind not in _INTEGER_KINDS:
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


def check_positive_int(name: str | None, value) -> int:
    """Return ``value`` as an int; raise ValueError unless it is an integer >= 1.

    Python and NumPy integers pass; bool and float do not (``2.0`` is not an int). With ``name``
    None the message starts at "must be", for a caller that puts the name in front (argparse).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        subject = f"{name} must" if name is not None else "must"
        raise ValueError(f"{subject} be a positive integer, got {value!r}")
    return int(value)


def check_positive_float(name: str, value, allow_none: bool = False):
    """Return ``value`` unchanged; raise ValueError unless it is a finite real number > 0.

    ``allow_none``: None passes too (an optional setting).
    """
    if value is None and allow_none:
        return None
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real)
    if not ok or not math.isfinite(float(value)) or float(value) <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def check_train_val_data(data, num_classes: int | None = None) -> None:
    """Raise ValueError unless ``data`` holds ``X_train``, ``y_train``, ``X_val``, ``y_val``.

    Each X is an array (N, ...) with a batch axis, each y an (N,) integer array of the same
    length, and neither split is empty. Other keys are allowed and ignored.

    Args:
        data: the dict.
        num_classes: C, when known: every label must then be in ``[0, C)``.
    """
    check_keys("data", data, ("X_train", "y_train", "X_val", "y_val"))
    for split in ("train", "val"):
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        for name, a in ((f"X_{split}", X), (f"y_{split}", y)):
            if not hasattr(a, "shape") or not hasattr(a, "dtype") or len(a.shape) == 0:
                got = type(a).__name__ if not hasattr(a, "shape") else f"shape {a.shape}"
                raise ValueError(f"data[{name!r}] must be an array with a batch axis, got {got}")
        if X.shape[0] != y.shape[0]:
            raise ValueError(
                f"data['X_{split}'] and data['y_{split}'] must have the same length, "
                f"got {X.shape[0]} and {y.shape[0]}"
            )
        if y.ndim != 1 or y.dtype.kind not in _INTEGER_KINDS:
            raise ValueError(
                f"data['y_{split}'] must be a 1-D array of integer labels, "
                f"got shape {y.shape} dtype {y.dtype}"
            )
        if X.shape[0] == 0:
            raise ValueError(f"data['X_{split}'] must hold at least one sample, got 0")
        if num_classes is not None:
            check_labels(f"data['y_{split}']", y, y.shape[0], num_classes)
