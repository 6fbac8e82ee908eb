"""Checkpoints: the complete training state as ONE ``.npz`` of arrays plus JSON metadata; no pickle.

Layout of the archive (every member a plain array; ``np.load(..., allow_pickle=False)`` reads it):

- ``__metadata__``: uint8 array of UTF-8 JSON: format name and version, the model's config
  (``model.get_config()``), the Solver's settings, epoch/iteration/best_val_acc, every scalar of
  every parameter's optimizer config (learning_rate, t, beta1 ...), RNG states, and a manifest of
  every array below with its shape and dtype.
- ``params/<name>``: the params after the last completed step; ``best_params/<name>``: the Solver's
  best-val params; ``buffers/<name>``: ``model.buffers()`` (batchnorm running statistics);
  ``optim/<param>/<key>``: optimizer state arrays (velocity, cache, m, v); ``history/loss``,
  ``history/train_acc``, ``history/val_acc``; ``rng/global_keys``: NumPy's global MT19937 key;
  ``solver/epoch_order``: the current epoch's permutation when ``shuffle=True``.

Files are written atomically (temp file + rename), so a crash or Ctrl-C mid-write keeps the old one.
Loading reads and checks everything first (file, zip integrity, metadata, format version, manifest,
then keys/shapes/dtypes against the model) and assigns only when all of it passed, so a failure
leaves the model and Solver untouched. Every error is a ``CheckpointError`` naming file and key.

RNG: the Solver's Generator state (``seed`` given) or, without a seed, NumPy's global state is
restored, so the next minibatches are the ones an uninterrupted run would draw; the model's own
``rng`` Generator (dropout masks) is restored too. The global state is restored only where
something draws from it: when the Solver has no seed or the model has no Generator.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

import numnet
from numnet import _checkpoint_restore as _restore
from numnet._atomic import atomic_open
from numnet._checkpoint_format import (
    FORMAT,
    FORMAT_VERSION,
    META_KEY,
    SECTIONS,
    Checkpoint,
    CheckpointError,
    generator_state,
    scalar,
    split_config,
)
from numnet._checkpoint_restore import check_model, restore_solver
from numnet.backend import to_numpy
from numnet.optim import UPDATE_RULES

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "check_model",
    "load_model",
    "read_checkpoint",
    "restore_solver",
    "resume_solver",
    "save_checkpoint",
]


def save_checkpoint(solver, path) -> None:
    """Write ``solver``'s complete state to ``path`` atomically (one .npz; see module docstring)."""
    model = solver.model
    params = solver._last_step_params if solver._last_step_params is not None else model.params
    arrays = {f"params/{k}": to_numpy(v) for k, v in params.items()}
    arrays.update({f"best_params/{k}": to_numpy(v) for k, v in solver.best_params.items()})
    buffers = model.buffers() if hasattr(model, "buffers") else {}
    arrays.update({f"buffers/{k}": to_numpy(v) for k, v in buffers.items()})
    optim = {
        p: split_config(cfg, f"optim/{p}", arrays, f"optim_configs[{p!r}]")
        for p, cfg in solver.optim_configs.items()
    }
    arrays["history/loss"] = np.asarray([float(x) for x in solver.loss_history], np.float64)
    arrays["history/train_acc"] = np.asarray(solver.train_acc_history, np.float64)
    arrays["history/val_acc"] = np.asarray(solver.val_acc_history, np.float64)
    # Saved whatever the seed: reading it does not disturb the global state.
    _, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    arrays["rng/global_keys"] = keys
    if solver._epoch_order is not None:
        arrays["solver/epoch_order"] = np.asarray(solver._epoch_order, np.int64)
    rule = solver.update_rule_name
    seed = solver.seed
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "numnet_version": numnet.__version__,
        "model": {
            "class": type(model).__name__,
            "config": model.get_config() if hasattr(model, "get_config") else None,
        },
        "solver": {
            "update_rule": rule,
            "custom_update_rule": UPDATE_RULES.get(rule) is not solver.update_rule,
            "optim_config": split_config(
                solver.optim_config, "optim_config", arrays, "optim_config"
            ),
            "lr_decay": float(solver.lr_decay),
            "batch_size": int(solver.batch_size),
            "num_epochs": int(solver.num_epochs),
            "num_train_samples": scalar(solver.num_train_samples, "num_train_samples"),
            "num_val_samples": scalar(solver.num_val_samples, "num_val_samples"),
            "checkpoint_name": None
            if solver.checkpoint_name is None
            else str(solver.checkpoint_name),
            "print_every": int(solver.print_every),
            "verbose": bool(solver.verbose),
            "seed": "generator" if isinstance(seed, np.random.Generator) else scalar(seed, "seed"),
            "shuffle": bool(solver.shuffle),
            "lr_schedule": None if solver.lr_schedule is None else solver.lr_schedule.get_config(),
            "grad_clip": None if solver.grad_clip is None else float(solver.grad_clip),
            "interrupt_checkpoint": None
            if solver.interrupt_checkpoint is None
            else str(solver.interrupt_checkpoint),
        },
        "state": {
            "epoch": int(solver.epoch),
            "iteration": int(solver.iteration),
            "best_val_acc": float(solver.best_val_acc),
            "num_train": int(solver.X_train.shape[0]),
        },
        "params": list(params),
        "best_params": list(solver.best_params),
        "buffers": list(buffers),
        "optim": optim,
        "rng": {
            "solver": generator_state(solver.rng),
            "model": generator_state(getattr(model, "rng", None)),
            "global": {"pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": cached},
        },
        "arrays": {k: {"shape": list(a.shape), "dtype": a.dtype.name} for k, a in arrays.items()},
    }
    arrays[META_KEY] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)


def read_checkpoint(path) -> Checkpoint:
    """Read every array of ``path`` and check the metadata and manifest.

    Raises:
        CheckpointError: missing/unreadable file, truncated or corrupt archive, unparsable
            metadata, another format or version, or an array missing/mismatching the manifest.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(p, None, "no such file" if not p.exists() else "not a regular file")
    key = None
    try:
        npz = np.load(p, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):  # a plain .npy loads as one array
            raise CheckpointError(p, None, "not an .npz archive")
        with npz:
            arrays = {}
            for key in npz.files:
                arrays[key] = npz[key]
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, KeyError) as e:
        what = "cannot be read (truncated or corrupt?)"
        raise CheckpointError(p, key, f"{what}: {type(e).__name__}: {e}") from e
    meta = _parse_meta(p, arrays)
    try:
        _check_manifest(p, meta, arrays)
    except (KeyError, TypeError, AttributeError) as e:  # a well-formed JSON of the wrong shape
        raise CheckpointError(p, META_KEY, f"metadata is malformed: {type(e).__name__}: {e}") from e
    return Checkpoint(str(p), meta, arrays)


def _check_manifest(p, meta, arrays) -> None:
    """Every array the metadata lists or relies on is there, with the recorded shape and dtype."""
    for k, spec in meta["arrays"].items():
        if k not in arrays:
            raise CheckpointError(p, k, "listed in the metadata but missing from the archive")
        a = arrays[k]
        if list(a.shape) != spec["shape"] or a.dtype.name != spec["dtype"]:
            raise CheckpointError(
                p,
                k,
                f"expected shape {spec['shape']} dtype {spec['dtype']}, found "
                f"shape {list(a.shape)} dtype {a.dtype.name}",
            )
    extra = sorted(set(arrays) - set(meta["arrays"]) - {META_KEY})
    if extra:
        raise CheckpointError(p, extra[0], "array in the archive but not in the metadata")
    for k in _referenced_keys(meta):
        if k not in arrays:
            raise CheckpointError(p, k, "required array missing from the archive")


def _referenced_keys(meta) -> list[str]:
    """Every array key the metadata sections rely on."""
    keys = ["history/loss", "history/train_acc", "history/val_acc", "rng/global_keys"]
    for section in ("params", "best_params", "buffers"):
        keys += [f"{section}/{k}" for k in meta.get(section, [])]
    for p, spec in meta["optim"].items():
        keys += [f"optim/{p}/{k}" for k in spec["arrays"]]
    keys += [f"optim_config/{k}" for k in meta["solver"]["optim_config"]["arrays"]]
    return keys


def _parse_meta(p, arrays) -> dict:
    if META_KEY not in arrays:
        raise CheckpointError(p, META_KEY, "missing: not a numnet checkpoint")
    raw = arrays[META_KEY]
    try:
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError(f"expected a 1-D uint8 array, found {raw.dtype} ndim {raw.ndim}")
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(p, META_KEY, f"metadata does not parse: {e}") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(p, "format", f"expected {FORMAT!r}, found {found!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            p,
            "format_version",
            f"expected {FORMAT_VERSION}, found {meta.get('format_version')!r}",
        )
    for section in SECTIONS:
        if section not in meta:
            raise CheckpointError(p, section, "metadata section missing")
    return meta


def resume_solver(solver_cls, path, model=None, data=None, **overrides):
    """``Solver.resume``: read ``path``, build a Solver with the stored settings, restore state."""
    ckpt = read_checkpoint(path)
    if data is None:
        raise ValueError("data is required to resume (checkpoints do not store the dataset)")
    if model is None:
        model = _restore.build_model(ckpt)
    solver = solver_cls(model, data, **_restore.solver_kwargs(ckpt, overrides))
    restore_solver(solver, ckpt, keep_solver_rng="seed" in overrides)
    return solver


def load_model(path, params: str = "best", model=None):
    """A model for evaluation from a checkpoint: built from its config, weights loaded.

    Args:
        path: checkpoint file.
        params: ``"best"`` (the Solver's best-val params, what the course's model holds after
            ``train()``; the last params if none were recorded) or ``"last"``.
        model: load into this model instead of building one from the stored config.

    Raises:
        CheckpointError: see ``read_checkpoint``; or the params do not fit the model.
    """
    if params not in ("best", "last"):
        raise ValueError(f'params must be "best" or "last", got {params!r}')
    ckpt = read_checkpoint(path)
    if model is None:
        model = _restore.build_model(ckpt)
    check_model(ckpt, model)
    chosen = ckpt.group("best_params") if params == "best" else {}
    _restore.load_model_state(ckpt, model, chosen or ckpt.group("params"))
    return model
