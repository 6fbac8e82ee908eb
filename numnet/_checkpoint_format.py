"""The checkpoint format's shared pieces: constants, the error, the in-memory form, encoders.

See ``numnet.checkpoint`` for the layout; this module only exists to keep that file short.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numnet.backend import to_numpy

FORMAT = "numnet.checkpoint"
FORMAT_VERSION = 1
META_KEY = "__metadata__"
#: Optimizer state arrays that must have their param's shape and dtype.
STATE_KEYS = ("velocity", "cache", "m", "v")
SECTIONS = (
    "model",
    "solver",
    "state",
    "optim",
    "rng",
    "arrays",
    "params",
    "best_params",
    "buffers",
)


class CheckpointError(ValueError):
    """A checkpoint cannot be read or does not fit the model; ``path`` and ``key`` say where."""

    def __init__(self, path, key, message):
        self.path, self.key = str(path), key
        where = f"checkpoint {self.path}" + (f", key {key!r}" if key else "")
        super().__init__(f"{where}: {message}")


def scalar(value, what):
    """``value`` as a JSON scalar (NumPy scalars unwrapped), else ValueError naming ``what``."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"{what} = {value!r} cannot be stored in a checkpoint (not a scalar/array)")


def is_array(v) -> bool:
    """True for NumPy/CuPy arrays (0-d included), False for NumPy scalars."""
    return hasattr(v, "shape") and hasattr(v, "dtype") and not isinstance(v, np.generic)


def jsonable(obj):
    """Bit-generator state -> JSON (arrays tagged so they come back as arrays)."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": obj.dtype.name}
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def from_jsonable(obj):
    """Inverse of ``jsonable``."""
    if isinstance(obj, dict):
        if "__ndarray__" in obj:
            return np.asarray(obj["__ndarray__"], dtype=obj["dtype"])
        return {k: from_jsonable(v) for k, v in obj.items()}
    return obj


def generator_state(g):
    """JSON-able ``bit_generator.state`` of a Generator, or None."""
    return jsonable(g.bit_generator.state) if isinstance(g, np.random.Generator) else None


def split_config(cfg: dict, prefix: str, arrays: dict, what: str):
    """Scalars of ``cfg`` for the JSON; its arrays go into ``arrays`` under ``prefix/<key>``."""
    scalars, names = {}, []
    for k, v in cfg.items():
        if is_array(v):
            arrays[f"{prefix}/{k}"] = np.array(to_numpy(v), copy=True)
            names.append(k)
        else:
            scalars[k] = scalar(v, f"{what}[{k!r}]")
    return {"scalars": scalars, "arrays": names}


@dataclass
class Checkpoint:
    """A checkpoint read into memory and checked for internal consistency (not yet vs a model)."""

    path: str
    meta: dict
    arrays: dict

    def group(self, section: str) -> dict:
        """``{name: array}`` for ``section`` in ``("params", "best_params", "buffers")``."""
        return {k: self.arrays[f"{section}/{k}"] for k in self.meta.get(section, [])}

    def optim_configs(self) -> dict:
        out = {}
        for p, spec in self.meta["optim"].items():
            cfg = dict(spec["scalars"])
            cfg.update({k: self.arrays[f"optim/{p}/{k}"] for k in spec["arrays"]})
            out[p] = cfg
        return out

    @property
    def history(self) -> dict:
        """``{"loss": [...], "train_acc": [...], "val_acc": [...]}`` as lists of floats."""
        return {k: self.arrays[f"history/{k}"].tolist() for k in ("loss", "train_acc", "val_acc")}
