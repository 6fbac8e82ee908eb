"""The Solver's settings: its keyword arguments with their defaults, checks and plain-data form.

The course's arguments keep the course's defaults; numnet's extras default to the course's
behaviour. A new setting is one line in ``SETTINGS`` plus its use in the Solver: the Solver sets
it as an attribute, ``Solver.get_config()`` stores it and ``Solver.from_state_dict`` passes it
back, with nothing else to change. Only a value that is not plain data (the update rule, a
schedule, a Generator seed, a path) has its own line in ``config``.
"""

from __future__ import annotations

import copy
import math
import numbers
import os

import numpy as np

from numnet import param_groups
from numnet._checks import check_positive_float, check_positive_int
from numnet._state import host_copy
from numnet.optim import UPDATE_RULES, get_update_rule
from numnet.schedules import get_schedule

#: Every keyword argument and its default: the course's, then numnet's (see ``Solver``).
SETTINGS = {
    "update_rule": "sgd",
    "optim_config": {},
    "lr_decay": 1.0,
    "batch_size": 100,
    "num_epochs": 10,
    "num_train_samples": 1000,
    "num_val_samples": None,
    "checkpoint_name": None,
    "print_every": 10,
    "verbose": True,
    "seed": None,
    "shuffle": False,
    "lr_schedule": None,
    "grad_clip": None,
    "callbacks": (),
    "interrupt_checkpoint": None,
    "lr_mult": None,
    "unfreeze_epoch": None,
    "unfreeze": None,
}


def read(kwargs: dict) -> dict:
    """Every setting from ``kwargs`` or its default (a copy), normalised and checked.

    Returns:
        ``SETTINGS``' names plus ``update_rule_name``; ``update_rule`` is the rule function,
        ``lr_schedule`` a Schedule or None, ``callbacks`` a list.

    Raises:
        ValueError: an unknown name (the course's ``Unrecognized arguments "..."``) or a bad
            value, naming the setting.
    """
    extra = [k for k in kwargs if k not in SETTINGS]
    if extra:
        raise ValueError("Unrecognized arguments " + ", ".join(f'"{k}"' for k in extra))
    s = {name: kwargs[name] if name in kwargs else copy.copy(d) for name, d in SETTINGS.items()}
    s["shuffle"] = bool(s["shuffle"])
    s["lr_schedule"] = get_schedule(s["lr_schedule"])
    s["callbacks"] = list(s["callbacks"])
    if s["lr_mult"] is not None:
        s["lr_mult"] = param_groups.parse_multipliers(s["lr_mult"])
    if s["unfreeze"] is not None:
        s["unfreeze"] = param_groups.parse_selectors(s["unfreeze"])
    # Make sure the update rule exists, then replace the string name with the actual function
    rule = s["update_rule"]
    s["update_rule_name"] = rule if isinstance(rule, str) else getattr(rule, "__name__", None)
    s["update_rule"] = get_update_rule(rule)
    _check(s)
    _check_groups(s)
    return s


def _check(s: dict) -> None:
    for name in ("batch_size", "num_epochs", "print_every"):
        check_positive_int(name, s[name])
    for name in ("num_train_samples", "num_val_samples"):
        if s[name] is not None:
            check_positive_int(name, s[name])
    check_positive_float("lr_decay", s["lr_decay"])
    check_positive_float("grad_clip", s["grad_clip"], allow_none=True)
    if not isinstance(s["optim_config"], dict):
        raise ValueError(f"optim_config must be a dict, got {type(s['optim_config']).__name__}")
    check_hyperparameters("optim_config", s["optim_config"])
    if s["lr_schedule"] is None:
        return
    if s["lr_decay"] != 1.0:
        raise ValueError(
            f"pass lr_decay or lr_schedule, not both (got lr_decay={s['lr_decay']}); "
            "numnet.schedules.ExponentialDecay is lr_decay as a schedule"
        )
    custom = is_custom_rule(s["update_rule"], s["update_rule_name"])
    if "learning_rate" not in s["optim_config"] and custom:
        raise ValueError(
            "lr_schedule with a custom update rule needs optim_config['learning_rate']"
        )


def _check_groups(s: dict) -> None:
    """The fine-tuning settings (``lr_mult``, ``unfreeze_epoch``, ``unfreeze``), syntax parsed."""
    if s["unfreeze_epoch"] is not None:
        check_positive_int("unfreeze_epoch", s["unfreeze_epoch"])
    elif s["unfreeze"] is not None:
        raise ValueError(f"unfreeze={s['unfreeze']!r} needs unfreeze_epoch (when to unfreeze)")
    custom = is_custom_rule(s["update_rule"], s["update_rule_name"])
    if s["lr_mult"] is not None and custom and "learning_rate" not in s["optim_config"]:
        raise ValueError("lr_mult with a custom update rule needs optim_config['learning_rate']")


#: The update rules' hyperparameters that must be finite numbers >= 0 (a negative learning rate
#: climbs the loss), and those that must lie in [0, 1) (decay factors of moving averages).
NONNEGATIVE = ("learning_rate", "momentum", "weight_decay", "epsilon")
UNIT_INTERVAL = ("beta1", "beta2", "decay_rate")


def check_hyperparameters(name: str, config) -> None:
    """Raise ValueError unless ``config``'s known hyperparameters are sensible numbers.

    Args:
        name: how the config is called in the message (``"optim_config"``).
        config: an update rule's config dict; keys other than ``NONNEGATIVE`` and
            ``UNIT_INTERVAL`` (state arrays, a custom rule's own) are not checked.
    """
    for key in (*NONNEGATIVE, *UNIT_INTERVAL):
        if key not in config:
            continue
        v = config[key]
        number = isinstance(v, numbers.Real) and not isinstance(v, bool)
        ok = number and math.isfinite(float(v)) and float(v) >= 0
        if key in UNIT_INTERVAL and not (ok and float(v) < 1):
            raise ValueError(f"{name}[{key!r}] must be a number in [0, 1), got {v!r}")
        if not ok:
            raise ValueError(f"{name}[{key!r}] must be a finite number >= 0, got {v!r}")


def is_custom_rule(rule, name) -> bool:
    """Whether update rule ``rule`` (called ``name``) is none of ``numnet.optim``'s."""
    return UPDATE_RULES.get(name) is not rule


def config(solver) -> dict:
    """``solver``'s settings as plain data (``Solver.get_config``): all but ``callbacks``."""
    out = {name: getattr(solver, name) for name in SETTINGS if name != "callbacks"}
    out["update_rule"] = solver.update_rule_name
    out["optim_config"] = host_copy(solver.optim_config)
    out["lr_schedule"] = None if solver.lr_schedule is None else solver.lr_schedule.get_config()
    out["seed"] = "generator" if isinstance(solver.seed, np.random.Generator) else solver.seed
    for name in ("lr_mult", "unfreeze"):
        out[name] = None if out[name] is None else copy.copy(out[name])
    for name in ("checkpoint_name", "interrupt_checkpoint"):
        out[name] = None if out[name] is None else os.fspath(out[name])
    return out
