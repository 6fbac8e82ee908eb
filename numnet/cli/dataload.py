"""Data for the command line: load a data set, split and normalise it, augment training batches."""

from __future__ import annotations

from collections.abc import Mapping

from numnet.cli.errors import CLIError, UsageError, one_line
from numnet.data import (
    Augment,
    AugmentedImages,
    DataError,
    DatasetNotFoundError,
    load_dataset,
    prepare,
)

#: Crop padding for --augment: 2 pixels on 28x28 images, 4 on 32x32 (the usual CIFAR choice).
_PAD = {28: 2, 32: 4}


def load(name: str, data_dir: str | None, download: bool):
    """``numnet.data.load_dataset``, with every data problem as one-line :class:`CLIError`."""
    try:
        return load_dataset(name, data_dir, download=download)
    except DatasetNotFoundError as e:
        hint = "" if download else " (or pass --download)"
        raise CLIError(one_line(e) + hint) from None
    except (DataError, OSError) as e:
        raise CLIError(f"cannot load {name}: {one_line(e)}") from None


def split(ds, cfg: Mapping):
    """The train/val/test dict for the options ``cfg`` (uint8 kept, float per batch).

    Statistics for standardisation come from the training split only.
    """
    n, n_test = ds.X_train.shape[0], ds.X_test.shape[0]
    num_val, num_train = cfg["num_val"], cfg["num_train"]
    if num_val + (num_train or 1) > n:
        raise UsageError(
            f"--num-val {num_val}" + (f" + --num-train {num_train}" if num_train else "")
            + f" leave no room: {ds.name} has {n} training images"
        )  # fmt: skip
    return prepare(
        ds, num_train=num_train, num_val=num_val, seed=cfg["seed"], normalize="standardize",
        per_batch=True, num_test=min(cfg.get("num_test") or n_test, n_test),
    )  # fmt: skip


def augmented(X_train, seed: int):
    """``X_train`` as :class:`numnet.data.AugmentedImages` with --augment's crop and flip.

    Args:
        X_train: (N, C, H, W) training images.
        seed: the run's seed (step t's crop and flip come from ``default_rng([seed, t])``).
    """
    H = X_train.shape[2]
    return AugmentedImages(X_train, Augment(pad=_PAD.get(H, max(1, H // 8)), flip=True), seed)
