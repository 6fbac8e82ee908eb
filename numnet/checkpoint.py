"""Checkpoints: a Solver's ``state_dict()`` as ONE ``.npz`` of arrays plus JSON metadata; no pickle.

This module only turns a state dict into a file and back; what the state holds, and how it is
checked and loaded, is the Solver's (``Solver.state_dict``, ``Solver.load_state_dict``).

Layout (format version 2; every member a plain array, so ``np.load(..., allow_pickle=False)``
reads it):

- ``__metadata__``: uint8 array of UTF-8 JSON: ``format``, ``format_version``,
  ``numnet_version``, ``state`` (the state dict with each array replaced by
  ``{"__array__": "<member>"}``) and ``arrays`` (a manifest: every member's shape and dtype).
- one member per array, named by its path in the state dict: ``model/params/W1``,
  ``best_params/W1``, ``model/buffers/<name>``, ``optim_configs/W1/m``, ``history/loss``,
  ``rng/global/state/key``, ``epoch_order`` ...

Files are written atomically (temp file + rename), so a crash or Ctrl-C mid-write keeps the old
one. Every error is a ``CheckpointError`` naming file and key. Format version 1 files (numnet
before ``state_dict``) are read too and converted on the fly (``numnet._checkpoint_v1``).

Reading treats the file as untrusted input and refuses it, before allocating anything sizeable,
unless: the zip's members and their ``.npy`` headers pass ``numnet._npz.NpzArchive``'s checks
(numeric arrays only, declared shapes that account for exactly the member's bytes, at most
``numnet._npz.MAX_ARRAY_BYTES`` in all, deflated members at most
``numnet._npz.MAX_DEFLATE_RATIO`` times their compressed size, no overlapping members); the
metadata is at most ``MAX_METADATA_BYTES`` and nests at most ``MAX_METADATA_DEPTH`` levels
(checked before it is parsed); the archive holds exactly the manifest's members, each with the
manifest's shape and dtype. Loading then checks the state against the model and Solver: names,
shapes, dtypes, random states, and that every weight is finite. A model built from the stored
config (``load_model``, ``Solver.resume`` without ``model=``) may have no more weights than the
file stores (``numnet.classifiers.build_model``'s ``max_params``), so a forged config cannot
allocate more than the file itself holds. Only when all of it passed is anything assigned.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import numnet
from numnet import _state
from numnet._atomic import atomic_open
from numnet._checkpoint_v1 import state_from_v1
from numnet._npz import NpzArchive, NpzError
from numnet._state import StateDictError, check_model_state
from numnet.backend import to_numpy

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "check_model",
    "load_model",
    "read_checkpoint",
    "read_metadata",
    "read_state",
    "restore_solver",
    "resume_solver",
    "save_checkpoint",
    "write_state",
]

FORMAT = "numnet.checkpoint"
FORMAT_VERSION = 2
META_KEY = "__metadata__"
_ARRAY = "__array__"
#: Largest metadata (the JSON member) a checkpoint may hold: 16 MiB.
MAX_METADATA_BYTES = 16 * 2**20
#: Deepest nesting of lists and dicts the metadata may have.
MAX_METADATA_DEPTH = 64


class CheckpointError(ValueError):
    """A checkpoint cannot be read or does not fit the model; ``path`` and ``key`` say where."""

    def __init__(self, path, key, message):
        self.path, self.key = str(path), key
        where = f"checkpoint {self.path}" + (f", key {key!r}" if key else "")
        super().__init__(f"{where}: {message}")


@dataclass
class Checkpoint:
    """A checkpoint read into memory and checked for internal consistency (not yet vs a model).

    Attributes:
        path: the file.
        meta: the parsed metadata (``meta["state"]["iteration"]`` ...).
        arrays: every member by name (``META_KEY`` included).
        state: the state dict, arrays in place.
    """

    path: str
    meta: dict
    arrays: dict
    state: dict

    def group(self, section: str) -> dict:
        """``{name: array}`` of ``"params"`` (last step's), ``"best_params"`` or ``"buffers"``."""
        if section not in ("params", "best_params", "buffers"):
            raise ValueError(
                f'section must be "params", "best_params" or "buffers", got {section!r}'
            )
        with _in_file(self.path):
            if section == "best_params":
                return _state.entry(self.state, section, Mapping)
            return _state.entry(
                _state.entry(self.state, "model", Mapping), section, Mapping, "model"
            )


@contextlib.contextmanager
def _in_file(path):
    """Turn a ``StateDictError`` into a ``CheckpointError`` naming ``path`` and the entry."""
    try:
        yield
    except StateDictError as e:
        raise CheckpointError(path, e.key, e.reason) from e


# ------------------------------------------------------------------------ writing
def save_checkpoint(solver, path) -> None:
    """``solver.save_checkpoint(path)``: its state dict to ``path`` atomically (one .npz)."""
    solver.save_checkpoint(path)


def write_state(path, state: Mapping) -> None:
    """Write a state dict to ``path`` atomically as arrays plus JSON metadata.

    Raises:
        ValueError: an entry is neither plain data (dict with str keys, list, str, number, bool,
            None) nor an array of numbers; the message names its path.
    """
    arrays: dict = {}
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "numnet_version": numnet.__version__,
        "state": _encode(state, "", arrays),
        "arrays": {k: {"shape": list(a.shape), "dtype": a.dtype.name} for k, a in arrays.items()},
    }
    arrays[META_KEY] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)


def _encode(obj, path: str, arrays: dict):
    """JSON-able ``obj``; each array goes into ``arrays`` under its path and leaves a reference."""
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str) or "/" in k or k == _ARRAY:
                raise ValueError(f"state key {k!r} at {path or '(top)'!r} cannot be stored")
            out[k] = _encode(v, f"{path}/{k}" if path else k, arrays)
        return out
    if isinstance(obj, (list, tuple)):
        return [_encode(v, f"{path}/{i}", arrays) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):
        a = np.asarray(to_numpy(obj))
        if a.dtype.hasobject:
            raise ValueError(f"state entry {path!r} is an object array; it cannot be stored")
        arrays[path] = a
        return {_ARRAY: path}
    raise ValueError(
        f"state entry {path!r} = {obj!r} cannot be stored in a checkpoint "
        "(not a number, string, array, list or dict)"
    )


# ------------------------------------------------------------------------ reading
def read_checkpoint(path) -> Checkpoint:
    """Read ``path`` safely (see "Reading" in the module docstring) and rebuild the state.

    Raises:
        CheckpointError: missing/unreadable file, truncated or corrupt archive, a member or
            ``.npy`` header that breaks a reading rule, unparsable or too deep metadata, another
            format or version, or an array missing/mismatching the manifest.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(p, None, "no such file" if not p.exists() else "not a regular file")
    try:
        with NpzArchive(p) as z:
            meta = _parse_meta(p, z)
            try:
                _check_manifest(p, meta["arrays"], z)
            except (KeyError, TypeError, AttributeError) as e:
                raise _malformed(p, e) from e
            arrays = {k: z.read(k) for k in (*meta["arrays"], META_KEY)}
    except NpzError as e:
        raise CheckpointError(p, e.key, e.reason) from e
    try:
        if meta["format_version"] == 1:
            state = state_from_v1(meta, arrays)
        else:
            used: set = set()
            state = _decode(meta["state"], arrays, used, p)
            unused = sorted(set(meta["arrays"]) - used)
            if unused:
                raise CheckpointError(p, unused[0], "array in the archive but not in the state")
    except CheckpointError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as e:
        raise _malformed(p, e) from e
    return Checkpoint(str(p), meta, arrays, state)


def read_metadata(path) -> dict:
    """The metadata of ``path`` (``meta["state"]["iteration"]`` ...), no array read.

    Raises:
        CheckpointError: as ``read_checkpoint`` for the archive and the metadata.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(p, None, "no such file" if not p.exists() else "not a regular file")
    try:
        with NpzArchive(p) as z:
            return _parse_meta(p, z)
    except NpzError as e:
        raise CheckpointError(p, e.key, e.reason) from e


def read_state(path) -> dict:
    """The state dict stored at ``path`` (``read_checkpoint(path).state``)."""
    return read_checkpoint(path).state


def _malformed(p, e: Exception) -> CheckpointError:
    """A well-formed JSON of the wrong shape."""
    return CheckpointError(p, META_KEY, f"metadata is malformed: {type(e).__name__}: {e}")


def json_depth(text: bytes) -> int:
    """How deep ``[`` and ``{`` nest in the JSON ``text``, outside strings (without parsing it).

    ``json.loads`` recurses once per level, so a file of 200k ``[`` would raise RecursionError;
    this is counted in NumPy first.
    """
    outside = re.sub(rb'"(?:[^"\\]|\\.)*"', b"", text, flags=re.DOTALL)
    brackets = np.frombuffer(outside.translate(None, _NOT_BRACKETS), dtype=np.uint8)
    if brackets.size == 0:
        return 0
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _parse_meta(p, z: NpzArchive) -> dict:
    if META_KEY not in z.infos:
        raise CheckpointError(p, META_KEY, "missing: not a numnet checkpoint")
    m = z.member(META_KEY)
    if m.dtype != np.uint8 or len(m.shape) != 1:
        raise CheckpointError(
            p, META_KEY, f"metadata does not parse: expected a 1-D uint8 array, found {m.dtype} "
            f"ndim {len(m.shape)}",
        )  # fmt: skip
    if m.nbytes > MAX_METADATA_BYTES:
        raise CheckpointError(
            p, META_KEY, f"{m.nbytes} bytes of metadata, more than the {MAX_METADATA_BYTES} allowed"
        )
    text = z.read(META_KEY).tobytes()
    depth = json_depth(text)
    if depth > MAX_METADATA_DEPTH:
        raise CheckpointError(
            p, META_KEY, f"metadata nested deeper than {MAX_METADATA_DEPTH} levels ({depth})"
        )
    try:
        meta = json.loads(text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(p, META_KEY, f"metadata does not parse: {e}") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(p, "format", f"expected {FORMAT!r}, found {found!r}")
    version = meta.get("format_version")
    if version not in (1, FORMAT_VERSION) or isinstance(version, bool):
        raise CheckpointError(
            p, "format_version", f"expected 1 or {FORMAT_VERSION}, found {version!r}"
        )
    sections = ("state", "arrays") if version == FORMAT_VERSION else ("model", "solver", "arrays")
    for section in sections:
        if section not in meta:
            raise CheckpointError(p, section, "metadata section missing")
    return meta


def _check_manifest(p, manifest, z: NpzArchive) -> None:
    """The archive holds exactly the manifest's arrays, each header with its shape and dtype."""
    extra = sorted(set(z.keys) - set(manifest) - {META_KEY})
    if extra:
        raise CheckpointError(p, extra[0], "array in the archive but not in the metadata")
    for k, spec in manifest.items():
        if k not in z.infos or k == META_KEY:
            raise CheckpointError(p, k, "listed in the metadata but missing from the archive")
        m = z.member(k)
        if list(m.shape) != spec["shape"] or m.dtype.name != spec["dtype"]:
            raise CheckpointError(
                p,
                k,
                f"expected shape {spec['shape']} dtype {spec['dtype']}, found "
                f"shape {list(m.shape)} dtype {m.dtype.name}",
            )


def _decode(obj, arrays: dict, used: set, p):
    """Inverse of ``_encode``: references replaced by the arrays (recorded in ``used``)."""
    if isinstance(obj, dict):
        if _ARRAY in obj:
            key = obj[_ARRAY]
            if not isinstance(key, str) or key not in arrays or key == META_KEY:
                raise CheckpointError(p, str(key), "required array missing from the archive")
            used.add(key)
            return arrays[key]
        return {k: _decode(v, arrays, used, p) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays, used, p) for v in obj]
    return obj


# ------------------------------------------------------------------------ loading
def resume_solver(solver_cls, path, model=None, data=None, **overrides):
    """``Solver.resume``: ``solver_cls.from_state_dict`` of the state stored at ``path``."""
    state = read_state(path)
    if data is None:
        raise ValueError("data is required to resume (checkpoints do not store the dataset)")
    with _in_file(path):
        return solver_cls.from_state_dict(state, data, model=model, **overrides)


def restore_solver(solver, ckpt: Checkpoint) -> None:
    """Load ``ckpt`` into ``solver`` (``solver.load_state_dict``), errors naming the file."""
    with _in_file(ckpt.path):
        solver.load_state_dict(ckpt.state)


def check_model(ckpt: Checkpoint, model) -> None:
    """Raise CheckpointError unless ``ckpt``'s params, best params, buffers, rng fit ``model``."""
    with _in_file(ckpt.path):
        check_model_state(model, _state.entry(ckpt.state, "model", Mapping))
        best = _state.entry(ckpt.state, "best_params", Mapping)
        _state.check_arrays_like("best_params", best, model.params, allow_empty=True)
        _state.check_finite("best_params", best)


def load_model(path, params: str = "best", model=None):
    """A model for evaluation from a checkpoint: built from its config, weights loaded.

    All or nothing: when anything is refused, a given ``model`` is left exactly as it was.

    Args:
        path: checkpoint file.
        params: ``"best"`` (the Solver's best-val params, what the course's model holds after
            ``train()``; the last params if none were recorded) or ``"last"``.
        model: load into this model instead of building one from the stored config.

    Raises:
        CheckpointError: see ``read_checkpoint``; or the params do not fit the model, or some
            weight is not finite (a run that diverged).
    """
    if params not in ("best", "last"):
        raise ValueError(f'params must be "best" or "last", got {params!r}')
    ckpt = read_checkpoint(path)
    with _in_file(ckpt.path):
        if model is None:
            model = _state.build_model(_state.entry(ckpt.state, "model", Mapping))
    check_model(ckpt, model)
    chosen = ckpt.group("best_params") if params == "best" else {}
    _state.load_model_state(model, ckpt.state["model"], chosen or ckpt.group("params"))
    return model
