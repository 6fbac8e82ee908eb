"""The Solver's state dict: its layout, and how it is read, checked, loaded and rebuilt from.

``Solver.state_dict()`` / ``load_state_dict()`` / ``from_state_dict()`` are the API; they call
these with the Solver's public attributes and hand over the two values only the Solver holds
(the params after its last step, the current epoch's order). A state dict is plain data (see
``numnet._state``):

- ``settings``: ``Solver.get_config()``, the keyword arguments that rebuild the Solver;
  ``custom_update_rule``: True when ``update_rule`` is none of ``numnet.optim``'s (a function
  cannot be stored, so it must be passed again).
- ``model``: the model's class, config, params after the last step, buffers and Generator state
  (``numnet._state.model_state_dict``).
- ``epoch``, ``iteration`` (steps done), ``best_val_acc``, ``best_params``.
- ``history``: ``loss``, ``train_acc``, ``val_acc`` as float64 arrays.
- ``optim_configs``: one dict per param (hyperparameters and state arrays: velocity, m, ...).
- ``rng``: ``solver`` (the Solver's Generator state, or None without a seed) and ``global``
  (NumPy's global state, which the course fallback draws from).
- ``epoch_order``: the current epoch's permutation of the training samples (``shuffle``), or None.

Loading checks every entry first and assigns only when all passed (``StateDictError`` naming the
entry otherwise). The Solver's own Generator is set only when its ``seed`` setting is the stored
one (a new seed asks for new draws); NumPy's global state is set where the run draws from it (no
seed, or a model without a Generator).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from numnet import _random, _state
from numnet._solver_settings import SETTINGS, check_hyperparameters, is_custom_rule
from numnet._state import StateDictError, entry

#: Optimizer state arrays that have their param's shape and dtype.
OPTIM_STATE_KEYS = ("velocity", "cache", "m", "v")
#: The histories: the Solver's ``<name>_history`` lists, ``state["history"][<name>]``.
HISTORIES = ("loss", "train_acc", "val_acc")


def state_dict(solver, last_params: Mapping, epoch_order) -> dict:
    """The state dict of ``solver`` (host copies of every array; see the module docstring)."""
    return {
        "settings": solver.get_config(),
        "custom_update_rule": is_custom_rule(solver.update_rule, solver.update_rule_name),
        "model": _state.model_state_dict(solver.model, last_params),
        "epoch": int(solver.epoch),
        "iteration": int(solver.iteration),
        "best_val_acc": float(solver.best_val_acc),
        "best_params": _state.host_copy(solver.best_params),
        "history": {
            k: np.asarray([float(x) for x in getattr(solver, f"{k}_history")], np.float64)
            for k in HISTORIES
        },
        "optim_configs": {p: _state.host_copy(c) for p, c in solver.optim_configs.items()},
        "rng": {"solver": _random.generator_state(solver.rng), "global": _random.global_state()},
        "epoch_order": None if epoch_order is None else np.array(epoch_order),
    }


def load_state_dict(solver, state: Mapping):
    """Check ``state`` against ``solver``, then load it; returns the epoch order to continue with.

    Raises:
        StateDictError: an entry is missing, of the wrong kind or does not fit; nothing changed.
    """
    set_solver_rng, set_global_rng = _check(solver, state)
    _state.load_model_state(solver.model, state["model"])
    params = solver.model.params
    best = state["best_params"]
    solver.best_params = {k: _state.copy_into_library(a, params[k]) for k, a in best.items()}
    solver.optim_configs = {
        p: {
            k: _state.copy_into_library(v, params[p]) if isinstance(v, np.ndarray) else v
            for k, v in cfg.items()
        }
        for p, cfg in state["optim_configs"].items()
    }
    for k in HISTORIES:
        setattr(solver, f"{k}_history", [float(x) for x in state["history"][k]])
    solver.epoch, solver.iteration = state["epoch"], state["iteration"]
    solver.best_val_acc = float(state["best_val_acc"])
    if set_solver_rng and state["rng"]["solver"] is not None:
        solver.rng.bit_generator.state = state["rng"]["solver"]
    if set_global_rng:
        _random.set_global_state(state["rng"]["global"])
    order = state["epoch_order"] if solver.shuffle else None
    return None if order is None else np.array(order)


def _check(solver, state) -> tuple[bool, bool]:
    """Check every entry ``load_state_dict`` uses; returns which random states to set."""
    params = solver.model.params
    _state.check_model_state(solver.model, entry(state, "model", Mapping))
    best = entry(state, "best_params", Mapping)
    _state.check_arrays_like("best_params", best, params, allow_empty=True)
    _state.check_finite("best_params", best)
    configs = entry(state, "optim_configs", Mapping)
    _state.check_optim_configs("optim_configs", configs, params, OPTIM_STATE_KEYS)
    for p, cfg in configs.items():
        try:
            check_hyperparameters(f"optim_configs/{p}", cfg)
        except ValueError as e:
            raise StateDictError(f"optim_configs/{p}", str(e)) from None
    for k in ("epoch", "iteration"):
        if entry(state, k, int) < 0:
            raise StateDictError(k, f"expected an int >= 0, found {state[k]}")
    entry(state, "best_val_acc", (int, float))
    history = entry(state, "history", Mapping)
    for k in HISTORIES:
        _state.check_series(f"history/{k}", entry(history, k, object, "history"))
    order = entry(state, "epoch_order", (np.ndarray, type(None)))
    if order is not None and solver.shuffle:
        _state.check_permutation("epoch_order", order, solver.X_train.shape[0])
    rng = entry(state, "rng", Mapping)
    seed = entry(entry(state, "settings", Mapping), "seed", (int, str, type(None)), "settings")
    set_solver_rng = seed == solver.get_config()["seed"]
    if set_solver_rng:
        solver_state = entry(rng, "solver", (Mapping, type(None)), "rng")
        _state.check_generator("rng/solver", solver_state, solver.rng)
    model_rng = getattr(solver.model, "rng", None)
    set_global_rng = solver.rng is None or not isinstance(model_rng, np.random.Generator)
    if set_global_rng:
        _state.check_global_rng("rng/global", entry(rng, "global", Mapping, "rng"))
    return set_solver_rng, set_global_rng


def rebuild(state: Mapping, model, overrides: Mapping):
    """The model and the Solver keyword arguments ``state`` stands for, ``overrides`` on top.

    Returns:
        ``(model, kwargs)``: ``model`` as given, else built from the stored config.

    Raises:
        StateDictError: an unknown setting, a custom update rule not passed again, an unknown
            bit generator, or a model that cannot be built from the stored config.
    """
    settings = dict(entry(state, "settings", Mapping))
    unknown = [k for k in settings if k not in SETTINGS]
    if unknown:
        raise StateDictError(f"settings/{unknown[0]}", "not a setting of this numnet's Solver")
    if entry(state, "custom_update_rule", bool) and "update_rule" not in overrides:
        rule = settings.get("update_rule")
        raise StateDictError(
            "settings/update_rule", f"the run used a custom update rule {rule!r}; pass update_rule="
        )
    if settings.get("seed") == "generator":  # a blank one: load_state_dict sets its state
        rng = entry(entry(state, "rng", Mapping), "solver", Mapping, "rng")
        try:
            settings["seed"] = _random.blank_generator(rng.get("bit_generator"))
        except ValueError as e:
            raise StateDictError("rng/solver", str(e)) from None
    if model is None:
        model = _state.build_model(entry(state, "model", Mapping))
    return model, {**settings, **dict(overrides)}
