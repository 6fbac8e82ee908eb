"""Training plots as PNG files: loss, accuracy, first-layer filters, confusion matrix.

matplotlib is imported only inside the functions that draw, and only through its object-oriented
API on the Agg canvas (no pyplot, no global backend switch), so importing this module is cheap and
drawing never disturbs a notebook's backend. Every PNG is written atomically. :func:`redraw` draws
them all from a run directory's files.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from numnet import run_files as rf
from numnet._atomic import atomic_write_bytes
from numnet._checks import check_ndim, check_shape
from numnet.vis_utils import visualize_grid


def ema(values: Sequence[float], beta: float | None = None) -> np.ndarray:
    """Bias-corrected exponential moving average (the smoothed loss line).

    Args:
        values: a series of T numbers.
        beta: weight of the past, in [0, 1). ``None`` picks one from T so that the window spans
            about 1/20 of the series (between 1 and 100 points).

    Returns:
        float64 array of shape (T,). Debiasing by ``1 - beta**t`` keeps the first points from
        being pulled towards zero.
    """
    v = np.asarray(values, dtype=np.float64)
    if beta is None:
        span = min(100.0, max(1.0, v.size / 20.0))
        beta = 1.0 - 2.0 / (span + 1.0)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    out = np.empty_like(v)
    s = 0.0
    for t, x in enumerate(v, start=1):
        s = beta * s + (1.0 - beta) * x
        out[t - 1] = s / (1.0 - beta**t)
    return out


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


#: The two helpers above under public names, for the other modules that draw (numnet.babysit).
new_figure, save_figure = _figure, _save


def plot_loss(
    path: str | os.PathLike,
    iterations: Sequence[float],
    losses: Sequence[float],
    iterations_per_epoch: int | None = None,
    title: str = "Training loss",
) -> Path:
    """Loss per iteration on a log scale, raw points faint and the EMA-smoothed line bold.

    Args:
        path: PNG file to write.
        iterations: iteration numbers, shape (T,).
        losses: training loss at each iteration, shape (T,). Non-finite or non-positive values
            cannot sit on a log axis and are left out.
        iterations_per_epoch: when given, the top axis is labelled in epochs.
        title: figure title.

    Returns:
        the path written.
    """
    it = np.asarray(iterations, dtype=np.float64)
    loss = np.asarray(losses, dtype=np.float64)
    check_shape("losses", loss, it.shape)
    keep = np.isfinite(loss) & (loss > 0)
    it, loss = it[keep], loss[keep]
    fig = _figure(7, 4)
    ax = fig.add_subplot()
    if loss.size:
        ax.plot(it, loss, ".", ms=2, alpha=0.25, color="tab:blue", label="loss")
        ax.plot(it, ema(loss), lw=2, color="tab:blue", label="smoothed (EMA)")
        ax.set_yscale("log")
        ax.legend(loc="upper right")
    else:
        ax.text(0.5, 0.5, "no finite loss values", ha="center", va="center")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (log scale)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if iterations_per_epoch:
        ipe = float(iterations_per_epoch)
        top = ax.secondary_xaxis("top", functions=(lambda x: x / ipe, lambda e: e * ipe))
        top.set_xlabel("epoch")
    return _save(fig, path)


def plot_accuracy(
    path: str | os.PathLike,
    epochs: Sequence[float],
    train_acc: Sequence[float],
    val_acc: Sequence[float],
    title: str = "Accuracy",
) -> Path:
    """Train and validation accuracy per epoch, best validation epoch marked.

    Args:
        path: PNG file to write.
        epochs: epoch numbers, shape (E,).
        train_acc: accuracy in [0, 1] on (a sample of) the training set, shape (E,).
        val_acc: validation accuracy in [0, 1], shape (E,).
        title: figure title.

    Returns:
        the path written.
    """
    ep = np.asarray(epochs, dtype=np.float64)
    tr = np.asarray(train_acc, dtype=np.float64)
    va = np.asarray(val_acc, dtype=np.float64)
    check_shape("train_acc", tr, ep.shape)
    check_shape("val_acc", va, ep.shape)
    fig = _figure(6, 4)
    ax = fig.add_subplot()
    ax.plot(ep, 100 * tr, "o-", label="train")
    ax.plot(ep, 100 * va, "s-", label="val")
    if va.size and np.isfinite(va).any():
        b = int(np.nanargmax(va))
        # Anchor the label away from the plot's edge so it is never clipped.
        ha = "right" if b == len(va) - 1 and len(va) > 1 else "left" if b == 0 else "center"
        ax.annotate(
            f"best val {100 * va[b]:.2f}%",
            (ep[b], 100 * va[b]),
            textcoords="offset points",
            xytext=(0, -16),
            ha=ha,
        )
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, path)


def filter_grid(W: np.ndarray) -> np.ndarray:
    """First-layer conv filters as one image grid.

    Args:
        W: filters, shape (F, C, HH, WW).

    Returns:
        an RGB grid (H', W', 3) in [0, 1] when C == 3; otherwise a grayscale grid (H', W') with
        one tile per (filter, channel) pair, filter-major.
    """
    W = np.asarray(W, dtype=np.float64)
    check_ndim("W", W, 4, "of conv filters (F, C, HH, WW)")
    F, C, HH, WW = W.shape
    if C == 3:
        return visualize_grid(W.transpose(0, 2, 3, 1), ubound=1.0)
    return visualize_grid(W.reshape(F * C, HH, WW, 1), ubound=1.0)[:, :, 0]


def _tile_mask(n: int, HH: int, WW: int, shape: tuple) -> np.ndarray:
    """True on the pixels of the first n tiles of a visualize_grid layout (padding 1)."""
    g = math.ceil(math.sqrt(n))
    mask = np.zeros(shape[:2], dtype=bool)
    for i in range(n):
        y0, x0 = (i // g) * (HH + 1), (i % g) * (WW + 1)
        mask[y0 : y0 + HH, x0 : x0 + WW] = True
    return mask


def plot_filters(
    path: str | os.PathLike, W: np.ndarray, title: str = "First-layer filters"
) -> Path:
    """Write ``filter_grid(W)`` as a PNG (see :func:`filter_grid` for shapes).

    Separators and empty cells are left transparent (white), so dark filter pixels stay visible.
    """
    grid = filter_grid(W)
    F, C, HH, WW = np.shape(W)
    inside = _tile_mask(F if grid.ndim == 3 else F * C, HH, WW, grid.shape)
    if grid.ndim == 3:
        grid = np.concatenate([grid, inside[..., None].astype(grid.dtype)], axis=2)  # alpha
        kw = {}
    else:
        grid = np.ma.masked_array(grid, mask=~inside)
        kw = {"cmap": "gray", "vmin": 0.0, "vmax": 1.0}
    fig = _figure(5, 5)
    ax = fig.add_subplot()
    ax.imshow(grid, interpolation="nearest", **kw)
    ax.set_title(f"{title} ({F} x {C} x {HH} x {WW})")
    ax.axis("off")
    return _save(fig, path)


def plot_confusion(
    path: str | os.PathLike,
    cm: np.ndarray,
    class_names: Sequence[str],
    title: str = "Confusion matrix",
) -> Path:
    """Confusion matrix: colours are row-normalised (per true class), cells show counts.

    Args:
        path: PNG file to write.
        cm: counts, shape (C, C); ``cm[i, j]`` = examples of true class i predicted as j.
        class_names: C names for the axes.
        title: figure title.

    Returns:
        the path written.
    """
    cm = np.asarray(cm)
    check_ndim("cm", cm, 2)
    C = cm.shape[0]
    check_shape("cm", cm, (C, C))
    if len(class_names) != C:
        raise ValueError(
            f"class_names must hold {C} names for a {C}x{C} matrix, got {len(class_names)}"
        )
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    size = max(5.0, 0.6 * C + 2.0)
    fig = _figure(size + 1.0, size)
    ax = fig.add_subplot()
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    fs = 8 if C <= 12 else 6
    for i in range(C):
        for j in range(C):
            color = "white" if norm[i, j] > 0.5 else "black"
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", color=color, fontsize=fs)
    ax.set_xticks(range(C), labels=list(class_names), rotation=45, ha="right")
    ax.set_yticks(range(C), labels=list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = cm.sum()
    acc = np.trace(cm) / total if total else float("nan")
    ax.set_title(f"{title} (accuracy {100 * acc:.2f}%)")
    return _save(fig, path)


def redraw(run_dir: str | os.PathLike) -> list[Path]:
    """Redraw every plot of a ``numnet train`` run directory from its saved files.

    Reads ``iterations.csv`` and ``epochs.csv`` (loss and accuracy), ``best.npz`` or else
    ``last.npz`` (first-layer filters of conv nets) and ``summary.json`` (confusion matrix),
    whichever exist; see :mod:`numnet.run_files`.

    Args:
        run_dir: the run directory.

    Returns:
        the PNG paths written.

    Raises:
        RunFilesError: ``run_dir`` is not a directory, holds none of those files, or one of them
            cannot be read.
    """
    run_dir = Path(run_dir)
    rf.check_run_dir(run_dir)
    written: list[Path] = []
    config = rf.read_json(run_dir / rf.CONFIG) if (run_dir / rf.CONFIG).exists() else {}
    if (run_dir / rf.ITERATIONS).exists():
        it, loss = _columns(run_dir / rf.ITERATIONS, "iteration", "loss")
        ipe = config.get("iterations_per_epoch")
        ipe = ipe if isinstance(ipe, int) and ipe > 0 else None
        written.append(plot_loss(run_dir / rf.LOSS_PNG, it, loss, iterations_per_epoch=ipe))
    if (run_dir / rf.EPOCHS).exists():
        ep, tr, va = _columns(run_dir / rf.EPOCHS, "epoch", "train_acc", "val_acc")
        written.append(plot_accuracy(run_dir / rf.ACCURACY_PNG, ep, tr, va))
    for name in (rf.BEST, rf.LAST):
        if (run_dir / name).exists():
            W1 = rf.first_layer_filters(run_dir / name)
            if W1 is not None:
                written.append(plot_filters(run_dir / rf.FILTERS_PNG, W1))
            break
    if (run_dir / rf.SUMMARY).exists():
        summary = rf.read_json(run_dir / rf.SUMMARY)
        if "confusion_matrix" in summary:
            try:
                cm = np.asarray(summary["confusion_matrix"], dtype=np.int64)
                names = [str(n) for n in summary["class_names"]]
                written.append(plot_confusion(run_dir / rf.CONFUSION_PNG, cm, names))
            except (KeyError, TypeError, ValueError, OverflowError) as e:
                raise rf.RunFilesError(
                    f"{run_dir / rf.SUMMARY}: no confusion matrix to draw ({type(e).__name__}: {e})"
                ) from None
    from numnet.babysit import figures

    written += figures.redraw_monitor(run_dir)
    if not written:
        raise rf.RunFilesError(
            f"{run_dir} holds none of {rf.ITERATIONS}, {rf.EPOCHS}, {rf.BEST}, {rf.SUMMARY}: "
            "is it a numnet run directory?"
        )
    return written


def _columns(path: Path, *names: str) -> list[list[float]]:
    rows = rf.read_metrics(path)
    missing = [n for n in names if any(n not in r for r in rows)]
    if missing:
        raise rf.RunFilesError(f"{path} lacks the columns {missing}")
    return [[r[n] for r in rows] for n in names]
