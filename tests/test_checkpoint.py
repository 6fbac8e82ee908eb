"""Checkpoints: round trip, exact resume, corrupt files, mismatches, no pickle, atomic writes."""

# The no-seed runs use the course's global NumPy state on purpose: resume must restore it.
# ruff: noqa: NPY002

import json
import os
import signal
import zipfile

import numpy as np
import pytest
from _train_testlib import TinyNet, make_data

from numnet import checkpoint as C
from numnet import optim
from numnet.checkpoint import CheckpointError, load_model, read_checkpoint
from numnet.solver import Solver

DATA = make_data(np.random.default_rng(0), n_train=40, n_val=20)
SETTINGS = dict(batch_size=8, num_epochs=4, verbose=False, optim_config={"learning_rate": 2e-2})


def solver(model=None, **kw):
    return Solver(model or TinyNet(), DATA, **{**SETTINGS, **kw})


def params_of(s):
    return s._last_step_params if s._last_step_params is not None else s.model.params


def assert_same_run(a, b):
    """Everything that defines where a run stands is bit-identical."""
    for name in ("params", "best_params"):
        pa = getattr(a.model, name) if name == "params" else a.best_params
        pb = getattr(b.model, name) if name == "params" else b.best_params
        assert pa.keys() == pb.keys()
        for k in pa:
            assert np.array_equal(pa[k], pb[k]), (name, k)
    for k, v in params_of(a).items():
        assert np.array_equal(v, params_of(b)[k]), ("last", k)
    for k, v in a.model.buffers().items():
        assert np.array_equal(v, b.model.buffers()[k]), k
    assert [float(x) for x in a.loss_history] == [float(x) for x in b.loss_history]
    assert a.val_acc_history == b.val_acc_history and a.train_acc_history == b.train_acc_history
    assert a.best_val_acc == b.best_val_acc and a.epoch == b.epoch and a.iteration == b.iteration


class KeyboardInterruptAt:
    def __init__(self, at):
        self.at = at

    def on_batch_end(self, solver, logs):
        if logs["iteration"] == self.at:
            raise KeyboardInterrupt


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


def test_round_trip_holds_everything(tmp_path):
    s = solver(update_rule="adam", seed=3, shuffle=True, lr_decay=0.9, num_epochs=2)
    s.train()
    s.save_checkpoint(tmp_path / "c.npz")
    ck = read_checkpoint(tmp_path / "c.npz")
    m = ck.meta
    assert m["format"] == "numnet.checkpoint" and m["format_version"] == 1
    assert m["model"]["config"] == s.model.get_config()
    assert m["state"] == {
        "epoch": 2,
        "iteration": 10,
        "best_val_acc": s.best_val_acc,
        "num_train": 40,
    }
    assert m["solver"]["update_rule"] == "adam" and m["solver"]["lr_decay"] == 0.9
    assert m["solver"]["seed"] == 3 and m["solver"]["shuffle"] is True
    for p, cfg in s.optim_configs.items():
        back = ck.optim_configs()[p]
        assert back.keys() == cfg.keys() and back["t"] == cfg["t"] == 10
        assert back["learning_rate"] == cfg["learning_rate"]
        assert np.array_equal(back["m"], cfg["m"]) and back["m"].dtype == cfg["m"].dtype
    for k, v in s.best_params.items():
        assert np.array_equal(ck.group("best_params")[k], v)
    assert ck.history["val_acc"] == s.val_acc_history
    assert np.array_equal(ck.arrays["solver/epoch_order"], s._epoch_order)
    assert m["rng"]["solver"] == json.loads(json.dumps(s.rng.bit_generator.state))


def test_file_is_plain_arrays_loadable_without_pickle(tmp_path):
    s = solver(update_rule="adam", num_epochs=1)
    s.train()
    s.save_checkpoint(tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
        meta = json.loads(z["__metadata__"].tobytes().decode())
    assert set(meta["arrays"]) | {"__metadata__"} == set(z.files)


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
        assert np.array_equal(last.params[k], s._last_step_params[k])
    assert np.array_equal(best.running_mean, s.model.running_mean)
    with pytest.raises(ValueError, match='params must be "best" or "last"'):
        load_model(tmp_path / "c.npz", params="first", model=TinyNet())


# -------------------------------------------------------------------- broken files
@pytest.fixture
def saved(tmp_path):
    s = solver(update_rule="adam", num_epochs=1)
    s.train()
    path = tmp_path / "c.npz"
    s.save_checkpoint(path)
    return path


def _rewrite(path, edit):
    """Rewrite the .npz with ``edit(arrays)`` applied (tampering, not corruption)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    edit(arrays)
    np.savez(path, **arrays)


def _set_meta(arrays, change):
    meta = json.loads(arrays["__metadata__"].tobytes().decode())
    change(meta)
    arrays["__metadata__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)


@pytest.mark.parametrize(
    ("damage", "key", "match"),
    [
        (lambda p: p.unlink(), None, "no such file"),
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), None, "truncated"),
        (lambda p: p.write_bytes(b""), None, "cannot be read"),
        (lambda p: p.write_text("hello, not a zip"), None, "cannot be read"),
        (lambda p: np.save(p.open("wb"), np.zeros(3)), None, "not an .npz archive"),
        (lambda p: _rewrite(p, lambda a: a.pop("__metadata__")), "__metadata__", "missing"),
        (
            lambda p: _rewrite(p, lambda a: a.update(__metadata__=np.frombuffer(b"{", np.uint8))),
            "__metadata__",
            "does not parse",
        ),
        (
            lambda p: _rewrite(p, lambda a: _set_meta(a, lambda m: m.update(format_version=9))),
            "format_version",
            "expected 1, found 9",
        ),
        (
            lambda p: _rewrite(p, lambda a: _set_meta(a, lambda m: m.pop("optim"))),
            "optim",
            "metadata section missing",
        ),
        (lambda p: _rewrite(p, lambda a: a.pop("optim/W1/m")), "optim/W1/m", "missing from"),
        (
            lambda p: _rewrite(p, lambda a: _set_meta(a, lambda m: m["optim"].update(W1=7))),
            "__metadata__",
            "metadata is malformed",
        ),
        (
            lambda p: _rewrite(p, lambda a: a.update({"params/b2": np.zeros(4)})),
            "params/b2",
            r"expected shape \[3\] dtype float64, found shape \[4\]",
        ),
        (
            lambda p: _rewrite(p, lambda a: a.update(extra=np.zeros(1))),
            "extra",
            "not in the metadata",
        ),
        (
            lambda p: _rewrite(p, lambda a: a.update(obj=np.array([{}], dtype=object))),
            "obj",
            "cannot be read",
        ),
    ],
    ids=[
        "missing",
        "truncated",
        "empty",
        "garbage",
        "npy",
        "no-meta",
        "bad-json",
        "version",
        "no-section",
        "no-array",
        "malformed-meta",
        "shape-vs-manifest",
        "extra-array",
        "pickled-object",
    ],
)
def test_broken_files_raise_checkpoint_error_naming_file_and_key(saved, damage, key, match):
    damage(saved)
    with pytest.raises(CheckpointError, match=match) as info:
        Solver.resume(saved, model=TinyNet(), data=DATA)
    assert isinstance(info.value, ValueError)
    assert info.value.path == str(saved) and str(saved) in str(info.value)
    assert info.value.key == key
    if key:
        assert repr(key) in str(info.value)


def test_flipped_bytes_in_an_array_are_caught(saved):
    with zipfile.ZipFile(saved) as z:
        info = z.getinfo("params/W1.npy")
    raw = bytearray(saved.read_bytes())
    at = info.header_offset + 30 + len(info.filename) + info.file_size - 3
    raw[at] ^= 0xFF
    saved.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="CRC") as e:
        read_checkpoint(saved)
    assert e.value.key == "params/W1"


class Float32Buffers(TinyNet):
    def buffers(self):
        return {k: v.astype(np.float32) for k, v in super().buffers().items()}


@pytest.mark.parametrize(
    ("model", "key", "match"),
    [
        (
            lambda: TinyNet(hidden_dim=7),
            "params/W1",
            r"expected shape \(4, 7\) dtype float64 \("
            r"the model's\), found shape \(4, 6\) dtype float64",
        ),
        (lambda: TinyNet(dtype="float32"), "params/W1", "dtype float32 .*found .* dtype float64"),
        (Float32Buffers, "buffers/bn1.running_mean", "dtype float32 .*found .* dtype float64"),
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
    with pytest.raises(CheckpointError, match="the model has it, the file does not") as e:
        load_model(saved, model=m)
    assert e.value.key == "params/W3"
    m = TinyNet()
    del m.params["b2"]
    with pytest.raises(CheckpointError, match="in the file, the model has no such") as e:
        load_model(saved, model=m)
    assert e.value.key == "params/b2"


def test_model_without_config_needs_model_argument(saved):
    with pytest.raises(CheckpointError, match="cannot build the model") as e:
        Solver.resume(saved, data=DATA)  # TinyNet is not in numnet's model registry
    assert e.value.key == "model.config"
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


# -------------------------------------------------------------------- atomic writes
def test_failed_write_leaves_old_file_intact(saved, monkeypatch):
    old = saved.read_bytes()
    s = solver(update_rule="sgd_momentum", num_epochs=1)
    s.train()

    def half_then_fail(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(C.np, "savez", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        s.save_checkpoint(saved)
    assert saved.read_bytes() == old
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]  # no temp file left behind


# ------------------------------------------------------- a real model: FullyConnectedNet
def fc_net(rng=3, dtype="float32"):
    from numnet.classifiers.fc_net import FullyConnectedNet

    return FullyConnectedNet(
        [12, 10],
        input_dim=4,
        num_classes=3,
        normalization="batchnorm",
        dropout_keep_ratio=0.7,
        reg=1e-3,
        weight_scale=0.3,
        dtype=dtype,
        rng=rng,
    )


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
