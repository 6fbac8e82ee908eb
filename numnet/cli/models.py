"""Models for the command line: built from the training options, or read from checkpoints."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from numnet._names import FC_NORMALIZATIONS
from numnet.cli.config import MODEL_NAMES, architecture
from numnet.cli.errors import CLIError, UsageError, one_line


def model_kwargs(cfg: Mapping, image_shape: tuple, num_classes: int) -> dict:
    """The constructor config (``get_config()`` form, with ``"name"``) for the options ``cfg``.

    Raises:
        UsageError: an option the chosen model cannot take (e.g. --norm groupnorm with fc).
    """
    arch = architecture(cfg)
    norm = None if cfg["norm"] == "none" else cfg["norm"]
    scale = cfg["weight_scale"] if cfg["init"] == "gaussian" else None
    # The model's Generator gets its own seed so its stream is not the Solver's (which uses seed).
    seed = cfg["seed"] + 1
    model = cfg["model"]
    name = MODEL_NAMES[model]
    if model != "fc" and not arch["filters"]:
        raise UsageError(f"--filters must list at least one conv stage for --model {model}, "
                         "got none")  # fmt: skip
    if model == "convnet":
        return dict(
            name=name,
            input_dim=list(image_shape),
            conv_channels=arch["filters"],
            convs_per_stage=cfg["convs_per_stage"],
            filter_size=arch["filter_size"],
            hidden_dims=arch["hidden_dims"],
            num_classes=num_classes,
            normalization=norm,
            dropout_keep_ratio=cfg["dropout_keep"],
            reg=cfg["reg"],
            init=cfg["init"],
            weight_scale=scale,
            dtype="float32",
            rng=seed,
        )
    if model == "fc":
        if norm not in FC_NORMALIZATIONS:
            allowed = ", ".join("none" if n is None else n for n in FC_NORMALIZATIONS)
            raise UsageError(f"--norm {norm} needs conv layers; --model fc takes {allowed}")
        return dict(
            name=name,
            hidden_dims=arch["hidden_dims"],
            input_dim=int(np.prod(image_shape)),
            num_classes=num_classes,
            dropout_keep_ratio=cfg["dropout_keep"],
            normalization=norm,
            reg=cfg["reg"],
            weight_scale=cfg["weight_scale"],
            dtype="float32",
            init=cfg["init"],
            rng=seed,
        )
    if len(arch["filters"]) != 1 or len(arch["hidden_dims"]) != 1:
        raise UsageError("--model threelayer takes one --filters number and one --hidden-dims "
                         f"number, got {arch['filters']} and {arch['hidden_dims']}")  # fmt: skip
    return dict(
        name=name,
        input_dim=list(image_shape),
        num_filters=arch["filters"][0],
        filter_size=arch["filter_size"],
        hidden_dim=arch["hidden_dims"][0],
        num_classes=num_classes,
        weight_scale=cfg["weight_scale"],
        reg=cfg["reg"],
        dtype="float32",
        init=cfg["init"],
        rng=seed,
    )


def build(config: Mapping):
    """``numnet.classifiers.build_model(config)``, a bad value reported as a usage error."""
    from numnet.classifiers import build_model

    try:
        return build_model(dict(config))
    except ValueError as e:
        raise UsageError(f"cannot build the {config.get('name')} model: {one_line(e)}") from None
    except MemoryError:
        raise CLIError(f"not enough memory to build the {config.get('name')} model") from None


def check_checkpoint_path(path: Path) -> None:
    """Check that a CHECKPOINT argument names a file.

    Raises:
        CLIError: it is missing, or a directory (a run directory: the message names its
            checkpoints).
    """
    if path.is_dir():
        raise CLIError(f"checkpoint {path} is a directory; pass a checkpoint file, such as "
                       f"{path / 'best.npz'} or {path / 'last.npz'}")  # fmt: skip
    if not path.is_file():
        raise CLIError(f"checkpoint {path} not found")


def load_checkpoint_model(path: str | Path, params: str = "last"):
    """The model stored in a checkpoint, weights and batchnorm statistics loaded.

    Raises:
        CLIError: unreadable, corrupt or not a numnet checkpoint.
    """
    from numnet.checkpoint import CheckpointError, load_model

    try:
        return load_model(path, params=params)
    except CheckpointError as e:
        raise CLIError(one_line(e)) from None


def read_checkpoint_params(path: str | Path) -> dict[str, np.ndarray]:
    """The params stored in a checkpoint (the last step's), without building a model."""
    from numnet.checkpoint import CheckpointError, read_checkpoint

    try:
        return read_checkpoint(path).group("params")
    except CheckpointError as e:
        raise CLIError(one_line(e)) from None


def input_shape(model) -> tuple:
    """The (C, H, W) or (D,) input a model expects."""
    dim = getattr(model, "input_dim", None)
    return tuple(dim) if isinstance(dim, (tuple, list)) else (int(dim),)
