"""The run directory that ``numnet train`` writes, and its file formats.

A run directory holds:

* ``config.json``: the resolved training configuration (every option, after config file and
  command-line overrides), plus the model's constructor config and facts about the data.
* ``iterations.csv``: one row per update step. Columns: ``iteration`` (1-based count of updates),
  ``epoch`` (1-based epoch the step belongs to), ``loss`` (training minibatch loss, including the
  regularisation term), ``lr`` (learning rate used for the step).
* ``epochs.csv``: one row per finished epoch. Columns: ``epoch`` (1-based), ``iteration`` (updates
  so far), ``loss`` (mean minibatch loss over the epoch), ``train_acc`` and ``val_acc`` (accuracy in
  [0, 1]; train_acc on a fixed-size sample of the training set), ``lr`` (learning rate at the end of
  the epoch), ``seconds`` (wall time of the epoch, evaluation included).
* ``last.npz`` (written after every epoch and on Ctrl-C) and ``best.npz`` (the best validation
  accuracy so far): full Solver checkpoints, see :mod:`numnet.checkpoint`.
* ``summary.json``: test accuracy, per-class accuracy, the confusion matrix, class names, timings.
* ``loss.png``, ``accuracy.png``, ``filters.png`` (conv nets), ``confusion.png``.

Every file is written atomically (temp file, then rename), so an interrupted run never leaves a
torn file, and the CSVs are rewritten whole rather than appended to.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from numnet._atomic import atomic_write_text
from numnet.cli.errors import CLIError

CONFIG = "config.json"
ITERATIONS = "iterations.csv"
EPOCHS = "epochs.csv"
LAST = "last.npz"
BEST = "best.npz"
SUMMARY = "summary.json"
LOSS_PNG = "loss.png"
ACCURACY_PNG = "accuracy.png"
FILTERS_PNG = "filters.png"
CONFUSION_PNG = "confusion.png"

ITERATION_COLUMNS = ("iteration", "epoch", "loss", "lr")
EPOCH_COLUMNS = ("epoch", "iteration", "loss", "train_acc", "val_acc", "lr", "seconds")


def default_run_dir(model: str, root: str | os.PathLike = "runs") -> Path:
    """``runs/<YYYYmmdd-HHMMSS>-<model>``, with ``-2``, ``-3``... if that name is taken."""
    base = Path(root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{model}"
    path, k = base, 2
    while path.exists():
        path = base.with_name(f"{base.name}-{k}")
        k += 1
    return path


def check_new_run_dir(path: str | os.PathLike) -> Path:
    """Check, without touching the disk, that ``path`` can become a new run directory.

    Raises:
        CLIError: ``path`` is a file or a non-empty directory, or its nearest existing parent is
            not a writable directory.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CLIError(f"--out {path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        raise CLIError(
            f"--out {path} already exists and is not empty; pick another --out, "
            f"or continue that run with: numnet train --resume {path}"
        )
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise CLIError(f"cannot create --out {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(f"cannot write to --out {path}: {parent} is not writable")
    return path


def create_run_dir(path: str | os.PathLike) -> Path:
    """Create a fresh run directory (after :func:`check_new_run_dir`'s checks).

    Raises:
        CLIError: as :func:`check_new_run_dir`, or the directory cannot be created or written.
    """
    path = check_new_run_dir(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".numnet-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise CLIError(f"cannot write to --out {path}: {e.strerror or e}") from None
    return path


def write_json(path: str | os.PathLike, obj: Mapping) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n")


def read_json(path: str | os.PathLike) -> dict:
    """Read a JSON object; a missing or malformed file is a :class:`CLIError` naming it."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CLIError(f"{path} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CLIError(f"cannot read {path}: {e}") from None
    if not isinstance(obj, dict):
        raise CLIError(f"{path} must hold a JSON object, got {type(obj).__name__}")
    return obj


def _fmt(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    return str(v)


def write_csv(path: str | os.PathLike, columns: Sequence[str], rows: Iterable[Mapping]) -> None:
    """Write rows (dicts holding at least ``columns``) as a CSV with a header, atomically."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_fmt(r[c]) for c in columns])
    atomic_write_text(path, buf.getvalue())


def read_csv(path: str | os.PathLike) -> list[dict[str, float]]:
    """Read a CSV written by :func:`write_csv`; every value comes back as a float."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    except FileNotFoundError:
        raise CLIError(f"{path} not found") from None
    except (OSError, ValueError, TypeError) as e:
        raise CLIError(f"cannot read {path}: {e}") from None


def column(rows: Sequence[Mapping[str, float]], name: str) -> list[float]:
    """One column of :func:`read_csv` rows."""
    return [r[name] for r in rows]


def draw_plots(run_dir: Path) -> list[Path]:
    """Draw every plot whose source file exists in ``run_dir``; return the PNGs written.

    Raises:
        CLIError: ``run_dir`` is not a directory or holds none of the files plots come from.
    """
    from numnet import plots

    if not run_dir.is_dir():
        raise CLIError(f"run directory {run_dir} not found")
    written: list[Path] = []
    config = read_json(run_dir / CONFIG) if (run_dir / CONFIG).exists() else {}
    if (run_dir / ITERATIONS).exists():
        rows = read_csv(run_dir / ITERATIONS)
        written.append(
            plots.plot_loss(
                run_dir / LOSS_PNG,
                column(rows, "iteration"),
                column(rows, "loss"),
                iterations_per_epoch=config.get("iterations_per_epoch"),
            )
        )
    if (run_dir / EPOCHS).exists():
        rows = read_csv(run_dir / EPOCHS)
        written.append(
            plots.plot_accuracy(
                run_dir / ACCURACY_PNG,
                column(rows, "epoch"),
                column(rows, "train_acc"),
                column(rows, "val_acc"),
            )
        )
    for name in (BEST, LAST):
        if (run_dir / name).exists():
            W1 = first_layer_filters(run_dir / name)
            if W1 is not None:
                written.append(plots.plot_filters(run_dir / FILTERS_PNG, W1))
            break
    if (run_dir / SUMMARY).exists():
        summary = read_json(run_dir / SUMMARY)
        if "confusion_matrix" in summary:
            written.append(
                plots.plot_confusion(
                    run_dir / CONFUSION_PNG, summary["confusion_matrix"], summary["class_names"]
                )
            )
    if not written:
        raise CLIError(
            f"{run_dir} holds none of {ITERATIONS}, {EPOCHS}, {BEST}, {SUMMARY}: "
            "is it a numnet run directory?"
        )
    return written


def first_layer_filters(checkpoint: Path):
    """First conv layer's weights (F, C, HH, WW) from a checkpoint; None for a non-conv net."""
    from numnet.cli.models import read_checkpoint_params

    params = read_checkpoint_params(checkpoint)
    W1 = params.get("W1")
    return W1 if W1 is not None and W1.ndim == 4 else None
