"""Diagnoses of constructed runs: each run shows one problem and gets that diagnosis only.

The runs are real (small) trainings with the Solver on a 10-class problem of gaussian blobs in
20 dimensions (about 95% reachable), so the curves are those the rules meet in practice.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from numnet.babysit import diagnose as D
from numnet.callbacks import History, NonFiniteLossError
from numnet.classifiers import FullyConnectedNet
from numnet.solver import Solver


def blobs(n: int, seed: int, C: int = 10, dim: int = 20):
    """(X float32 (n, dim), y (n,)): class means fixed, unit gaussian noise around them."""
    means = np.random.default_rng(99).standard_normal((C, dim))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, n)
    return (means[y] + rng.standard_normal((n, dim))).astype(np.float32), y


def train(n_train=2000, hidden=(64,), rule="adam", lr=1e-2, epochs=8, batch=50, init="kaiming",
          weight_scale=1e-2):  # fmt: skip
    """A run's (iteration rows, epoch rows, iteration of a non-finite stop or None)."""
    X, y = blobs(n_train, 1)
    Xv, yv = blobs(500, 2)
    model = FullyConnectedNet(list(hidden), input_dim=20, num_classes=10, init=init,
                              weight_scale=weight_scale, rng=0)  # fmt: skip
    history = History()
    solver = Solver(model, {"X_train": X, "y_train": y, "X_val": Xv, "y_val": yv},
                    update_rule=rule, optim_config={"learning_rate": lr}, batch_size=batch,
                    num_epochs=epochs, shuffle=True, seed=0, verbose=False,
                    callbacks=[history])  # fmt: skip
    stop = None
    try:
        with np.errstate(all="ignore"):
            solver.train()
    except NonFiniteLossError:
        stop = solver.iteration + 1
    return history.batches, history.epochs, stop


RUNS = {
    "healthy": ({"n_train": 3000, "epochs": 6}, []),
    "lr far too high (nan)": ({"rule": "sgd", "lr": 50.0}, ["lr_too_high"]),
    "lr far too high (exploding)": ({"lr": 3.0}, ["lr_too_high"]),
    "lr far too low": ({"n_train": 1000, "rule": "sgd", "lr": 1e-4, "epochs": 20},
                       ["lr_too_low"]),
    "bad init that plateaus": ({"n_train": 1000, "hidden": (50, 50), "init": "gaussian",
                                "rule": "sgd_momentum", "lr": 0.05, "epochs": 20}, ["bad_init"]),
    "tiny data without regularisation": ({"n_train": 30, "hidden": (200,), "epochs": 60,
                                          "batch": 10}, ["overfitting"]),
    "a model too small": ({"hidden": (1,), "epochs": 15}, ["underfitting"]),
    "batches of one": ({"n_train": 1000, "batch": 1, "rule": "sgd", "lr": 0.05, "epochs": 2},
                       ["too_noisy"]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(RUNS))
def test_each_constructed_run_gets_its_diagnosis_and_no_other(case):
    kwargs, expected = RUNS[case]
    iterations, epochs, stop = train(**kwargs)
    found = D.diagnose(iterations, epochs, num_classes=10, nonfinite_at=stop)
    assert [d.name for d in found] == expected, [d.evidence for d in found]
    for d in found:
        assert d.title and d.suggestion and any(ch.isdigit() for ch in d.evidence)


def _rows(losses, start=1):
    return [{"iteration": i, "loss": float(v)} for i, v in enumerate(losses, start=start)]


def _epochs(train_acc, val_acc):
    return [{"epoch": e, "train_acc": t, "val_acc": v}
            for e, (t, v) in enumerate(zip(train_acc, val_acc))]  # fmt: skip


def test_a_nan_in_the_metrics_is_a_learning_rate_too_high():
    losses = [2.3, 2.0, 1.8, math.nan]
    (d,) = D.diagnose(_rows(losses), num_classes=10)
    assert d.name == "lr_too_high" and "iteration 4" in d.evidence


def test_a_short_run_is_judged_only_by_what_it_has():
    losses = np.linspace(2.3, 0.5, 20)
    assert D.diagnose(_rows(losses), _epochs([0.1, 0.5], [0.1, 0.5]), 10) == []
    assert len(D.not_judged(20, 1)) == 2 and D.not_judged(D.MIN_STEPS, D.MIN_CHECKS) == []


def test_ref_is_the_first_loss_when_the_classes_are_unknown():
    # Without C the first loss (10) is the reference, so a start near 10 is not an explosion.
    losses = 1.0 + 9.0 * np.exp(-np.arange(200) / 20)
    assert "lr_too_high" not in [d.name for d in D.diagnose(_rows(losses))]
    assert "lr_too_high" in [d.name for d in D.diagnose(_rows(losses), num_classes=10)]


def test_a_run_directory_is_read_with_its_number_of_classes(tmp_path):
    from numnet._atomic import atomic_write_text
    from numnet.metrics_log import MetricsWriter

    with MetricsWriter(tmp_path / "iterations.csv").open() as w:
        for row in _rows(np.full(100, 2.3026)):
            w.write(row)
    atomic_write_text(tmp_path / "config.json", '{"model_config": {"num_classes": 10}}')
    (d,) = D.diagnose_run(tmp_path)
    assert d.name == "lr_too_low" and "ln C" in d.evidence
    with pytest.raises(ValueError, match="not found"):
        D.diagnose_run(tmp_path / "missing")
