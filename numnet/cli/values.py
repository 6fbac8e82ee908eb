"""Values of the command's options: strings from flags and values from TOML files, checked.

Each converter takes a command-line string or a TOML value and returns the option's value, or
raises ValueError with the reason (argparse and the config loader put the option's name before it).
"""

from __future__ import annotations

import math

from numnet._checks import check_positive_int


def number(s) -> float:
    """A finite float from a string or TOML value."""
    if isinstance(s, bool):
        raise ValueError(f"expected a number, got {s!r}")
    try:
        v = float(s)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {s!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"must be a finite number, got {s!r}")
    return v


def nonneg_number(s) -> float:
    """A finite float >= 0."""
    v = number(s)
    if v < 0:
        raise ValueError(f"must be >= 0, got {s!r}")
    return v


def pos_number(s) -> float:
    """A finite float > 0."""
    v = number(s)
    if v <= 0:
        raise ValueError(f"must be > 0, got {s!r}")
    return v


def keep_ratio(s) -> float:
    """A dropout keep probability in (0, 1]."""
    v = number(s)
    if not 0 < v <= 1:
        raise ValueError(f"must be a keep probability in (0, 1], got {s!r}")
    return v


def momentum(s) -> float:
    """A momentum coefficient in [0, 1) (at 1 or more the velocity never decays: divergence)."""
    v = number(s)
    if not 0 <= v < 1:
        raise ValueError(f"must be in [0, 1), got {s!r}")
    return v


def integer(s, low: int) -> int:
    """An int >= ``low`` (floats and bools refused, not truncated)."""
    if isinstance(s, (float, bool)):
        raise ValueError(f"expected an integer, got {s!r}")
    try:
        v = int(s)
    except (TypeError, ValueError):
        raise ValueError(f"expected an integer, got {s!r}") from None
    if v < low:
        raise ValueError(f"must be >= {low}, got {s!r}")
    return v


def pos_int(s) -> int:
    """An int >= 1, checked by the library's positive-int check."""
    return check_positive_int(None, integer(s, -math.inf))  # integer parses, the library checks


def nonneg_int(s) -> int:
    """An int >= 0."""
    return integer(s, 0)


def int_list(s) -> list[int]:
    """Positive ints from a list or a comma-separated string (``"512,256"``)."""
    if isinstance(s, (list, tuple)):
        items = list(s)
    else:
        items = [t for t in str(s).replace(" ", "").split(",") if t]
    return [pos_int(t) for t in items]


def boolean(s) -> bool:
    """A TOML boolean."""
    if isinstance(s, bool):
        return s
    raise ValueError(f"must be true or false, got {s!r}")


def string(s) -> str:
    """A string."""
    if not isinstance(s, str):
        raise ValueError(f"must be a string, got {s!r}")
    return s


def path(s) -> str:
    """A non-empty path string (``''`` would silently mean the current folder)."""
    if string(s) == "":
        raise ValueError("must name a folder, got ''")  # '' would silently mean "here"
    return s
