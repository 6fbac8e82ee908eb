"""Finding a non-finite value in a set of arrays cheaply: one reduction per array.

A sum is finite only when no element is nan or inf, so the common case (everything finite) costs
one ``sum`` per array and a single host transfer for all of them; only a sum that came out nan
or inf (possibly an overflow of large finite values) is followed by the exact element check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from numnet.backend import get_array_module


def finite_probe(arrays):
    """One float64 scalar, left on the arrays' device: finite iff no array holds a nan or inf.

    (A huge but finite array may also overflow it: ``first_nonfinite`` tells the two apart.) The
    caller reads it with other values in one transfer (the Solver: with the loss). 0.0 for none.
    """
    total = 0.0
    for a in arrays:
        total = total + get_array_module(a).sum(a, dtype="float64")
    return total


def first_nonfinite(arrays: Mapping) -> str | None:
    """The name of the first array in ``arrays`` holding a nan or inf, or None if all are finite.

    Args:
        arrays: name -> array (NumPy or CuPy, any shape, floating dtype).
    """
    with np.errstate(all="ignore"):  # a nan or inf is the answer here, not a warning
        sums = [get_array_module(a).sum(a, dtype="float64") for a in arrays.values()]
        if not sums or math.isfinite(float(sum(sums))):
            return None
    for name, a in arrays.items():
        if not bool(get_array_module(a).isfinite(a).all()):
            return name
    return None
