"""The objective: one trial trains with the Solver and reports per-epoch validation accuracy.

A *builder* turns a trial's parameters into what the Solver needs::

    def build(params):           # params: the sampled values (+ "epochs" when a stage sets it)
        model = FullyConnectedNet([100], reg=params["reg"], dtype=np.float32)
        kwargs = dict(update_rule="adam", optim_config={"learning_rate": params["lr"]},
                      num_epochs=params.get("epochs", 5), batch_size=100, seed=0)
        return model, data, kwargs

Each accuracy check at an epoch end is reported to Optuna (``trial.report``) and the pruner asked
(``trial.should_prune``): a pruned trial stops after that epoch. With k-fold cross-validation the
folds train one after another (a fresh model from the builder for each) and the reported value
is the running mean: ``(sum of finished folds' best accuracy + this fold's accuracy so far) /
(folds so far)``, at step ``fold * epochs + epoch``, so the pruner compares trials over the same
folds.

What a trial records (Optuna user attributes): ``stop_reason`` (``completed``, ``pruned``,
``diverged``, ``interrupted``, ``error``), ``reason`` (the message, for diverged and error),
``val_acc`` (per-epoch validation accuracy; per fold with k-fold: ``fold_val_acc``), ``epochs``
(epochs trained, all folds together), ``seconds``, ``worker``; with k-fold ``cv_mean``,
``cv_std`` and ``fold_acc``. The trial's value is the best validation accuracy over its epochs
(the mean over folds of each fold's best, with k-fold).

A diverged trial (the Solver's ``NonFiniteLossError``: nan/inf loss) ends PRUNED, like a trial the
pruner stops, since it is a result (this setting is hopeless) and not a crash: Optuna's samplers
then learn from it (they ignore FAIL trials) and it counts towards the requested trials.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from numnet.callbacks import NonFiniteLossError
from numnet.search._optuna import require_optuna
from numnet.search.kfold import fold_callbacks, fold_data, kfold_indices
from numnet.search.space import Param, suggest

__all__ = ["BuildError", "SurplusTrial", "TrialReporter", "make_objective", "worker_id"]

#: ``build(params) -> (model, data, solver_kwargs)``.
Builder = Callable[[dict], tuple[Any, Mapping, dict]]


class BuildError(TypeError):
    """The builder returned something other than ``(model, data, solver_kwargs)``."""


class SurplusTrial(Exception):
    """Started after other workers had already taken the requested number of trials."""


def _process_start(pid: int) -> str | None:
    """The kernel's start time of process ``pid`` (clock ticks since boot), where /proc has it."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def worker_id() -> str:
    """``host:pid:start``: names this process, and tells a reused pid from it."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid()) or ''}"


def worker_alive(worker: str) -> bool | None:
    """Whether the process named by :func:`worker_id` runs; None when it is on another host."""
    host, _, rest = worker.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    started = _process_start(int(pid))
    if started is not None or os.path.isdir("/proc"):
        return started is not None and (not start or started == start)
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TrialReporter:
    """A Solver callback that reports each epoch's validation accuracy to ``trial.report``.

    When the pruner says so, training stops after that epoch (``pruned`` becomes True).

    Args:
        trial: the Optuna trial.
        step_offset: added to the epoch to make the step (``fold * epochs`` with k-fold).
        value: ``value(acc) -> reported value`` (the running mean with k-fold; default: acc).
        last: this training ends the trial (with k-fold: the last fold), so its last epoch is
            reported but not pruned.
    """

    def __init__(
        self,
        trial,
        step_offset: int = 0,
        value: Callable[[float], float] | None = None,
        last: bool = True,
    ):
        self.trial = trial
        self.step_offset = step_offset
        self.value = value or (lambda acc: acc)
        self.last = last
        self.val_acc: list[float] = []
        self.pruned = False

    def on_epoch_end(self, solver, logs):
        """Report the epoch's accuracy; stop training when the pruner says so."""
        if logs["epoch"] < 1:  # the check after the first step is no epoch's result
            return
        acc = float(logs["val_acc"])
        self.val_acc.append(acc)
        self.trial.report(float(self.value(acc)), self.step_offset + int(logs["epoch"]))
        if self.last and logs["epoch"] >= logs["num_epochs"]:
            return  # the trial is over: pruning it now would only throw its result away
        if self.trial.should_prune():
            self.pruned = True
            solver.stop_training = True


def _built(build: Builder, params: dict, epochs: int | None):
    out = build(dict(params))
    if not (isinstance(out, tuple) and len(out) == 3 and isinstance(out[2], Mapping)):
        raise BuildError(
            "build(params) must return (model, data, solver_kwargs), got "
            f"{type(out).__name__}" + (f" of {len(out)}" if isinstance(out, tuple) else "")
        )
    model, data, kwargs = out
    kwargs = dict(kwargs)
    if epochs is not None and kwargs.get("num_epochs") != epochs:
        raise BuildError(
            f"the stage trains {epochs} epochs but build() returned num_epochs="
            f"{kwargs.get('num_epochs')!r}; read params['epochs']"
        )
    kwargs.setdefault("verbose", False)  # nothing below the command prints
    return model, data, kwargs


def _train(model, data, kwargs, reporter) -> None:
    from numnet.solver import Solver

    kwargs = dict(kwargs)
    kwargs["callbacks"] = [*kwargs.get("callbacks", ()), reporter]
    solver = Solver(model, data, **kwargs)
    # Overflow warnings would only precede the Solver's NonFiniteLossError, which says more.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        solver.train()


def make_objective(
    build: Builder,
    space: Mapping[str, Param],
    *,
    epochs: int | None = None,
    cv: int | None = None,
    cv_seed: int = 0,
    admit: Callable[[Any], bool] | None = None,
) -> Callable:
    """The Optuna objective of one stage.

    Args:
        build: ``build(params) -> (model, data, solver_kwargs)``; called once per trial, or once
            per fold with ``cv``. ``params`` holds the sampled values and, when ``epochs`` is
            given, ``"epochs"`` (the builder must set ``num_epochs`` to it).
        space: the stage's space.
        epochs: epochs per trial, or None (the builder's choice).
        cv: k for k-fold cross-validation over ``data``'s training split, or None (train on it,
            validate on ``data``'s validation split).
        cv_seed: seed of the fold permutation (fixed for a study).
        admit: ``admit(trial) -> bool``, asked before anything else; False marks the trial a
            surplus one (:class:`SurplusTrial`, it trains nothing).

    Returns:
        ``objective(trial) -> float``, the best validation accuracy (mean over folds).
    """
    optuna = require_optuna()

    def objective(trial):
        if admit is not None and not admit(trial):
            trial.set_user_attr("stop_reason", "surplus")
            raise SurplusTrial(f"trial {trial.number} is not needed: the requested trials run")
        trial.set_user_attr("worker", worker_id())
        params = suggest(trial, space)
        call = {**params, "epochs": epochs} if epochs is not None else params
        started = time.perf_counter()
        record: dict[str, Any] = {"epochs": 0}
        try:
            if cv is None:
                value, pruned = _single(trial, build, call, epochs, record)
            else:
                value, pruned = _folds(trial, build, call, epochs, cv, cv_seed, record)
        except KeyboardInterrupt:
            _finish(trial, record, started, "interrupted")
            raise
        except NonFiniteLossError as e:
            _finish(trial, record, started, "diverged", _one_line(e))
            raise optuna.TrialPruned(f"diverged: {_one_line(e)}") from None
        except Exception as e:
            _finish(trial, record, started, "error", _one_line(e))
            raise
        if pruned:
            _finish(trial, record, started, "pruned")
            raise optuna.TrialPruned(f"pruned after {record['epochs']} epochs")
        _finish(trial, record, started, "completed")
        return value

    return objective


def _single(trial, build, params, epochs, record):
    model, data, kwargs = _built(build, params, epochs)
    reporter = TrialReporter(trial)
    record["val_acc"] = reporter.val_acc
    try:
        _train(model, data, kwargs, reporter)
    finally:
        record["epochs"] = len(reporter.val_acc)
    if not reporter.val_acc:
        raise BuildError("the Solver trained no whole epoch (num_epochs must be >= 1)")
    return max(reporter.val_acc), reporter.pruned


def _folds(trial, build, params, epochs, k, seed, record):
    record["fold_val_acc"] = histories = []
    best: list[float] = []
    for fold in range(k):
        model, data, kwargs = _built(build, params, epochs)
        folds = kfold_indices(len(data["y_train"]), k, seed)
        fdata = fold_data(data, *folds[fold])
        kwargs["callbacks"] = fold_callbacks(kwargs.get("callbacks", ()), data, fdata)
        n_epochs = int(kwargs["num_epochs"])
        done = sum(best)
        reporter = TrialReporter(
            trial, fold * n_epochs, lambda acc, d=done, f=fold: (d + acc) / (f + 1), fold == k - 1
        )
        histories.append(reporter.val_acc)
        try:
            _train(model, fdata, kwargs, reporter)
        finally:
            record["epochs"] = sum(len(h) for h in histories)
        if not reporter.val_acc:
            raise BuildError("the Solver trained no whole epoch (num_epochs must be >= 1)")
        best.append(max(reporter.val_acc))
        record["fold_acc"] = list(best)
        if reporter.pruned:
            return None, True
    record["cv_mean"], record["cv_std"] = float(np.mean(best)), float(np.std(best))
    return float(np.mean(best)), False


def _finish(trial, record, started, reason, message=None) -> None:
    trial.set_user_attr("stop_reason", reason)
    if message:
        trial.set_user_attr("reason", message)
    trial.set_user_attr("seconds", round(time.perf_counter() - started, 3))
    for key, v in record.items():
        trial.set_user_attr(key, _plain(v))


def _plain(v):
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__
