"""Suggestion rules of the learning-rate range test: read a learning rate off a sweep's losses.

A rule (:class:`Rule`) smooths the losses, finds a point of the curve and scales that point's
learning rate. Named rules (:data:`RULES`): ``steep`` (steepest descent of the smoothed loss
against log lr, Lightning's), ``valley`` (fastai's default: the middle of the longest descending
stretch) and ``minimum/10`` (fastai's ``minimum``), all on fastai's smoothing; and numnet's default
``numnet``: smooth with an 11-point centred mean (no lag, unlike the EMA), take the knee, the first
lr at which the smoothed loss has made 90% of its drop from the start to its minimum, and double
it. ``benchmarks/lr_find_rules.py`` chose it (``benchmarks/LR_FIND.md``, README "Babysitting a
run"): on Fashion-MNIST, sgd_momentum and adam, FullyConnectedNet and ConvNet, with range tests of
three seeds, the validation accuracy reached at its suggestion was within 0.36 points of the best
lr of a quarter-decade grid in all 12 cases, while each published rule missed by more than a point
somewhere (valley by 2.1, minimum/10 by 2.7, steep by 82: fooled by early noise). Among the
screened candidates it was not the single best on paper, but the one whose result did not depend on
the smoothing width (2 to 8 points either side).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: EMA weight of the past in the smoothed loss (fastai's).
BETA = 0.98


def ema(losses, beta: float = BETA) -> np.ndarray:
    """Bias-corrected exponential moving average (causal: it lags the curve), shape (T,)."""
    out, avg = np.empty(len(losses)), 0.0
    for t, x in enumerate(np.asarray(losses, np.float64), start=1):
        avg = beta * avg + (1.0 - beta) * x
        out[t - 1] = avg / (1.0 - beta**t)
    return out


def centered(losses, half: int) -> np.ndarray:
    """Mean of the ``2 * half + 1`` points around each point (fewer at the ends): no lag."""
    x = np.asarray(losses, np.float64)
    c = np.concatenate([[0.0], np.cumsum(x)])
    i = np.arange(len(x))
    lo, hi = np.maximum(0, i - half), np.minimum(len(x), i + half + 1)
    return (c[hi] - c[lo]) / (hi - lo)


def _steep(lrs, curve, rule) -> int:
    """Steepest descent of ``curve`` against log lr (Lightning's and fastai's ``steep``)."""
    return int(np.argmin(np.diff(curve) / np.diff(np.log10(lrs)))) + 1


def _minimum(lrs, curve, rule) -> int:
    """The lowest point."""
    return int(np.argmin(curve))


def _valley(lrs, curve, rule) -> int:
    """The ``valley`` of fastai: the longest descending run; 1/2 into its middle third."""
    n = len(curve)
    lds = [1] * n
    start = end = 0
    for i in range(1, n):
        for j in range(i):
            if curve[i] < curve[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
        if lds[end] < lds[i]:
            end = i
            start = end - lds[end]
    third = (end - start) / 3
    return min(n - 1, start + int(third) + int(third / 2))


def _knee(lrs, curve, rule) -> int:
    """The first point with only ``rule.fraction`` of the drop to the minimum left.

    The drop runs from the curve's first value to its minimum; the knee is where the fast
    descent ends.
    """
    low = int(np.argmin(curve))
    target = curve[low] + rule.fraction * (curve[0] - curve[low])
    return int(np.argmax(curve[: low + 1] <= target))


#: Where a rule reads the curve: ``(lrs, curve, rule) -> index``.
POINTS = {"steep": _steep, "valley": _valley, "minimum": _minimum, "knee": _knee}


@dataclass(frozen=True)
class Rule:
    """A suggestion rule: smooth the losses, find a point of the curve, scale its lr.

    Attributes:
        smoothing: ``"ema"`` (:func:`ema` with ``BETA``, what fastai and the sweep's divergence
            test use) or ``"centered"`` (:func:`centered` with ``half`` points either side).
        point: a name in :data:`POINTS`.
        factor: the suggestion is the point's lr times this.
        half: half-width of the centered smoothing, in sweep steps.
        fraction: for the ``knee``: the part of the drop still to go there.
    """

    smoothing: str
    point: str
    factor: float = 1.0
    half: int = 5
    fraction: float = 0.1

    def curve(self, losses) -> np.ndarray:
        """The smoothed losses this rule reads, shape (T,)."""
        return ema(losses) if self.smoothing == "ema" else centered(losses, self.half)


#: Named rules, the default first (the names are also ``numnet._names.LR_FIND_RULES``):
#: numnet's own, chosen by measurement (see the module docstring), and the published ones on
#: fastai's smoothing. numnet's: smooth with an 11-point centred mean (no lag), find the knee,
#: the first lr where the loss has made 90% of its drop to the minimum, and double it.
RULES = {
    "numnet": Rule("centered", "knee", 2.0),
    "steep": Rule("ema", "steep"),
    "valley": Rule("ema", "valley"),
    "minimum/10": Rule("ema", "minimum", 0.1),
}
#: The rule ``suggest_lr`` uses unless told otherwise.
DEFAULT_RULE = "numnet"


def suggest_lr(lrs, losses, rule: str | Rule | None = None) -> float | None:
    """The learning rate that ``rule`` reads off a sweep's losses.

    Only the points before the sweep ran away count: non-finite losses end the curve, and so
    does the first point after the smoothed minimum whose smoothed loss is above the first one.

    Args:
        lrs: (T,) learning rates, increasing.
        losses: (T,) the raw losses of the sweep's steps.
        rule: a name in :data:`RULES`, a :class:`Rule`, or None for :data:`DEFAULT_RULE`.

    Returns:
        The suggested learning rate, or None when fewer than 3 points are left (too short to
        read anything off).

    Raises:
        ValueError: an unknown rule name, or ``lrs`` and ``losses`` of different shapes.
    """
    if not isinstance(rule, Rule):
        name = DEFAULT_RULE if rule is None else rule
        if name not in RULES:
            raise ValueError(f"rule must be one of {', '.join(RULES)}, got {name!r}")
        rule = RULES[name]
    lrs, losses = np.asarray(lrs, np.float64), np.asarray(losses, np.float64)
    if lrs.shape != losses.shape or lrs.ndim != 1:
        raise ValueError(
            f"lrs and losses must be 1-D of one length, got {lrs.shape} and {losses.shape}"
        )
    ok = np.isfinite(losses) & np.isfinite(lrs) & (lrs > 0)
    n = len(ok) if ok.all() else int(np.argmin(ok))
    if n < 3:
        return None
    lrs, curve = lrs[:n], rule.curve(losses[:n])
    low = int(np.argmin(curve))
    above = np.nonzero(curve[low:] > curve[0])[0]
    if above.size:
        lrs, curve = lrs[: low + above[0]], curve[: low + above[0]]
    return float(lrs[POINTS[rule.point](lrs, curve, rule)] * rule.factor)
