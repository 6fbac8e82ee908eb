"""Callbacks: early stopping on every exit path, History and MetricsLogger records."""

import json

import numpy as np
import pytest
from _train_testlib import Linear, linear_data

from numnet.callbacks import Callback, EarlyStopping, History, MetricsLogger
from numnet.checkpoint import read_checkpoint
from numnet.solver import Solver


def small_solver(model=None, data=None, **kw):
    kw.setdefault("verbose", False)
    kw.setdefault("optim_config", {"learning_rate": 1e-3})
    return Solver(model or Linear(), data or linear_data(), **kw)


def test_history_logs_are_plain_numbers():
    h = History()
    small_solver(num_epochs=2, batch_size=25, callbacks=[h]).train()
    assert [b["iteration"] for b in h.batches] == [1, 2, 3, 4]
    assert [e["epoch"] for e in h.epochs] == [0, 1, 2]
    for rec in h.batches + h.epochs:
        json.dumps(rec)
        assert all(type(v) in (int, float) for v in rec.values()), rec


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_metrics_logger_writes_and_appends(tmp_path, suffix):
    path = tmp_path / f"epochs{suffix}"
    small_solver(num_epochs=2, batch_size=25, callbacks=[MetricsLogger(path)]).train()
    s = small_solver(num_epochs=1, batch_size=25, callbacks=[MetricsLogger(path, append=True)])
    s.train()
    lines = path.read_text().splitlines()
    if suffix == ".jsonl":
        assert [json.loads(x)["epoch"] for x in lines] == [0, 1, 2, 0, 1]
    else:
        assert lines[0].startswith("epoch,num_epochs,iteration,train_acc,val_acc")
        assert [x.split(",")[0] for x in lines[1:]] == ["0", "1", "2", "0", "1"]


# ------------------------------------------------------- early stopping, exit paths
class Scripted(Solver):
    """check_accuracy returns scripted train/val accuracies, one pair per check."""

    def __init__(self, *a, accs, **kw):
        super().__init__(*a, **kw)
        self._accs = list(accs)

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        train, val = self._accs[len(self.val_acc_history)]
        return train if X is self.X_train else val


class Recorder:
    def __init__(self, fail_at=None, exc=RuntimeError):
        self.params, self.fail_at, self.exc = [], fail_at, exc

    def on_epoch_end(self, solver, logs):
        self.params.append({k: v.copy() for k, v in solver.model.params.items()})
        if len(self.params) == self.fail_at:
            raise self.exc


# (train_acc, val_acc) per check; EarlyStopping watches train_acc, the Solver's best is by val.
ACCS = [(0.1, 0.1), (0.5, 0.2), (0.3, 0.9), (0.2, 0.3), (0.2, 0.3), (0.2, 0.3), (0.2, 0.3)]


@pytest.mark.parametrize(
    ("patience", "fail_at", "exc", "reason", "n_checks"),
    [
        (10, None, None, "completed", 7),
        (2, None, None, "early_stop", 4),
        (10, 5, RuntimeError, "error", 5),
        (10, 5, KeyboardInterrupt, "interrupted", 5),
    ],
    ids=["normal-end", "early-stop", "exception", "keyboard-interrupt"],
)
def test_early_stopping_restores_best_on_every_exit_path(
    tmp_path, patience, fail_at, exc, reason, n_checks
):
    rec = Recorder(fail_at, exc)
    es = EarlyStopping(monitor="train_acc", patience=patience)
    s = Scripted(
        Linear(),
        linear_data(),
        accs=ACCS,
        update_rule="adam",
        batch_size=10,
        num_epochs=6,
        verbose=False,
        callbacks=[rec, es],
        interrupt_checkpoint=tmp_path / "int.npz",
    )
    if exc is None:
        s.train()
    else:
        with pytest.raises(exc):
            s.train()
    assert s.stop_reason == reason and len(rec.params) == n_checks
    assert es.best == 0.5 and es.best_epoch == 1
    for k, v in rec.params[1].items():  # the train_acc-best check, not the val-best one
        np.testing.assert_array_equal(s.model.params[k], v)
    if exc is KeyboardInterrupt:  # the checkpoint holds the last step, not the restored weights
        ck = read_checkpoint(tmp_path / "int.npz").group("params")
        for k, v in rec.params[-1].items():
            np.testing.assert_array_equal(ck[k], v)


def test_early_stopping_min_delta_and_bad_monitor():
    es = EarlyStopping(monitor="val_acc", patience=2, min_delta=0.05)
    s = Scripted(
        Linear(),
        linear_data(),
        accs=[(0, 0.50), (0, 0.52), (0, 0.54), (0, 0.9)],
        batch_size=10,
        num_epochs=6,
        verbose=False,
        callbacks=[es],
    )
    s.train()
    assert s.stop_reason == "early_stop" and len(s.val_acc_history) == 3
    assert es.best == 0.54  # weights follow the best value even below min_delta
    bad = EarlyStopping(monitor="val_loss")
    with pytest.raises(ValueError, match="'val_loss' is not in the epoch logs"):
        small_solver(callbacks=[bad], batch_size=25).train()
    with pytest.raises(ValueError, match="patience must be an integer >= 1"):
        EarlyStopping(patience=0)


def test_callback_list_calls_present_hooks_in_order():
    calls = []

    class Full(Callback):
        def on_batch_end(self, solver, logs):
            calls.append(("full", logs["iteration"]))

    class Partial:  # a plain object with one hook is a callback too
        def on_epoch_end(self, solver, logs):
            calls.append(("partial", logs["epoch"]))

    small_solver(batch_size=25, num_epochs=1, callbacks=[Full(), Partial()]).train()
    assert calls == [("full", 1), ("partial", 0), ("full", 2), ("partial", 1)]
