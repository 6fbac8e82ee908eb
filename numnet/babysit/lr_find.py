"""The learning-rate range test: an exponential lr sweep, its smoothed loss, a suggested lr.

``lr_range_test(solver)`` trains the run's model for up to ``num_steps`` minibatches while the
learning rate grows geometrically from ``min_lr`` to ``max_lr`` (one step per lr), records the
loss, smooths it (bias-corrected exponential moving average, weight ``beta`` on the past) and
stops early when the smoothed loss exceeds ``diverge`` times its lowest value, or when a loss or
gradient is not finite (that ends the sweep, not the program). :func:`suggest_lr` then reads a
learning rate off the losses with one of :data:`RULES`.

What the test leaves behind: nothing. It runs its own ``Solver`` on the same model and data (the
run's update rule and settings, a fresh optimizer state, a copy of the run's Generator, so it
sees the batches the run would see), and afterwards puts back the run's state with
``solver.load_state_dict`` (params, batchnorm buffers, optimizer state, the model's and the
Solver's Generators), the model's params as they were before the test (``load_state_dict`` gives
the params after the last step, which after ``train()`` are not the ones the model holds), and
NumPy's global random state. A ``train()`` after the test is bit for bit the one without it.

The rules: ``steep`` (steepest descent of the smoothed loss against log lr, Lightning's),
``valley`` (fastai's default: the middle of the longest descending stretch) and ``minimum/10``
(fastai's ``minimum``), all on fastai's smoothing; and numnet's default ``numnet``: smooth with
an 11-point centred mean (no lag, unlike the EMA), take the knee, the first lr at which the
smoothed loss has made 90% of its drop from the start to its minimum, and double it.
``benchmarks/lr_find_rules.py`` chose it (``benchmarks/LR_FIND.md``, README "Babysitting a
run"): on Fashion-MNIST, sgd_momentum and adam, FullyConnectedNet and ConvNet, with range tests
of three seeds, the validation accuracy reached at its suggestion was within 0.36 points of the
best lr of a quarter-decade grid in all 12 cases, while each published rule missed by more
than a point somewhere (valley by 2.1, minimum/10 by 2.7, steep by 82: fooled by early
noise). Among the screened candidates it was not the single best on paper, but the one whose
result did not depend on the smoothing width (2 to 8 points either side).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from numnet import _random, _state
from numnet.callbacks import NonFiniteLossError
from numnet.schedules import Schedule

#: ``--min-lr``, ``--max-lr``, ``--steps`` defaults: fastai's sweep (1e-7 to 10, 100 steps).
MIN_LR, MAX_LR, NUM_STEPS = 1e-7, 10.0, 100
#: EMA weight of the past in the smoothed loss (fastai's).
BETA = 0.98
#: The sweep stops once the smoothed loss exceeds this many times its lowest value.
DIVERGE = 4.0


@dataclass(frozen=True)
class LRFindResult:
    """What one sweep measured.

    Attributes:
        lrs: (T,) learning rate of each step taken.
        losses: (T,) training loss of each step (the minibatch's, before its update).
        smoothed: (T,) bias-corrected EMA of ``losses``.
        stop_reason: ``"completed"`` (all steps), ``"diverged"`` (smoothed loss above
            ``diverge`` x its minimum) or ``"non-finite"`` (a nan/inf loss or gradient).
        message: one line saying why the sweep stopped, with the step and learning rate.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    stop_reason: str
    message: str

    def suggestion(self, rule=None) -> float | None:
        """:func:`suggest_lr` on this sweep (``rule``: a name, a :class:`Rule`, None: default)."""
        return suggest_lr(self.lrs, self.losses, rule)


class _Sweep(Schedule):
    """Factor ``(max_lr / min_lr) ** (t / (T - 1))`` at step t: base lr ``min_lr`` -> ``max_lr``."""

    name = "lr_sweep"

    def __init__(self, ratio: float, num_steps: int):
        self.ratio, self.num_steps = float(ratio), int(num_steps)

    def __call__(self, epoch, iteration):
        return self.ratio ** (min(iteration, self.num_steps - 1) / max(1, self.num_steps - 1))

    def get_config(self):
        return {"name": self.name, "ratio": self.ratio, "num_steps": self.num_steps}


class _Recorder:
    """Callback of the sweep: records each step, smooths, and stops at divergence or the end."""

    def __init__(self, num_steps: int, beta: float, diverge: float):
        self.num_steps, self.beta, self.diverge = num_steps, beta, diverge
        self.lrs, self.losses, self.smoothed = [], [], []
        self._avg, self.diverged = 0.0, False

    def on_batch_end(self, solver, logs):
        self.lrs.append(float(logs["lr"]))
        self.losses.append(float(logs["loss"]))
        self._avg = self.beta * self._avg + (1.0 - self.beta) * self.losses[-1]
        self.smoothed.append(self._avg / (1.0 - self.beta ** len(self.losses)))
        if self.smoothed[-1] > self.diverge * min(self.smoothed):
            self.diverged = solver.stop_training = True
        if len(self.losses) >= self.num_steps:
            solver.stop_training = True


def _check(min_lr, max_lr, num_steps, beta, diverge) -> None:
    for name, v in (("min_lr", min_lr), ("max_lr", max_lr)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < math.inf:
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    if not min_lr < max_lr:
        raise ValueError(f"min_lr must be below max_lr, got min_lr={min_lr} max_lr={max_lr}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 2:
        raise ValueError(f"num_steps must be an int >= 2, got {num_steps!r}")
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta!r}")
    if not diverge > 1:
        raise ValueError(f"diverge must be > 1, got {diverge!r}")


def lr_range_test(
    solver,
    *,
    min_lr: float = MIN_LR,
    max_lr: float = MAX_LR,
    num_steps: int = NUM_STEPS,
    beta: float = BETA,
    diverge: float = DIVERGE,
) -> LRFindResult:
    """Run the range test on ``solver``'s model, data and update rule; leave everything as it was.

    Args:
        solver: a ``numnet.solver.Solver`` (before ``train()``, or between a resume's calls).
            Its update rule, ``optim_config`` (other than the learning rate), batch size,
            ``shuffle``, ``grad_clip`` and Generator are used; its schedule is not.
        min_lr: learning rate of the first step.
        max_lr: learning rate of step ``num_steps`` (if the sweep gets there).
        num_steps: steps of the sweep (int >= 2).
        beta: EMA weight of the past for the smoothed loss, in [0, 1).
        diverge: stop when the smoothed loss exceeds this multiple of its minimum (> 1).

    Returns:
        An :class:`LRFindResult`; ``result.suggestion()`` is the suggested learning rate.

    Raises:
        ValueError: a bad argument (named).
    """
    from numnet.solver import Solver

    _check(min_lr, max_lr, num_steps, beta, diverge)
    state = solver.state_dict()
    held = _state.model_state_dict(solver.model)
    global_rng = _random.global_state()
    recorder = _Recorder(num_steps, beta, diverge)
    # Augmented training images are also the callback that augments them: keep it.
    data_cbs = [cb for cb in solver.callbacks if cb is solver.X_train]
    sweep = Solver(
        solver.model,
        {"X_train": solver.X_train, "y_train": solver.y_train,
         "X_val": solver.X_val, "y_val": solver.y_val},
        update_rule=solver.update_rule,
        optim_config={**copy.deepcopy(solver.optim_config), "learning_rate": float(min_lr)},
        batch_size=solver.batch_size,
        num_epochs=-(-num_steps // solver.iterations_per_epoch),
        # The sweep's accuracy checks (after step 1 and at epoch ends) look at one sample.
        num_train_samples=1,
        num_val_samples=1,
        verbose=False,
        seed=copy.deepcopy(solver.rng),
        shuffle=solver.shuffle,
        lr_schedule=_Sweep(max_lr / min_lr, num_steps),
        grad_clip=solver.grad_clip,
        callbacks=[*data_cbs, recorder],
    )  # fmt: skip
    reason = "completed"
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            sweep.train()
    except NonFiniteLossError:
        reason = "non-finite"
    finally:
        solver.load_state_dict(state)
        _state.load_model_state(solver.model, held)
        _random.set_global_state(global_rng)
    if reason == "completed" and recorder.diverged:
        reason = "diverged"
    return LRFindResult(
        np.asarray(recorder.lrs, np.float64),
        np.asarray(recorder.losses, np.float64),
        np.asarray(recorder.smoothed, np.float64),
        reason,
        _message(reason, recorder, sweep, diverge),
    )


def _message(reason: str, rec: _Recorder, sweep, diverge: float) -> str:
    n = len(rec.losses)
    if reason == "non-finite":
        lr = sweep.learning_rate
        return f"stopped at step {n + 1}: non-finite loss or gradient at lr {lr:.3g}"
    if reason == "diverged":
        return (
            f"stopped at step {n}: smoothed loss {rec.smoothed[-1]:.4g} > {diverge:g} x its "
            f"minimum {min(rec.smoothed):.4g} (lr {rec.lrs[-1]:.3g})"
        )
    return f"completed {n} steps up to lr {rec.lrs[-1]:.3g} without diverging"


# ----------------------------------------------------------------------------- suggestion rules
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


def plot_lr_find(path, result: LRFindResult, rule: str | None = None, title: str | None = None):
    """Loss against learning rate on a log axis, the suggestion marked.

    Raw points are drawn faint, the curve the rule reads bold, and the sweep's EMA (the stop
    test's) thin and dashed when the rule reads another curve.

    Args:
        path: PNG file to write (atomically).
        result: the sweep.
        rule: the name of the suggestion rule to mark (None: the default).
        title: figure title (default: "Learning-rate range test").

    Returns:
        The path written.
    """
    from numnet.babysit._figures import figure, save

    name = rule or DEFAULT_RULE
    fig = figure(7, 4)
    ax = fig.add_subplot()
    ok = np.isfinite(result.losses)
    lrs, losses = result.lrs[ok], result.losses[ok]
    ax.plot(lrs, losses, ".", ms=3, alpha=0.35, color="tab:blue", label="loss (each step)")
    if RULES[name].smoothing == "ema":
        ax.plot(result.lrs, result.smoothed, lw=2, color="tab:blue", label="EMA of the loss")
    else:
        ax.plot(lrs, RULES[name].curve(losses), lw=2, color="tab:blue",
                label=f"centred mean of {2 * RULES[name].half + 1} steps")  # fmt: skip
        ax.plot(result.lrs, result.smoothed, lw=1, ls="--", color="tab:gray",
                label="EMA (the divergence test's)")  # fmt: skip
    if losses.size:
        # Divergence would squash the interesting part: cap the axis at twice the first value.
        top = min(float(losses.max()), 2.0 * float(result.smoothed[0]))
        ax.set_ylim(0.9 * float(losses.min()), top)
    lr = result.suggestion(name)
    if lr is not None:
        ax.axvline(lr, color="tab:red", ls="--", label=f"suggested lr {lr:.2g} ({name} rule)")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title(title or "Learning-rate range test")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return save(fig, path)
