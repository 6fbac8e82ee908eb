"""Solver.state_dict / load_state_dict / from_state_dict: exact continuation, all or nothing."""

# The no-seed runs use the course's global NumPy state on purpose: loading must restore it.
# ruff: noqa: NPY002

import json

import numpy as np
import pytest
from _resume_testlib import SnapshotAt, assert_same_run, assert_state_equal, fc_net, last_params
from _train_testlib import TinyNet, make_data

from numnet import optim
from numnet._state import StateDictError
from numnet.solver import SETTINGS, Solver

DATA = make_data(np.random.default_rng(0), n_train=40, n_val=20)
KW = dict(batch_size=8, num_epochs=3, verbose=False, optim_config={"learning_rate": 1e-2})


# ----------------------------------------------------------------------- continuation
@pytest.mark.parametrize("rule", ["adam", "sgd"])  # sgd updates params in place: no aliasing
@pytest.mark.parametrize("seed", [None, 5, "generator"])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("model_rng", [3, None], ids=["model-generator", "model-global-state"])
@pytest.mark.parametrize("at", [7, 10])
def test_loaded_solver_continues_bit_identically(rule, seed, shuffle, model_rng, at):
    """A snapshot taken mid-run, loaded into a fresh Solver, trains on exactly as the original."""

    def seed_arg():
        return np.random.default_rng(11) if seed == "generator" else seed

    kw = dict(KW, update_rule=rule, shuffle=shuffle)
    snap = SnapshotAt(at)
    np.random.seed(4)
    first = Solver(fc_net(model_rng), DATA, **kw, seed=seed_arg(), callbacks=[snap])
    first.train()  # goes on past the snapshot: the snapshot must not change with it
    np.random.seed(999)  # another process: the global state must come from the snapshot
    second = Solver(fc_net(17 if model_rng else None), DATA, **kw, seed=seed_arg())
    second.load_state_dict(snap.state)
    assert second.iteration == at
    second.train()
    assert_same_run(first, second)
    assert second.model.params["W1"].dtype == np.float32


@pytest.mark.parametrize("seed", [3, "generator"])
def test_from_state_dict_rebuilds_model_and_settings(seed):
    seed_arg = np.random.default_rng(2) if seed == "generator" else seed
    snap = SnapshotAt(4)
    kw = dict(KW, update_rule="adamw", shuffle=True, lr_schedule="constant")
    first = Solver(fc_net(), DATA, **kw, seed=seed_arg, callbacks=[snap])
    first.train()
    second = Solver.from_state_dict(snap.state, DATA)  # the model is built from its config
    assert second.model.get_config() == first.model.get_config()
    assert second.update_rule is optim.adamw and second.shuffle and second.batch_size == 8
    assert second.lr_schedule.get_config() == first.lr_schedule.get_config()
    second.train()
    assert_same_run(first, second)


def test_state_dict_is_plain_data_and_a_copy():
    s = Solver(TinyNet(), DATA, **KW, update_rule="adam", seed=1, shuffle=True)
    s.train()
    state = s.state_dict()
    assert set(state["settings"]) == set(SETTINGS) - {"callbacks"}

    def walk(obj):
        if isinstance(obj, dict):
            assert all(isinstance(k, str) for k in obj)
            return {k: walk(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        if isinstance(obj, np.ndarray):
            return None
        assert obj is None or type(obj) in (bool, int, float, str), obj
        return obj

    json.dumps(walk(state))
    before = {k: v.copy() for k, v in state["model"]["params"].items()}
    s.num_epochs += 1
    s.train()
    for k, v in before.items():
        assert np.array_equal(state["model"]["params"][k], v)


def test_custom_update_rule_must_be_passed_again():
    def my_rule(w, dw, config=None):
        return optim.sgd(w, dw, config)

    s = Solver(TinyNet(), DATA, **KW, update_rule=my_rule)
    s.train()
    state = s.state_dict()
    assert state["custom_update_rule"] and state["settings"]["update_rule"] == "my_rule"
    with pytest.raises(StateDictError, match="custom update rule 'my_rule'") as e:
        Solver.from_state_dict(state, DATA, model=TinyNet())
    assert e.value.key == "settings/update_rule"
    r = Solver.from_state_dict(state, DATA, model=TinyNet(), update_rule=my_rule)
    assert r.update_rule is my_rule and r.iteration == 15


@pytest.mark.parametrize(
    ("edit", "key", "match"),
    [
        (lambda s: s["settings"].update(warmup=3), "settings/warmup", "not a setting"),
        (lambda s: s.pop("custom_update_rule"), "custom_update_rule", "missing"),
        (lambda s: s["model"].update(config=None), "model/config", "pass model="),
        (
            lambda s: s["rng"]["solver"].update(bit_generator="Nope"),
            "rng/solver",
            "unknown bit generator 'Nope'",
        ),
    ],
    ids=["unknown-setting", "no-custom-flag", "no-config", "bit-generator"],
)
def test_from_state_dict_names_what_it_cannot_rebuild(edit, key, match):
    s = Solver(fc_net(), DATA, **KW, seed=np.random.default_rng(1))
    state = s.state_dict()
    edit(state)
    with pytest.raises(StateDictError, match=match) as e:
        Solver.from_state_dict(state, DATA)
    assert e.value.key == key


# ------------------------------------------------------------------------ the seed rule
@pytest.mark.parametrize(
    ("seed", "restored"), [(5, True), (7, False), (None, False)], ids=["same", "other", "none"]
)
def test_solver_generator_is_set_only_for_the_same_seed(seed, restored):
    s = Solver(TinyNet(), DATA, **KW, seed=5)
    s.train()
    fresh = Solver(TinyNet(), DATA, **KW, seed=seed)
    own = None if fresh.rng is None else fresh.rng.bit_generator.state
    fresh.load_state_dict(s.state_dict())
    if restored:
        assert fresh.rng.bit_generator.state == s.rng.bit_generator.state
    else:
        assert (None if fresh.rng is None else fresh.rng.bit_generator.state) == own


# ------------------------------------------------------------------------ all or nothing
def _set(path, value):
    """An edit putting ``value`` at ``path`` (``/``-separated) of a state dict."""

    def edit(state):
        *parents, last = path.split("/")
        d = state
        for p in parents:
            d = d[p]
        if value is _DELETE:
            del d[last]
        else:
            d[last] = value(d.get(last)) if callable(value) else value

    return edit


_DELETE = object()
BAD = [
    ("model/params/W1", lambda a: a[:, :-1], "model/params/W1", r"expected shape \(4, 6\)"),
    ("model/params/W1", lambda a: a.astype(np.float32), "model/params/W1", "dtype float32"),
    ("model/params/b2", _DELETE, "model/params/b2", "the model has it, the state does not"),
    ("model/params/W9", np.zeros(2), "model/params/W9", "in the state, the model has no such"),
    ("model/buffers/bn1.running_mean", np.zeros(5), "model/buffers/bn1.running_mean", "shape"),
    ("model/rng", None, "model/rng", "only the model has a Generator state"),
    ("model/rng", {"bit_generator": "MT19937"}, "model/rng", "expected a PCG64"),
    ("model/rng", lambda s: {**s, "state": {}}, "model/rng", "not a valid PCG64 state"),
    ("best_params/W1", np.zeros((4, 6), np.float32), "best_params/W1", "dtype float32"),
    ("optim_configs/W1/m", np.zeros(3), "optim_configs/W1/m", r"shape \(4, 6\)"),
    ("optim_configs/W1", 7, "optim_configs/W1", "expected Mapping, found int"),
    ("optim_configs/b1", _DELETE, "optim_configs/b1", "only the model has this param"),
    ("epoch", -1, "epoch", "expected an int >= 0"),
    ("iteration", "7", "iteration", "expected int, found str"),
    ("best_val_acc", True, "best_val_acc", "found bool"),
    ("history/loss", np.zeros((2, 2)), "history/loss", "1-D array of numbers"),
    ("history", _DELETE, "history", "missing"),
    (
        "epoch_order",
        np.arange(39),
        "epoch_order",
        r"int array of shape \(40,\), found shape \(39,\)",
    ),
    ("rng/global", {"bit_generator": "PCG64"}, "rng/global", "MT19937"),
    ("rng/global/state/key", np.zeros(3, np.uint32), "rng/global", "not a valid MT19937"),
]


@pytest.mark.parametrize(("path", "value", "key", "match"), BAD, ids=[b[0] for b in BAD])
def test_bad_entry_raises_naming_it_and_loads_nothing(path, value, key, match):
    """Every entry is checked before anything is assigned: a bad one leaves everything as it was.

    The Solver has no seed (so NumPy's global state is loaded too) and shuffles (epoch order).
    """
    s = Solver(TinyNet(), DATA, **KW, update_rule="adam", shuffle=True)
    s.train()
    state = s.state_dict()
    _set(path, value)(state)
    fresh = Solver(TinyNet(seed=8), DATA, **KW, update_rule="adam", shuffle=True)
    before, global_before = fresh.state_dict(), np.random.get_state(legacy=False)
    with pytest.raises(StateDictError, match=match) as e:
        fresh.load_state_dict(state)
    assert e.value.key == key and isinstance(e.value, ValueError)
    assert_state_equal(fresh.state_dict(), before, skip=("/rng/global",))
    assert_state_equal(np.random.get_state(legacy=False), global_before)


def test_solver_generator_state_is_checked_before_loading():
    s = Solver(TinyNet(), DATA, **KW, seed=5)
    s.train()
    state = s.state_dict()
    state["rng"]["solver"] = {"bit_generator": "PCG64", "state": {"state": "x", "inc": 1}}
    fresh = Solver(TinyNet(seed=8), DATA, **KW, seed=5)
    before = fresh.state_dict()
    with pytest.raises(StateDictError, match="not a valid PCG64 state") as e:
        fresh.load_state_dict(state)
    assert e.value.key == "rng/solver"
    assert_state_equal(fresh.state_dict(), before, skip=("/rng/global",))


def test_a_loaded_solver_has_the_last_step_params_even_after_the_best_swap():
    kw = dict(KW, update_rule="adam", optim_config={"learning_rate": 0.2}, seed=2)
    s = Solver(TinyNet(), DATA, **kw)
    s.train()
    last = last_params(s)
    # This run's best check is not its last, so the model holds other params than the last step's.
    assert any(not np.array_equal(last[k], s.model.params[k]) for k in last)
    fresh = Solver(TinyNet(seed=4), DATA, **kw)
    fresh.load_state_dict(s.state_dict())
    for k, v in last.items():
        assert np.array_equal(fresh.model.params[k], v)
