"""Running a search: studies per stage, workers that share them, the one-call :func:`search`.

A :class:`Plan` says what to search (space, stages, sampler, pruner, seed, k-fold). Each stage is
an Optuna study in the same storage (``NAME`` for a one-stage search, ``NAME-stage1``,
``NAME-stage2``, ... otherwise); the plan is stored in the first study, and a later run with
another plan under the same name is refused, so rerunning the same search continues it and never
mixes two searches. Stage ``s + 1``'s space is drawn around stage ``s``'s best trials once, and
stored with its study, so every worker and every restart searches the same ranges.

:func:`run_trials` is one worker's loop. Any number of them (processes, machines) may run it on
one study: a worker starts a trial only while finished plus running trials are fewer than the
request, and a trial that still finds itself beyond the request (two workers started at the
same instant) is recorded as a surplus FAIL without training; so the finished trials (COMPLETE
and PRUNED) end exactly at the request, across workers and across restarts. This is
``optuna.study.MaxTrialsCallback``'s count, made before a trial instead of after it (after it,
W workers overshoot by up to W - 1). Trials whose worker died are failed (see
:mod:`numnet.search.storage`) and replaced.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from numnet.search._optuna import require_optuna
from numnet.search.objective import SurplusTrial, make_objective
from numnet.search.space import Param, decode, grid_values, space_from_dict, space_to_dict
from numnet.search.stages import Stage, edge_warnings, narrow
from numnet.search.storage import fail_stale

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "Plan",
    "PlanMismatchError",
    "RangeEdgeWarning",
    "finished_trials",
    "open_stage",
    "run_trials",
    "search",
    "stage_names",
]

SAMPLERS = ("random", "tpe", "grid")
PRUNERS = ("median", "hyperband", "none")
_PLAN_ATTR = "numnet_plan"
_SPACE_ATTR = "numnet_space"
_WARN_ATTR = "numnet_warnings"


class PlanMismatchError(ValueError):
    """The study exists with another plan (space, stages, k-fold...): it is another search."""


class RangeEdgeWarning(UserWarning):
    """A stage's best value sits in the outer 10% of its range."""


@dataclass(frozen=True)
class Plan:
    """What a search searches.

    Attributes:
        name: the study name (stage studies add ``-stage1``, ``-stage2``, ...).
        space: the first stage's space.
        stages: one or more stages (one stage: a plain search of ``stages[0].trials`` trials).
        sampler: ``"random"`` (the course's random search), ``"tpe"`` or ``"grid"``.
        pruner: ``"median"``, ``"hyperband"`` or ``"none"``.
        seed: seeds the samplers (each worker draws its own stream from it) and the folds.
        cv: k of k-fold cross-validation, or None.
        extra: more JSON facts that must match for a rerun to continue (e.g. fixed options).
    """

    name: str
    space: Mapping[str, Param]
    stages: Sequence[Stage]
    sampler: str = "random"
    pruner: str = "median"
    seed: int = 0
    cv: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def check(self) -> Plan:
        """This plan, or ValueError naming what cannot run."""
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"the study name must be a non-empty string, got {self.name!r}")
        if not self.stages:
            raise ValueError("a search needs at least one stage")
        for s in self.stages:
            s.check()
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.pruner not in PRUNERS:
            raise ValueError(f"pruner must be one of {', '.join(PRUNERS)}, got {self.pruner!r}")
        if self.cv is not None and (isinstance(self.cv, bool) or not isinstance(self.cv, int)
                                    or self.cv < 2):  # fmt: skip
            raise ValueError(f"cv must be an integer >= 2 folds, got {self.cv!r}")
        if self.sampler == "grid":
            grid_values(self.space)  # raises for a range without steps
            if len(self.stages) > 1:
                raise ValueError("the grid sampler runs one stage (a grid is not narrowed)")
        return self

    def to_dict(self) -> dict:
        """JSON form (stored with the study; reruns must match it)."""
        return {
            "space": space_to_dict(self.space),
            "stages": [s.to_dict() for s in self.stages],
            "sampler": self.sampler,
            "pruner": self.pruner,
            "seed": self.seed,
            "cv": self.cv,
            "extra": dict(self.extra),
        }


def stage_names(plan: Plan) -> list[str]:
    """The study name of each stage."""
    if len(plan.stages) == 1:
        return [plan.name]
    return [f"{plan.name}-stage{i + 1}" for i in range(len(plan.stages))]


def _sampler(plan: Plan, space, entropy: list[int]):
    optuna = require_optuna()
    seed = int(np.random.SeedSequence([plan.seed, *entropy]).generate_state(1)[0])
    if plan.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if plan.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    # The grid sampler shuffles the grid with its seed and gives trial number i the i-th point:
    # every worker must hold the same order, so its seed is the plan's alone.
    return optuna.samplers.GridSampler(grid_values(space), seed=plan.seed)


def _pruner(plan: Plan, stage: Stage):
    optuna = require_optuna()
    if plan.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if plan.pruner == "hyperband":
        steps = (stage.epochs or 1) * (plan.cv or 1)
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(steps, 1))
    return optuna.pruners.NopPruner()


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def finished_trials(study) -> list:
    """The COMPLETE and PRUNED trials (those that count towards the request)."""
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def _top(study, space, k: int) -> list[dict]:
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    done = sorted(done, key=lambda t: (-t.value, t.number))[:k]
    return [decode(space, t.params) for t in done]


def open_stage(storage, plan: Plan, index: int, *, worker: int = 0):
    """The study of stage ``index`` (created if new) and the space it searches.

    Stage 0 searches ``plan.space``. A later stage needs the previous one finished; its space is
    :func:`~numnet.search.stages.narrow` around that stage's ``top_k`` best COMPLETE trials,
    computed by the first worker to get there and read from the study by every other.

    Args:
        storage: from :func:`numnet.search.storage.open_storage`.
        plan: the search.
        index: the stage, 0-based.
        worker: this worker's number (>= 0): workers started together must differ. The
            sampler's seed comes from ``plan.seed``, the stage, the number of trials the study
            already has (so a restart draws new points) and ``worker``.

    Raises:
        PlanMismatchError: the stage's study was made by another plan.
        ValueError: the previous stage has not finished, or finished no COMPLETE trial.
    """
    optuna = require_optuna()
    name = stage_names(plan)[index]
    stage = plan.stages[index]
    if index == 0:
        space = plan.space
    else:
        prev_study, prev_space = open_stage(storage, plan, index - 1, worker=worker)
        n_prev = len(finished_trials(prev_study))
        if n_prev < plan.stages[index - 1].trials:
            raise ValueError(
                f"stage {index} ({prev_study.study_name}) has {n_prev} of its "
                f"{plan.stages[index - 1].trials} trials; it must finish first"
            )
        top = _top(prev_study, prev_space, stage.top_k)
        if not top:
            raise ValueError(
                f"stage {index} ({prev_study.study_name}) completed no trial (all pruned, "
                "diverged or failed): nothing to narrow the ranges around"
            )
        space = narrow(prev_space, top)
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        direction="maximize",
        load_if_exists=True,
        sampler=None,
        pruner=_pruner(plan, stage),
    )
    attrs = study.user_attrs
    plan_json = plan.to_dict()
    if _PLAN_ATTR in attrs:
        diff = plan_difference(attrs[_PLAN_ATTR], plan_json)
        if diff:
            raise PlanMismatchError(
                f"study {name!r} in this storage was started with another search ({diff}); "
                "rerun it with the same settings, or pick another study name"
            )
    else:
        study.set_user_attr(_PLAN_ATTR, plan_json)
    if _SPACE_ATTR in attrs:
        space = space_from_dict(attrs[_SPACE_ATTR])
    else:
        study.set_user_attr(_SPACE_ATTR, space_to_dict(space))
    count = len(study.get_trials(deepcopy=False))
    study.sampler = _sampler(plan, space, [index, count, int(worker)])
    return study, space


def plan_difference(stored: Mapping, now: Mapping) -> str:
    """The first difference between two plans' JSON forms, as text ("" when they are equal)."""
    for key in sorted(set(stored) | set(now)):
        a, b = stored.get(key), now.get(key)
        if _canonical(a) != _canonical(b):
            if isinstance(a, Mapping) and isinstance(b, Mapping):
                inner = plan_difference(a, b)
                return f"{key}.{inner}" if inner else ""
            return f"{key}: stored {a!r}, now {b!r}"
    return ""


def run_trials(
    study,
    objective: Callable,
    n_trials: int,
    *,
    storage=None,
    timeout: float | None = None,
    callbacks: Sequence[Callable] = (),
    poll: float = 1.0,
) -> int:
    """One worker's loop: run trials until the study has ``n_trials`` finished ones.

    Args:
        study: the stage's study.
        objective: from :func:`numnet.search.objective.make_objective` (given ``admit``).
        n_trials: finished (COMPLETE + PRUNED) trials the study needs, over all workers.
        storage: the storage the study was opened with; its dead workers' trials are failed.
        timeout: seconds after which no new trial starts (the running one finishes).
        callbacks: ``callback(study, frozen_trial)`` after each trial of this worker.
        poll: seconds between looks while the other workers run the last trials.

    Returns:
        The number of trials this worker ran. ``KeyboardInterrupt`` passes through (the trial
        it interrupted is FAIL with ``stop_reason = "interrupted"``; rerunning continues).
    """
    started = time.monotonic()
    ran = 0
    while True:
        if storage is not None:
            fail_stale(study, storage)
        trials = study.get_trials(deepcopy=False)
        finished = sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
        running = sum(t.state.name == "RUNNING" for t in trials)
        if finished >= n_trials:
            return ran
        if timeout is not None and time.monotonic() - started >= timeout:
            return ran
        if finished + running >= n_trials:
            time.sleep(poll)  # the last trials run elsewhere; if a worker dies, take over
            continue
        study.optimize(objective, n_trials=1, catch=(SurplusTrial,), callbacks=list(callbacks))
        ran += 1


def admit_within(n_trials: int) -> Callable:
    """``admit(trial)`` for :func:`make_objective`.

    True while the trial is among the first ``n_trials`` (finished ones, then running ones by
    number) of its study.
    """

    def admit(trial) -> bool:
        ahead = 0
        for t in trial.study.get_trials(deepcopy=False):
            if t.state.name in ("COMPLETE", "PRUNED"):
                ahead += 1
            elif t.state.name == "RUNNING" and t.number < trial.number:
                ahead += 1
        return ahead < n_trials

    return admit


def stage_warnings(study, space, full_space) -> list[str]:
    """:func:`~numnet.search.stages.edge_warnings` for the stage's best trial, stored with it."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return []
    best = max(done, key=lambda t: (t.value, -t.number))
    lines = edge_warnings(space, decode(space, best.params), full=full_space)
    if study.user_attrs.get(_WARN_ATTR) != lines:
        study.set_user_attr(_WARN_ATTR, lines)
    return lines


def search(
    build: Callable,
    space: Mapping[str, Param],
    *,
    trials: int | None = None,
    stages: Sequence[Stage] | None = None,
    storage=None,
    study_name: str = "numnet-search",
    sampler: str = "random",
    pruner: str = "median",
    seed: int = 0,
    cv: int | None = None,
    timeout: float | None = None,
    callbacks: Sequence[Callable] = (),
    worker: int = 0,
):
    """Search ``space`` with the model/data builder ``build``, in this process.

    The course's hand-written random-search loop as one call.

    Args:
        build: ``build(params) -> (model, data, solver_kwargs)`` (see
            :mod:`numnet.search.objective`).
        space: ``{name: FloatRange | IntRange | Choice}`` (see :mod:`numnet.search.space`).
        trials: trials of a one-stage search (or give ``stages``).
        stages: coarse-to-fine stages, e.g. ``[Stage(30, epochs=1), Stage(10, epochs=5)]``.
        storage: None (in memory), an Optuna storage, a journal file path or a database URL;
            other processes running ``search`` with the same storage and name join the study.
        study_name: the study (stages add ``-stage1``, ...).
        sampler: ``"random"``, ``"tpe"`` or ``"grid"``.
        pruner: ``"median"``, ``"hyperband"`` or ``"none"``.
        seed: seeds the sampler and the folds.
        cv: k of k-fold cross-validation, or None.
        timeout: seconds after which no new trial starts.
        callbacks: ``callback(study, frozen_trial)`` after each trial.
        worker: this process's number, when several run the same search at once (each its own).

    Returns:
        The (last stage's) ``optuna.Study``. Ranges whose best value is in their outer 10% are
        reported as :class:`RangeEdgeWarning` warnings (and kept in the study's user attributes).
    """
    optuna = require_optuna()
    if (trials is None) == (stages is None):
        raise ValueError("give either trials or stages")
    if stages is None:
        stages = [Stage(trials)]
    plan = Plan(study_name, dict(space), list(stages), sampler, pruner, seed, cv).check()
    if storage is None:
        storage = optuna.storages.InMemoryStorage()
    elif isinstance(storage, str):
        from numnet.search.storage import open_storage

        storage = open_storage(storage)
    deadline = None if timeout is None else time.monotonic() + timeout
    study = None
    for i, stage in enumerate(plan.stages):
        study, stage_space = open_stage(storage, plan, i, worker=worker)
        objective = make_objective(build, stage_space, epochs=stage.epochs, cv=cv, cv_seed=seed,
                                   admit=admit_within(stage.trials))  # fmt: skip
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        run_trials(study, objective, stage.trials, storage=storage, timeout=left,
                   callbacks=callbacks)  # fmt: skip
        for line in stage_warnings(study, stage_space, plan.space):
            warnings.warn(f"{study.study_name}: {line}", RangeEdgeWarning, stacklevel=2)
        if len(finished_trials(study)) < stage.trials:
            break  # the timeout ran out
    return study
