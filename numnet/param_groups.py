"""Groups of parameters by layer: the selector grammar of freezing and learning-rate multipliers.

numnet's models number their layers 1..L in forward order, and every parameter of layer ``n``
ends in ``n``: ``W3``, ``b3``, ``gamma3``, ``beta3`` (batch norm statistics: ``bn3.running_mean``).
The last layer, L, is the *head* (the output affine that gives the class scores).

A *selector* picks parameters of a model:

=================  =====================================================================
selector           parameters
=================  =====================================================================
``all``            every parameter
``head``           the head: the parameters of the highest-numbered layer
``base``           every parameter but the head's
``3``              layer 3 (``W3``, ``b3``, ``gamma3``, ``beta3``: whichever exist)
``2-4``            layers 2, 3 and 4
``W3``             the parameter of that name
``gamma*``         the parameters whose names match the pattern (``fnmatch``: ``*``, ``?``,
                   ``[...]``; case-sensitive)
=================  =====================================================================

A selector that picks nothing is an error naming the model's layers and parameters (a typo
must not silently select nothing). Lists of selectors are comma separated (``base,W4``), so a
pattern cannot hold a comma.

Learning-rate multipliers (``Solver(lr_mult=...)``, ``numnet train --lr-mult``) are
``SELECTOR=FACTOR`` entries, comma separated: ``base=0.1,head=1``. Every parameter starts at
factor 1; the entries apply left to right, so where selectors overlap the later one wins
(``all=0.1,head=1``: the head at 1, everything else at 0.1). Factors are finite and > 0 (freeze
a parameter to hold it fixed).

This module imports no NumPy: the command checks its options' syntax before NumPy loads.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterable, Mapping

__all__ = [
    "format_multipliers",
    "layer_of",
    "layers",
    "parse_multipliers",
    "parse_selectors",
    "resolve_multipliers",
    "select",
    "select_all",
]

_LAYER = re.compile(r"(\d+)$")
_RANGE = re.compile(r"^(\d+)-(\d+)$")
_KEYWORDS = ("all", "base", "head")


def layer_of(name: str) -> int | None:
    """The layer number a parameter or buffer name ends in; None for a name without one.

    ``"gamma3"`` and ``"bn3.running_mean"`` are layer 3; ``"W"`` has no layer.
    """
    stem = name.split(".", 1)[0]
    m = _LAYER.search(stem)
    return int(m.group(1)) if m else None


def layers(names: Iterable[str]) -> list[int]:
    """The sorted layer numbers of ``names`` (names without a number are left out)."""
    return sorted({n for n in map(layer_of, names) if n is not None})


def _head(names: list[str], selector: str) -> int:
    nums = layers(names)
    if not nums:
        raise ValueError(
            f"selector {selector!r} needs layer numbers, but no parameter name ends in one "
            f"(the model has {names})"
        )
    return nums[-1]


def select(names: Iterable[str], selector: str) -> list[str]:
    """The names (in the given order) that ``selector`` picks; see the module docstring.

    Args:
        names: the model's parameter names, e.g. ``model.params`` (its keys).
        selector: one selector (``"base"``, ``"3"``, ``"2-4"``, ``"W*"``, ...).

    Returns:
        The picked names, never empty.

    Raises:
        ValueError: an empty or malformed selector, a range that runs backwards, or a selector
            that picks nothing (the message lists the model's layers and parameters).
    """
    names = list(names)
    if not isinstance(selector, str) or not selector.strip():
        raise ValueError(f"a parameter selector must be a non-empty string, got {selector!r}")
    sel = selector.strip()
    if sel == "all":
        picked = list(names)
    elif sel in ("head", "base"):
        head = _head(names, sel)
        picked = [n for n in names if (layer_of(n) == head) == (sel == "head")]
    elif sel.isdigit() or _RANGE.match(sel):
        lo, hi = (int(sel), int(sel)) if sel.isdigit() else map(int, _RANGE.match(sel).groups())
        if lo < 1 or hi < lo:
            raise ValueError(f"layer range {sel!r} must be N or N-M with 1 <= N <= M")
        picked = [n for n in names if layer_of(n) is not None and lo <= layer_of(n) <= hi]
    else:
        picked = [n for n in names if fnmatch.fnmatchcase(n, sel)]
    if not picked:
        raise ValueError(
            f"parameter selector {selector!r} matches nothing; the model has layers "
            f"{layers(names)} and parameters {names} (selectors: all, base, head, a layer N, "
            "a range N-M, a name or a pattern such as W*)"
        )
    return picked


def parse_selectors(spec) -> list[str]:
    """``"base,W4"`` or a list of selectors as a list of selector strings (syntax only).

    Raises:
        ValueError: not a string or list of strings, or an empty entry.
    """
    if isinstance(spec, str):
        items = [s.strip() for s in spec.split(",")]
    elif isinstance(spec, (list, tuple)) and all(isinstance(s, str) for s in spec):
        items = [s.strip() for s in spec]
    else:
        raise ValueError(f"selectors must be a comma-separated string or a list, got {spec!r}")
    if not items or any(not s for s in items):
        raise ValueError(f"selectors must be non-empty and comma separated, got {spec!r}")
    return items


def select_all(names: Iterable[str], selectors) -> list[str]:
    """The union (in ``names``' order) of what every selector in ``selectors`` picks."""
    names = list(names)
    picked: set[str] = set()
    for sel in parse_selectors(selectors):
        picked.update(select(names, sel))
    return [n for n in names if n in picked]


def _factor(selector: str, value) -> float:
    try:
        f = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        f = math.nan
    if not math.isfinite(f) or f <= 0:
        raise ValueError(
            f"learning-rate multiplier of {selector!r} must be a finite number > 0, got {value!r}"
        )
    return f


def parse_multipliers(spec) -> dict[str, float]:
    """``"base=0.1,head=1"`` (or a dict) as ``{selector: factor}`` in order (syntax only).

    Raises:
        ValueError: an entry without ``=``, an empty selector, or a factor that is not a finite
            number > 0; the message names the entry.
    """
    if isinstance(spec, Mapping):
        items = list(spec.items())
    elif isinstance(spec, str):
        items = []
        for part in spec.split(","):
            sel, eq, value = part.partition("=")
            if not eq:
                raise ValueError(
                    f"learning-rate multiplier entry {part.strip()!r} must be SELECTOR=FACTOR "
                    "(e.g. base=0.1,head=1)"
                )
            items.append((sel.strip(), value.strip()))
    else:
        raise ValueError(f"lr_mult must be a 'SELECTOR=FACTOR,...' string or a dict, got {spec!r}")
    out: dict[str, float] = {}
    for sel, value in items:
        if not isinstance(sel, str) or not sel.strip():
            raise ValueError(f"learning-rate multiplier selector must be non-empty, got {sel!r}")
        out.pop(sel.strip(), None)  # a repeated selector moves to its last position
        out[sel.strip()] = _factor(sel, value)
    if not out:
        raise ValueError("lr_mult must hold at least one SELECTOR=FACTOR entry")
    return out


def format_multipliers(mults: Mapping[str, float]) -> str:
    """The ``"base=0.1,head=1"`` form of ``{selector: factor}``."""
    return ",".join(f"{sel}={factor:g}" for sel, factor in mults.items())


def resolve_multipliers(names: Iterable[str], spec) -> dict[str, float]:
    """Every name's learning-rate factor under ``spec`` (1 where no entry picks it).

    Args:
        names: the model's parameter names.
        spec: ``"SELECTOR=FACTOR,..."``, a dict ``{selector: factor}``, or None (all 1).

    Returns:
        ``{name: factor}`` for every name; entries apply left to right (the later wins).

    Raises:
        ValueError: see ``parse_multipliers`` and ``select``.
    """
    names = list(names)
    out = dict.fromkeys(names, 1.0)
    if spec is None:
        return out
    for sel, factor in parse_multipliers(spec).items():
        for n in select(names, sel):
            out[n] = factor
    return out
