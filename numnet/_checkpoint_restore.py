"""Checking a read checkpoint against a model/Solver, then restoring it (all checks first)."""

from __future__ import annotations

import numpy as np

from numnet._checkpoint_format import STATE_KEYS, Checkpoint, CheckpointError, from_jsonable
from numnet.backend import to_numpy


def _check_group(ckpt: Checkpoint, section: str, expected: dict, allow_empty: bool = False):
    found = ckpt.group(section)
    if allow_empty and not found:
        return
    for k in expected:
        if k not in found:
            raise CheckpointError(
                ckpt.path, f"{section}/{k}", "the model has it, the file does not"
            )
    for k in found:
        if k not in expected:
            raise CheckpointError(ckpt.path, f"{section}/{k}", "in the file, the model has no such")
    for k, want in expected.items():
        _check_like(ckpt, f"{section}/{k}", found[k], want)


def _check_like(ckpt, key, a, want):
    want = to_numpy(want)
    if a.shape != want.shape or a.dtype != want.dtype:
        raise CheckpointError(
            ckpt.path,
            key,
            f"expected shape {want.shape} dtype {want.dtype.name} (the model's), "
            f"found shape {a.shape} dtype {a.dtype.name}",
        )


def _check_rng(ckpt, key, state, g):
    has = isinstance(g, np.random.Generator)
    if state is None and not has:
        return
    if state is None or not has:
        holder = "the file" if state is not None else "the model"
        raise CheckpointError(ckpt.path, key, f"only {holder} has a Generator state")
    want, found = type(g.bit_generator).__name__, state.get("bit_generator")
    if want != found:
        raise CheckpointError(ckpt.path, key, f"expected bit generator {want}, found {found}")


def check_model(ckpt: Checkpoint, model) -> None:
    """Raise CheckpointError unless ``ckpt``'s params, buffers and rng fit ``model``."""
    _check_group(ckpt, "params", model.params)
    _check_group(ckpt, "best_params", model.params, allow_empty=True)
    buffers = model.buffers() if hasattr(model, "buffers") else {}
    _check_group(ckpt, "buffers", buffers)
    _check_rng(ckpt, "rng.model", ckpt.meta["rng"].get("model"), getattr(model, "rng", None))


def _check_solver(ckpt: Checkpoint, solver, keep_solver_rng: bool) -> None:
    check_model(ckpt, solver.model)
    optim = ckpt.meta["optim"]
    params = solver.model.params
    for p in params:
        if p not in optim:
            raise CheckpointError(ckpt.path, f"optim/{p}", "the model has it, the file does not")
    for p, spec in optim.items():
        if p not in params:
            raise CheckpointError(ckpt.path, f"optim/{p}", "in the file, the model has no such")
        for k in spec["arrays"]:
            if k in STATE_KEYS:
                _check_like(ckpt, f"optim/{p}/{k}", ckpt.arrays[f"optim/{p}/{k}"], params[p])
    if not keep_solver_rng:
        _check_rng(ckpt, "rng.solver", ckpt.meta["rng"].get("solver"), solver.rng)
    order = ckpt.arrays.get("solver/epoch_order")
    if order is not None and solver.shuffle and order.shape != (solver.X_train.shape[0],):
        raise CheckpointError(
            ckpt.path,
            "solver/epoch_order",
            f"expected shape ({solver.X_train.shape[0]},) (len(X_train)), found {order.shape}",
        )


def _restore_global_rng(ckpt):
    g = ckpt.meta["rng"]["global"]
    keys = ckpt.arrays["rng/global_keys"]
    state = ("MT19937", keys, g["pos"], g["has_gauss"], g["cached_gaussian"])
    np.random.set_state(state)  # noqa: NPY002 (course fallback: the run drew from it)


def load_model_state(ckpt, model, params):
    """Assign ``params`` (already checked), the buffers and the model's rng state."""
    for k, a in params.items():
        model.params[k] = a.copy()
    if hasattr(model, "load_buffers") and ckpt.meta["buffers"]:
        model.load_buffers(ckpt.group("buffers"))
    state = ckpt.meta["rng"].get("model")
    if state is not None:
        model.rng.bit_generator.state = from_jsonable(state)


def restore_solver(solver, ckpt: Checkpoint, keep_solver_rng: bool = False) -> None:
    """Validate everything, then put ``ckpt``'s state into ``solver`` and its model."""
    _check_solver(ckpt, solver, keep_solver_rng)
    state = ckpt.meta["state"]
    load_model_state(ckpt, solver.model, ckpt.group("params"))
    solver.best_params = {k: a.copy() for k, a in ckpt.group("best_params").items()}
    configs = ckpt.optim_configs()
    solver.optim_configs = {p: configs[p] for p in solver.model.params}
    hist = ckpt.history
    solver.loss_history = hist["loss"]
    solver.train_acc_history = hist["train_acc"]
    solver.val_acc_history = hist["val_acc"]
    solver.epoch = state["epoch"]
    solver.iteration = state["iteration"]
    solver.best_val_acc = state["best_val_acc"]
    order = ckpt.arrays.get("solver/epoch_order")
    solver._epoch_order = order.copy() if order is not None and solver.shuffle else None
    solver_state = ckpt.meta["rng"].get("solver")
    if solver_state is not None and not keep_solver_rng:
        solver.rng.bit_generator.state = from_jsonable(solver_state)
    if solver.rng is None or not isinstance(
        getattr(solver.model, "rng", None), np.random.Generator
    ):
        _restore_global_rng(ckpt)


def build_model(ckpt: Checkpoint):
    """The model described by the stored config (``numnet.classifiers.build_model``)."""
    config = ckpt.meta["model"].get("config")
    if config is None:
        raise CheckpointError(ckpt.path, "model.config", "no model config stored; pass model=")
    from numnet.classifiers import build_model  # models sit above this module's imports

    try:
        return build_model(config)
    except ValueError as e:
        raise CheckpointError(ckpt.path, "model.config", f"cannot build the model: {e}") from e


def solver_kwargs(ckpt: Checkpoint, overrides: dict) -> dict:
    """Solver kwargs from the stored settings, with ``overrides`` applied on top."""
    s = dict(ckpt.meta["solver"])
    if s.pop("custom_update_rule") and "update_rule" not in overrides:
        raise CheckpointError(
            ckpt.path,
            "solver.update_rule",
            f"the run used a custom update rule {s['update_rule']!r}; pass update_rule=",
        )
    oc = s["optim_config"]
    s["optim_config"] = {
        **oc["scalars"],
        **{k: ckpt.arrays[f"optim_config/{k}"] for k in oc["arrays"]},
    }
    if s["seed"] == "generator":
        bitgen = ckpt.meta["rng"]["solver"]["bit_generator"]
        s["seed"] = np.random.Generator(getattr(np.random, bitgen)())
    s.update(overrides)
    return s
