"""Training a partly frozen net.

Frozen params and batch norm statistics, the skipped backward, lr multipliers, and the two-phase
(head first) schedule with its exact resume.
"""

import numpy as np
import pytest
from _resume_testlib import KeyboardInterruptAt, assert_same_run

from numnet import schedules
from numnet.classifiers import ConvNet
from numnet.layers import softmax_loss
from numnet.solver import Solver
from numnet.transfer import freeze, head_first

BASE = ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3", "gamma3", "beta3"]
STATE_KEYS = ("velocity", "cache", "m", "v", "t")


def convnet(dtype="float32", rng=1, keep=1.0):
    return ConvNet((1, 8, 8), (4, 6), hidden_dims=(7,), num_classes=3, dtype=dtype, rng=rng,
                   dropout_keep_ratio=keep)  # fmt: skip


def data(seed=0, n_train=40, n_val=12):
    r = np.random.default_rng(seed)
    X = r.standard_normal((n_train + n_val, 1, 8, 8)).astype(np.float32)
    y = (X[:, 0, :4].sum(axis=(1, 2)) > 0).astype(np.int64) + (X[:, 0, 4:, :4].mean() > 0)
    return {"X_train": X[:n_train], "y_train": y[:n_train], "X_val": X[n_train:],
            "y_val": y[n_train:]}  # fmt: skip


def pretrained(dtype="float32", keep=1.0):
    """A model whose batch norm statistics are not the initial ones (one short training run)."""
    model = convnet(dtype, keep=keep)
    Solver(model, data(5), num_epochs=1, batch_size=10, verbose=False, seed=3).train()
    return model


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum", "adam", "rmsprop"])
def test_frozen_params_and_their_batchnorm_statistics_are_unchanged(rule):
    model = pretrained()
    frozen = freeze(model, "1-2")
    assert frozen == BASE[:8]
    before = {k: v.copy() for k, v in model.params.items()}
    stats = model.buffers()
    solver = Solver(model, data(), update_rule=rule, num_epochs=3, batch_size=8, verbose=False,
                    seed=0, shuffle=True)  # fmt: skip
    solver.train()
    last = solver.state_dict()["model"]["params"]
    for k in before:
        same = np.array_equal(model.params[k], before[k]) and np.array_equal(last[k], before[k])
        assert same == (k in frozen), k
        assert model.params[k].dtype == np.float32
    after = model.buffers()
    for k in stats:  # bn1, bn2 frozen: used and kept; bn3 trains
        assert np.array_equal(after[k], stats[k]) == k.startswith(("bn1.", "bn2.")), k
    for k, cfg in solver.optim_configs.items():
        has_state = any(s in cfg for s in STATE_KEYS)
        assert has_state == (k not in frozen and rule != "sgd"), k


def test_frozen_batchnorm_normalises_with_running_statistics():
    """With every layer below the head frozen, the training forward is the test forward."""
    model = pretrained()
    X, y = data(9)["X_train"], data(9)["y_train"]
    loss_train, _ = model.loss(X, y)
    assert loss_train != softmax_loss(model.loss(X), y)[0]  # batch statistics differ
    freeze(model, "base")
    loss_train, grads = model.loss(X, y)
    assert loss_train == softmax_loss(model.loss(X), y)[0]
    assert set(grads) == {"W4", "b4"} | {"W3", "b3", "gamma3", "beta3"}


def test_backward_stops_at_the_first_trainable_layer():
    X, y = data(2)["X_train"], data(2)["y_train"]
    a, b = pretrained("float64"), pretrained("float64")
    freeze(a, "1-2")
    freeze(b, "b1,gamma1,beta1,2")  # same test-mode layers, but W1 trains: full backward
    assert a.first_trainable_layer() == 3 and b.first_trainable_layer() == 1
    la, ga = a.loss(X, y)
    lb, gb = b.loss(X, y)
    assert la == lb
    assert set(gb) - set(ga) == set(BASE[:8])
    for k in ga:
        np.testing.assert_array_equal(ga[k], gb[k], err_msg=k)


@pytest.mark.parametrize("schedule", [None, schedules.CosineDecay(9)])
def test_lr_multipliers_scale_the_sgd_update_exactly(schedule):
    model = pretrained("float64")
    grads_used = []
    loss = model.loss

    def recording_loss(X, y=None):
        out = loss(X, y)
        if y is not None:
            grads_used.append({k: g.copy() for k, g in out[1].items()})
        return out

    model.loss = recording_loss
    mult = {"base": 0.1, "head": 2.0, "W1": 0.5}
    factor = {**dict.fromkeys(BASE, 0.1), "W1": 0.5, "W4": 2.0, "b4": 2.0}
    before = []

    class Snapshot:
        def on_batch_begin(self, solver):
            before.append({k: v.copy() for k, v in solver.model.params.items()})

    solver = Solver(model, data(), update_rule="sgd", optim_config={"learning_rate": 0.05},
                    lr_mult=mult, lr_schedule=schedule, num_epochs=1, batch_size=8,
                    verbose=False, seed=0, callbacks=[Snapshot()])  # fmt: skip
    solver.train()
    after = solver.state_dict()["model"]["params"]
    assert len(grads_used) == 5
    for t, (w0, g) in enumerate(zip(before, grads_used)):
        w1 = before[t + 1] if t + 1 < len(before) else after
        lr = 0.05 * (1.0 if schedule is None else schedule(0, t))
        for k in w0:
            # delta = -lr * mult * grad, bit for bit as the update computes it ...
            np.testing.assert_array_equal(w1[k], w0[k] - (lr * factor[k]) * g[k], err_msg=k)
            # ... which, read back as a difference, is exact up to the subtraction's rounding.
            delta = -(lr * factor[k]) * g[k]
            np.testing.assert_allclose(w1[k] - w0[k], delta, rtol=1e-9, atol=1e-15, err_msg=k)
    assert solver.learning_rate == pytest.approx(
        0.05 * (1.0 if schedule is None else schedule(0, 4))
    )
    assert solver.get_config()["lr_mult"] == mult


def test_lr_mult_errors():
    with pytest.raises(ValueError, match="'9' matches nothing"):
        Solver(convnet(), data(), lr_mult="9=0.1", verbose=False)
    with pytest.raises(ValueError, match="must be a finite number > 0"):
        Solver(convnet(), data(), lr_mult="head=0", verbose=False)
    with pytest.raises(ValueError, match="needs unfreeze_epoch"):
        Solver(convnet(), data(), unfreeze="base", verbose=False)


def test_two_phase_schedule_values_and_config():
    s = schedules.TwoPhase(2, 5, first=schedules.CosineDecay(10), second={"name": "cosine",
                           "total_iterations": 15}, second_factor=0.25)  # fmt: skip
    assert s(0, 0) == 1.0 and s(1, 9) == schedules.CosineDecay(10)(1, 9)
    assert s(2, 10) == 0.25 and s(4, 24) == 0.25 * schedules.CosineDecay(15)(2, 14)
    assert schedules.get_schedule(s.get_config()) == s
    with pytest.raises(ValueError, match="second_factor must be in"):
        schedules.TwoPhase(1, 5, second_factor=2)


def two_phase_solver(model, **kw):
    settings = head_first(model, 2, 5, first=schedules.CosineDecay(10), second="constant",
                          lr_factor=0.1)  # fmt: skip
    return Solver(model, data(), update_rule="adam", optim_config={"learning_rate": 1e-2},
                  num_epochs=4, batch_size=8, shuffle=True, seed=4, verbose=False,
                  lr_mult="1=0.5", **settings, **kw)  # fmt: skip


def test_head_first_trains_the_head_then_everything():
    model = pretrained(keep=0.7)
    freeze(model, "W1")  # stays frozen in both phases
    seen = []

    class Phases:
        def on_epoch_begin(self, solver):
            seen.append(sorted(solver.model.frozen))

    two_phase_solver(model, callbacks=[Phases()]).train()
    phase1 = sorted(BASE)
    assert seen == [phase1, phase1, ["W1"], ["W1"]]


@pytest.mark.parametrize("stop_at", [3, 10, 11, 17])  # phase 1, its last step, phase 2 twice
def test_two_phase_run_resumes_exactly_after_ctrl_c(tmp_path, stop_at):
    full = two_phase_solver(pretrained(keep=0.7))
    full.train()
    path = tmp_path / "interrupted.npz"
    first = two_phase_solver(pretrained(keep=0.7), callbacks=[KeyboardInterruptAt(stop_at)],
                             interrupt_checkpoint=path)  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        first.train()
    # A new process: the model is rebuilt from the stored config (nothing frozen), and the
    # frozen set, the phase's schedule and multipliers all come from the checkpoint.
    resumed = Solver.resume(path, data=data())
    assert resumed.model.frozen == first.model.frozen
    resumed.train()
    assert_same_run(full, resumed)
    assert full.model.frozen == resumed.model.frozen == set()


def test_head_first_needs_a_base():
    model = convnet()
    freeze(model, "base")
    with pytest.raises(ValueError, match="all are frozen"):
        head_first(model, 1, 5)
