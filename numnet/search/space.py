"""Search spaces: one entry per hyperparameter, checked completely before any trial runs.

A space is a dict ``name -> FloatRange | IntRange | Choice``. :func:`parse_space` builds one from
TOML-like tables::

    [lr]                       # log-uniform float: sampled uniformly in log(lr)
    low = 1e-5
    high = 1.0
    log = true
    [dropout_keep]             # uniform float
    low = 0.5
    high = 1.0
    [optimizer]                # categorical
    choices = ["adam", "sgd_momentum"]
    [hidden_dims]              # categorical of lists
    choices = [[512, 256], [256]]

``steps = N`` in a range gives the points the grid sampler tries (log-spaced with ``log``).

This module needs no Optuna: the command validates a space file with it before Optuna loads.
:func:`suggest` turns a space into ``trial.suggest_*`` calls.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Choice",
    "FloatRange",
    "IntRange",
    "SpaceError",
    "grid_values",
    "parse_space",
    "space_from_dict",
    "space_to_dict",
    "suggest",
]

#: Values Optuna stores as categorical choices as they are; anything else goes as its JSON text.
_SCALARS = (type(None), bool, int, float, str)


class SpaceError(ValueError):
    """A search space that cannot be searched; the message names the parameter and the reason."""


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check_steps(name: str, steps) -> int | None:
    if steps is None:
        return None
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 2:
        raise SpaceError(f"{name}: steps must be an integer >= 2, got {steps!r}")
    return int(steps)


@dataclass(frozen=True)
class FloatRange:
    """A float in ``[low, high]``, uniform, or uniform in ``log`` space when ``log`` is true.

    Attributes:
        low, high: the bounds, ``low < high``; with ``log``, ``low > 0``.
        log: sample ``exp(uniform(log low, log high))``.
        steps: points of the grid sampler's grid (None: the grid sampler cannot use it).
    """

    low: float
    high: float
    log: bool = False
    steps: int | None = None

    def check(self, name: str) -> FloatRange:
        """This range, or :class:`SpaceError` naming ``name`` and what is wrong."""
        for key in ("low", "high"):
            v = getattr(self, key)
            if not _is_number(v) or not math.isfinite(v):
                raise SpaceError(f"{name}: {key} must be a finite number, got {v!r}")
        if not isinstance(self.log, bool):
            raise SpaceError(f"{name}: log must be true or false, got {self.log!r}")
        if not self.low < self.high:
            raise SpaceError(f"{name}: low ({self.low!r}) must be < high ({self.high!r})")
        if self.log and self.low <= 0:
            raise SpaceError(f"{name}: a log range needs low > 0, got low = {self.low!r}")
        _check_steps(name, self.steps)
        return self

    def transform(self, v: float) -> float:
        """``v`` on the sampling scale (``log v`` for log ranges)."""
        return math.log(v) if self.log else float(v)

    def untransform(self, t: float) -> float:
        """Inverse of :meth:`transform`."""
        return math.exp(t) if self.log else float(t)

    def position(self, v: float) -> float:
        """Where ``v`` lies in the range on the sampling scale: 0 at ``low``, 1 at ``high``."""
        lo, hi = self.transform(self.low), self.transform(self.high)
        return (self.transform(v) - lo) / (hi - lo)

    def grid(self) -> list[float]:
        """``steps`` points from low to high, evenly spaced on the sampling scale."""
        lo, hi = self.transform(self.low), self.transform(self.high)
        n = self.steps
        pts = [self.untransform(lo + (hi - lo) * i / (n - 1)) for i in range(n)]
        pts[0], pts[-1] = float(self.low), float(self.high)  # exact ends, inside the range
        return pts


@dataclass(frozen=True)
class IntRange:
    """An integer in ``[low, high]`` (both included), uniform or uniform in log space."""

    low: int
    high: int
    log: bool = False
    steps: int | None = None

    def check(self, name: str) -> IntRange:
        """This range, or :class:`SpaceError` naming ``name`` and what is wrong."""
        for key in ("low", "high"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise SpaceError(f"{name}: {key} must be an integer, got {v!r}")
        if not isinstance(self.log, bool):
            raise SpaceError(f"{name}: log must be true or false, got {self.log!r}")
        if not self.low < self.high:
            raise SpaceError(f"{name}: low ({self.low!r}) must be < high ({self.high!r})")
        if self.log and self.low <= 0:
            raise SpaceError(f"{name}: a log range needs low > 0, got low = {self.low!r}")
        _check_steps(name, self.steps)
        return self

    transform = FloatRange.transform
    untransform = FloatRange.untransform
    position = FloatRange.position

    def grid(self) -> list[int]:
        """``steps`` distinct integers from low to high (every integer when steps is None)."""
        if self.steps is None:
            return list(range(self.low, self.high + 1))
        pts = FloatRange(float(self.low), float(self.high), self.log, self.steps).grid()
        return sorted({min(self.high, max(self.low, round(p))) for p in pts})


@dataclass(frozen=True)
class Choice:
    """One of ``choices`` (any JSON values: strings, numbers, booleans, lists)."""

    choices: tuple

    def check(self, name: str) -> Choice:
        """These choices, or :class:`SpaceError` naming ``name`` and what is wrong."""
        if not isinstance(self.choices, tuple) or not self.choices:
            raise SpaceError(f"{name}: choices must be a non-empty list, got {self.choices!r}")
        labels = [label(c) for c in self.choices]
        dup = next((c for c, n in zip(self.choices, labels) if labels.count(n) > 1), None)
        if dup is not None:
            raise SpaceError(f"{name}: choice {dup!r} is listed twice")
        return self

    def labels(self) -> list:
        """The choices as Optuna stores them (scalars as they are, others as JSON text)."""
        return [label(c) for c in self.choices]

    def value(self, stored) -> Any:
        """The choice whose label is ``stored``."""
        for c in self.choices:
            if label(c) == stored:
                return c
        raise KeyError(f"{stored!r} is not one of the choices {list(self.choices)!r}")


Param = FloatRange | IntRange | Choice


def label(value) -> Any:
    """How Optuna stores a choice: scalars as they are, lists and tables as JSON text."""
    if isinstance(value, _SCALARS):
        return value
    return json.dumps(value, sort_keys=True)


_RANGE_KEYS = {"low", "high", "log", "steps"}


def parse_space(
    table: Mapping,
    *,
    where: str = "space",
    kind_of: Callable[[str], str] | None = None,
    convert: Callable[[str, Any], Any] | None = None,
    reserved: tuple[str, ...] = (),
) -> dict[str, Param]:
    """A space from ``{name: {low, high[, log][, steps]} | {choices}}`` tables.

    Args:
        table: the parsed TOML (or any mapping of mappings).
        where: what to call the source in errors (e.g. the file name).
        kind_of: ``kind_of(name) -> "float" | "int" | "categorical"``; raises ValueError for a
            name that cannot be searched. None: a range is an int range when both bounds are
            integers, else a float range; any name goes.
        convert: ``convert(name, value) -> value``; raises ValueError for a value the name does
            not take (each bound and each choice is checked). None: no check.
        reserved: top-level keys that are not parameters (skipped, e.g. ``"stage"``).

    Returns:
        ``{name: FloatRange | IntRange | Choice}`` in the table's order.

    Raises:
        SpaceError: one line naming ``where``, the parameter and what is wrong.
    """
    space: dict[str, Param] = {}
    for raw_name, spec in table.items():
        if raw_name in reserved:
            continue
        name = str(raw_name).replace("-", "_")
        try:
            space[name] = _parse_one(name, spec, kind_of, convert)
        except SpaceError as e:
            raise SpaceError(f"{where}: [{raw_name}]: {_after_name(e, name)}") from None
        if sum(1 for n in table if str(n).replace("-", "_") == name) > 1:
            raise SpaceError(f"{where}: {name} is given twice")
    if not space:
        raise SpaceError(f"{where}: no parameter to search (add a table such as [lr])")
    return space


def _after_name(e: SpaceError, name: str) -> str:
    text = str(e)
    return text[len(name) + 2 :] if text.startswith(f"{name}: ") else text


def _parse_one(name, spec, kind_of, convert) -> Param:
    if not isinstance(spec, Mapping):
        raise SpaceError(
            f"{name}: expected a table with low/high or choices, got the value {spec!r} "
            "(fixed values go in [fixed] or on the command line)"
        )
    keys = set(spec)
    if kind_of is not None:
        try:
            kind = kind_of(name)
        except ValueError as e:
            raise SpaceError(f"{name}: {e}") from None
    else:
        kind = "categorical" if "choices" in keys else None
    if "choices" in keys:
        extra = keys - {"choices"}
        if extra:
            raise SpaceError(f"{name}: choices cannot be combined with {', '.join(sorted(extra))}")
        choices = spec["choices"]
        if not isinstance(choices, (list, tuple)):
            raise SpaceError(f"{name}: choices must be a list, got {choices!r}")
        out = Choice(tuple(_convert(name, c, convert) for c in choices)).check(name)
        return Choice(tuple(_freeze(c) for c in out.choices))
    unknown = keys - _RANGE_KEYS
    if unknown:
        allowed = "low, high, log, steps or choices"
        raise SpaceError(f"{name}: unknown key {sorted(unknown)[0]!r} (allowed: {allowed})")
    missing = [k for k in ("low", "high") if k not in keys]
    if missing:
        raise SpaceError(f"{name}: missing {' and '.join(missing)} (or give choices)")
    if kind == "categorical":
        raise SpaceError(f"{name}: takes no range; list its values as choices = [...]")
    low, high = spec["low"], spec["high"]
    log, steps = spec.get("log", False), spec.get("steps")
    if kind is None:
        both_int = all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                       for v in (low, high))  # fmt: skip
        kind = "int" if both_int else "float"
    if kind == "int":
        rng: Param = IntRange(low, high, log, steps).check(name)
    else:
        if not (_is_number(low) and _is_number(high)):
            bad = low if not _is_number(low) else high
            raise SpaceError(f"{name}: low and high must be numbers, got {bad!r}")
        rng = FloatRange(float(low), float(high), log, steps).check(name)
    for key in ("low", "high"):
        _convert(name, getattr(rng, key), convert, key)
    return rng


def _convert(name, value, convert, what="choice"):
    if convert is None:
        return value
    try:
        return convert(name, value)
    except (ValueError, TypeError) as e:
        raise SpaceError(f"{name}: {what} {value!r} is not allowed: {e}") from None


def _freeze(v):
    return tuple(v) if isinstance(v, list) else v


def suggest(trial, space: Mapping[str, Param]) -> dict[str, Any]:
    """Sample every parameter of ``space`` through an Optuna trial.

    Args:
        trial: an ``optuna.Trial``.
        space: from :func:`parse_space`.

    Returns:
        ``{name: value}``: floats, ints, or the choices themselves (lists come back as lists).
    """
    params = {}
    for name, p in space.items():
        if isinstance(p, FloatRange):
            params[name] = trial.suggest_float(name, p.low, p.high, log=p.log)
        elif isinstance(p, IntRange):
            params[name] = trial.suggest_int(name, p.low, p.high, log=p.log)
        else:
            v = p.value(trial.suggest_categorical(name, p.labels()))
            params[name] = list(v) if isinstance(v, tuple) else v
    return params


def decode(space: Mapping[str, Param], stored: Mapping[str, Any]) -> dict[str, Any]:
    """Values of a finished trial's ``params`` (as Optuna stored them) in the space's terms."""
    out = {}
    for name, v in stored.items():
        p = space.get(name)
        if isinstance(p, Choice):
            v = p.value(v)
            v = list(v) if isinstance(v, tuple) else v
        out[name] = v
    return out


def grid_values(space: Mapping[str, Param]) -> dict[str, list]:
    """The grid sampler's search space: every range needs ``steps`` (int ranges may omit it).

    Raises:
        SpaceError: a float range without ``steps``.
    """
    out = {}
    for name, p in space.items():
        if isinstance(p, FloatRange):
            if p.steps is None:
                raise SpaceError(f"{name}: the grid sampler needs steps = N in this range")
            out[name] = p.grid()
        elif isinstance(p, IntRange):
            out[name] = p.grid()
        else:
            out[name] = p.labels()
    return out


def space_to_dict(space: Mapping[str, Param]) -> dict[str, dict]:
    """JSON form: the tables :func:`parse_space` reads, each with its ``type``."""
    out = {}
    for name, p in space.items():
        if isinstance(p, Choice):
            choices = [list(c) if isinstance(c, tuple) else c for c in p.choices]
            out[name] = {"type": "categorical", "choices": choices}
        else:
            kind = "int" if isinstance(p, IntRange) else "float"
            out[name] = {"type": kind, "low": p.low, "high": p.high, "log": p.log}
            if p.steps is not None:
                out[name]["steps"] = p.steps
    return out


def space_from_dict(d: Mapping[str, Mapping]) -> dict[str, Param]:
    """Inverse of :func:`space_to_dict`."""
    kinds = {name: t.get("type") for name, t in d.items()}
    tables = {name: {k: v for k, v in t.items() if k != "type"} for name, t in d.items()}

    def kind_of(name):
        if kinds[name] not in ("int", "float", "categorical"):
            raise ValueError(f"unknown type {kinds[name]!r}")
        return kinds[name]

    return parse_space(tables, where="stored space", kind_of=kind_of)
