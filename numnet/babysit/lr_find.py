"""The learning-rate range test: an exponential lr sweep, its smoothed loss, a suggested lr.

``lr_range_test(solver)`` trains the run's model for up to ``num_steps`` minibatches while the
learning rate grows geometrically from ``min_lr`` to ``max_lr`` (one step per lr), records the
loss, smooths it (bias-corrected exponential moving average, weight ``beta`` on the past) and
stops early when the smoothed loss exceeds ``diverge`` times its lowest value, or when a loss or
gradient is not finite (that ends the sweep, not the program). ``result.suggestion()`` then
reads a learning rate off the losses (:func:`numnet.babysit.lr_rules.suggest_lr`).

What the test leaves behind: nothing. It runs its own ``Solver`` on the same model and data (the
run's update rule and settings, a fresh optimizer state, a copy of the run's Generator, so it
sees the batches the run would see), and afterwards puts back the run's state with
``solver.load_state_dict`` (params, batchnorm buffers, optimizer state, the model's and the
Solver's Generators), the model's params as they were before the test (``load_state_dict`` gives
the params after the last step, which after ``train()`` are not the ones the model holds), and
NumPy's global random state. A ``train()`` after the test is bit for bit the one without it.

The suggestion rules are :mod:`numnet.babysit.lr_rules`'s.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from numnet import _random, _state
from numnet.babysit.lr_rules import BETA, DEFAULT_RULE, RULES, suggest_lr
from numnet.callbacks import NonFiniteLossError
from numnet.schedules import Schedule

#: ``--min-lr``, ``--max-lr``, ``--steps`` defaults: fastai's sweep (1e-7 to 10, 100 steps).
MIN_LR, MAX_LR, NUM_STEPS = 1e-7, 10.0, 100
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
