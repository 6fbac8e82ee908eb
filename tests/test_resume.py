"""Resuming from checkpoint files: exact continuation, Ctrl-C, mismatches, load_model."""

# The no-seed runs use the course's global NumPy state on purpose: resume must restore it.
# ruff: noqa: NPY002

import os
import signal

import numpy as np
import pytest
from _resume_testlib import KeyboardInterruptAt, assert_same_run, fc_net, last_params
from _train_testlib import TinyNet, make_data

from numnet import optim
from numnet.checkpoint import CheckpointError, load_model, read_checkpoint
from numnet.solver import Solver

DATA = make_data(np.random.default_rng(0), n_train=40, n_val=20)
SETTINGS = dict(batch_size=8, num_epochs=4, verbose=False, optim_config={"learning_rate": 2e-2})


def solver(model=None, **kw):
    return Solver(model or TinyNet(), DATA, **{**SETTINGS, **kw})


class SigintAt(TinyNet):
    """Sends a real SIGINT to this process from inside ``loss``: a Ctrl-C landing mid-step."""

    sigint_at = None

    def loss(self, X, y=None):
        out = super().loss(X, y)
        if y is not None:
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls == self.sigint_at:
                os.kill(os.getpid(), signal.SIGINT)
        return out


def interrupted_then_resumed(tmp_path, how, at, kw):
    """Run until stopped by ``how`` at iteration ``at``, then resume from the checkpoint."""
    path = tmp_path / "stop.npz"
    if how == "shorter":  # a run with fewer epochs, continued with num_epochs raised
        first = solver(**{**kw, "num_epochs": at})
        first.train()
        first.save_checkpoint(path)
    elif how == "epoch-file":  # the course-style per-check checkpoint file
        first = solver(**kw, checkpoint_name=str(tmp_path / "run"))
        first.train()
        path = tmp_path / f"run_epoch_{at}.npz"
    else:
        model = SigintAt() if how == "sigint" else TinyNet()
        model.sigint_at = at
        cbs = [KeyboardInterruptAt(at)] if how == "callback" else []
        first = solver(model, **kw, callbacks=cbs, interrupt_checkpoint=path)
        with pytest.raises(KeyboardInterrupt):
            first.train()
        assert read_checkpoint(path).meta["state"]["iteration"] == at
    np.random.seed(999)  # a fresh process: the global state must come from the checkpoint
    resumed = Solver.resume(path, model=TinyNet(seed=99), data=DATA, num_epochs=4)
    resumed.train()
    return resumed


RULES = [("adam", {}), ("sgd_momentum", {}), ("rmsprop", {"grad_clip": 0.5})]


@pytest.mark.parametrize(
    ("how", "at"),
    [
        ("callback", 1),
        ("callback", 7),
        ("callback", 10),
        ("sigint", 13),
        ("shorter", 2),
        ("epoch-file", 0),
        ("epoch-file", 3),
    ],
)
@pytest.mark.parametrize("rule", RULES, ids=[r for r, _ in RULES])
@pytest.mark.parametrize("seed", [None, 5])
@pytest.mark.parametrize("shuffle", [False, True])
def test_resume_equals_uninterrupted(tmp_path, how, at, rule, seed, shuffle):
    kw = dict(update_rule=rule[0], seed=seed, shuffle=shuffle, **rule[1])
    np.random.seed(12)
    full = solver(**kw)
    full.train()
    np.random.seed(12)
    resumed = interrupted_then_resumed(tmp_path, how, at, kw)
    assert_same_run(full, resumed)


def test_resume_with_lr_schedule_and_lr_decay(tmp_path):
    for kw in (
        {"lr_decay": 0.7},
        {
            "lr_schedule": {
                "name": "warmup",
                "warmup_iterations": 6,
                "after": {"name": "cosine", "total_iterations": 20},
            }
        },
    ):
        full = solver(update_rule="adamw", seed=1, **kw)
        full.train()
        resumed = interrupted_then_resumed(
            tmp_path, "callback", 9, {"update_rule": "adamw", "seed": 1, **kw}
        )
        assert_same_run(full, resumed)


def test_float32_state_stays_float32(tmp_path):
    s = solver(TinyNet(dtype="float32"), update_rule="adam", num_epochs=1)
    s.train()
    s.save_checkpoint(tmp_path / "c.npz")
    r = Solver.resume(tmp_path / "c.npz", model=TinyNet(dtype="float32"), data=DATA)
    for p, cfg in r.optim_configs.items():
        assert r.model.params[p].dtype == cfg["m"].dtype == cfg["v"].dtype == np.float32


def test_load_model_best_or_last(tmp_path):
    s = solver(update_rule="adam", num_epochs=3)
    s.train()
    s.save_checkpoint(tmp_path / "c.npz")
    best = load_model(tmp_path / "c.npz", model=TinyNet(seed=7))
    last = load_model(tmp_path / "c.npz", params="last", model=TinyNet(seed=7))
    for k in s.best_params:
        assert np.array_equal(best.params[k], s.best_params[k])
        assert np.array_equal(last.params[k], last_params(s)[k])
    assert np.array_equal(best.running_mean, s.model.running_mean)
    with pytest.raises(ValueError, match='params must be "best" or "last"'):
        load_model(tmp_path / "c.npz", params="first", model=TinyNet())


# -------------------------------------------------------------------- mismatches
@pytest.fixture
def saved(tmp_path):
    s = solver(update_rule="adam", num_epochs=1)
    s.train()
    path = tmp_path / "c.npz"
    s.save_checkpoint(path)
    return path


class Float32Buffers(TinyNet):
    def buffers(self):
        return {k: v.astype(np.float32) for k, v in super().buffers().items()}


@pytest.mark.parametrize(
    ("model", "key", "match"),
    [
        (
            lambda: TinyNet(hidden_dim=7),
            "model/params/W1",
            r"expected shape \(4, 7\) dtype float64 \("
            r"the model's\), found shape \(4, 6\) dtype float64",
        ),
        (
            lambda: TinyNet(dtype="float32"),
            "model/params/W1",
            "dtype float32 .*found .* dtype float64",
        ),
        (
            Float32Buffers,
            "model/buffers/bn1.running_mean",
            "dtype float32 .*found .* dtype float64",
        ),
    ],
    ids=["shape", "dtype", "buffer-dtype"],
)
def test_mismatch_names_key_and_loads_nothing(saved, model, key, match):
    for load in (
        lambda m: Solver.resume(saved, model=m, data=DATA),
        lambda m: load_model(saved, model=m),
    ):
        m = model()
        before = {k: v.copy() for k, v in m.params.items()}
        state = m.rng.bit_generator.state
        with pytest.raises(CheckpointError, match=match) as info:
            load(m)
        assert info.value.key == key and str(saved) in str(info.value)
        for k, v in before.items():
            assert np.array_equal(m.params[k], v)
        assert m.rng.bit_generator.state == state and not m.running_mean.any()


def test_missing_and_unexpected_params_are_named(saved):
    m = TinyNet()
    m.params["W3"] = np.zeros(2)
    with pytest.raises(CheckpointError, match="the model has it, the state does not") as e:
        load_model(saved, model=m)
    assert e.value.key == "model/params/W3"
    m = TinyNet()
    del m.params["b2"]
    with pytest.raises(CheckpointError, match="in the state, the model has no such") as e:
        load_model(saved, model=m)
    assert e.value.key == "model/params/b2"


def test_model_without_config_needs_model_argument(saved):
    with pytest.raises(CheckpointError, match="cannot build the model") as e:
        Solver.resume(saved, data=DATA)  # TinyNet is not in numnet's model registry
    assert e.value.key == "model/config"
    with pytest.raises(ValueError, match="data is required"):
        Solver.resume(saved, model=TinyNet())


def test_custom_update_rule_must_be_passed_again(tmp_path):
    def my_rule(w, dw, config=None):
        return optim.sgd(w, dw, config)

    s = solver(update_rule=my_rule, num_epochs=1)
    s.train()
    s.save_checkpoint(tmp_path / "c.npz")
    with pytest.raises(CheckpointError, match="custom update rule 'my_rule'"):
        Solver.resume(tmp_path / "c.npz", model=TinyNet(), data=DATA)
    r = Solver.resume(tmp_path / "c.npz", model=TinyNet(), data=DATA, update_rule=my_rule)
    assert r.update_rule is my_rule and r.iteration == 5


# ------------------------------------------------------- a real model: FullyConnectedNet
@pytest.mark.parametrize("rng", [3, None], ids=["model-generator", "model-global-state"])
@pytest.mark.parametrize("seed", [None, 5])
@pytest.mark.parametrize("at", [6, 11])
def test_fc_net_batchnorm_dropout_resume_equals_uninterrupted(tmp_path, rng, seed, at):
    kw = dict(
        update_rule="adam",
        seed=seed,
        shuffle=seed is not None,
        batch_size=8,
        num_epochs=3,
        verbose=False,
        optim_config={"learning_rate": 1e-2},
    )
    np.random.seed(4)
    full = Solver(fc_net(rng), DATA, **kw)
    full.train()
    np.random.seed(4)
    path = tmp_path / "int.npz"
    first = Solver(
        fc_net(rng), DATA, **kw, callbacks=[KeyboardInterruptAt(at)], interrupt_checkpoint=path
    )
    with pytest.raises(KeyboardInterrupt):
        first.train()
    np.random.seed(999)
    model = None if rng is not None else fc_net(None)  # None: rebuilt from the stored config
    resumed = Solver.resume(path, model=model, data=DATA)
    assert resumed.model.get_config() == full.model.get_config()
    resumed.train()
    assert_same_run(full, resumed)
    assert resumed.model.params["W1"].dtype == np.float32
    assert resumed.optim_configs["gamma1"]["m"].dtype == np.float32


def test_fc_net_load_model_builds_from_config(tmp_path):
    s = Solver(fc_net(), DATA, update_rule="adam", num_epochs=2, batch_size=8, verbose=False)
    s.train()
    s.save_checkpoint(tmp_path / "c.npz")
    m = load_model(tmp_path / "c.npz")
    assert type(m).__name__ == "FullyConnectedNet" and m.get_config() == s.model.get_config()
    for k, v in s.model.params.items():  # best params, as the trained model holds them
        assert np.array_equal(m.params[k], v)
    for k, v in s.model.buffers().items():
        assert np.array_equal(m.buffers()[k], v)
    np.testing.assert_array_equal(m.loss(DATA["X_val"]), s.model.loss(DATA["X_val"]))
