"""Coarse to fine: stages of trials, ranges narrowed around the best, warnings at range borders.

The course's advice: search wide ranges with short trials first, then narrow the ranges around
the best settings and train longer. A stage is a number of trials of a number of epochs; stage
``s + 1`` searches ranges that :func:`narrow` draws around the top ``top_k`` trials of stage ``s``.
After each stage :func:`edge_warnings` says which best values sit in the outer 10% of their range
(on the sampling scale), where the optimum may well lie outside the range.

No Optuna here: these functions work on plain parameter dicts.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from numnet.search.space import Choice, FloatRange, IntRange, Param, label

__all__ = ["Stage", "StageError", "edge_warnings", "narrow", "parse_stages", "stages_from_tables"]

#: Default number of best trials a stage's narrowed ranges are drawn around.
TOP_K = 5


class StageError(ValueError):
    """A stage list that cannot run (the message names the stage and the problem)."""


def _positive(name: str, v, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise StageError(f"{where}: {name} must be an integer >= 1, got {v!r}")
    return int(v)


@dataclass(frozen=True)
class Stage:
    """One stage of a coarse-to-fine search.

    Attributes:
        trials: finished trials the stage needs.
        epochs: epochs per trial (None: the builder's own).
        top_k: for stages after the first, how many of the previous stage's best trials the
            narrowed ranges cover.
    """

    trials: int
    epochs: int | None = None
    top_k: int = TOP_K

    def check(self, where: str = "stage") -> Stage:
        """This stage, or :class:`StageError` naming ``where``."""
        _positive("trials", self.trials, where)
        if self.epochs is not None:
            _positive("epochs", self.epochs, where)
        _positive("top_k", self.top_k, where)
        return self

    def to_dict(self) -> dict:
        """JSON form."""
        return {"trials": self.trials, "epochs": self.epochs, "top_k": self.top_k}


def parse_stages(text: str) -> list[Stage]:
    """``"30x1,10x5"``: 30 trials of 1 epoch, then 10 trials of 5 epochs (``"20"``: 20 trials).

    Raises:
        StageError: a malformed item, named.
    """
    stages = []
    for i, item in enumerate(t.strip() for t in str(text).split(",")):
        where = f"--stages item {i + 1} ({item!r})"
        parts = item.lower().split("x")
        if not item or len(parts) > 2 or not all(p.strip().isdigit() for p in parts):
            raise StageError(f"{where}: expected TRIALSxEPOCHS such as 30x1")
        epochs = int(parts[1]) if len(parts) == 2 else None
        stages.append(Stage(int(parts[0]), epochs).check(where))
    return stages


def stages_from_tables(tables: Sequence, where: str = "[[stage]]") -> list[Stage]:
    """Stages from TOML ``[[stage]]`` tables with ``trials``, optional ``epochs`` and ``top_k``."""
    if not isinstance(tables, (list, tuple)) or not tables:
        raise StageError(f"{where}: expected one or more [[stage]] tables")
    out = []
    for i, t in enumerate(tables):
        here = f"{where} {i + 1}"
        if not isinstance(t, Mapping):
            raise StageError(f"{here}: expected a table, got {t!r}")
        unknown = set(t) - {"trials", "epochs", "top_k"}
        if unknown:
            raise StageError(f"{here}: unknown key {sorted(unknown)[0]!r} (allowed: trials, "
                             "epochs, top_k)")  # fmt: skip
        if "trials" not in t:
            raise StageError(f"{here}: missing trials")
        out.append(Stage(t["trials"], t.get("epochs"), t.get("top_k", TOP_K)).check(here))
    return out


def narrow(
    space: Mapping[str, Param],
    top: Sequence[Mapping],
    *,
    margin: float = 0.25,
    min_width: float = 0.05,
) -> dict[str, Param]:
    """The next stage's space: each range shrunk to cover the ``top`` trials' values, plus margin.

    On the sampling scale (log for log ranges) the new range is ``[min - pad, max + pad]`` over
    the top trials' values, ``pad = max(margin * (max - min), min_width * (width of the old
    range) / 2)``, clipped to the old range. A choice keeps the values the top trials used.

    Args:
        space: this stage's space.
        top: the best trials' parameter values (``{name: value}``), at least one.
        margin: padding as a fraction of the spread of the top values.
        min_width: the narrowest a range gets, as a fraction of its old width.

    Returns:
        A new space with the same names; every top trial's value lies inside it.

    Raises:
        StageError: ``top`` is empty or misses a parameter.
    """
    if not top:
        raise StageError("no finished trial to narrow the ranges around")
    out: dict[str, Param] = {}
    for name, p in space.items():
        if any(name not in t for t in top):
            raise StageError(f"a top trial has no value for {name}")
        values = [t[name] for t in top]
        if isinstance(p, Choice):
            used = {label(v) for v in values}  # lists and tuples have the same JSON label
            out[name] = Choice(tuple(c for c in p.choices if label(c) in used))
            continue
        lo_old, hi_old = p.transform(p.low), p.transform(p.high)
        ts = [p.transform(v) for v in values]
        lo, hi = min(ts), max(ts)
        pad = max(margin * (hi - lo), min_width * (hi_old - lo_old) / 2)
        new_lo = p.untransform(max(lo_old, lo - pad))
        new_hi = p.untransform(min(hi_old, hi + pad))
        if isinstance(p, IntRange):
            ilo, ihi = math.floor(new_lo), math.ceil(new_hi)
            ilo, ihi = max(p.low, min(ilo, min(values))), min(p.high, max(ihi, max(values)))
            if ilo == ihi:  # an int range needs two values; the old range has room for one more
                ilo, ihi = (ilo - 1, ihi) if ilo > p.low else (ilo, ihi + 1)
            out[name] = IntRange(ilo, ihi, p.log, p.steps).check(name)
        else:
            # The exp/log round trip can move a bound by an ulp: keep the top values inside.
            new_lo = max(p.low, min(new_lo, min(values)))
            new_hi = min(p.high, max(new_hi, max(values)))
            out[name] = FloatRange(new_lo, new_hi, p.log, p.steps).check(name)
    return out


def edge_warnings(
    space: Mapping[str, Param], best: Mapping, fraction: float = 0.1, full=None
) -> list[str]:
    """Warnings for best values in the outer ``fraction`` of their range (on its sampling scale).

    Args:
        space: the space the stage searched.
        best: the best trial's values.
        fraction: the border share that counts as "at the edge".
        full: the first stage's space, to say whether the edge is that of the full range.

    Returns:
        One line per parameter at an edge, e.g. ``"lr = 0.93 lies in the top 10% of [1e-05, 1]
        (log scale): the best value may be above the range"``.
    """
    out = []
    for name, p in space.items():
        if isinstance(p, Choice) or name not in best:
            continue
        pos = p.position(best[name])
        if fraction <= pos <= 1 - fraction:
            continue
        side, where = ("lowest", "below") if pos < fraction else ("top", "above")
        scale = "log scale" if p.log else "linear scale"
        text = (
            f"{name} = {best[name]:.4g} lies in the {side} {fraction:.0%} of "
            f"[{p.low:.4g}, {p.high:.4g}] ({scale}): the best value may be {where} the range"
        )
        outer = full.get(name) if full is not None else None
        if outer is not None and not isinstance(outer, Choice) and outer != p:
            edge = p.low if pos < fraction else p.high
            if edge in (outer.low, outer.high):
                text += f"; widen the search's range [{outer.low:.4g}, {outer.high:.4g}]"
            else:
                text += " (an edge of the narrowed range)"
        out.append(text)
    return out
