"""``numnet features CHECKPOINT --out FILE.npz``: a trained net's features of a data set.

The checkpoint's model (its last-step params and batch norm statistics) runs in test mode up to
``--layer`` (default: the penultimate layer, the head's input) over the train, val and test
splits. Images are normalised as the checkpoint's run normalised them when its config.json lies
beside it (else with the split's training statistics). The .npz holds ``X_train``, ``y_train``,
``X_val``, ``y_val``, ``X_test``, ``y_test`` (features ``(N, D)`` float32, labels int64),
``class_names`` and ``layer``; it loads with ``allow_pickle=False`` and its splits are a Solver
data dict for ``numnet.classifiers.LinearClassifier``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from numnet.cli import config as C
from numnet.cli import dataload, models, rundir
from numnet.cli.errors import CLIError, UsageError, one_line
from numnet.cli.setup import on_device


def _run_config(checkpoint: Path) -> dict:
    conf = checkpoint.parent / rundir.CONFIG
    return rundir.read_json(conf) if conf.is_file() else {}


#: Members every features file holds: an existing --out without them is someone else's file.
_OWN_MEMBERS = {"X_train.npy", "y_train.npy", "class_names.npy", "layer.npy"}


def _check_out(out: Path) -> None:
    """Refuse an ``--out`` that exists and is not a features file (a checkpoint, say)."""
    import zipfile

    if out.is_dir():
        raise CLIError(f"--out {out} is a directory; name the .npz file to write")
    if not out.exists():
        return
    try:
        with zipfile.ZipFile(out) as z:
            own = _OWN_MEMBERS <= set(z.namelist())
    except (OSError, zipfile.BadZipFile):
        own = False
    if not own:
        raise CLIError(
            f"--out {out} exists and is not a features file (expected one that numnet features "
            "wrote, holding X_train and layer); pick another name, so it is not overwritten"
        )


def run(args: argparse.Namespace, explicit: dict) -> int:
    """Write the features of ``args.checkpoint``'s model to ``args.out``.

    Returns:
        The exit status, 0.

    Raises:
        CLIError: a missing checkpoint or data set, an unwritable ``--out``, or an existing
            ``--out`` that is not a features file; UsageError: a data set that cannot be told or
            does not fit the model, or a bad ``--layer``.
    """
    import numpy as np

    from numnet._atomic import atomic_open
    from numnet.transfer import feature_data

    checkpoint, out = Path(args.checkpoint), Path(args.out)
    models.check_checkpoint_path(checkpoint)
    _check_out(out)
    conf = _run_config(checkpoint)
    saved = conf.get("options", {})
    name = args.data or saved.get("data")
    if name is None:
        raise UsageError(f"cannot tell which data set {checkpoint} was trained on (no "
                         f"{rundir.CONFIG} beside it); pass --data")  # fmt: skip
    data_dir = args.data_dir or (saved.get("data_dir") if name == saved.get("data") else None)
    cfg = {**C.defaults(), "data": name, "data_dir": data_dir, "classes": args.classes,
           "per_class": args.per_class, "num_val": args.num_val, "num_test": args.num_test,
           "seed": args.seed}  # fmt: skip
    model = on_device(models.load_checkpoint_model(checkpoint, params="last"), args.device)
    ds = dataload.subset(dataload.load(name, data_dir, args.download), cfg)
    want, got = models.input_shape(model), tuple(ds.image_shape)
    if want != got and want != (int(np.prod(got)),):
        raise UsageError(f"{checkpoint} holds a model for inputs of shape {want}, but {name} "
                         f"images are {got}")  # fmt: skip
    norm = dataload.saved_normalization(conf, name)
    data = dataload.split(ds, cfg, norm)
    try:
        feats = feature_data(model, data, args.layer, args.batch_size)
    except ValueError as e:
        raise UsageError(f"--layer: {one_line(e)}") from None
    from numnet.param_groups import layers

    layer = args.layer if args.layer is not None else max(layers(model.params)) - 1
    arrays = {k: v.astype(np.float32) if k[0] == "X" else v.astype(np.int64)
              for k, v in feats.items()}  # fmt: skip
    arrays["class_names"] = np.array(ds.class_names, dtype=str)
    arrays["layer"] = np.array(layer, dtype=np.int64)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(out, "wb") as f:
            np.savez(f, **arrays)
    except OSError as e:
        raise CLIError(f"cannot write --out {out}: {e.strerror or e}") from None
    sizes = " / ".join(f"{len(feats[f'y_{s}'])} {s}" for s in ("train", "val", "test"))
    how = "the checkpoint's run's" if norm is not None else "the training split's"
    print(f"wrote {out}: layer {layer} features ({feats['X_train'].shape[1]} per image) of "
          f"{sizes} {name} images, normalised with {how} statistics")  # fmt: skip
    return 0
