"""Read a run's loss and accuracy curves and name the usual problems, with evidence.

:func:`diagnose` takes the rows of ``iterations.csv`` (``iteration``, ``loss``) and ``epochs.csv``
(``epoch``, ``train_acc``, ``val_acc``) and returns a list of :class:`Diagnosis`: empty means
nothing wrong was found. ``ref`` is ``ln C`` (the loss of equal scores for C classes; the first
loss when C is unknown). The loss curve is read through its means over 50 equal segments of the
run (``s_1`` .. ``s_50``, each 2% of the steps) and over its tenths (``d_1`` .. ``d_10``); the
loss rules need at least 50 steps, the accuracy rules at least 3 epoch-end checks (the row of
epoch 0, taken after the first step, only counts as the first gap).

These rules and thresholds are the only ones (the constants below hold the numbers):

=================  =========================================================================
diagnosis          when
=================  =========================================================================
``lr_too_high``    a loss is nan/inf (or training stopped on one); or a segment mean exceeds
                   ``EXPLODE`` (2) x ref; or the last 10% of the run averages more than
                   ``RISE`` (1.2) x the lowest segment mean, reached before 75% of the run,
                   and more than ``RISE_ABS`` (0.1) x ref above it
``bad_init``       a plateau then a sudden drop: the loss stays within ``PLATEAU_TOL`` (3%) of
                   ``s_1`` for at least ``PLATEAU_MIN`` (10%) of the run, then falls below
                   (1 - ``DROP``) x ``s_1`` (25% lower) within ``DROP_WITHIN`` (10%) of the run
``lr_too_low``     neither of the two above, and either the loss is flat (no tenth averages
                   ``FLAT`` (5%) below ``s_1``), or it declines slowly: the first tenth ``d_1``
                   averages less than ``EARLY_DROP`` (15%) below ``s_1`` and the loss still falls
                   at the end, ``d_6 - d_10`` being at least ``STILL_FALLING`` (10%) of
                   ``s_1 - d_10``
``overfitting``    the last check's train/val gap is at least ``GAP`` (5 points), it widened by
                   at least ``GAP_WIDEN`` (3 points) since the smallest gap of the first half
                   of the checks, and val accuracy gained less than ``STALL`` (1 point) since
                   the middle check
``underfitting``   none of the rules above fired, train and val accuracy end within ``CLOSE``
                   (5 points) of each other, train accuracy gained less than ``TRAIN_STALL``
                   (2 points) since the middle check, and the last 10% of the run averages a
                   loss above ``UNDERFIT_LOSS`` (0.5) x ref
``too_noisy``      ``lr_too_high`` did not fire, and in the second half of the run the loss's
                   deviation from its moving average (window: 2% of the run, at least 5 steps)
                   has a standard deviation above ``NOISE`` (0.3) x the second half's mean loss,
                   or x ``UNDERFIT_LOSS`` x ref where that is larger (a near-zero loss is not
                   called noisy for its relative wobble)
=================  =========================================================================

The thresholds were set on real Fashion-MNIST runs, one per problem, that
``scripts/babysit_docs.py`` trains and records (with the evidence printed for each) in
``docs/diagnose-examples.md``; the tests train small constructed runs that each show one problem.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from numnet import run_files as rf

__all__ = ["Diagnosis", "diagnose", "diagnose_run", "load_run", "not_judged"]

SEGMENTS = 50
MIN_STEPS = 50
MIN_CHECKS = 3
EXPLODE = 2.0
RISE = 1.2
RISE_ABS = 0.1
PLATEAU_TOL = 0.03
PLATEAU_MIN = 0.10
DROP = 0.25
DROP_WITHIN = 0.10
FLAT = 0.05
EARLY_DROP = 0.15
STILL_FALLING = 0.10
GAP = 0.05
GAP_WIDEN = 0.03
STALL = 0.01
CLOSE = 0.05
TRAIN_STALL = 0.02
UNDERFIT_LOSS = 0.5
NOISE = 0.3


@dataclass(frozen=True)
class Diagnosis:
    """One problem found.

    Attributes:
        name: ``"lr_too_high"``, ``"lr_too_low"``, ``"bad_init"``, ``"overfitting"``,
            ``"underfitting"`` or ``"too_noisy"``.
        title: the name in words.
        evidence: the numbers behind it (iterations, epochs, values).
        suggestion: what to try.
    """

    name: str
    title: str
    evidence: str
    suggestion: str


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


class _Curve:
    """The loss series read as the rules need it: segment means and positions."""

    def __init__(self, it: np.ndarray, loss: np.ndarray):
        self.it, self.loss, self.T = it, loss, len(loss)
        bounds = np.linspace(0, self.T, SEGMENTS + 1).round().astype(int)
        self.bounds = bounds
        self.s = np.asarray([loss[a:b].mean() for a, b in itertools.pairwise(bounds)])
        tenths = np.linspace(0, self.T, 11).round().astype(int)
        self.deciles = np.asarray([loss[a:b].mean() for a, b in itertools.pairwise(tenths)])

    def at(self, k: int) -> int:
        """The iteration where segment k (0-based) starts."""
        return int(self.it[self.bounds[k]])

    def tail(self, fraction: float) -> float:
        return float(self.loss[int(self.T * (1 - fraction)) :].mean())


def _lr_too_high(curve: _Curve | None, it, loss, ref: float, nonfinite_at) -> str | None:
    bad = np.flatnonzero(~np.isfinite(loss))
    if nonfinite_at is not None or bad.size:
        where = nonfinite_at if nonfinite_at is not None else int(it[bad[0]])
        finite = loss[np.isfinite(loss)]
        last = f"; last finite loss {finite[-1]:.4g}" if finite.size else ""
        return f"non-finite loss at iteration {where}{last}"
    if curve is None:
        if loss.size and loss[-1] > EXPLODE * ref:
            return f"loss {loss[-1]:.4g} at iteration {int(it[-1])}, above {EXPLODE:g} x {ref:.3g}"
        return None
    k = int(np.argmax(curve.s))
    if curve.s[k] > EXPLODE * ref:
        return (f"the loss averaged {curve.s[k]:.4g} over iterations {curve.at(k)}-"
                f"{curve.at(k + 1) if k + 1 < SEGMENTS else int(it[-1])}, above {EXPLODE:g} x "
                f"{ref:.3g} (the loss of equal scores)")  # fmt: skip
    low = int(np.argmin(curve.s))
    end = curve.tail(0.10)
    if low < 0.75 * SEGMENTS and end > RISE * curve.s[low] and end - curve.s[low] > RISE_ABS * ref:
        return (f"the loss rose from {curve.s[low]:.3g} (its lowest, near iteration "
                f"{curve.at(low)}) to {end:.3g} over the last 10% of the run")  # fmt: skip
    return None


def _bad_init(curve: _Curve) -> str | None:
    s, s1 = curve.s, curve.s[0]
    left = np.flatnonzero(np.abs(s - s1) > PLATEAU_TOL * s1)
    if not left.size:
        return None
    p = int(left[0])  # first segment off the plateau
    if p < PLATEAU_MIN * SEGMENTS or s[p] > s1:
        return None
    window = s[p : p + int(DROP_WITHIN * SEGMENTS) + 1]
    dropped = np.flatnonzero(window <= (1 - DROP) * s1)
    if not dropped.size:
        return None
    q = p + int(dropped[0])
    return (f"the loss stayed at {s1:.3g} (within {PLATEAU_TOL:.0%}) from the start to "
            f"iteration {curve.at(p)} ({p / SEGMENTS:.0%} of the run), then fell to {s[q]:.3g} "
            f"by iteration {curve.at(min(q + 1, SEGMENTS - 1))}")  # fmt: skip


def _lr_too_low(curve: _Curve, ref: float) -> str | None:
    s1, d = curve.s[0], curve.deciles
    at_ref = abs(s1 - ref) < PLATEAU_TOL * ref
    if s1 - d.min() < FLAT * s1:
        note = " (= ln C, the loss of equal scores for every class)" if at_ref else ""
        return (f"the loss never fell {FLAT:.0%} below its start {s1:.3g}{note} in {curve.T} "
                f"steps (lowest tenth-of-the-run mean {d.min():.3g})")  # fmt: skip
    total = s1 - d[-1]
    late = (d[5] - d[-1]) / total if total > 0 else 0.0
    if d[0] > (1 - EARLY_DROP) * s1 and late >= STILL_FALLING:
        return (f"a slow decline from {s1:.3g} to {d[-1]:.3g}: the first 10% of the run "
                f"averaged {d[0]:.3g}, only {1 - d[0] / s1:.0%} below the start, and the loss "
                f"still fell {d[5] - d[-1]:.3g} ({late:.0%} of the decline) from the run's "
                f"sixth tenth to its last")  # fmt: skip
    return None


def _checks(epochs: Sequence[Mapping]) -> list[Mapping]:
    return [r for r in epochs if r.get("epoch", 0) >= 1]


def _overfitting(rows, first: Mapping | None) -> str | None:
    mid = (len(rows) - 1) // 2
    early = ([first] if first is not None else []) + list(rows[: mid + 1])
    gaps = [r["train_acc"] - r["val_acc"] for r in early]
    k = int(np.argmin(gaps))
    last, m = rows[-1], rows[mid]
    gap = last["train_acc"] - last["val_acc"]
    gain = last["val_acc"] - m["val_acc"]
    if gap >= GAP and gap - gaps[k] >= GAP_WIDEN and gain < STALL:
        return (f"at epoch {last['epoch']} train {_pct(last['train_acc'])} vs val "
                f"{_pct(last['val_acc'])}: a gap of {100 * gap:.1f} points, up from "
                f"{100 * gaps[k]:.1f} at epoch {early[k]['epoch']}, while val changed "
                f"{100 * gain:+.1f} points since epoch {m['epoch']}")  # fmt: skip
    return None


def _underfitting(rows, curve: _Curve, ref: float) -> str | None:
    mid = (len(rows) - 1) // 2
    last, m = rows[-1], rows[mid]
    gain = last["train_acc"] - m["train_acc"]
    end = curve.tail(0.10)
    close = abs(last["train_acc"] - last["val_acc"]) < CLOSE
    if close and gain < TRAIN_STALL and end > UNDERFIT_LOSS * ref:
        return (f"at epoch {last['epoch']} train {_pct(last['train_acc'])} and val "
                f"{_pct(last['val_acc'])}; train accuracy changed {100 * gain:+.1f} points since "
                f"epoch {m['epoch']}; the loss ends at {end:.3g}, above {UNDERFIT_LOSS:g} x "
                f"{ref:.3g}")  # fmt: skip
    return None


def _too_noisy(curve: _Curve, ref: float) -> str | None:
    w = max(5, curve.T // SEGMENTS)
    if curve.T < 2 * w + 1:
        return None
    smooth = np.convolve(curve.loss, np.ones(w) / w, mode="valid")
    resid = curve.loss[w // 2 : w // 2 + smooth.size] - smooth
    noise = float(resid[resid.size // 2 :].std())
    level = float(curve.loss[curve.T // 2 :].mean())
    scale = max(level, UNDERFIT_LOSS * ref)
    if noise > NOISE * scale:
        return (f"in the second half of the run the loss deviates from its {w}-step moving "
                f"average by {noise:.3g} (standard deviation), {noise / scale:.0%} of "
                f"{'its mean' if scale == level else f'{UNDERFIT_LOSS:g} x {ref:.3g}'} "
                f"({scale:.3g})")  # fmt: skip
    return None


_ADVICE = {
    "lr_too_high": ("learning rate too high", "lower the learning rate 3-10x (numnet lr-find "
                    "suggests one), or clip gradients (--grad-clip)"),
    "bad_init": ("bad initialisation", "use a scaled init (kaiming for ReLU, xavier for tanh) "
                 "or batch norm; numnet inspect init and train --monitor show the activations"),
    "lr_too_low": ("learning rate too low", "raise the learning rate 3-10x (numnet lr-find); "
                   "if the loss sits at ln C, also check the initialisation (numnet inspect init)"),
    "overfitting": ("overfitting", "more data or --augment, regularisation (--reg, "
                    "--dropout-keep), or stop earlier (--patience)"),
    "underfitting": ("underfitting", "a larger model (more or wider layers), less "
                     "regularisation, or more epochs at a well-chosen learning rate"),
    "too_noisy": ("loss too noisy", "larger batches (--batch-size) or a lower learning rate"),
}  # fmt: skip


def diagnose(
    iterations: Sequence[Mapping],
    epochs: Sequence[Mapping] = (),
    num_classes: int | None = None,
    nonfinite_at: int | None = None,
) -> list[Diagnosis]:
    """Name the problems of a run (see the module docstring for every rule).

    Args:
        iterations: one row per step with ``iteration`` and ``loss`` (``iterations.csv``).
        epochs: one row per accuracy check with ``epoch``, ``train_acc`` and ``val_acc``
            (``epochs.csv``; the row of epoch 0 is not used).
        num_classes: C, for ``ref = ln C``; None takes the first loss instead.
        nonfinite_at: the iteration at which training stopped on a non-finite loss, if it did.

    Returns:
        the diagnoses found, in the order of the table; empty: nothing wrong.
    """
    it = np.asarray([r["iteration"] for r in iterations], dtype=np.int64)
    loss = np.asarray([r["loss"] for r in iterations], dtype=np.float64)
    ref = math.log(num_classes) if num_classes and num_classes > 1 else None
    if ref is None:
        ref = float(loss[0]) if loss.size and np.isfinite(loss[0]) and loss[0] > 0 else 1.0
    ok = bool(np.isfinite(loss).all())
    curve = _Curve(it, loss) if ok and loss.size >= MIN_STEPS else None
    found = {"lr_too_high": _lr_too_high(curve, it, loss, ref, nonfinite_at)}
    if curve is not None and found["lr_too_high"] is None:
        found["bad_init"] = _bad_init(curve)
        if found["bad_init"] is None:
            found["lr_too_low"] = _lr_too_low(curve, ref)
    rows = _checks(epochs)
    first = next((r for r in epochs if r.get("epoch", 0) < 1), None)
    if len(rows) >= MIN_CHECKS:
        found["overfitting"] = _overfitting(rows, first)
        if curve is not None and not any(found.values()):
            found["underfitting"] = _underfitting(rows, curve, ref)
    if curve is not None and found["lr_too_high"] is None:
        found["too_noisy"] = _too_noisy(curve, ref)
    return [Diagnosis(name, *_ADVICE[name][:1], found[name], _ADVICE[name][1])
            for name in _ADVICE if found.get(name)]  # fmt: skip


def not_judged(num_steps: int, num_checks: int) -> list[str]:
    """What a run of ``num_steps`` steps and ``num_checks`` epoch-end checks is too short for."""
    out = []
    if num_steps < MIN_STEPS:
        out.append(f"the loss rules need {MIN_STEPS} steps (this run has {num_steps})")
    if num_checks < MIN_CHECKS:
        out.append(f"the accuracy rules need {MIN_CHECKS} epoch-end checks (this run has "
                   f"{num_checks})")  # fmt: skip
    return out


def load_run(run_dir: str | os.PathLike) -> tuple[list[dict], list[dict], int | None]:
    """What :func:`diagnose` reads from a ``numnet train`` run directory.

    Returns:
        ``(iterations, epochs, num_classes)``: the rows of ``iterations.csv`` and ``epochs.csv``
        (empty without that file) and C from ``config.json``'s model config (None without it).

    Raises:
        RunFilesError: the directory or ``iterations.csv`` is missing, a file does not parse,
            or a column the rules read is missing.
    """
    run_dir = Path(run_dir)
    rf.check_run_dir(run_dir)
    iterations = rf.read_metrics(run_dir / rf.ITERATIONS)
    missing = [c for c in ("iteration", "loss") if iterations and c not in iterations[0]]
    epochs = rf.read_metrics(run_dir / rf.EPOCHS) if (run_dir / rf.EPOCHS).exists() else []
    missing += [c for c in ("epoch", "train_acc", "val_acc") if epochs and c not in epochs[0]]
    if missing:
        raise rf.RunFilesError(f"{run_dir}'s metrics lack the columns {missing}")
    num_classes = None
    if (run_dir / rf.CONFIG).exists():
        model = rf.read_json(run_dir / rf.CONFIG).get("model_config")
        num_classes = model.get("num_classes") if isinstance(model, dict) else None
    if isinstance(num_classes, bool) or not isinstance(num_classes, int):
        num_classes = None
    return iterations, epochs, num_classes


def diagnose_run(run_dir: str | os.PathLike, nonfinite_at: int | None = None) -> list[Diagnosis]:
    """:func:`diagnose` of a ``numnet train`` run directory (read by :func:`load_run`).

    Raises:
        RunFilesError: as :func:`load_run`.
    """
    return diagnose(*load_run(run_dir), nonfinite_at=nonfinite_at)
