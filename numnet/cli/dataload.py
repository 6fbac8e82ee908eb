"""Data for the command line: load a data set, split and normalise it, augment training batches."""

from __future__ import annotations

from collections.abc import Mapping

from numnet.cli.errors import CLIError, UsageError, one_line
from numnet.data import (
    Augment,
    AugmentedImages,
    DataError,
    DatasetNotFoundError,
    Normalization,
    load_dataset,
    prepare,
    select_classes,
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


def num_classes(spec, cfg: Mapping) -> int:
    """The number of classes a run on ``spec`` with the options ``cfg`` sees (``--classes``).

    Raises:
        UsageError: a ``--classes`` label the data set does not have.
    """
    classes = cfg.get("classes")
    if classes is None:
        return spec.num_classes
    bad = [c for c in classes if c >= spec.num_classes]
    if bad:
        raise UsageError(f"--classes {bad[0]}: {spec.name} has classes 0..{spec.num_classes - 1}")
    return len(classes)


def subset(ds, cfg: Mapping):
    """``ds`` restricted to ``--classes`` (relabelled 0..K-1), or ``ds`` itself without it."""
    if cfg.get("classes") is None:
        return ds
    try:
        return select_classes(ds, cfg["classes"])
    except ValueError as e:
        raise UsageError(f"--classes: {one_line(e)}") from None


def saved_normalization(conf: Mapping, data: str):
    """The normalisation a run's config.json recorded, if it trained on ``data`` (else None)."""
    info = conf.get("data_info") if isinstance(conf, Mapping) else None
    if not isinstance(info, Mapping) or info.get("name") != data or not info.get("normalization"):
        return None
    return Normalization.from_dict(info["normalization"])


def split(ds, cfg: Mapping, normalization=None):
    """The train/val/test dict for the options ``cfg`` (uint8 kept, float per batch).

    Statistics for standardisation come from the training split only, unless ``normalization``
    (a pretrained model's, or the one a run recorded) is given.
    """
    n, n_test = ds.X_train.shape[0], ds.X_test.shape[0]
    num_val, num_train = cfg["num_val"], cfg["num_train"]
    per_class = cfg.get("per_class")
    if per_class is not None and num_train is not None:
        raise UsageError(
            f"give --num-train or --per-class, not both (got {num_train}, {per_class})"
        )
    if num_val + (num_train or 1) > n:
        raise UsageError(
            f"--num-val {num_val}" + (f" + --num-train {num_train}" if num_train else "")
            + f" leave no room: {ds.name} has {n} training images"
        )  # fmt: skip
    try:
        return prepare(
            ds, num_train=num_train, num_val=num_val, seed=cfg["seed"], normalize="standardize",
            per_batch=True, num_test=min(cfg.get("num_test") or n_test, n_test),
            per_class=per_class, normalization=normalization,
        )  # fmt: skip
    except ValueError as e:  # too few images of a class for --per-class
        if per_class is None:
            raise
        raise UsageError(f"--per-class: {one_line(e)}") from None


def augmented(X_train, seed: int):
    """``X_train`` as :class:`numnet.data.AugmentedImages` with --augment's crop and flip.

    Args:
        X_train: (N, C, H, W) training images.
        seed: the run's seed (step t's crop and flip come from ``default_rng([seed, t])``).
    """
    H = X_train.shape[2]
    return AugmentedImages(X_train, Augment(pad=_PAD.get(H, max(1, H // 8)), flip=True), seed)
