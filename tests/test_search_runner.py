"""The library: search() in one call, pruning, divergence, k-fold values, counts, dead workers."""

import os
import socket
import subprocess
import sys
import warnings

import numpy as np
import optuna
import pytest

from numnet.classifiers.fc_net import FullyConnectedNet
from numnet.search import (
    FloatRange,
    Plan,
    PlanMismatchError,
    RangeEdgeWarning,
    Stage,
    make_objective,
    open_stage,
    open_storage,
    run_trials,
    search,
)
from numnet.search.objective import BuildError, worker_alive, worker_id
from numnet.search.runner import admit_within, finished_trials
from numnet.search.storage import fail_dead_workers

optuna.logging.set_verbosity(optuna.logging.ERROR)
SPACE = {"lr": FloatRange(1e-4, 1e-1, log=True), "reg": FloatRange(1e-6, 1e-2, log=True)}
SPACE_DIST = optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 12)).astype(np.float32)
    y = (X @ rng.standard_normal((12, 4))).argmax(axis=1)
    return {"X_train": X[:300], "y_train": y[:300], "X_val": X[300:], "y_val": y[300:]}


def make_build(data, calls=None):
    def build(params):
        if calls is not None:
            calls.append(dict(params))
        model = FullyConnectedNet(
            [16], input_dim=12, num_classes=4, reg=params["reg"], dtype=np.float32, rng=0
        )
        kwargs = dict(
            update_rule="sgd",
            optim_config={"learning_rate": params["lr"]},
            num_epochs=params.get("epochs", 3),
            batch_size=50,
            seed=0,
            shuffle=True,
        )
        return model, data, kwargs

    return build


def test_search_runs_the_requested_trials_and_records_each(data):
    calls = []
    study = search(make_build(data, calls), SPACE, trials=6, pruner="none")
    trials = study.get_trials()
    assert len(trials) == 6 and all(t.state.name == "COMPLETE" for t in trials)
    for t, params in zip(trials, calls):
        ua = t.user_attrs
        assert ua["stop_reason"] == "completed" and ua["epochs"] == 3 and len(ua["val_acc"]) == 3
        assert t.value == max(ua["val_acc"])
        assert sorted(t.intermediate_values) == [1, 2, 3]
        assert [t.intermediate_values[s] for s in (1, 2, 3)] == ua["val_acc"]
        assert params == t.params  # the builder got exactly the sampled values
        assert ua["worker"] == worker_id() and ua["seconds"] >= 0


def test_stages_pass_their_epochs_and_narrow_around_the_best(data):
    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RangeEdgeWarning)
        study = search(make_build(data, calls), SPACE, stages=[Stage(6, 1, top_k=2), Stage(3, 2)])
    assert [c["epochs"] for c in calls] == [1] * 6 + [2] * 3
    assert study.study_name == "numnet-search-stage2" and len(study.trials) == 3
    first = optuna.load_study(study_name="numnet-search-stage1", storage=study._storage)
    top = sorted(first.trials, key=lambda t: -t.value)[:2]
    narrowed = study.user_attrs["numnet_space"]
    for t in top:
        for name in SPACE:
            assert narrowed[name]["low"] <= t.params[name] <= narrowed[name]["high"]
    for t in study.trials:
        for name in SPACE:
            assert narrowed[name]["low"] <= t.params[name] <= narrowed[name]["high"]


def test_a_builder_that_ignores_the_stage_epochs_is_refused(data):
    def build(params):
        model, d, kwargs = make_build(data)(params)
        return model, d, {**kwargs, "num_epochs": 3}

    with pytest.raises(BuildError, match="the stage trains 1 epochs but build"):
        search(build, SPACE, stages=[Stage(2, epochs=1)])


def test_the_pruner_stops_a_trial_whose_learning_rate_is_absurd(data):
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3),
    )
    objective = make_objective(make_build(data), SPACE, epochs=4)
    for lr in (0.05, 0.08, 0.03):
        study.enqueue_trial({"lr": lr, "reg": 1e-5})
    study.enqueue_trial({"lr": 1e-4 * 1.0001, "reg": 1e-5})  # far too small to learn in 4 epochs
    study.optimize(objective, n_trials=4)
    absurd = study.trials[-1]
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3 + ["PRUNED"]
    assert absurd.user_attrs["stop_reason"] == "pruned" and absurd.user_attrs["epochs"] == 1
    assert list(absurd.intermediate_values) == [1]


def test_a_diverged_trial_is_a_recorded_result_not_a_crash(data):
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"lr": 1e30, "reg": 1e-5})
    space = {**SPACE, "lr": FloatRange(1e-4, 1e35, log=True)}
    study.optimize(make_objective(make_build(data), space, epochs=2), n_trials=1)
    (t,) = study.trials
    assert t.state.name == "PRUNED" and t.user_attrs["stop_reason"] == "diverged"
    assert "non-finite" in t.user_attrs["reason"] or "nan" in t.user_attrs["reason"].lower()
    assert "\n" not in t.user_attrs["reason"]


def test_kfold_reports_the_running_mean_of_fixed_folds(data):
    calls = []
    study = search(make_build(data, calls), SPACE, stages=[Stage(2, epochs=2)], cv=3,
                   pruner="none")  # fmt: skip
    assert len(calls) == 2 * 3  # a fresh model per fold
    for t in study.trials:
        ua = t.user_attrs
        folds = ua["fold_val_acc"]
        assert len(folds) == 3 and all(len(f) == 2 for f in folds)
        best = [max(f) for f in folds]
        assert ua["fold_acc"] == best and t.value == pytest.approx(np.mean(best))
        assert ua["cv_std"] == pytest.approx(np.std(best)) and ua["epochs"] == 6
        iv = t.intermediate_values
        assert sorted(iv) == [1, 2, 3, 4, 5, 6]
        assert iv[1] == pytest.approx(folds[0][0]) and iv[2] == pytest.approx(folds[0][1])
        assert iv[3] == pytest.approx((best[0] + folds[1][0]) / 2)
        assert iv[6] == pytest.approx((best[0] + best[1] + folds[2][1]) / 3)


def test_admit_counts_finished_then_earlier_running_trials():
    study = optuna.create_study(direction="maximize")
    for v in (0.1, 0.2):
        t = study.ask()
        study.tell(t, v)
    a, b = study.ask(), study.ask()  # two running: numbers 2 and 3
    admit = admit_within(3)
    assert admit(a) and not admit(b)
    assert admit_within(4)(b)


def test_workers_stop_exactly_at_the_request_and_surplus_trials_train_nothing(data):
    study = optuna.create_study(direction="maximize")
    calls = []
    objective = make_objective(make_build(data, calls), SPACE, epochs=1, admit=admit_within(3))
    assert run_trials(study, objective, 3) == 3
    assert run_trials(study, objective, 3) == 0  # a rerun has nothing left to do
    early = study.ask()  # another worker's trial, started before the request was met...
    study.tell(early, 0.5)
    surplus = study.ask()
    study.optimize(objective, n_trials=1, catch=(Exception,))
    t = study.trials[surplus.number + 1]
    assert t.state.name == "FAIL" and t.user_attrs["stop_reason"] == "surplus"
    assert len(calls) == 3 and t.params == {}
    study.tell(surplus, 0.5)
    assert len(finished_trials(study)) == 5


def test_plans_are_kept_with_the_study(tmp_path):
    storage = open_storage(tmp_path / "journal.log")
    plan = Plan("s", SPACE, [Stage(3, 2)]).check()
    open_stage(storage, plan, 0)
    open_stage(storage, plan, 0)  # the same plan: fine
    other = Plan("s", SPACE, [Stage(3, 4)]).check()
    with pytest.raises(PlanMismatchError, match=r"stages: stored .*'epochs': 2.*now .*'epochs': 4"):
        open_stage(storage, other, 0)
    two = Plan("t", SPACE, [Stage(2, 1), Stage(2, 1)]).check()
    with pytest.raises(ValueError, match="has 0 of its 2 trials; it must finish first"):
        open_stage(storage, two, 1)


def test_dead_local_workers_lose_their_trials(tmp_path):
    storage = open_storage(tmp_path / "journal.log")
    study = optuna.create_study(storage=storage, study_name="d", direction="maximize")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    pid = int(dead.stdout)
    lost, alive, elsewhere = study.ask({"lr": SPACE_DIST}), study.ask(), study.ask()
    lost.set_user_attr("worker", f"{socket.gethostname()}:{pid}:")
    alive.set_user_attr("worker", worker_id())
    elsewhere.set_user_attr("worker", f"not-{socket.gethostname()}:{pid}:1")
    assert worker_alive(f"{socket.gethostname()}:{pid}:") is False
    assert worker_alive(worker_id()) is True
    assert worker_alive(f"not-{socket.gethostname()}:{os.getpid()}:") is None
    assert fail_dead_workers(study, storage) == [lost.number]
    states = {t.number: t.state.name for t in study.get_trials()}
    assert states == {0: "FAIL", 1: "RUNNING", 2: "RUNNING", 3: "WAITING"}
    retry = study.get_trials()[3]
    assert retry.params == {"lr": lost.params["lr"]}  # queued again once, same params
    assert study.get_trials()[0].user_attrs["stop_reason"] == "worker died"
    assert fail_dead_workers(study, storage) == []


def test_the_last_epoch_is_reported_but_never_pruned(data):
    # With one epoch per trial the median pruner would otherwise stop the worse half of the
    # trials at their only epoch, throwing their finished results away.
    study = search(make_build(data), SPACE, stages=[Stage(10, epochs=1)], pruner="median")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 10
    assert all(list(t.intermediate_values) == [1] for t in study.trials)


@pytest.mark.filterwarnings("ignore::numnet.search.RangeEdgeWarning")
@pytest.mark.parametrize(
    "sampler, pruner, classes",
    [
        ("random", "median", ("RandomSampler", "MedianPruner")),
        ("tpe", "hyperband", ("TPESampler", "HyperbandPruner")),
        ("grid", "none", ("GridSampler", "NopPruner")),
    ],
)
def test_samplers_and_pruners_on_request(data, sampler, pruner, classes):
    space = {
        "lr": FloatRange(1e-3, 1e-1, log=True, steps=2),
        "reg": FloatRange(1e-6, 1e-2, steps=2),
    }
    study = search(make_build(data), space, trials=4, sampler=sampler, pruner=pruner, seed=1)
    assert (type(study.sampler).__name__, type(study.pruner).__name__) == classes
    assert len(finished_trials(study)) == 4
    if sampler == "grid":  # each grid point once
        points = {(t.params["lr"], t.params["reg"]) for t in study.trials}
        assert points == {(lr, reg) for lr in (1e-3, 1e-1) for reg in (1e-6, 1e-2)}


def test_grid_workers_share_one_grid(data, tmp_path):
    # Workers get different sampler streams, but the grid's order must be the same in every
    # worker: each trial number stands for one grid point.
    storage = open_storage(tmp_path / "journal.log")
    space = {
        "lr": FloatRange(1e-3, 1e-1, log=True, steps=3),
        "reg": FloatRange(1e-6, 1e-2, steps=3),
    }
    plan = Plan("g", space, [Stage(9, 1)], sampler="grid", pruner="none").check()
    workers = [open_stage(storage, plan, 0, worker=k)[0] for k in (1, 2, 3)]
    objective = make_objective(make_build(data), space, epochs=1, admit=admit_within(9))
    for k in range(9):  # the workers take turns
        workers[k % 3].optimize(objective, n_trials=1)
    points = [(t.params["lr"], t.params["reg"]) for t in workers[0].get_trials()]
    assert len(set(points)) == 9
