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

While a process trains in it, the folder is locked: ``.lock`` holds the trainer's pid under an
``flock`` (:mod:`numnet._lockfile`), released by the OS however the process ends.

Crash consistency: ``last.npz`` is the commit point, and every other file is either complete up
to it or repaired from it on ``--resume``, so a run stopped at any instant (SIGKILL, power cut,
Ctrl-C inside a write) resumes to the files an uninterrupted run writes. At each check, in order:

1. the step rows are appended to ``iterations.csv`` as they happen, then the check's row to
   ``epochs.csv``; both files are fsynced (:mod:`numnet.metrics_log`: append-only, one line a
   row);
2. ``last.npz`` is written atomically (temp file, fsync, rename, fsync of the folder);
3. when validation accuracy improved, ``best.npz`` becomes a copy of that ``last.npz``.

A stop before 2 leaves the previous ``last.npz``: the resumed run cuts the CSVs back to its step
and does the steps again. A stop between 2 and 3 leaves ``best.npz`` behind: the resumed run sees
that ``last.npz``'s own check is the best in ``epochs.csv`` and copies it again. A stop inside a
metrics write that is not followed by a checkpoint: as before 2 (the command writes no interrupt
checkpoint when the run directory's own files lag behind the Solver). Temp files a kill left
(``.last.npz.<random>.tmp``, :data:`ATOMIC_FILES`) are removed by the next process that locks
the folder. Without any ``last.npz`` (stopped before the first check), ``--resume`` starts the
run again from step 0 with its saved config. ``config.json`` and ``summary.json`` are written
atomically; ``summary.json`` and the plots are written again by a resumed, finished run. One
limit: the interrupt checkpoint (Ctrl-C, SIGTERM, written by the Solver between steps) follows
rows that were flushed to the OS but not fsynced, so a power cut in the seconds after it may lose
those rows; the resumed run then says so (a warning) instead of failing.
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

LOCK = ".lock"
#: The files written with numnet._atomic (whose stale temp files a resumed run removes).
ATOMIC_FILES = (CONFIG, LAST, BEST, SUMMARY, LOSS_PNG, ACCURACY_PNG, FILTERS_PNG, CONFUSION_PNG)

ITERATION_COLUMNS = ("iteration", "epoch", "loss", "lr")
EPOCH_COLUMNS = ("epoch", "iteration", "loss", "train_acc", "val_acc", "lr", "seconds")


class RunFilesError(ValueError):
    """A run directory, or one of its files, that is missing or cannot be read."""


def check_run_dir(path: str | os.PathLike) -> Path:
    """``path`` as a Path, after checking that it is a directory.

    Raises:
        RunFilesError: it is missing, or not a directory (the message says which).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunFilesError(f"{path} is a file, not a run directory")
    if not path.is_dir():
        raise RunFilesError(f"run directory {path} not found")
    return path


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
