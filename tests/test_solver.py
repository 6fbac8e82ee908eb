"""Solver: the course's loop, sizes and prints; seed, shuffle, schedules, callbacks, errors."""

# The course's fallback draws from NumPy's global state; these tests check exactly that.
# ruff: noqa: NPY002

import os
import re
import signal

import numpy as np
import pytest
from _train_testlib import Linear, TinyNet, linear_data, make_data

from numnet import schedules
from numnet.callbacks import History, NonFiniteLossError
from numnet.checkpoint import read_checkpoint
from numnet.solver import Solver


def small_solver(model=None, data=None, **kw):
    kw.setdefault("verbose", False)
    kw.setdefault("optim_config", {"learning_rate": 1e-3})
    return Solver(model or Linear(), data or linear_data(), **kw)


# ----------------------------------------------------------------------- course behaviour
@pytest.mark.parametrize(
    ("n_train", "batch_size", "num_epochs", "iters", "checks"),
    [(50, 25, 20, 40, 21), (49, 10, 3, 12, 4), (10, 25, 3, 3, 3)],
    ids=["course-50x25", "floor", "one-iter-per-epoch"],
)
def test_iteration_counts_and_history_lengths(n_train, batch_size, num_epochs, iters, checks):
    s = small_solver(data=linear_data(n_train), batch_size=batch_size, num_epochs=num_epochs)
    s.train()
    assert s.num_iterations == iters and s.iteration == iters and s.epoch == num_epochs
    assert len(s.loss_history) == iters
    assert len(s.train_acc_history) == len(s.val_acc_history) == checks


def test_prints_the_course_lines(capsys):
    s = small_solver(batch_size=25, num_epochs=20, print_every=10, verbose=True)
    s.train()
    lines = capsys.readouterr().out.splitlines()
    its = [line for line in lines if line.startswith("(Iteration")]
    assert [int(re.match(r"\(Iteration (\d+) / 40\) loss: \d+\.\d{6}$", x)[1]) for x in its] == [
        1,
        11,
        21,
        31,
    ]
    epochs = [line for line in lines if line.startswith("(Epoch")]
    pat = r"\(Epoch (\d+) / 20\) train acc: \d\.\d{6}; val_acc: \d\.\d{6}$"
    assert [int(re.match(pat, e)[1]) for e in epochs] == list(range(21))
    assert lines[:2] == [its[0], epochs[0]]  # "(Epoch 0 / 20)" comes after the first step
    assert len(lines) == len(its) + len(epochs)


def test_verbose_false_prints_nothing(capsys):
    small_solver(num_epochs=2, batch_size=25).train()
    assert capsys.readouterr().out == ""


def test_best_params_are_the_first_strict_best_and_swapped_in():
    snaps = []

    class Snap:
        def on_epoch_end(self, solver, logs):
            snaps.append((logs["val_acc"], {k: v.copy() for k, v in solver.model.params.items()}))

    s = small_solver(
        TinyNet(),
        make_data(np.random.default_rng(3)),
        update_rule="adam",
        optim_config={"learning_rate": 5e-2},
        batch_size=10,
        num_epochs=6,
        seed=0,
        callbacks=[Snap()],
    )
    s.train()
    accs = [a for a, _ in snaps]
    assert s.best_val_acc == max(accs) == max(s.val_acc_history)
    first_best = snaps[accs.index(max(accs))][1]
    for k in first_best:
        np.testing.assert_array_equal(s.best_params[k], first_best[k])
        np.testing.assert_array_equal(s.model.params[k], first_best[k])
    assert len(set(accs)) > 1  # the run is not trivial: the swap changes something


def test_lr_decay_multiplies_each_learning_rate_per_epoch():
    s = small_solver(update_rule="sgd_momentum", lr_decay=0.5, num_epochs=3, batch_size=25)
    s.train()
    for cfg in s.optim_configs.values():
        assert cfg["learning_rate"] == pytest.approx(1e-3 * 0.5**3, rel=1e-15)


def test_unknown_kwargs_and_rules():
    with pytest.raises(ValueError, match=r'^Unrecognized arguments "foo", "bar"$'):
        small_solver(foo=1, bar=2)
    with pytest.raises(ValueError, match=r'^Invalid update_rule "nope"'):
        small_solver(update_rule="nope")


@pytest.mark.parametrize(
    ("data_change", "match"),
    [
        (lambda d: d.pop("y_val"), r"data is missing key\(s\) \['y_val'\]"),
        (lambda d: d.update(y_train=d["y_train"][:-1]), "same length, got 50 and 49"),
        (lambda d: d.update(y_train=d["y_train"] * 1.0), "integer labels, got shape"),
        (lambda d: d.update(X_val=[1, 2]), r"data\['X_val'\] must be an array"),
    ],
    ids=["missing", "length", "float-y", "not-array"],
)
def test_bad_data(data_change, match):
    data = linear_data()
    data_change(data)
    with pytest.raises(ValueError, match=match):
        small_solver(data=data)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"num_epochs": 2.0}, "num_epochs must be a positive integer"),
        ({"grad_clip": -1.0}, "grad_clip must be a finite number > 0"),
        ({"seed": -3}, "seed must be None, a non-negative int seed"),
        ({"lr_schedule": {"name": "step", "step_size": 1}, "lr_decay": 0.9}, "not both"),
        ({"lr_schedule": "linear"}, "schedule name must be one of"),
    ],
)
def test_bad_settings(kw, match):
    with pytest.raises(ValueError, match=match):
        small_solver(**kw)


# --------------------------------------------------------------------- randomness
def test_without_seed_batches_are_the_courses_np_random_choice():
    np.random.seed(231)
    model = Linear()
    small_solver(model, batch_size=7, num_epochs=2).train()  # 7 iters per epoch, no subsampling
    np.random.seed(231)
    expected = [np.random.choice(50, 7) for _ in range(14)]
    assert all(np.array_equal(a, b) for a, b in zip(model.seen, expected))


def test_subsampled_accuracy_is_drawn_with_replacement_from_global_state():
    s = small_solver()
    np.random.seed(5)
    a = s.check_accuracy(s.X_train, s.y_train, num_samples=20, batch_size=6)
    np.random.seed(5)
    mask = np.random.choice(50, 20)
    want = np.mean(np.argmax(s.model.loss(s.X_train[mask]), axis=1) == s.y_train[mask])
    assert isinstance(a, float) and a == want


def test_seed_never_touches_global_state_and_reproduces():
    before = np.random.get_state()
    runs = []
    for seed in (7, 7, 8):
        m = Linear()
        small_solver(m, batch_size=7, num_epochs=2, seed=seed, num_train_samples=20).train()
        runs.append((m.seen, m.params["W"]))
    after = np.random.get_state()
    assert np.array_equal(before[1], after[1]) and before[2] == after[2]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][0], runs[1][0]))
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not all(np.array_equal(a, b) for a, b in zip(runs[0][0], runs[2][0]))


@pytest.mark.parametrize("seed", [None, 4])
def test_shuffle_epochs_cover_every_sample_once(seed):
    model = Linear()
    s = small_solver(
        model, data=linear_data(23), batch_size=5, num_epochs=3, shuffle=True, seed=seed
    )
    s.train()
    assert s.iterations_per_epoch == 5 and len(model.seen) == 15
    sizes = [len(b) for b in model.seen]
    assert sizes == [5, 5, 5, 5, 3] * 3
    orders = [np.concatenate(model.seen[i : i + 5]) for i in (0, 5, 10)]
    for order in orders:
        np.testing.assert_array_equal(np.sort(order), np.arange(23))
    assert not np.array_equal(orders[0], orders[1])


# ------------------------------------------------------------------- numnet extras
def test_frozen_params_are_not_updated():
    model = Linear()
    model.params["W"][:] = 0.1
    model.frozen = {"W"}
    small_solver(model, update_rule="adam", num_epochs=2, batch_size=25).train()
    np.testing.assert_array_equal(model.params["W"], 0.1)
    assert np.any(model.params["b"] != 0)


def test_grad_clip_bounds_every_step():
    h = History()
    model = Linear()
    s = small_solver(
        model,
        update_rule="sgd",
        optim_config={"learning_rate": 1.0},
        grad_clip=1e-3,
        num_epochs=2,
        batch_size=10,
        callbacks=[h],
    )
    prev = {k: v.copy() for k, v in model.params.items()}

    class Bound:
        def on_batch_end(self, solver, logs):
            step = np.sqrt(sum(np.sum((solver.model.params[k] - prev[k]) ** 2) for k in prev))
            assert step <= 1e-3 * (1 + 1e-9)
            prev.update({k: v.copy() for k, v in solver.model.params.items()})

    s.callbacks.append(Bound())
    s.train()
    assert all(b["grad_norm"] > 1e-3 for b in h.batches)  # clipping was active


def test_lr_schedule_sets_learning_rate_each_step():
    h = History()
    sched = schedules.LinearWarmup(4, after=schedules.CosineDecay(10))
    s = small_solver(
        update_rule="adam",
        optim_config={},
        lr_schedule=sched,
        num_epochs=2,
        batch_size=10,
        callbacks=[h],
    )
    s.train()
    want = [1e-3 * sched(b["epoch"], b["iteration"] - 1) for b in h.batches]
    np.testing.assert_allclose([b["lr"] for b in h.batches], want, rtol=1e-15)
    assert h.batches[0]["lr"] == pytest.approx(2.5e-4)


# ---------------------------------------------------------------- non-finite values
def test_nonfinite_loss_stops_with_a_message_naming_where():
    model = Linear(nan_at=3)
    s = small_solver(model, update_rule="adam", batch_size=25, num_epochs=3)
    with pytest.raises(NonFiniteLossError) as info:
        s.train()
    msg = str(info.value)
    assert isinstance(info.value, FloatingPointError)
    last = s.loss_history[-1]
    assert "non-finite loss nan at epoch 1, iteration 3" in msg
    assert f"last finite loss {last:g}" in msg and "learning rate 0.001" in msg
    assert len(s.loss_history) == 2 and s.stop_reason == "error"


def test_nonfinite_gradient_names_the_param():
    s = small_solver(Linear(inf_grad_at=1), batch_size=25)
    b0 = s.model.params["b"].copy()
    with pytest.raises(
        NonFiniteLossError,
        match=r"gradient of 'b' at epoch 0, iteration 1 "
        r"\(last finite loss none yet, learning rate 0.001\)",
    ):
        s.train()
    np.testing.assert_array_equal(s.model.params["b"], b0)  # nothing was updated


# ------------------------------------------------------------------------ Ctrl-C
class Interrupt:
    def __init__(self, at):
        self.at = at

    def on_batch_end(self, solver, logs):
        if logs["iteration"] == self.at:
            raise KeyboardInterrupt


def test_keyboard_interrupt_writes_checkpoint_and_reraises(tmp_path):
    s = small_solver(
        update_rule="adam",
        batch_size=10,
        num_epochs=4,
        seed=1,
        checkpoint_name=str(tmp_path / "run"),
        callbacks=[Interrupt(7)],
    )
    with pytest.raises(KeyboardInterrupt):
        s.train()
    assert s.stop_reason == "interrupted"
    ck = read_checkpoint(tmp_path / "run_interrupted.npz")
    assert ck.meta["state"]["iteration"] == 7 and ck.meta["state"]["epoch"] == 1
    for k, v in s.model.params.items():
        np.testing.assert_array_equal(ck.group("params")[k], v)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "run_epoch_0.npz",
        "run_epoch_1.npz",
        "run_interrupted.npz",
    ]


def test_keyboard_interrupt_without_a_path_just_reraises(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = small_solver(batch_size=10, callbacks=[Interrupt(2)])
    with pytest.raises(KeyboardInterrupt):
        s.train()
    assert list(tmp_path.iterdir()) == []


class SigintInLoss(Linear):
    """Sends ``times`` real SIGINTs to this process from inside ``loss`` on call ``at``."""

    def __init__(self, at, times):
        super().__init__()
        self.at, self.times = at, times

    def loss(self, X, y=None):
        out = super().loss(X, y)
        if y is not None and self.calls == self.at:
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)
        return out


@pytest.mark.parametrize(("times", "written"), [(1, True), (2, False)], ids=["once", "twice"])
def test_ctrl_c_finishes_the_step_once_and_stops_at_once_twice(tmp_path, times, written):
    model = SigintInLoss(at=3, times=times)
    s = small_solver(model, batch_size=10, interrupt_checkpoint=tmp_path / "int.npz")
    with pytest.raises(KeyboardInterrupt):
        s.train()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler put back
    assert (tmp_path / "int.npz").exists() == written
    if written:  # the step that was running when Ctrl-C came was completed, then saved
        assert read_checkpoint(tmp_path / "int.npz").meta["state"]["iteration"] == 3
        assert len(s.loss_history) == 3
    else:  # the second Ctrl-C lands inside the step: no half-updated state is saved
        assert len(s.loss_history) == 2
