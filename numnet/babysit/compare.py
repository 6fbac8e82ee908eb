"""Several runs side by side: their curves on shared axes, labelled by what differs between them.

:func:`load_runs` reads ``numnet train`` run directories (``config.json``, ``iterations.csv``,
``epochs.csv``, ``summary.json``, whichever exist); :func:`labels` names each run by the options
whose values differ between the runs (``lr=0.001, optimizer=adam``), leaving out those that do
not change the result (``IGNORED``); :func:`plot_compare` draws the smoothed training loss against
the epoch (so runs with other batch sizes line up) and the train and validation accuracy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from numnet import run_files as rf
from numnet.plots import ema, new_figure, save_figure

__all__ = ["COMPARE_PNG", "IGNORED", "Run", "differing", "labels", "load_runs", "plot_compare"]

COMPARE_PNG = "compare.png"
#: Options that do not change what a run computes (threads, where the data lives, monitoring).
IGNORED = frozenset({"threads", "data_dir", "download", "monitor"})


@dataclass
class Run:
    """One run's curves and settings.

    Attributes:
        path: the run directory.
        options: ``config.json``'s options (empty without it).
        iterations: ``iterations.csv``'s rows (``iteration``, ``loss``, ...).
        epochs: ``epochs.csv``'s rows (``epoch``, ``train_acc``, ``val_acc``, ...).
        iterations_per_epoch: from ``config.json``, else counted from ``iterations.csv``.
        summary: ``summary.json`` (empty without it).
    """

    path: Path
    options: dict = field(default_factory=dict)
    iterations: list = field(default_factory=list)
    epochs: list = field(default_factory=list)
    iterations_per_epoch: int | None = None
    summary: dict = field(default_factory=dict)


def _load(path: Path) -> Run:
    rf.check_run_dir(path)
    run = Run(path)
    if (path / rf.CONFIG).exists():
        config = rf.read_json(path / rf.CONFIG)
        run.options = dict(config.get("options") or {})
        ipe = config.get("iterations_per_epoch")
        run.iterations_per_epoch = ipe if isinstance(ipe, int) and ipe > 0 else None
    if (path / rf.ITERATIONS).exists():
        run.iterations = rf.read_metrics(path / rf.ITERATIONS)
    if (path / rf.EPOCHS).exists():
        run.epochs = rf.read_metrics(path / rf.EPOCHS)
    if (path / rf.SUMMARY).exists():
        run.summary = rf.read_json(path / rf.SUMMARY)
    if not run.iterations and not run.epochs:
        raise rf.RunFilesError(
            f"{path} holds neither {rf.ITERATIONS} nor {rf.EPOCHS}: is it a numnet run directory?"
        )
    if run.iterations_per_epoch is None and run.iterations and "epoch" in run.iterations[0]:
        first = [r for r in run.iterations if r["epoch"] == run.iterations[0]["epoch"]]
        run.iterations_per_epoch = len(first) if len(run.iterations) > len(first) else None
    return run


def load_runs(run_dirs: Sequence[str | os.PathLike]) -> list[Run]:
    """Read every run directory.

    Raises:
        RunFilesError: a directory is missing, holds no metrics, or a file does not parse.
    """
    return [_load(Path(d)) for d in run_dirs]


def _show(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(_show(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return "-" if value is None else str(value)


def differing(options: Sequence[Mapping]) -> list[str]:
    """The option names whose values are not the same in every run, sorted (``IGNORED`` left out).

    An option missing from some runs counts as differing.
    """
    keys = set().union(*options) - IGNORED if options else set()
    missing = object()
    return sorted(k for k in keys if len({_show(o.get(k, missing)) for o in options}) > 1)


def labels(runs: Sequence[Run]) -> list[str]:
    """Each run's legend label: ``key=value`` of the differing options, else its directory name.

    Runs whose labels would coincide (same differing options, or no config) get their
    directory name added.
    """
    keys = differing([r.options for r in runs])
    out = [", ".join(f"{k}={_show(r.options.get(k))}" for k in keys) for r in runs]
    out = [text or r.path.name for text, r in zip(out, runs)]
    return [f"{text} ({r.path.name})" if out.count(text) > 1 and text != r.path.name else text
            for text, r in zip(out, runs)]  # fmt: skip


def _epoch_axis(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """(x in epochs, loss) of a run's iterations; x is the iteration when epochs are unknown."""
    it = np.asarray([r["iteration"] for r in run.iterations], dtype=np.float64)
    loss = np.asarray([r["loss"] for r in run.iterations], dtype=np.float64)
    ipe = run.iterations_per_epoch
    return (it / ipe if ipe else it), loss


def plot_compare(path: str | os.PathLike, runs: Sequence[Run], names: Sequence[str],
                 title: str = "") -> Path:  # fmt: skip
    """Loss (smoothed, log scale) and accuracy (val solid, train dashed) of every run.

    Args:
        path: the PNG to write.
        runs: the runs, as :func:`load_runs` gives them.
        names: one legend label per run (:func:`labels`).
        title: figure title (default: the number of runs).

    Returns:
        the path written.
    """
    if len(names) != len(runs):
        raise ValueError(f"names must hold one label per run ({len(runs)}), got {len(names)}")
    fig = new_figure(12, 4.8)
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs_known = all(r.iterations_per_epoch for r in runs if r.iterations)
    for k, (run, name) in enumerate(zip(runs, names)):
        color = f"C{k % 10}"
        if run.iterations:
            x, loss = _epoch_axis(run)
            keep = np.isfinite(loss) & (loss > 0)
            if keep.any():
                ax_loss.plot(x[keep], ema(loss[keep]), color=color, lw=1.5, label=name)
        if run.epochs:
            ep = np.asarray([r["epoch"] for r in run.epochs], dtype=np.float64)
            for key, style in (("val_acc", "-"), ("train_acc", "--")):
                acc = [100 * r[key] for r in run.epochs if key in r]
                if len(acc) == len(ep):
                    ax_acc.plot(ep, acc, style, color=color, lw=1.5,
                                label=name if key == "val_acc" else None)  # fmt: skip
    if ax_loss.lines:
        ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch" if epochs_known else "iteration")
    ax_loss.set_ylabel("training loss (moving average, log scale)")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%): val solid, train dashed")
    for ax in (ax_loss, ax_acc):
        ax.grid(True, which="both", alpha=0.3)
    handles, texts = (ax_loss if ax_loss.lines else ax_acc).get_legend_handles_labels()
    per_row = max(1, min(len(texts), 3, 120 // max(map(len, texts), default=1)))
    fig.legend(handles, texts, loc="outside lower center", ncols=per_row, fontsize=9)
    fig.suptitle(title or f"{len(runs)} runs compared")
    fig.set_layout_engine("constrained")
    return save_figure(fig, path)
