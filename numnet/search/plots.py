"""Plots of a search (PNG, atomic).

Accuracy against each parameter, the lr x reg scatter of the course's notebook, and the best
accuracy so far against the trial count.

matplotlib's object-oriented API on the Agg canvas only (no pyplot), imported when drawing.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from numnet._atomic import atomic_write_bytes
from numnet.search.report import TrialRow
from numnet.search.space import Choice, FloatRange, IntRange, Param

__all__ = ["PARAMS_PNG", "PROGRESS_PNG", "draw_all", "plot_pair", "plot_params", "plot_progress"]

PARAMS_PNG = "params.png"
PROGRESS_PNG = "progress.png"


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def _scored(rows: Sequence[TrialRow]) -> list[TrialRow]:
    return [r for r in rows if r.score is not None and math.isfinite(r.score)]


def plot_params(path, rows: Sequence[TrialRow], space: Mapping[str, Param]) -> Path | None:
    """Validation accuracy against each numeric parameter (log axis for log ranges).

    Colour = epochs trained; pruned and diverged trials hollow (their best accuracy before
    stopping).

    Returns:
        The path, or None when no trial has an accuracy or no parameter is numeric.
    """
    names = [n for n, p in space.items() if isinstance(p, (FloatRange, IntRange))]
    pts = [r for r in _scored(rows) if all(n in r.params for n in names)]
    if not names or not pts:
        return None
    fig = _figure(4.2 * len(names), 3.6)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    emax = max(max(r.epochs for r in pts), 1)
    for ax, name in zip(axes, names):
        for done in (True, False):
            sel = [r for r in pts if (r.state == "COMPLETE") == done]
            if not sel:
                continue
            x = [r.params[name] for r in sel]
            y = [100 * r.score for r in sel]
            c = [r.epochs for r in sel]
            if done:
                sc = ax.scatter(
                    x, y, c=c, cmap="viridis", vmin=0, vmax=emax, s=28, label="complete"
                )
            else:
                ax.scatter(x, y, facecolors="none", edgecolors="0.45", s=28,
                           label="pruned / diverged")  # fmt: skip
        if space[name].log:
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("val accuracy (%)")
    if any(r.state == "COMPLETE" for r in pts):
        fig.colorbar(sc, ax=list(axes), label="epochs trained")
    axes[0].legend(loc="lower left", fontsize="small")
    fig.suptitle("Validation accuracy per parameter")
    return _save(fig, path)


def pair(space: Mapping[str, Param]) -> tuple[str, str] | None:
    """The two parameters of the scatter.

    lr and reg when both are searched, else the first two numeric ones; None with fewer.
    """
    names = [n for n, p in space.items() if not isinstance(p, Choice)]
    if "lr" in names and "reg" in names:
        return "lr", "reg"
    return (names[0], names[1]) if len(names) >= 2 else None


def plot_pair(path, rows: Sequence[TrialRow], space: Mapping[str, Param], x: str, y: str):
    """The course notebook's scatter: one point per trial at (x, y).

    Coloured by validation accuracy; log axes for log ranges. Returns the path, or None without
    points.
    """
    pts = [r for r in _scored(rows) if x in r.params and y in r.params]
    if not pts:
        return None
    fig = _figure(6.0, 4.8)
    ax = fig.add_subplot(1, 1, 1)
    pts = sorted(pts, key=lambda r: r.score)  # the best drawn last, on top
    sc = ax.scatter([r.params[x] for r in pts], [r.params[y] for r in pts],
                    c=[100 * r.score for r in pts], cmap="coolwarm", s=60, edgecolors="k",
                    linewidths=0.3)  # fmt: skip
    best = pts[-1]
    ax.scatter([best.params[x]], [best.params[y]], marker="*", s=260, c="gold", edgecolors="k",
               label=f"best {100 * best.score:.2f}%")  # fmt: skip
    for name, setter in ((x, ax.set_xscale), (y, ax.set_yscale)):
        if space[name].log:
            setter("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend(loc="best", fontsize="small")
    fig.colorbar(sc, ax=ax, label="val accuracy (%)")
    ax.set_title(f"Validation accuracy over {x} x {y}")
    return _save(fig, path)


def plot_progress(path, rows: Sequence[TrialRow]) -> Path | None:
    """Each trial's accuracy in order (dots, one colour per stage) and the best so far (line)."""
    stages = sorted({(r.stage_index, r.stage) for r in rows})
    if not _scored(rows):
        return None
    fig = _figure(7.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    offset = 0
    for index, stage in stages:
        mine = sorted((r for r in _scored(rows) if r.stage == stage), key=lambda r: r.number)
        if not mine:
            continue
        xs = list(range(offset + 1, offset + len(mine) + 1))
        ax.scatter(xs, [100 * r.score for r in mine], s=14, alpha=0.6, color=f"C{index}")
        best, curve = -math.inf, []
        for r in mine:
            if r.state == "COMPLETE":
                best = max(best, r.score)
            curve.append(100 * best if best > -math.inf else math.nan)
        ax.step(xs, curve, where="post", color=f"C{index}", label=f"{stage}: best so far")
        offset += len(mine)
    ax.set_xlabel("trial (in order)")
    ax.set_ylabel("val accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    ax.set_title("Search progress")
    return _save(fig, path)


def draw_all(out_dir: str | os.PathLike, rows: Sequence[TrialRow], spaces: Sequence) -> list[Path]:
    """Draw every plot into ``out_dir``; return the files written.

    params.png (the first stage's space), the pair scatter (``<x>_<y>.png``, e.g. lr_reg.png)
    and progress.png.
    """
    out = Path(out_dir)
    space = spaces[0]
    written = [plot_params(out / PARAMS_PNG, rows, space), plot_progress(out / PROGRESS_PNG, rows)]
    xy = pair(space)
    if xy is not None:
        written.append(plot_pair(out / f"{xy[0]}_{xy[1]}.png", rows, space, *xy))
    return [p for p in written if p is not None]
