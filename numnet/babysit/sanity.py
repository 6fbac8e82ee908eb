"""Sanity checks before a long run (the lecture's list), each a PASS/FAIL with its numbers.

``run_sanity_checks(model, X, y, ...)`` runs, on copies of ``model`` (same class, config and
params; the model itself, its Generator and NumPy's global random state are left as they were):

- **initial loss** with regularisation off, against ln(C): PASS within ``LOSS_BAND`` x ln(C), i.e.
  [2.07, 4.61] for 10 classes. Below ln(C) at initialisation means the scores already know the
  labels (a leak, or a loss that is not a mean). Above it, label-independent scores of standard
  deviation s add about s^2/2, and Kaiming init on every layer, the output layer included,
  starts with s of 1 to 2. Measured on 100 Fashion-MNIST images, 20 seeds each
  (``benchmarks/sanity_checks.py``, ``benchmarks/SANITY.md``): the default ConvNet 2.48-2.95,
  with group norm 2.40-3.45, without normalisation 2.63-6.36 (median 4.02; 4 of 20 above the
  band); FullyConnectedNet 512-256 2.43-3.12, without normalisation 2.64-3.62;
  ThreeLayerConvNet 2.75-4.43; with gaussian 1.0-std weights FullyConnectedNet gives over 5,000.
  A gaussian 1e-2 init passes this check while its deep activations vanish, so
  this check alone says little about the init: look at the activations (``numnet inspect
  init``, ``numnet train --monitor``).
- **regularisation raises the loss**: the loss with L2 ``reg`` on (the model's, or ``REG_ON``
  when it has none) is above the loss with it off, on the same params, data and (no) dropout.
- **overfit a tiny subset**: ``OVERFIT_PER_CLASS`` examples per class (20 for 10 classes), no
  regularisation, no dropout, full-batch steps with the run's update rule and learning rate,
  must reach 100% training accuracy (test mode, as the Solver measures it) within
  ``OVERFIT_STEPS`` steps.
- **input-independent baseline**: the same training on all-zero inputs, for as many steps as the
  overfit run took, must end with a loss above the real inputs' by ``BASELINE_RATIO``
  (``real <= 0.9 * zero``, mean of the last 5 steps' losses).
- **gradient check** of the whole model in float64 on ``GRAD_SAMPLES`` examples: every parameter
  array along ``GRAD_DIRECTIONS`` random unit directions (central differences, h = 1e-5), max
  relative error at most ``GRAD_TOL``. Nothing is reduced: every parameter of the configured
  model takes part. As in ``numnet gradcheck``, biases are set to small random values (zero
  biases put dead units on a ReLU kink), dropout masks are fixed across calls, and directional
  derivatives smaller than 1e-3 of the largest one are compared at that scale.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from numnet import _random
from numnet.gradient_check import central_difference

LOSS_BAND = (0.9, 2.0)
REG_ON = 1e-2
OVERFIT_PER_CLASS = 2
OVERFIT_STEPS = 200
BASELINE_RATIO = 0.9
LOSS_SAMPLES = 100
GRAD_SAMPLES = 4
GRAD_DIRECTIONS = 3
GRAD_TOL = 1e-5
_H, _H_RETRY, _FLOOR = 1e-5, 1e-7, 1e-3


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict.

    Attributes:
        name: what was checked (``"initial loss"``, ...).
        passed: the verdict.
        measured: the numbers behind it, one line.
        criterion: what PASS requires, one line.
        seconds: wall time of the check.
    """

    name: str
    passed: bool
    measured: str
    criterion: str
    seconds: float = 0.0


def variant(model, params=None, **changes):
    """A new model of ``model``'s class and config, ``changes`` applied, params copied.

    Args:
        model: a numnet model (``get_config()``; its class takes that config as keywords).
        params: params to copy in (default ``model.params``), cast to the new model's dtype.
        **changes: config entries to change (``reg``, ``dtype``, ``dropout_keep_ratio``); names
            the model's config does not have are ignored (a model without dropout stays so).

    Returns:
        The new model; it has its own Generator (seeded 0), so it never draws from NumPy's
        global state unless the config asks for the course's fixed dropout ``seed``.

    Raises:
        ValueError: ``model`` has no ``get_config``.
    """
    if not hasattr(model, "get_config"):
        raise ValueError(f"the sanity checks need a model with get_config(), got {model!r}")
    config = {k: v for k, v in model.get_config().items() if k != "name"}
    config.update({k: v for k, v in changes.items() if k in config})
    if "rng" in config and config.get("seed") is None:
        config["rng"] = 0
    copy = type(model)(**config)
    for k, v in (model.params if params is None else params).items():
        copy.params[k] = np.array(v, dtype=copy.dtype, copy=True)
    return copy


def balanced_subset(y, per_class: int, num_classes: int) -> np.ndarray:
    """Indices of the first ``per_class`` examples of each class, class by class.

    Raises:
        ValueError: a class has fewer than ``per_class`` examples in ``y``.
    """
    y = np.asarray(y)
    out = []
    for c in range(num_classes):
        idx = np.nonzero(y == c)[0][:per_class]
        if len(idx) < per_class:
            raise ValueError(f"class {c} has {len(idx)} examples in y, the checks need {per_class}")
        out.append(idx)
    return np.concatenate(out)


class _Clock:
    """``with _Clock() as c: ...`` then ``c.seconds``."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def _result(name, passed, measured, criterion, clock) -> CheckResult:
    return CheckResult(name, bool(passed), measured, criterion, clock.seconds)


def check_initial_loss(model, X, y) -> CheckResult:
    """Loss with regularisation off (one train-mode forward) against ln(C); see the module."""
    with _Clock() as clock:
        C = int(model.num_classes)
        loss = float(variant(model, reg=0.0).loss(X, y)[0])
    lo, hi = (f * math.log(C) for f in LOSS_BAND)
    return _result(
        "initial loss",
        lo <= loss <= hi,
        f"{loss:.3f} (ln {C} = {math.log(C):.3f}; {loss / math.log(C):.2f}x)",
        f"in [{lo:.2f}, {hi:.2f}] ({LOSS_BAND[0]:g}x-{LOSS_BAND[1]:g}x ln C), reg off",
        clock,
    )


def check_regularization(model, X, y, reg: float | None = None) -> CheckResult:
    """Loss with L2 ``reg`` (default: the model's, else ``REG_ON``) above the loss without."""
    with _Clock() as clock:
        reg = float(reg if reg is not None else (model.reg or REG_ON))
        off = float(variant(model, reg=0.0, dropout_keep_ratio=1.0).loss(X, y)[0])
        on = float(variant(model, reg=reg, dropout_keep_ratio=1.0).loss(X, y)[0])
    weights = [v for k, v in model.params.items() if k.startswith("W")]
    l2 = 0.5 * reg * sum(float(np.sum(np.square(v, dtype=np.float64))) for v in weights)
    return _result(
        "regularisation raises loss",
        on > off,
        f"{off:.4f} -> {on:.4f} with reg {reg:g} (0.5 reg sum W^2 = {l2:.4f})",
        "loss with reg > loss without (same params, no dropout)",
        clock,
    )


@dataclass(frozen=True)
class _Run:
    losses: list  # per step
    perfect_at: int | None  # the step after which training accuracy was 100%
    error: str | None  # a non-finite loss or gradient stopped it


def _train(model, X, y, steps: int, settings: dict) -> _Run:
    """Full-batch training of a no-reg, no-dropout copy of ``model``.

    It takes at most ``steps`` steps and stops at 100% training accuracy.
    """
    from numnet.callbacks import NonFiniteLossError
    from numnet.solver import Solver

    hits = []

    class _StopAtPerfect:
        def on_epoch_end(self, solver, logs):
            if logs["train_acc"] == 1.0:
                hits.append(logs["iteration"])
                solver.stop_training = True

    solver = Solver(
        variant(model, reg=0.0, dropout_keep_ratio=1.0),
        {"X_train": X, "y_train": y, "X_val": X[:1], "y_val": y[:1]},
        update_rule=settings.get("update_rule", "sgd"),
        optim_config=dict(settings.get("optim_config") or {}),
        batch_size=X.shape[0], num_epochs=steps, num_train_samples=None, verbose=False,
        seed=settings.get("seed", 0), shuffle=True, grad_clip=settings.get("grad_clip"),
        callbacks=[_StopAtPerfect()],
    )  # fmt: skip
    error = None
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            solver.train()
    except NonFiniteLossError as e:
        error = str(e)
    return _Run([float(v) for v in solver.loss_history], hits[0] if hits else None, error)


def _overfit(model, X, y, steps, settings) -> tuple[CheckResult, _Run]:
    with _Clock() as clock:
        run = _train(model, X, y, steps, settings)
    lr = (settings.get("optim_config") or {}).get("learning_rate")
    rule = settings.get("update_rule", "sgd")
    setting = f"{getattr(rule, '__name__', rule)}" + (f" lr {lr:g}" if lr is not None else "")
    last = f"loss {run.losses[-1]:.3g}" if run.losses else "no step"
    if run.error is not None:
        measured = f"diverged: {run.error}"
    elif run.perfect_at is None:
        measured = f"not at 100% after {len(run.losses)} steps ({last}), {setting}"
    else:
        measured = f"100% at step {run.perfect_at} ({last}), {setting}"
    criterion = f"100% train acc on {len(y)} examples within {steps} steps, no reg, no dropout"
    passed = run.perfect_at is not None
    return _result("overfit a tiny subset", passed, measured, criterion, clock), run


def check_overfit(model, X, y, steps: int = OVERFIT_STEPS, **settings) -> CheckResult:
    """Full-batch training on (X, y) reaches 100% training accuracy within ``steps`` steps.

    Args:
        model: the configured model (a no-reg, no-dropout copy is trained).
        X: (N, ...) the tiny subset.
        y: (N,) its labels.
        steps: the most steps allowed.
        **settings: ``update_rule``, ``optim_config``, ``seed``, ``grad_clip`` of the Solver.
    """
    return _overfit(model, X, y, steps, settings)[0]


def check_input_baseline(model, X, y, steps: int, real_losses=None, **settings) -> CheckResult:
    """Training on all-zero inputs ends with a higher loss than on the real ones.

    Args:
        model: the configured model (no-reg, no-dropout copies are trained).
        X: (N, ...) the tiny subset (the baseline trains on zeros of its shape).
        y: (N,) its labels.
        steps: steps of each run.
        real_losses: the losses of the real-input run if it was already made (the overfit
            check's), else it is trained here.
        **settings: ``update_rule``, ``optim_config``, ``seed``, ``grad_clip`` of the Solver.
    """
    with _Clock() as clock:
        if real_losses is None:
            real_losses = _train(model, X, y, steps, settings).losses
        steps = len(real_losses)
        zero = _train(model, np.zeros_like(X), y, steps, settings)
    real = float(np.mean(real_losses[-5:])) if real_losses else math.nan
    zero_loss = math.inf if zero.error is not None else float(np.mean(zero.losses[-5:]))
    shown = "diverged" if zero.error is not None else f"{zero_loss:.3f}"
    return _result(
        "input-independent baseline",
        real <= BASELINE_RATIO * zero_loss,
        f"loss after {steps} steps: real inputs {real:.3f}, zero inputs {shown}",
        f"real <= {BASELINE_RATIO:g} x zero-input loss (mean of the last 5 steps)",
        clock,
    )


def check_gradients(model, X, y, directions=GRAD_DIRECTIONS, tol=GRAD_TOL, seed=0) -> CheckResult:
    """Directional numeric gradient check of every parameter in float64 (see the module).

    Args:
        model: the configured model (a float64 copy is checked).
        X: (N, ...) a few examples.
        y: (N,) their labels.
        directions: random unit directions per parameter array.
        tol: the largest relative error that passes.
        seed: seed of the directions and of the biases.
    """
    name = "gradient check (float64)"
    with _Clock() as clock:
        worst, where, n_arrays, n_params = _gradient_error(model, X, y, directions, tol, seed)
    if where is None or isinstance(worst, str):
        return _result(name, False, worst, "a gradient shaped like every param", clock)
    return _result(
        name,
        worst <= tol,
        f"max rel error {worst:.1e} ({where}); {n_arrays} arrays, {n_params:,} params, "
        f"{len(y)} samples",
        f"<= {tol:g} along {directions} random directions per array",
        clock,
    )


def _gradient_error(model, X, y, directions, tol, seed):
    rng = np.random.default_rng(seed)
    m = variant(model, dtype="float64")
    for k, v in m.params.items():
        if k.startswith("b"):
            m.params[k] = 0.1 * rng.standard_normal(v.shape)
    X = np.asarray(X, np.float64)
    fixed_mask = "rng" in getattr(m, "dropout_param", {})

    def loss():
        if fixed_mask:  # the same dropout mask in every call
            m.dropout_param["rng"] = np.random.default_rng(7)
        return m.loss(X, y)

    _, grads = loss()
    rows = []  # (param, numeric, analytic, direction)
    for k in sorted(m.params):
        g = grads.get(k)
        if g is None or np.shape(g) != m.params[k].shape:
            got = "missing" if g is None else f"shape {np.shape(g)}"
            return f"{k}: gradient {got}, param shape {m.params[k].shape}", None, 0, 0
        for _ in range(directions):
            d = rng.standard_normal(m.params[k].shape)
            d /= np.linalg.norm(d)
            rows.append((k, _directional(loss, m.params[k], d, _H), float(np.sum(g * d)), d))
    floor = max(_FLOOR * max(abs(r[1]) for r in rows), 1e-300)
    worst, where = 0.0, rows[0][0]
    for k, num, ana, d in rows:
        err = abs(num - ana) / max(floor, abs(num) + abs(ana))
        if err > tol:  # a step across a ReLU or max-pool kink: measure again, closer
            num2 = _directional(loss, m.params[k], d, _H_RETRY)
            err = min(err, abs(num2 - ana) / max(floor, abs(num2) + abs(ana)))
        if not err <= worst:  # nan counts as the worst
            worst, where = err, k
    return worst, where, len(m.params), sum(v.size for v in m.params.values())


def _directional(loss, w, d, h) -> float:
    return float(central_difference(lambda _: loss()[0], w, ..., h, step=d)) / (2 * h)


def run_sanity_checks(model, X, y, update_rule="sgd", optim_config=None, seed=0,
                      grad_clip=None) -> list[CheckResult]:  # fmt: skip
    """Every check of the module docstring, in order.

    Args:
        model: the configured model (left untouched).
        X: (N, ...) training examples in the model's input layout, with at least
            ``OVERFIT_PER_CLASS`` of each class; the first ``LOSS_SAMPLES`` give the losses.
        y: (N,) integer labels.
        update_rule: the run's update rule (a ``numnet.optim`` name or function).
        optim_config: the run's update-rule config (learning rate, momentum, ...).
        seed: seed of the training runs' batch order and of the gradient check's directions.
        grad_clip: the run's gradient clipping (None: none).

    Returns:
        The results; all passed when the model is sane.

    Raises:
        ValueError: a class with too few examples in ``y``, or a model without ``get_config``.
    """
    state = _random.global_state()
    settings = dict(update_rule=update_rule, optim_config=optim_config, seed=seed,
                    grad_clip=grad_clip)  # fmt: skip
    try:
        sub = balanced_subset(y, OVERFIT_PER_CLASS, int(model.num_classes))
        Xs, ys = X[sub], np.asarray(y)[sub]
        Xl, yl = X[:LOSS_SAMPLES], np.asarray(y)[:LOSS_SAMPLES]
        overfit, run = _overfit(model, Xs, ys, OVERFIT_STEPS, settings)
        one_per_class = slice(None, None, OVERFIT_PER_CLASS)
        Xg, yg = Xs[one_per_class][:GRAD_SAMPLES], ys[one_per_class][:GRAD_SAMPLES]
        return [
            check_initial_loss(model, Xl, yl),
            check_regularization(model, Xl, yl),
            overfit,
            check_input_baseline(model, Xs, ys, len(run.losses), run.losses, **settings),
            check_gradients(model, Xg, yg, seed=seed),
        ]
    finally:
        _random.set_global_state(state)
