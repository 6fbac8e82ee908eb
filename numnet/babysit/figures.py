"""The babysitting figures: monitor curves, activation-histogram grids, init statistics.

Drawn as ``numnet.plots`` draws (matplotlib's object-oriented API on the Agg canvas, PNGs written
atomically). :func:`redraw_monitor` is what ``numnet plot`` (``numnet.plots.redraw``) calls for a
run directory with monitor files.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from numnet import run_files as rf
from numnet.babysit import monitor as mon
from numnet.plots import new_figure, save_figure

__all__ = [
    "INIT_HISTOGRAMS_PNG",
    "INIT_STATS_PNG",
    "MONITOR_HISTOGRAMS_PNG",
    "MONITOR_PNG",
    "histogram_grid",
    "plot_init",
    "plot_monitor",
    "redraw_monitor",
]

MONITOR_PNG = "monitor.png"
MONITOR_HISTOGRAMS_PNG = "monitor_histograms.png"
INIT_STATS_PNG = "init_stats.png"
INIT_HISTOGRAMS_PNG = "init_histograms.png"

#: (column, axis title, log scale) of the monitor's curve panels.
_PANELS = (
    ("act_mean", "activation mean", False),
    ("act_std", "activation std", False),
    ("act_dead", "dead ReLUs / saturated units (fraction)", False),
    ("w_norm", "weight norm ||W||", True),
    ("grad_norm", "gradient norm ||dW||", True),
    ("update_ratio", "update / weight ||dW update|| / ||W||", True),
)


def layer_names(columns: Sequence[str]) -> list[str]:
    """The ``layer<i>`` names of monitor columns (``layer<i>.<stat>``), in layer order."""
    names = {c.split(".", 1)[0] for c in columns if c.startswith("layer") and "." in c}
    return sorted(names, key=lambda n: int(n[5:]) if n[5:].isdigit() else math.inf)


def plot_monitor(path: str | os.PathLike, rows: Sequence[Mapping], title: str = "") -> Path:
    """Per-layer curves of the monitor's statistics against the iteration (six panels).

    Args:
        path: PNG file to write.
        rows: ``monitor.csv``'s rows (``iteration`` and ``layer<i>.<stat>`` columns).
        title: figure title (default: none).

    Returns:
        the path written.
    """
    if not rows:
        raise ValueError("rows is empty: no monitor samples to draw")
    it = np.asarray([r["iteration"] for r in rows], dtype=np.float64)
    layers = layer_names(rows[0])
    fig = new_figure(12, 6.5)
    axes = fig.subplots(2, 3).ravel()
    colors = {n: f"C{k % 10}" for k, n in enumerate(layers)}
    for ax, (col, label, log) in zip(axes, _PANELS):
        for n in layers:
            y = np.asarray([r.get(f"{n}.{col}", math.nan) for r in rows], dtype=np.float64)
            if col == "act_dead":
                sat = np.asarray([r.get(f"{n}.act_saturated", math.nan) for r in rows], float)
                y = np.where(np.isnan(y), sat, y)
            ok = np.isfinite(y) & ((y > 0) if log else True)
            if ok.any():
                style = ".-" if len(rows) <= 60 else "-"  # markers only while they can be seen
                ax.plot(it[ok], y[ok], style, ms=3, lw=1, color=colors[n], label=n)
        if col == "update_ratio":
            ax.axhline(1e-3, color="gray", ls="--", lw=1, label="1e-3")
        if log and ax.lines:
            ax.set_yscale("log")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("iteration")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[-1].get_legend_handles_labels()
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside right center")
    fig.suptitle(title or "Monitor: per-layer statistics")
    fig.set_layout_engine("constrained")
    return save_figure(fig, path)


def histogram_grid(
    path: str | os.PathLike,
    counts: Mapping[str, np.ndarray],
    edges: Mapping[str, np.ndarray],
    row_labels: Sequence[str],
    notes: Mapping[str, str] | None = None,
    title: str = "Activation histograms",
) -> Path:
    """A grid of histograms: one column per layer, one row per moment (the lecture's figure).

    Args:
        path: PNG file to write.
        counts: layer -> ``(R, B)`` counts, one row per grid row.
        edges: layer -> ``(R, B + 1)`` bin edges.
        row_labels: R labels (e.g. ``"iteration 1"``), or one empty label for a single row.
        notes: layer -> a short text (its nonlinearity, a verdict) under the column title.
        title: figure title.

    Returns:
        the path written.
    """
    layers = list(counts)
    R, L = len(row_labels), len(layers)
    if not L:
        raise ValueError("counts is empty: no layer to draw")
    fig = new_figure(max(6.0, 1.4 * L), 1.2 + 1.5 * R)
    axes = np.atleast_2d(fig.subplots(R, L, squeeze=False))
    for j, n in enumerate(layers):
        c = np.asarray(counts[n]).reshape(R, -1)
        e = np.asarray(edges[n]).reshape(R, -1)
        for i in range(R):
            ax = axes[i, j]
            total = c[i].sum()
            if total and np.isfinite(e[i]).all():
                frac = c[i] / total
                ax.stairs(frac, e[i], fill=True, color=f"C{j % 10}", alpha=0.8)
                rest = frac[1:].max(initial=0.0)
                if frac[0] > 3 * rest > 0:
                    # A ReLU's zeros would flatten the rest of the histogram: cut their bar.
                    ax.set_ylim(0, 1.25 * rest)
                    ax.text(0.97, 0.95, f"first bin {frac[0]:.0%}", transform=ax.transAxes,
                            ha="right", va="top", fontsize=7)  # fmt: skip
                lo, hi = e[i][0], e[i][-1]
                ax.set_xticks([lo, hi], labels=[f"{lo:.2g}", f"{hi:.2g}"], fontsize=7)
            ax.set_yticks([])
            ax.tick_params(axis="x", labelsize=7)
            if i == 0:
                note = (notes or {}).get(n, "")
                ax.set_title(f"{n}\n{note}" if note else n, fontsize=9)
            if j == 0 and row_labels[i]:
                ax.set_ylabel(row_labels[i], fontsize=8)
    fig.suptitle(title)
    fig.set_layout_engine("constrained")
    return save_figure(fig, path)


def _sample_rows(n: int, most: int) -> list[int]:
    """Up to ``most`` evenly spread indices of ``n`` samples, the first and last included."""
    return sorted({round(k) for k in np.linspace(0, n - 1, min(n, most))})


def redraw_monitor(run_dir: str | os.PathLike, most_rows: int = 4) -> list[Path]:
    """Draw ``monitor.png`` and ``monitor_histograms.png`` from a run directory's monitor files.

    Args:
        run_dir: a run directory; without ``monitor.csv`` nothing is drawn.
        most_rows: histogram grid rows (moments, spread over the run from its first sample).

    Returns:
        the PNG paths written (none without monitor files).

    Raises:
        RunFilesError: a monitor file cannot be read.
    """
    run_dir = Path(run_dir)
    written = []
    if (run_dir / mon.CSV).exists():
        rows = rf.read_metrics(run_dir / mon.CSV)
        if rows:
            written.append(plot_monitor(run_dir / MONITOR_PNG, rows))
    if (run_dir / mon.NPZ).exists():
        try:
            h = mon.read_histograms(run_dir / mon.NPZ)
        except ValueError as e:
            raise rf.RunFilesError(str(e)) from None
        if h["layers"] and len(h["iteration"]):
            pick = _sample_rows(len(h["iteration"]), most_rows)
            written.append(
                histogram_grid(
                    run_dir / MONITOR_HISTOGRAMS_PNG,
                    {n: h[f"{n}.counts"][pick] for n in h["layers"]},
                    {n: h[f"{n}.edges"][pick] for n in h["layers"]},
                    [f"iteration {int(h['iteration'][k])}" for k in pick],
                    {n: f"({k})" for n, k in zip(h["layers"], h["kinds"])},
                    title="Activation histograms during training",
                )
            )
    return written


def plot_init(directory: str | os.PathLike, reports: Sequence, title: str) -> list[Path]:
    """The lecture's two init figures: mean and std per layer, and a row of histograms.

    Args:
        directory: where ``init_stats.png`` and ``init_histograms.png`` go.
        reports: ``numnet.babysit.inspect_init.LayerReport`` per layer, layer 1 first.
        title: what was inspected (activation, init), in both titles.

    Returns:
        the two paths written.
    """
    directory = Path(directory)
    layers = np.asarray([r.layer for r in reports])
    bad = np.asarray([r.verdict != "ok" for r in reports])
    fig = new_figure(10, 3.6)
    ax_mean, ax_std = fig.subplots(1, 2)
    for ax, values, label in ((ax_mean, [r.mean for r in reports], "mean"),
                              (ax_std, [r.std for r in reports], "std")):  # fmt: skip
        v = np.asarray(values, dtype=np.float64)
        ax.plot(layers, v, "o-", color="tab:blue", label="ok")
        if bad.any():
            ax.plot(layers[bad], v[bad], "o", color="tab:red", label="not ok (see verdict)")
        ax.set_xlabel("layer")
        ax.set_title(f"activation {label} per layer", fontsize=10)
        ax.set_xticks(layers)
        ax.grid(True, which="both", alpha=0.3)
    positive = [r.std for r in reports if r.std > 0]
    if positive and max(positive) / min(positive) > 100:
        ax_std.set_yscale("log")
    ax_std.legend(loc="best", fontsize=8)
    fig.suptitle(title)
    fig.set_layout_engine("constrained")
    stats = save_figure(fig, directory / INIT_STATS_PNG)
    names = [f"layer{r.layer}" for r in reports]
    hist = histogram_grid(
        directory / INIT_HISTOGRAMS_PNG,
        {n: r.counts[None] for n, r in zip(names, reports)},
        {n: r.edges[None] for n, r in zip(names, reports)},
        [""],
        {n: r.verdict.split(" (")[0].split(",")[0] for n, r in zip(names, reports)},
        title=f"{title}: output histograms",
    )
    return [stats, hist]
