"""Figures for the babysitting tools: an Agg canvas without pyplot, saved atomically as PNG.

As in :mod:`numnet.plots`, matplotlib is imported only when something is drawn, through its
object-oriented API, so importing a babysitting module stays cheap and never switches a notebook's
backend.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from numnet._atomic import atomic_write_bytes


def figure(width: float, height: float):
    """A matplotlib ``Figure`` of ``width`` x ``height`` inches on its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def save(fig, path: str | os.PathLike) -> Path:
    """Write ``fig`` as a PNG to ``path`` atomically; returns the path."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path
