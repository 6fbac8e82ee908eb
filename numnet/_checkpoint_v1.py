"""Checkpoint format version 1 (numnet before ``Solver.state_dict``), read as a state dict.

Version 1 listed each section of the Solver by hand in its metadata (``model``, ``solver``,
``state``, ``optim``, ``rng``) beside the arrays ``params/<name>``, ``best_params/<name>``,
``buffers/<name>``, ``optim/<param>/<key>``, ``history/<name>``, ``rng/global_keys`` and
``solver/epoch_order``. :func:`state_from_v1` turns that into the version 2 state dict.
"""

from __future__ import annotations

import numpy as np


def _generator(state):
    """A Generator state: v1 wrote its arrays as ``{"__ndarray__": list, "dtype": name}``."""
    if isinstance(state, dict):
        if "__ndarray__" in state:
            dtype = np.dtype(state["dtype"])
            if dtype.kind not in "iu":
                raise TypeError(f"a generator state array of dtype {dtype}")
            return np.asarray(state["__ndarray__"], dtype=dtype)
        return {k: _generator(v) for k, v in state.items()}
    return state


def state_from_v1(meta: dict, arrays: dict) -> dict:
    """The state dict a format version 1 file holds.

    Raises:
        KeyError, TypeError, ValueError, AttributeError: the metadata is not version 1's layout
            (the reader turns these into a ``CheckpointError``).
    """

    def group(section):
        return {k: arrays[f"{section}/{k}"] for k in meta[section]}

    def config(spec, prefix):
        return {**spec["scalars"], **{k: arrays[f"{prefix}/{k}"] for k in spec["arrays"]}}

    settings = dict(meta["solver"])
    custom = settings.pop("custom_update_rule")
    settings["optim_config"] = config(settings["optim_config"], "optim_config")
    rng, g = meta["rng"], meta["rng"]["global"]
    return {
        "settings": settings,
        "custom_update_rule": custom,
        "model": {
            **meta["model"],
            "params": group("params"),
            "buffers": group("buffers"),
            "rng": _generator(rng["model"]),
        },
        "epoch": meta["state"]["epoch"],
        "iteration": meta["state"]["iteration"],
        "best_val_acc": meta["state"]["best_val_acc"],
        "best_params": group("best_params"),
        "history": {k: arrays[f"history/{k}"] for k in ("loss", "train_acc", "val_acc")},
        "optim_configs": {p: config(spec, f"optim/{p}") for p, spec in meta["optim"].items()},
        "rng": {
            "solver": _generator(rng["solver"]),
            "global": {
                "bit_generator": "MT19937",
                "state": {"key": arrays["rng/global_keys"], "pos": g["pos"]},
                "has_gauss": g["has_gauss"],
                "gauss": g["cached_gaussian"],
            },
        },
        "epoch_order": arrays.get("solver/epoch_order"),
    }
