"""``numnet eval CHECKPOINT``: accuracy, per-class accuracy and confusion matrix.

The data set, split and normalisation come from the ``config.json`` beside the checkpoint (the
run directory it was trained in), so the images are normalised exactly as in training. A lone
checkpoint needs ``--data``; it is then normalised with statistics of the default split.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from numnet.cli import config as C
from numnet.cli import dataload, metrics, models, rundir
from numnet.cli.errors import CLIError, UsageError
from numnet.cli.setup import on_device


def _options(checkpoint: Path, data: str | None) -> dict:
    """Training options of the checkpoint's run (defaults when it has no config.json)."""
    cfg = C.defaults()
    conf = checkpoint.parent / rundir.CONFIG
    if conf.is_file():
        cfg.update(C.saved_options(rundir.read_json(conf).get("options", {}), str(conf)))
    elif data is None:
        raise UsageError(
            f"cannot tell which data set {checkpoint} was trained on (no {rundir.CONFIG} beside "
            "it); pass --data"
        )
    if data is not None and data != cfg["data"]:
        cfg.update(data=data, data_dir=None)
    return cfg


def run(args: argparse.Namespace, explicit: dict) -> int:
    """Evaluate a checkpoint; return the exit code."""
    checkpoint = Path(args.checkpoint)
    models.check_checkpoint_path(checkpoint)
    cfg = _options(checkpoint, args.data)
    model = on_device(models.load_checkpoint_model(checkpoint), args.device)
    if args.data_dir is not None:
        cfg["data_dir"] = args.data_dir
    ds = dataload.load(cfg["data"], cfg["data_dir"], args.download or cfg["download"])
    ds = dataload.subset(ds, cfg)  # the run's --classes
    want, got = models.input_shape(model), tuple(ds.image_shape)
    if want != got and want != (int(got[0] * got[1] * got[2]),):
        raise CLIError(
            f"{checkpoint} holds a model for inputs of shape {want}, but {ds.name} images are "
            f"{got}; pass the --data it was trained on"
        )
    norm = None  # a run from a checkpoint used that checkpoint's normalisation, and recorded it
    if cfg.get("init_from") and (checkpoint.parent / rundir.CONFIG).is_file():
        saved = rundir.read_json(checkpoint.parent / rundir.CONFIG)
        norm = dataload.saved_normalization(saved, cfg["data"])
    data = dataload.split(ds, cfg, norm)
    X, y = data[f"X_{args.split}"], data[f"y_{args.split}"]
    if args.num is not None:
        X, y = X[: args.num], y[: args.num]
    pred = metrics.predict(model, X, args.batch_size)
    cm = metrics.confusion_matrix(y, pred, len(ds.class_names))
    acc = float((pred == y).mean()) if len(y) else float("nan")
    print(f"{checkpoint}: {args.split} accuracy {100 * acc:.2f}% on {len(y)} {ds.name} images")
    print()
    print(metrics.class_table(cm, ds.class_names))
    print()
    print(metrics.confusion_table(cm, ds.class_names))
    if args.out is not None:
        _write(Path(args.out), checkpoint, args.split, acc, cm, ds.class_names)
    return 0


def _write(out: Path, checkpoint: Path, split: str, acc: float, cm, class_names) -> None:
    from numnet.plots import plot_confusion

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CLIError(f"cannot write to --out {out}: {e.strerror or e}") from None
    per_class = metrics.per_class_accuracy(cm)
    result = {
        "checkpoint": str(checkpoint),
        "split": split,
        "accuracy": acc,
        "class_names": list(class_names),
        "per_class_acc": {n: float(a) for n, a in zip(class_names, per_class)},
        "confusion_matrix": cm.tolist(),
    }
    # Named after the checkpoint and split, never a run's own file name: --out may be a run.
    name = f"{checkpoint.stem}-{split}"
    rundir.write_json(out / f"eval-{name}.json", result)
    png = plot_confusion(
        out / f"confusion-{name}.png", cm, class_names, f"Confusion matrix ({split})"
    )
    print(f"\nwrote {out / f'eval-{name}.json'} and {png}")
