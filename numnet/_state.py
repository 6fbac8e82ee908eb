"""State dicts: the error they raise, their entry checks, and a course-style model's state.

A state dict is plain data (dicts with str keys, lists, Python scalars, NumPy arrays) that says
where an object stands, as ``torch``'s ``state_dict()`` does. Loading one checks every entry
before it changes anything, and a failure is a ``StateDictError`` whose ``key`` is the entry's
path (``"model/params/W1"``), which is also its name in a checkpoint file.

Course models have no ``state_dict`` of their own: ``model_state_dict`` reads one from any model
with ``params`` (name -> array) and, optionally, ``buffers()``/``load_buffers``, a Generator
``rng`` and ``get_config()`` (see ``numnet.classifiers.base``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from numnet import _random
from numnet._finite import first_nonfinite
from numnet.backend import get_array_module, to_numpy


class StateDictError(ValueError):
    """An entry of a state dict is missing, of the wrong kind, or does not fit the object.

    Attributes:
        key: the entry's path, parts joined by ``/`` (``"optim_configs/W1/m"``).
        reason: what is wrong with it.
    """

    def __init__(self, key: str, reason: str):
        self.key, self.reason = key, reason
        super().__init__(f"state dict entry {key!r}: {reason}")


def entry(state, key: str, kind, path: str = ""):
    """``state[key]`` after checking it exists and is a ``kind`` (a type or tuple of types)."""
    where = f"{path}/{key}" if path else key
    if not isinstance(state, Mapping):
        raise StateDictError(path or "(top)", f"expected a dict, found {type(state).__name__}")
    if key not in state:
        raise StateDictError(where, "missing")
    value = state[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int to Python, never to a state dict.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise StateDictError(where, f"expected {names}, found {type(value).__name__}")
    return value


def check_array_like(key: str, found, want) -> None:
    """Raise StateDictError unless ``found`` is an array with ``want``'s shape and dtype."""
    want = to_numpy(want)
    if not isinstance(found, np.ndarray):
        raise StateDictError(key, f"expected an array, found {type(found).__name__}")
    if found.shape != want.shape or found.dtype != want.dtype:
        raise StateDictError(
            key,
            f"expected shape {want.shape} dtype {want.dtype.name} (the model's), "
            f"found shape {found.shape} dtype {found.dtype.name}",
        )


def check_arrays_like(key: str, found, expected: Mapping, allow_empty: bool = False) -> None:
    """``found`` has exactly ``expected``'s names, each array like the expected one."""
    if not isinstance(found, Mapping):
        raise StateDictError(key, f"expected a dict, found {type(found).__name__}")
    if allow_empty and not found:
        return
    for k in expected:
        if k not in found:
            raise StateDictError(f"{key}/{k}", "the model has it, the state does not")
    for k in found:
        if k not in expected:
            raise StateDictError(f"{key}/{k}", "in the state, the model has no such")
    for k, want in expected.items():
        check_array_like(f"{key}/{k}", found[k], want)


def check_finite(key: str, arrays: Mapping) -> None:
    """Raise StateDictError unless every value of every array in ``arrays`` is finite.

    A weight that is nan or inf comes from a run that diverged; such a model only ever predicts
    one class, so it is refused rather than evaluated or trained further.
    """
    bad = first_nonfinite(arrays)
    if bad is not None:
        raise StateDictError(f"{key}/{bad}", "holds non-finite values (nan or inf)")


def check_generator(key: str, state, g) -> None:
    """A Generator state fits Generator ``g`` (both present, same bit generator), or both None."""
    has = isinstance(g, np.random.Generator)
    if state is None and not has:
        return
    if state is None or not has:
        holder = "the state" if state is not None else "the model"
        raise StateDictError(key, f"only {holder} has a Generator state")
    try:
        _random.check_generator_state(state, g)
    except ValueError as e:
        raise StateDictError(key, str(e)) from None


def check_global_rng(key: str, state) -> None:
    """A state for NumPy's global random state (MT19937)."""
    try:
        _random.check_global_state(state)
    except ValueError as e:
        raise StateDictError(key, str(e)) from None


def check_optim_configs(key: str, configs, params: Mapping, state_keys) -> None:
    """One config dict per param; its ``state_keys`` arrays (if set) are like the param."""
    if not isinstance(configs, Mapping):
        raise StateDictError(key, f"expected a dict, found {type(configs).__name__}")
    for p in (*params, *configs):
        if p not in params or p not in configs:
            has = "the model" if p in params else "the state"
            raise StateDictError(f"{key}/{p}", f"only {has} has this param")
        cfg = entry(configs, p, Mapping, key)
        for k in state_keys:
            if cfg.get(k) is not None:
                check_array_like(f"{key}/{p}/{k}", cfg[k], params[p])


def check_series(key: str, value) -> None:
    """A 1-D array (or list) of numbers, e.g. a loss history."""
    a = np.asarray(value) if isinstance(value, (list, np.ndarray)) else None
    if a is None or a.ndim != 1 or not np.issubdtype(a.dtype, np.number):
        raise StateDictError(key, "expected a 1-D array of numbers")


def check_permutation(key: str, order, n: int) -> None:
    """An int array of shape (n,), e.g. an epoch's order of the n training samples."""
    if not isinstance(order, np.ndarray):
        raise StateDictError(key, f"expected an array, found {type(order).__name__}")
    if order.shape != (n,) or order.dtype.kind not in "iu":
        raise StateDictError(
            key,
            f"expected an int array of shape ({n},), "
            f"found shape {order.shape} dtype {order.dtype.name}",
        )


def host_copy(mapping: Mapping) -> dict:
    """``mapping`` with every array a NumPy copy, other values as they are (a config's state)."""
    return {
        k: np.array(to_numpy(v)) if hasattr(v, "shape") and not isinstance(v, np.generic) else v
        for k, v in mapping.items()
    }


def copy_into_library(a, like):
    """A copy of array ``a`` in the array library (NumPy or CuPy) of ``like``."""
    return get_array_module(like).array(a, copy=True)


# ------------------------------------------------------------------ a model's state
def model_state_dict(model, params: Mapping | None = None) -> dict:
    """The state of ``model`` as plain data (host copies of every array).

    Args:
        model: a course-style model (see the module docstring).
        params: the params to store instead of ``model.params`` (the Solver stores the params
            after its last step even when the model holds its best ones).

    Returns:
        ``{"class": name, "config": get_config() or None, "params": {name: array},
        "buffers": {name: array}, "rng": Generator state or None, "frozen": sorted names}``.
    """
    params = model.params if params is None else params
    buffers = model.buffers() if hasattr(model, "buffers") else {}
    g = getattr(model, "rng", None)
    return {
        "class": type(model).__name__,
        "config": model.get_config() if hasattr(model, "get_config") else None,
        "params": {k: np.array(to_numpy(v), copy=True) for k, v in params.items()},
        "buffers": {k: np.array(to_numpy(v), copy=True) for k, v in buffers.items()},
        "rng": _random.generator_state(g) if isinstance(g, np.random.Generator) else None,
        # Which params training holds fixed is part of where it stands (fine-tuning phases).
        "frozen": sorted(getattr(model, "frozen", ())),
    }


def check_model_state(model, state, key: str = "model") -> None:
    """Raise StateDictError unless ``state`` (a ``model_state_dict``) fits ``model``."""
    check_arrays_like(f"{key}/params", entry(state, "params", Mapping, key), model.params)
    buffers = model.buffers() if hasattr(model, "buffers") else {}
    check_arrays_like(f"{key}/buffers", entry(state, "buffers", Mapping, key), buffers)
    check_finite(f"{key}/params", state["params"])
    check_finite(f"{key}/buffers", state["buffers"])
    if "rng" not in state:
        raise StateDictError(f"{key}/rng", "missing")
    check_generator(f"{key}/rng", state["rng"], getattr(model, "rng", None))
    frozen = state.get("frozen", [])  # absent before numnet stored it: the model's stays
    if not isinstance(frozen, list) or not all(k in model.params for k in frozen):
        raise StateDictError(f"{key}/frozen", f"expected a list of param names, found {frozen!r}")


def load_model_state(model, state, params: Mapping | None = None) -> None:
    """Put a checked ``state`` into ``model``: params (or ``params``), buffers, rng state.

    All or nothing: if any part fails (an out-of-memory copy, a model's own ``load_buffers``
    refusing), what was already assigned is put back and the error re-raised.
    """
    params = state["params"] if params is None else params
    new = {k: copy_into_library(a, model.params[k]) for k, a in params.items()}
    buffers = state["buffers"] if hasattr(model, "load_buffers") else {}
    old_params = dict(model.params)
    old_buffers = model.buffers() if buffers else None
    old_rng = _random.generator_state(model.rng) if state["rng"] is not None else None
    frozen = "frozen" in state and hasattr(model, "frozen")
    old_frozen = set(model.frozen) if frozen else None
    try:
        model.params.update(new)
        if buffers:
            model.load_buffers({k: np.array(a, copy=True) for k, a in buffers.items()})
        if state["rng"] is not None:
            model.rng.bit_generator.state = state["rng"]
        if frozen:
            model.frozen = set(state["frozen"])
    except BaseException:
        model.params.update(old_params)
        if old_buffers is not None:
            model.load_buffers(old_buffers)
        if old_rng is not None:
            model.rng.bit_generator.state = old_rng
        if old_frozen is not None:
            model.frozen = old_frozen
        raise


def build_model(state, key: str = "model"):
    """The model a ``model_state_dict`` describes, built from its config (weights not loaded).

    The config may imply no more weights than ``state`` stores in ``params``: a config edited to
    describe a larger model is refused before anything is allocated.
    """
    config = entry(state, "config", (Mapping, type(None)), key)
    if config is None:
        raise StateDictError(f"{key}/config", "no model config stored; pass model=")
    params = entry(state, "params", Mapping, key)
    stored = sum(int(a.size) for a in params.values() if isinstance(a, np.ndarray))
    # Imported here: training a model of one's own never loads numnet's model zoo.
    from numnet.classifiers import build_model

    try:
        return build_model(config, max_params=stored)
    except ValueError as e:
        raise StateDictError(f"{key}/config", f"cannot build the model: {e}") from e
