"""Checkpoint files: the state dict round trip, plain arrays, broken files, v1, atomic writes."""

# The no-seed runs use the course's global NumPy state on purpose: resume must restore it.
# ruff: noqa: NPY002

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _resume_testlib import assert_same_run, assert_state_equal, last_params
from _train_testlib import TinyNet, make_data

from numnet import checkpoint as C
from numnet.checkpoint import CheckpointError, load_model, read_checkpoint
from numnet.solver import Solver

DATA = make_data(np.random.default_rng(0), n_train=40, n_val=20)
SETTINGS = dict(batch_size=8, num_epochs=4, verbose=False, optim_config={"learning_rate": 2e-2})
V1_FILES = Path(__file__).parent / "data"


def solver(model=None, **kw):
    return Solver(model or TinyNet(), DATA, **{**SETTINGS, **kw})


def test_round_trip_holds_the_whole_state_dict(tmp_path):
    s = solver(update_rule="adam", seed=3, shuffle=True, lr_decay=0.9, num_epochs=2)
    s.train()
    s.save_checkpoint(tmp_path / "c.npz")
    ck = read_checkpoint(tmp_path / "c.npz")
    assert ck.meta["format"] == "numnet.checkpoint" and ck.meta["format_version"] == 2
    assert_state_equal(ck.state, s.state_dict())
    assert ck.meta["state"]["iteration"] == 10 and ck.meta["state"]["epoch"] == 2
    assert ck.meta["state"]["settings"]["seed"] == 3
    assert ck.state["optim_configs"]["W1"]["t"] == 10
    for k, v in last_params(s).items():
        assert np.array_equal(ck.group("params")[k], v)
    assert ck.group("best_params").keys() == s.best_params.keys()
    assert ck.group("buffers").keys() == {"bn1.running_mean"}


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        (object(), "'settings/optim_config/x' = <object"),
        (np.array([{}], dtype=object), "'settings/optim_config/x' is an object array"),
        ({"a/b": 1}, "state key 'a/b' at 'settings/optim_config/x'"),
    ],
    ids=["object", "object-array", "slash-key"],
)
def test_state_that_is_not_plain_data_is_refused_naming_the_entry(tmp_path, entry, match):
    s = solver(num_epochs=1)
    state = s.state_dict()
    state["settings"]["optim_config"]["x"] = entry
    with pytest.raises(ValueError, match=match):
        C.write_state(tmp_path / "c.npz", state)
    assert not (tmp_path / "c.npz").exists()


def test_file_is_plain_arrays_loadable_without_pickle(tmp_path):
    s = solver(update_rule="adam", num_epochs=1)
    s.train()
    s.save_checkpoint(tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
        meta = json.loads(z["__metadata__"].tobytes().decode())
    assert set(meta["arrays"]) | {"__metadata__"} == set(z.files)


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
            "expected 1 or 2, found 9",
        ),
        (
            lambda p: _rewrite(p, lambda a: _set_meta(a, lambda m: m.pop("state"))),
            "state",
            "metadata section missing",
        ),
        (
            lambda p: _rewrite(p, lambda a: a.pop("optim_configs/W1/m")),
            "optim_configs/W1/m",
            "missing from",
        ),
        (
            lambda p: _rewrite(
                p, lambda a: _set_meta(a, lambda m: m["arrays"].update({"model/params/W1": 7}))
            ),
            "__metadata__",
            "metadata is malformed",
        ),
        (
            lambda p: _rewrite(p, lambda a: _set_meta(a, lambda m: m["state"].update(epoch=-1))),
            "epoch",
            "expected an int >= 0, found -1",
        ),
        (
            lambda p: _rewrite(
                p, lambda a: _set_meta(a, lambda m: m["state"].update(epoch={"__array__": "x"}))
            ),
            "x",
            "required array missing",
        ),
        (
            lambda p: _rewrite(
                p, lambda a: _set_meta(a, lambda m: m["state"]["history"].update(loss=[]))
            ),
            "history/loss",
            "in the archive but not in the state",
        ),
        (
            lambda p: _rewrite(p, lambda a: a.update({"model/params/b2": np.zeros(4)})),
            "model/params/b2",
            r"expected shape \[3\] dtype float64, found shape \[4\]",
        ),
        (
            lambda p: _rewrite(p, lambda a: a.update(extra=np.zeros(1))),
            "extra",
            "not in the metadata",
        ),
        (
            lambda p: _rewrite(
                p, lambda a: a.update({"model/params/b2": np.array([{}], dtype=object)})
            ),
            "model/params/b2",
            "dtype object; only numeric arrays are read",
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
        "bad-entry",
        "dangling-reference",
        "unreferenced-array",
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
        info = z.getinfo("model/params/W1.npy")
    raw = bytearray(saved.read_bytes())
    at = info.header_offset + 30 + len(info.filename) + info.file_size - 3
    raw[at] ^= 0xFF
    saved.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="CRC") as e:
        read_checkpoint(saved)
    assert e.value.key == "model/params/W1"


# -------------------------------------------------------------------- format version 1
V1_RUNS = {
    "v1_seeded.npz": dict(update_rule="adam", seed=5, shuffle=True),
    "v1_global.npz": dict(update_rule="sgd_momentum", seed=None, lr_decay=0.9),
}


@pytest.mark.parametrize("name", sorted(V1_RUNS))
def test_format_version_1_files_resume_exactly(tmp_path, name):
    """Files numnet wrote before ``state_dict`` are read and continue as the run would have.

    tests/data/v1_*.npz were written by numnet at commit 5b271a0 (format version 1): TinyNet on
    this module's DATA and SETTINGS, ``np.random.seed(12)`` first, stopped by a KeyboardInterrupt
    callback after step 7 with ``interrupt_checkpoint=<name>`` (in tests/data).
    """
    np.random.seed(12)
    full = solver(**V1_RUNS[name])
    full.train()
    assert read_checkpoint(V1_FILES / name).meta["format_version"] == 1
    np.random.seed(999)
    resumed = Solver.resume(V1_FILES / name, model=TinyNet(seed=99), data=DATA)
    assert resumed.iteration == 7 and resumed.interrupt_checkpoint == name
    resumed.train()
    assert_same_run(full, resumed)
    resumed.save_checkpoint(tmp_path / "v2.npz")  # and it is written back as version 2
    assert read_checkpoint(tmp_path / "v2.npz").meta["format_version"] == 2


def test_format_version_1_load_model():
    m = load_model(V1_FILES / "v1_seeded.npz", params="last", model=TinyNet(seed=4))
    with np.load(V1_FILES / "v1_seeded.npz") as z:
        for k in m.params:
            assert np.array_equal(m.params[k], z[f"params/{k}"])
        assert np.array_equal(m.running_mean, z["buffers/bn1.running_mean"])


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
