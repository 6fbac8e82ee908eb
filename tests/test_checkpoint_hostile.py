"""The checkpoint loader as a security boundary: crafted and corrupted files are refused cheaply.

Every way a file can be wrong (bit flips, truncation, edited metadata, swapped members, forged
``.npy`` headers, deep JSON, huge declared arrays or model configs) must end in a
``CheckpointError``: never another exception, never a model loaded half-way, and never more than a
bounded amount of memory (measured with ``tracemalloc``, which sees NumPy's array buffers).
"""

from __future__ import annotations

import ast
import io
import json
import struct
import tempfile
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _resume_testlib import fc_net
from _train_testlib import make_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numnet.checkpoint import CheckpointError, load_model, read_checkpoint
from numnet.solver import Solver

DATA = make_data(np.random.default_rng(0), n_train=40, n_val=20)
#: Memory a single load of a mutated small checkpoint may take, at most.
MEMORY_BOUND = 200 * 2**20
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _original() -> bytes:
    """A real checkpoint: a batchnorm + dropout FullyConnectedNet after one epoch of adam."""
    s = Solver(
        fc_net(),
        DATA,
        update_rule="adam",
        optim_config={"learning_rate": 1e-2},
        batch_size=8,
        num_epochs=1,
        seed=5,
        shuffle=True,
        verbose=False,
    )
    s.train()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.npz"
        s.save_checkpoint(path)
        return path.read_bytes()


ORIGINAL = _original()


# ------------------------------------------------------------------------ file surgery
def members(data: bytes) -> dict[str, bytes]:
    """Raw member bytes (``.npy`` files) of an archive, by member name."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def pack(raw: dict[str, bytes], compress: dict[str, bool] | None = None) -> bytes:
    """An archive of the raw members (stored, or deflated where ``compress`` says so)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in raw.items():
            kind = zipfile.ZIP_DEFLATED if (compress or {}).get(name) else zipfile.ZIP_STORED
            z.writestr(name, data, compress_type=kind)
    return buf.getvalue()


def npy_header(descr: str, shape, fortran: bool = False) -> bytes:
    """A version 1.0 ``.npy`` header declaring ``descr`` and ``shape`` (any values, unchecked)."""
    text = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {tuple(shape)!r}, }}"
    pad = 64 - (10 + len(text) + 1) % 64
    body = (text + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body


def split_npy(data: bytes) -> tuple[dict, bytes]:
    """(header dict, array bytes) of a version 1.0 ``.npy`` member."""
    (n,) = struct.unpack("<H", data[8:10])
    return ast.literal_eval(data[10 : 10 + n].decode("latin1")), data[10 + n :]


def meta_of(raw: dict[str, bytes]) -> dict:
    return json.loads(split_npy(raw["__metadata__.npy"])[1].decode())


def with_meta(raw: dict[str, bytes], meta) -> dict[str, bytes]:
    text = json.dumps(meta).encode() if not isinstance(meta, bytes) else meta
    return {**raw, "__metadata__.npy": npy_header("|u1", (len(text),)) + text}


def _references(obj) -> set:
    """The array members a (JSON) state refers to."""
    if isinstance(obj, dict):
        if "__array__" in obj:
            return {obj["__array__"]}
        return set().union(*(_references(v) for v in obj.values()))
    if isinstance(obj, list):
        return set().union(*(_references(v) for v in obj))
    return set()


def edit_state(change) -> bytes:
    """The original with ``change(state)`` applied to its metadata.

    Arrays no longer referred to are dropped, so the file is refused for the edit itself.
    """
    raw = members(ORIGINAL)
    meta = meta_of(raw)
    change(meta["state"])
    used = _references(meta["state"])
    meta["arrays"] = {k: v for k, v in meta["arrays"].items() if k in used}
    raw = {k: v for k, v in raw.items() if k[: -len(".npy")] in used}
    return pack(with_meta(raw, meta))


# ------------------------------------------------------------------------ the loaders
def snapshot(model) -> dict:
    return {
        "params": {k: v.copy() for k, v in model.params.items()},
        "buffers": model.buffers(),
        "rng": json.dumps(model.rng.bit_generator.state, default=str),
    }


def assert_unchanged(model, before) -> None:
    after = snapshot(model)
    assert after["rng"] == before["rng"]
    for part in ("params", "buffers"):
        assert after[part].keys() == before[part].keys()
        for k in before[part]:
            assert np.array_equal(after[part][k], before[part][k]), (part, k)


def load_everywhere(path, *, memory=MEMORY_BOUND, quick=False) -> list[str]:
    """Load ``path`` every way numnet does; only CheckpointError may come out, nothing half-loaded.

    Args:
        path: the file.
        memory: the most one loader may allocate (peak, bytes).
        quick: only the two loaders that do everything the others do: into an existing model
            (all or nothing), and ``Solver.resume`` building the model from the stored config.

    Returns:
        The outcome of each loader: ``"ok"`` or ``"refused"``.
    """
    outcomes = []
    existing = fc_net(rng=11)
    before = snapshot(existing)
    loaders = [
        lambda: load_model(path, model=existing),
        lambda: Solver.resume(path, data=DATA, verbose=False),
        lambda: load_model(path, params="last"),
        lambda: read_checkpoint(path).group("params"),
    ]
    for i, load in enumerate(loaders[:2] if quick else loaders):
        tracemalloc.start()
        try:
            load()
            outcomes.append("ok")
        except CheckpointError:
            outcomes.append("refused")
            if i == 0:
                assert_unchanged(existing, before)
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert peak < memory, f"loader {i} took {peak / 2**20:.0f} MiB"
    return outcomes


def write(tmp_path, data: bytes):
    path = tmp_path / "c.npz"
    path.write_bytes(data)
    return path


def test_the_original_loads_everywhere(tmp_path):
    assert load_everywhere(write(tmp_path, ORIGINAL)) == ["ok"] * 4


# ------------------------------------------------------------------------ the reported cases
def test_a_bad_rng_entry_loads_nothing_into_an_existing_model(tmp_path):
    def garbage_rng(state):
        state["model"]["rng"] = {"bit_generator": "PCG64", "state": {"state": "x", "inc": []}}

    path = write(tmp_path, edit_state(garbage_rng))
    model = fc_net(rng=11)
    before = snapshot(model)
    with pytest.raises(CheckpointError, match="model/rng"):
        load_model(path, model=model)
    assert_unchanged(model, before)


def test_a_failing_buffer_load_rolls_the_params_back(tmp_path, monkeypatch):
    path = write(tmp_path, ORIGINAL)
    model = fc_net(rng=11)
    before = snapshot(model)

    def fail(buffers):
        raise MemoryError("no room for the running statistics")

    monkeypatch.setattr(model, "load_buffers", fail)
    with pytest.raises(MemoryError):
        load_model(path, model=model)
    assert_unchanged(model, before)


def test_an_array_declaring_2e12_elements_is_refused_unread(tmp_path):
    raw = members(ORIGINAL)
    header, data = split_npy(raw["model/params/W1.npy"])
    raw["model/params/W1.npy"] = npy_header(header["descr"], (2 * 10**12,)) + data
    path = write(tmp_path, pack(raw))
    with pytest.raises(CheckpointError, match="declares") as e:
        read_checkpoint(path)
    assert e.value.key == "model/params/W1"
    assert load_everywhere(path, memory=2**20) == ["refused"] * 4


def test_deeply_nested_metadata_is_refused_before_parsing(tmp_path):
    path = write(tmp_path, pack(with_meta(members(ORIGINAL), b"[" * 200_000)))
    with pytest.raises(CheckpointError, match="nested deeper than"):
        read_checkpoint(path)
    assert load_everywhere(path) == ["refused"] * 4


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda s: s.update(model=None), "'model': expected Mapping, found NoneType"),
        (lambda s: s["model"].update(params=[1, 2]), "'model/params': expected Mapping"),
        (lambda s: s["model"].update(config="FullyConnectedNet"), "expected Mapping or NoneType"),
        (lambda s: s["model"]["config"].update(name=7), "cannot build"),
        (lambda s: s["model"]["config"].update(hidden_dims=[10**12]), "more than the"),
        (lambda s: s["model"]["config"].update(hidden_dims=[3000, 3000]), "more than the"),
        (lambda s: s.update(rng={"solver": "x", "global": 5}), "rng"),
        (lambda s: s.update(history={"loss": {"__array__": "__metadata__"}}), "__metadata__"),
    ],
    ids=["model-null", "params-list", "config-str", "config-name", "huge", "bigger", "rng", "meta"],
)
def test_edited_metadata_is_refused(change, match, tmp_path):
    path = write(tmp_path, edit_state(change))
    with pytest.raises(CheckpointError, match=match):
        Solver.resume(path, data=DATA, verbose=False)
    assert load_everywhere(path, memory=20 * 2**20)[1] == "refused"


def test_an_extra_deflated_member_is_refused_without_inflating(tmp_path):
    raw = members(ORIGINAL)
    raw["junk.npy"] = npy_header("<f8", (8 * 2**20,)) + bytes(64 * 2**20)
    path = write(tmp_path, pack(raw, compress={"junk.npy": True}))
    assert path.stat().st_size < 2**20
    with pytest.raises(CheckpointError, match="not in the metadata") as e:
        read_checkpoint(path)
    assert e.value.key == "junk"
    assert load_everywhere(path, memory=4 * 2**20) == ["refused"] * 4


def test_a_deflate_bomb_in_a_listed_member_is_refused_without_inflating(tmp_path):
    raw = members(ORIGINAL)
    header, _ = split_npy(raw["history/loss.npy"])
    raw["history/loss.npy"] = npy_header(header["descr"], (8 * 2**20,)) + bytes(64 * 2**20)
    path = write(tmp_path, pack(raw, compress={"history/loss.npy": True}))
    with pytest.raises(CheckpointError, match="compressed") as e:
        read_checkpoint(path)
    assert e.value.key == "history/loss"
    assert load_everywhere(path, memory=4 * 2**20) == ["refused"] * 4


def test_members_sharing_their_bytes_are_refused(tmp_path):
    """A zip whose entries point at the same data (the overlapping-file zip bomb)."""
    data = bytearray(ORIGINAL)
    with zipfile.ZipFile(io.BytesIO(ORIGINAL)) as z:
        infos = {i.filename: i for i in z.infolist()}
    a, b = infos["best_params/W1.npy"], infos["model/params/W1.npy"]
    # Point b's central directory entry at a's local header (both are the same size).
    pos = 0
    while True:
        pos = data.find(b"PK\x01\x02", pos)
        n = struct.unpack("<H", data[pos + 28 : pos + 30])[0]
        if data[pos + 46 : pos + 46 + n].decode() == b.filename:
            break
        pos += 4
    data[pos + 42 : pos + 46] = struct.pack("<I", a.header_offset)
    data[pos + 46 : pos + 46 + n] = a.filename.encode().ljust(n)[:n]
    path = write(tmp_path, bytes(data))
    assert load_everywhere(path) == ["refused"] * 4


def test_non_finite_weights_are_refused(tmp_path):
    raw = members(ORIGINAL)
    for name in ("model/params/W1.npy", "best_params/W1.npy"):
        header, data = split_npy(raw[name])
        w = np.frombuffer(data, dtype=header["descr"]).copy()
        w[3] = np.nan
        raw[name] = npy_header(header["descr"], header["shape"]) + w.tobytes()
    path = write(tmp_path, pack(raw))
    with pytest.raises(CheckpointError, match="non-finite"):
        load_model(path)
    assert load_everywhere(path)[:3] == ["refused"] * 3  # read_checkpoint is for inspection


# ------------------------------------------------------------------------ fuzzing
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(obj, prefix=()):
    """Every path into a JSON value (dict keys and list indices)."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


META = meta_of(members(ORIGINAL))
META_PATHS = [p for p in _paths(META) if p]
MEMBERS = sorted(members(ORIGINAL))


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, len(ORIGINAL) - 1), st.integers(0, 7)), min_size=1,
                      max_size=6))  # fmt: skip
def test_fuzz_bit_flips(flips, tmp_path_factory):
    data = bytearray(ORIGINAL)
    for at, bit in flips:
        data[at] ^= 1 << bit
    load_everywhere(write(tmp_path_factory.mktemp("f"), bytes(data)), quick=True)


@FUZZ
@given(keep=st.integers(0, len(ORIGINAL) - 1))
def test_fuzz_truncations(keep, tmp_path_factory):
    path = write(tmp_path_factory.mktemp("f"), ORIGINAL[:keep])
    assert load_everywhere(path, quick=True) == ["refused"] * 2


@FUZZ
@given(where=st.sampled_from(META_PATHS), value=json_values, delete=st.booleans())
def test_fuzz_metadata_edits(where, value, delete, tmp_path_factory):
    meta = json.loads(json.dumps(META))
    parent = meta
    for k in where[:-1]:
        parent = parent[k]
    if delete and isinstance(parent, dict):
        del parent[where[-1]]
    else:
        parent[where[-1]] = value
    raw = with_meta(members(ORIGINAL), json.dumps(meta, allow_nan=True).encode())
    load_everywhere(write(tmp_path_factory.mktemp("f"), pack(raw)), quick=True)


@FUZZ
@given(
    a=st.sampled_from(MEMBERS),
    b=st.sampled_from(MEMBERS),
    how=st.sampled_from(["swap", "rename", "drop", "copy", "deflate"]),
)
def test_fuzz_member_swaps(a, b, how, tmp_path_factory):
    raw = members(ORIGINAL)
    compress = {}
    if how == "swap":
        raw[a], raw[b] = raw[b], raw[a]
    elif how == "rename":
        raw = {(b if k == a else a if k == b else k): v for k, v in raw.items()}
    elif how == "drop":
        del raw[a]
    elif how == "copy":
        raw[a] = raw[b]
    else:
        compress = {a: True, b: True}
    load_everywhere(write(tmp_path_factory.mktemp("f"), pack(raw, compress)), quick=True)


@FUZZ
@given(
    name=st.sampled_from(MEMBERS),
    shape=st.lists(st.integers(-2, 2**62) | st.sampled_from([0, 1, 2, 3, 12]), max_size=4),
    descr=st.sampled_from(["<f8", "<f4", "<i8", "|u1", "|O", "<U4", "|V8", "<c16", ">f8", "|b1"]),
    fortran=st.booleans(),
)
def test_fuzz_shape_headers(name, shape, descr, fortran, tmp_path_factory):
    raw = members(ORIGINAL)
    _, data = split_npy(raw[name])
    raw[name] = npy_header(descr, shape, fortran) + data
    load_everywhere(write(tmp_path_factory.mktemp("f"), pack(raw)), quick=True)
