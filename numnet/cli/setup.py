"""What ``numnet train``'s options build: the model, the data, the Solver's keyword arguments.

``numnet train`` and the commands that take its options (``sanity``, ``lr-find``, ``summary``)
build from the same functions, so each sees exactly the model, data split and update rule that
``train`` would use. Typical use in a command::

    cfg = setup.options(args, explicit)
    model = setup.build_model(cfg)
    ds, data = setup.load_data(cfg)
    solver = Solver(model, data, **setup.solver_kwargs(cfg, data))
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping

from numnet.cli import config as C
from numnet.cli import dataload, models
from numnet.cli.errors import CLIError, UsageError, one_line

#: Training-accuracy sample per check (the course's Solver default).
TRAIN_ACC_SAMPLES = 1000


def options(args: argparse.Namespace, explicit: Mapping) -> dict:
    """The resolved options: defaults < ``--config`` file < the flags given (``explicit``).

    ``explicit`` is what ``numnet.cli.main`` passes a handler; for a command other than
    ``train`` it is empty, so the flags are read again from ``args.argv`` here.
    """
    if not explicit and getattr(args, "argv", None):
        from numnet.cli.main import explicit_train_options

        explicit = explicit_train_options(args.argv)
    return C.resolve(explicit, getattr(args, "config", None))


def model_config(cfg: Mapping) -> dict:
    """The model's constructor config (``get_config()`` form) for the options and data set."""
    from numnet.data import get_spec

    spec = get_spec(cfg["data"])
    return models.model_kwargs(cfg, spec.image_shape, dataload.num_classes(spec, cfg))


def build_model(cfg: Mapping):
    """The model ``numnet train`` would train (freshly initialised), on the ``--device``."""
    return on_device(models.build(model_config(cfg)), cfg["device"])


def array_module(device: str):
    """The array module of ``--device`` (``"cpu"``: numpy, ``"cuda"``: cupy).

    Raises:
        CLIError: ``cuda`` without CuPy or without a usable GPU (the library's one line).
    """
    from numnet.backend import device_module

    try:
        return device_module(device)
    except (RuntimeError, ValueError) as e:
        raise CLIError(f"--device {device}: {one_line(e)}") from None


def on_device(model, device: str):
    """``model`` moved to ``device`` (see ``array_module``); returns it."""
    return model.to(array_module(device))


def load_data(cfg: Mapping):
    """``(dataset, data)``: the data set and its train/val/test dict, augmented as configured."""
    ds = dataload.subset(dataload.load(cfg["data"], cfg["data_dir"], cfg["download"]), cfg)
    return ds, prepared_data(ds, cfg)


def prepared_data(ds, cfg: Mapping, normalization=None):
    """The split, normalised data dict of ``ds``; ``X_train`` augmented with ``--augment``.

    ``normalization``: statistics to use instead of the training split's (a pretrained
    checkpoint's, for ``--init-from``).
    """
    data = dataload.split(ds, cfg, normalization)
    if cfg["augment"]:
        data["X_train"] = dataload.augmented(data["X_train"], cfg["seed"])
    return data


def iterations_per_epoch(cfg: Mapping, data) -> int:
    """Steps per epoch: ``ceil(N_train / batch_size)`` (the Solver shuffles)."""
    return math.ceil(data["X_train"].shape[0] / cfg["batch_size"])


def optim_config(cfg: Mapping) -> dict:
    """The update rule's config: learning rate plus the options that rule reads."""
    out = {"learning_rate": cfg["lr"]}
    if cfg["optimizer"] in ("sgd_momentum", "nesterov_momentum"):
        out["momentum"] = cfg["momentum"]
    if cfg["optimizer"] == "adamw":
        out["weight_decay"] = cfg["weight_decay"]
    return out


def lr_schedule(cfg: Mapping, iterations_per_epoch: int):
    """The ``numnet.schedules`` schedule for the options (None: constant)."""
    from numnet import schedules as S

    if cfg.get("head_epochs"):  # head first, then everything: the schedule runs in each phase
        from numnet.cli.finetune import two_phase_schedule

        return two_phase_schedule(cfg, iterations_per_epoch, lr_schedule)
    kind = cfg["lr_schedule"]
    if kind == "lr_decay":
        base = S.ExponentialDecay(cfg["lr_decay"])
    elif kind == "step":
        if not cfg["lr_decay"] <= 1:
            raise UsageError(
                f"--lr-decay must be <= 1 for the step schedule, got {cfg['lr_decay']}"
            )
        base = S.StepDecay(cfg["lr_step"], cfg["lr_decay"])
    elif kind == "cosine":
        base = S.CosineDecay(cfg["epochs"] * iterations_per_epoch)
    else:
        base = None
    warmup = round(cfg["warmup_epochs"] * iterations_per_epoch)
    if warmup >= 1:
        return S.LinearWarmup(warmup, after=base)
    return base


def solver_kwargs(cfg: Mapping, data) -> dict:
    """The ``Solver`` keyword arguments of a new run (no callbacks, no checkpoint paths)."""
    ipe = iterations_per_epoch(cfg, data)
    return dict(
        update_rule=cfg["optimizer"],
        optim_config=optim_config(cfg),
        batch_size=cfg["batch_size"],
        num_epochs=cfg["epochs"],
        num_train_samples=TRAIN_ACC_SAMPLES,
        verbose=False,
        seed=cfg["seed"],
        shuffle=True,
        lr_schedule=lr_schedule(cfg, ipe),
        grad_clip=cfg["grad_clip"],
        lr_mult=cfg["lr_mult"],
    )


def data_callbacks(data) -> list:
    """Callbacks the data needs (augmented images augment each step through one)."""
    from numnet.data import AugmentedImages

    return [data["X_train"]] if isinstance(data["X_train"], AugmentedImages) else []
