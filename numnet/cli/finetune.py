"""``numnet finetune CHECKPOINT`` and ``numnet train --init-from CHECKPOINT``: a run from weights.

The new model has the checkpoint's architecture (model options given on the command line change
it, e.g. ``--hidden-dims``) with as many outputs as the data has classes (``--classes``). What fits
by name and shape is copied (``numnet.transfer.load_pretrained``), the rest keeps this run's
initialisation (``--seed``); the report is printed and recorded in config.json under
``init_from``. Images are normalised with the checkpoint's run's statistics when its config.json
lies beside it (the pretrained net's own preprocessing), else with this run's training split.

Layers must be copied where they are kept: layer 1 always (a checkpoint whose first layer does not
fit is another architecture), and every frozen parameter (``--freeze-upto``, ``--freeze``); a
mismatch there is a one-line error naming the parameter and both shapes. ``--head-epochs E``
trains the head alone first, then the rest at ``--finetune-lr-factor`` times the rate.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from numnet.cli import models, rundir
from numnet.cli.config import MODEL_NAMES
from numnet.cli.errors import CLIError, UsageError, one_line

#: Model options -> the constructor arguments they set, in any numnet model's config.
ARCH_KEYS = {
    "hidden_dims": ("hidden_dims", "hidden_dim"),
    "filters": ("conv_channels", "num_filters"),
    "filter_size": ("filter_size",),
    "convs_per_stage": ("convs_per_stage",),
    "norm": ("normalization",),
    "dropout_keep": ("dropout_keep_ratio",),
    "init": ("init", "weight_scale"),
    "weight_scale": ("weight_scale",),
    "reg": ("reg",),
}
#: The options that only mean something when starting from a checkpoint.
TRANSFER_ONLY = ("new_classes", "freeze_upto", "freeze", "head_epochs")


def run(args: argparse.Namespace, explicit: dict) -> int:
    """Run ``numnet finetune CHECKPOINT [train options]``: ``numnet train --init-from``.

    Returns:
        The exit status of the training run.

    Raises:
        UsageError: ``--resume`` (a fine-tuning run resumes with ``numnet train --resume``) or
            a second, different ``--init-from``.
    """
    from numnet.cli import train
    from numnet.cli.main import explicit_train_options

    explicit = explicit_train_options(args.argv)
    if args.resume is not None:
        raise UsageError(
            "numnet finetune starts a new run; continue one with numnet train --resume RUN_DIR"
        )
    if explicit.get("init_from", args.checkpoint) != args.checkpoint:
        raise UsageError("give CHECKPOINT or --init-from, not both")
    explicit["init_from"] = args.checkpoint
    return train.run(args, explicit)


@dataclass
class Source:
    """A checkpoint to start from, and the run directory it may sit in.

    Attributes:
        path: the checkpoint file.
        checkpoint: the file read (``numnet.checkpoint.Checkpoint``; ``.state`` its state dict).
        run_config: the config.json beside it, or None.
    """

    path: Path
    checkpoint: object
    run_config: dict | None

    @classmethod
    def read(cls, cfg: Mapping) -> Source | None:
        """The ``--init-from`` checkpoint of the options ``cfg``, or None without one.

        Raises:
            UsageError: a transfer-only option without ``--init-from``, or ``--head-epochs``
                not below ``--epochs``.
            CLIError: the checkpoint is missing or unreadable.
        """
        if cfg.get("init_from") is None:
            given = [k for k in TRANSFER_ONLY if cfg.get(k)]
            if given:
                flag = "--" + given[0].replace("_", "-")
                raise UsageError(f"{flag} needs a checkpoint to start from (--init-from or "
                                 "numnet finetune CHECKPOINT)")  # fmt: skip
            return None
        if cfg["head_epochs"] >= cfg["epochs"]:
            raise UsageError(
                f"--head-epochs {cfg['head_epochs']} must be less than --epochs {cfg['epochs']}"
            )
        from numnet.checkpoint import CheckpointError, read_checkpoint

        path = Path(cfg["init_from"])
        try:
            ckpt = read_checkpoint(path)
        except CheckpointError as e:
            raise CLIError(f"cannot start from it: {one_line(e)}") from None
        conf = path.parent / rundir.CONFIG
        return cls(path, ckpt, rundir.read_json(conf) if conf.is_file() else None)

    @property
    def stored_config(self) -> dict:
        """The checkpoint's model config (``{"name": ..., **kwargs}``)."""
        conf = self.checkpoint.state.get("model", {}).get("config")
        if not isinstance(conf, Mapping) or "name" not in conf:
            raise CLIError(f"{self.path} stores no model config to build its architecture from")
        return dict(conf)

    def model_config(self, cfg: Mapping, explicit: Mapping, image_shape, num_classes: int):
        """The new model's config: the checkpoint's, changed by the explicit model options.

        Raises:
            UsageError: ``--model`` of another kind, architecture options for a model the
                command does not build, or images of another shape than the model takes.
        """
        from numnet.classifiers import MODEL_REGISTRY

        conf = self.stored_config
        name = conf["name"]
        kind = {v: k for k, v in MODEL_NAMES.items()}.get(name)
        if "model" in explicit and explicit["model"] != kind:
            raise UsageError(f"--model {explicit['model']}: {self.path} holds a {name}; "
                             "the architecture comes from the checkpoint")  # fmt: skip
        changed = [k for k in explicit if k in ARCH_KEYS]
        if changed and kind is None:
            raise UsageError(f"{self.path} holds a {name}, whose architecture the command "
                             f"cannot change; drop --{changed[0].replace('_', '-')}")  # fmt: skip
        if changed:
            full = models.model_kwargs({**cfg, "model": kind}, image_shape, num_classes)
            conf.update({k: full[k] for opt in changed for k in ARCH_KEYS[opt] if k in full})
        cls = MODEL_REGISTRY.get(name)
        if cls is not None and ("seed", "rng") in cls.renamed_config_keys:
            conf.pop("seed", None)  # an old config's name for rng, which is set below
        conf.update(num_classes=num_classes, rng=cfg["seed"] + 1)
        want, got = conf.get("input_dim"), list(image_shape)
        if want not in (got, got[0] * got[1] * got[2]):
            raise UsageError(f"{self.path} holds a model for inputs of shape {want}, but "
                             f"{cfg['data']} images are {tuple(got)}")  # fmt: skip
        return conf

    def normalization(self, data: str):
        """The checkpoint's run's normalisation when it trained on ``data`` (else None)."""
        from numnet.cli.dataload import saved_normalization

        return None if self.run_config is None else saved_normalization(self.run_config, data)

    def load_into(self, model, cfg: Mapping, iterations_per_epoch: int, normalized: bool):
        """Copy the weights, freeze, set up head-first training; print the report.

        Args:
            model: the new model (from ``model_config``).
            cfg: the run's options.
            iterations_per_epoch: the Solver's steps per epoch.
            normalized: whether the images use the checkpoint's run's normalisation.

        Returns:
            ``(solver settings, record)``: the Solver keyword arguments of ``--head-epochs``
            and the ``init_from`` entry of config.json.

        Raises:
            UsageError: a bad ``--new-classes``, ``--freeze-upto`` or ``--freeze``, or a
                checkpoint that does not fit where it must.
        """
        from numnet.transfer import TransferError, head_first, load_pretrained

        k = cfg["new_classes"]
        if k is not None and k != model.num_classes:
            raise UsageError(f"--new-classes {k}, but the data has {model.num_classes} classes"
                             + (" (--classes)" if cfg.get("classes") else ""))  # fmt: skip
        try:
            frozen = self._frozen(model, cfg)
            report = load_pretrained(model, self.checkpoint, keep=["1", *frozen],
                                     reinit=["head"] if k else ())  # fmt: skip
        except (TransferError, ValueError) as e:
            raise UsageError(f"cannot start from {self.path}: {one_line(e)}") from None
        model.freeze(*frozen)
        settings = {}
        if cfg["head_epochs"]:
            from numnet.cli.setup import lr_schedule

            s = lr_schedule(cfg, iterations_per_epoch)
            try:
                settings = head_first(model, cfg["head_epochs"], iterations_per_epoch,
                                      first=s.first, second=s.second,
                                      lr_factor=cfg["finetune_lr_factor"])  # fmt: skip
            except ValueError as e:
                raise UsageError(f"--head-epochs: {one_line(e)}") from None
            settings.pop("lr_schedule")  # the command builds the same one from its options
        for line in report.lines():
            print(line)
        record = {
            "checkpoint": str(self.path),
            "params": "last",
            "source_model_config": self.stored_config,
            "normalization": "the checkpoint's run" if normalized else "this run's training split",
            "frozen": frozen,
            "frozen_during_head_epochs": settings.get("unfreeze", []),
            "report": report.to_dict(),
        }
        return settings, record

    @staticmethod
    def _frozen(model, cfg: Mapping) -> list[str]:
        from numnet import param_groups

        names = list(model.params)
        frozen = []
        upto = cfg["freeze_upto"]
        if upto is not None:
            last = max(param_groups.layers(names))
            if upto >= last:
                raise ValueError(f"--freeze-upto {upto} leaves nothing to train: the model has "
                                 f"layers 1..{last}, and {last} is the head")  # fmt: skip
            frozen += param_groups.select(names, f"1-{upto}")
        if cfg["freeze"]:
            frozen += param_groups.select_all(names, cfg["freeze"])
        return [n for n in names if n in set(frozen)]


def two_phase_schedule(cfg: Mapping, iterations_per_epoch: int, build):
    """``--head-epochs``' schedule: ``build`` over each phase, the second scaled down.

    Args:
        cfg: the run's options (``head_epochs`` > 0).
        iterations_per_epoch: the Solver's steps per epoch.
        build: ``build(cfg, iterations_per_epoch)`` -> one phase's schedule from the options.

    Returns:
        A ``numnet.schedules.TwoPhase``.
    """
    from numnet.schedules import TwoPhase

    e, total = cfg["head_epochs"], cfg["epochs"]
    first = build({**cfg, "head_epochs": 0, "epochs": e}, iterations_per_epoch)
    second = build({**cfg, "head_epochs": 0, "epochs": total - e}, iterations_per_epoch)
    return TwoPhase(e, iterations_per_epoch, first, second, cfg["finetune_lr_factor"])
