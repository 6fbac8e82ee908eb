"""The files of a training run directory (what ``numnet train`` writes), and how to read them.

A run directory holds:

* ``config.json``: the resolved training configuration (every option, after config file and
  command-line overrides), plus the model's constructor config and facts about the data.
* ``iterations.csv``: one row per update step. Columns: ``iteration`` (1-based count of updates),
  ``epoch`` (1-based epoch the step belongs to), ``loss`` (training minibatch loss, including the
  regularisation term), ``lr`` (learning rate used for the step).
* ``epochs.csv``: one row per accuracy check: after the first step (epoch 0), then at the end of
  each epoch. Columns: ``epoch``, ``iteration`` (updates so far), ``loss`` (mean minibatch loss
  since the previous check), ``train_acc`` and ``val_acc`` (accuracy in [0, 1]; train_acc on a
  fixed-size sample of the training set), ``lr`` (learning rate at the check), ``seconds`` (wall
  time since the previous check, evaluation included).
* ``last.npz`` (written at every check and on Ctrl-C) and ``best.npz`` (the best validation
  accuracy so far): full Solver checkpoints, see :mod:`numnet.checkpoint`.
* ``summary.json``: test accuracy, per-class accuracy, the confusion matrix, class names, timings.
* ``loss.png``, ``accuracy.png``, ``filters.png`` (conv nets), ``confusion.png``.
* With ``--monitor``: ``monitor.csv`` and ``monitor_histograms.npz`` (per-layer statistics, see
  :mod:`numnet.babysit.monitor`), drawn as ``monitor.png`` and ``monitor_histograms.png``.

The CSVs are append-only metrics files (:mod:`numnet.metrics_log`): each epoch's row is written
before that check's ``last.npz``, so every row up to a checkpoint's step is on disk when the
checkpoint is, and a resumed run cuts both files back to that step before appending. Every other
file is written atomically (temp file, then rename).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from numnet.metrics_log import MetricsFileError, read_rows

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


class RunFilesError(ValueError):
    """A run directory, or one of its files, that is missing or cannot be read."""


def read_json(path: str | os.PathLike) -> dict:
    """Read a JSON object from a run directory.

    Raises:
        RunFilesError: the file is missing, unreadable, not JSON or not an object.
    """
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFilesError(f"{path} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunFilesError(f"cannot read {path}: {e}") from None
    if not isinstance(obj, dict):
        raise RunFilesError(f"{path} must hold a JSON object, got {type(obj).__name__}")
    return obj


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The rows of ``iterations.csv`` or ``epochs.csv`` (numbers as int or float).

    Raises:
        RunFilesError: the file is missing or does not parse.
    """
    try:
        return read_rows(path)
    except MetricsFileError as e:
        raise RunFilesError(str(e)) from None


def first_layer_filters(checkpoint: str | os.PathLike):
    """First conv layer's weights (F, C, HH, WW) from a checkpoint; None for a non-conv net.

    Raises:
        RunFilesError: the checkpoint cannot be read.
    """
    from numnet.checkpoint import CheckpointError, read_checkpoint

    try:
        params = read_checkpoint(checkpoint).group("params")
    except CheckpointError as e:
        raise RunFilesError(str(e)) from None
    W1 = params.get("W1")
    return W1 if W1 is not None and W1.ndim == 4 else None
