"""Monitors inside the network: per-layer statistics every ``every`` steps, as a Solver callback.

``Monitor`` samples steps 1, 1 + every, 1 + 2 * every, ... (the steps ``PrintProgress`` prints).
For each layer ``i`` (the layer whose weight is ``W<i>``) a sample records:

=====================  ===========================================================================
column                 meaning
=====================  ===========================================================================
``act_mean``           mean of the layer's output over the batch (every value)
``act_std``            standard deviation of the same values
``act_dead``           relu: fraction of units that are zero for every example of the batch (a
                       unit is one feature of an affine layer, one (channel, row, column) of a
                       conv layer); nan for other nonlinearities
``act_saturated``      tanh: fraction of values with ``|y| > 0.99``; sigmoid: fraction with
                       ``y < 0.01`` or ``y > 0.99``; nan for relu
``w_norm``             ``||W||`` (Frobenius) before the step
``grad_norm``          ``||dW||`` of the step (data loss plus regularisation, before clipping)
``update_ratio``       ``||W_after - W_before|| / ||W_before||``; the lecture's rule of thumb is
                       about 1e-3
=====================  ===========================================================================

The activation columns come from the model's ``activations()`` (see ``numnet.classifiers.base``;
the output layer has none, so its are nan), the others from ``model.params`` and the Solver's
``last_grads``; a model without ``activations`` still gets those. Each layer's output values are
also counted into ``bins`` equal bins between their minimum and maximum: the histograms of the
lecture's figures.

Files (``directory`` given): ``monitor.csv`` holds one row per sample (``iteration``, ``epoch``,
then ``layer<i>.<column>`` for every layer), appended and flushed as it is taken
(``numnet.metrics_log``); ``monitor_histograms.npz`` holds the histograms and is rewritten
atomically at every accuracy check and at the end of training, so a crash loses at most the
histograms since the last check. A Solver that continues (``train()`` again, or a run resumed
from a checkpoint at step k) keeps the samples up to step k and drops the rest from both files.

Cost: off (``every`` steps between samples), nothing but one attribute test in the model's loss;
on a sampled step, a copy of the weights, the statistics and the histograms.
``benchmarks/monitor_overhead.py`` measures it against the step time (``benchmarks/MONITOR.md``).
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from numnet._atomic import atomic_open
from numnet._checks import check_positive_int
from numnet.backend import get_array_module, to_numpy
from numnet.metrics_log import (
    MetricsFileError,
    MetricsWriter,
    read_header,
    read_rows,
    truncate_rows,
)

__all__ = [
    "BINS",
    "COLUMNS",
    "CSV",
    "DEFAULT_EVERY",
    "NPZ",
    "Monitor",
    "activation_stats",
    "check_files",
    "csv_columns",
    "histogram",
    "read_histograms",
    "weight_layers",
]

#: Steps between samples when none is given (``numnet train --monitor`` alone).
DEFAULT_EVERY = 20
#: Histogram bins per layer and sample.
BINS = 40
#: The monitor's files in a run directory.
CSV = "monitor.csv"
NPZ = "monitor_histograms.npz"
#: The per-layer columns, in order (see the module docstring).
COLUMNS = (
    "act_mean",
    "act_std",
    "act_dead",
    "act_saturated",
    "w_norm",
    "grad_norm",
    "update_ratio",
)
#: ``|tanh(x)|`` above this, or ``sigmoid(x)`` this close to 0 or 1, counts as saturated.
SATURATION = 0.99

_WEIGHT = re.compile(r"^W(\d+)$")


def weight_layers(params) -> dict[str, str]:
    """``{"layer<i>": "W<i>"}`` for every weight ``W<i>`` of ``params``, in layer order."""
    found = sorted(int(m.group(1)) for m in map(_WEIGHT.match, params) if m)
    return {f"layer{i}": f"W{i}" for i in found}


def csv_columns(params) -> list[str]:
    """The columns of the ``monitor.csv`` a model with these ``params`` gets, in order."""
    layers = weight_layers(params)
    return ["iteration", "epoch", *(f"{n}.{c}" for n in layers for c in COLUMNS)]


def activation_stats(a, kind: str) -> dict[str, float]:
    """Mean, std, dead and saturated fractions of one layer's output.

    Args:
        a: the layer's output after its nonlinearity, ``(N, ...)``: ``(N, M)`` or
            ``(N, C, H, W)``.
        kind: its nonlinearity, ``"relu"``, ``"tanh"`` or ``"sigmoid"`` (any other name gets
            nan for both fractions).

    Returns:
        ``{"act_mean", "act_std", "act_dead", "act_saturated"}`` as floats, computed in float64
        (see the module docstring for the definitions).
    """
    xp = get_array_module(a)
    n = a.shape[0]
    dead = saturated = math.nan
    if kind == "relu":
        dead = float((a.reshape(n, -1).max(axis=0) <= 0).mean())
    elif kind == "tanh":
        saturated = float((xp.abs(a) > SATURATION).mean())
    elif kind == "sigmoid":
        saturated = float(((a < 1.0 - SATURATION) | (a > SATURATION)).mean())
    return {
        "act_mean": float(a.mean(dtype=np.float64)),
        "act_std": float(a.std(dtype=np.float64)),
        "act_dead": dead,
        "act_saturated": saturated,
    }


def histogram(a, bins: int = BINS) -> tuple[np.ndarray, np.ndarray]:
    """Counts of ``a``'s finite values in ``bins`` equal bins between their min and max.

    Returns:
        ``(counts, edges)``: int64 ``(bins,)`` and float64 ``(bins + 1,)``, NumPy arrays. With no
        finite value the counts are zero and the edges nan; with one distinct value NumPy's rule
        applies (a unit-wide range around it).
    """
    xp = get_array_module(a)
    v = a.reshape(-1)
    if not bool(xp.isfinite(v).all()):
        v = v[xp.isfinite(v)]
    if v.size == 0:
        return np.zeros(bins, dtype=np.int64), np.full(bins + 1, np.nan)
    lo, hi = float(v.min()), float(v.max())
    counts, edges = xp.histogram(v, bins=bins, range=(lo, hi))
    return to_numpy(counts).astype(np.int64), to_numpy(edges).astype(np.float64)


def _norm(a) -> float:
    # One BLAS dot in the array's own dtype: a float64 copy of the weights cost more than the rest
    # of a sample (float32 accumulation is ample for a norm that is only looked at).
    v = a.reshape(-1)
    return math.sqrt(float(v @ v))


class Monitor:
    """Solver callback recording per-layer statistics (see the module docstring).

    Args:
        directory: where ``monitor.csv`` and ``monitor_histograms.npz`` go (created if needed);
            None keeps the samples in memory only.
        every: steps between samples (an int >= 1).
        bins: histogram bins per layer (an int >= 1).

    Attributes:
        rows: every sample's row (dicts of ``iteration``, ``epoch`` and the layer columns).
        hist_iterations: the iteration of each histogram sample.
        histograms: ``{"layer<i>": [(counts, edges), ...]}``, one entry per histogram sample.
        kinds: ``{"layer<i>": nonlinearity}`` of the layers with activations.
    """

    def __init__(self, directory: str | os.PathLike | None = None, every: int = DEFAULT_EVERY,
                 bins: int = BINS):  # fmt: skip
        self.every = check_positive_int("every", every)
        self.bins = check_positive_int("bins", bins)
        self.directory = None if directory is None else Path(directory)
        self._writer = None if directory is None else MetricsWriter(self.directory / CSV)
        self.rows: list[dict] = []
        self.hist_iterations: list[int] = []
        self.histograms: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.kinds: dict[str, str] = {}
        self._before: dict[str, np.ndarray] | None = None

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, solver) -> None:
        """Start the files, or continue them after the Solver's ``iteration`` (a resume)."""
        self._before = None
        start = int(solver.iteration)
        self.rows = [r for r in self.rows if r["iteration"] <= start]
        keep = [k for k, it in enumerate(self.hist_iterations) if it <= start]
        self.hist_iterations = [self.hist_iterations[k] for k in keep]
        self.histograms = {n: [h[k] for k in keep] for n, h in self.histograms.items()}
        if self._writer is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        resume = start > 0 and self._writer.path.is_file()
        if resume:
            check_files(self.directory, solver.model.params, self.bins)
            truncate_rows(self._writer.path, start)
            if not self.hist_iterations and (self.directory / NPZ).is_file():
                self._load_histograms(self.directory / NPZ, start)
        self._writer.open(append=resume)

    def on_batch_begin(self, solver) -> None:
        """On a sampled step: keep the forward's activations and the weights before the step."""
        if solver.iteration % self.every:
            return
        model = solver.model
        if hasattr(model, "activations"):
            model.keep_activations = True
        self._before = {
            layer: model.params[w].copy() for layer, w in weight_layers(model.params).items()
        }

    def on_batch_end(self, solver, logs) -> None:
        """On a sampled step: compute the row and the histograms, write the row."""
        if self._before is None:
            return
        model, before = solver.model, self._before
        self._before = None
        acts = {}
        if hasattr(model, "activations"):
            acts = model.activations()
            model.keep_activations = False
            model.release_activations()
        grads = getattr(solver, "last_grads", None) or {}
        row = {"iteration": int(logs["iteration"]), "epoch": int(logs["epoch"]) + 1}
        for layer in sorted({*before, *acts}, key=lambda n: int(n[5:])):
            stats = dict.fromkeys(COLUMNS, math.nan)
            if layer in acts:
                kind, a = acts[layer]
                stats.update(activation_stats(a, kind))
                self.kinds[layer] = kind
                self.histograms.setdefault(layer, []).append(histogram(a, self.bins))
            if layer in before:
                w_name, w0 = f"W{layer[5:]}", before[layer]
                stats["w_norm"] = _norm(w0)
                if w_name in grads:
                    stats["grad_norm"] = _norm(grads[w_name])
                w1 = model.params[w_name]
                step = _norm(w1 - w0)
                stats["update_ratio"] = step / stats["w_norm"] if stats["w_norm"] else math.nan
            row.update({f"{layer}.{c}": v for c, v in stats.items()})
        if acts:
            self.hist_iterations.append(row["iteration"])
        self.rows.append(row)
        if self._writer is not None:
            self._writer.write(row)

    def on_epoch_end(self, solver, logs) -> None:
        """Save the histograms (every accuracy check)."""
        self.save_histograms()

    def on_train_end(self, solver) -> None:
        """Save the histograms, close the CSV, and leave the model keeping nothing."""
        model = solver.model
        if hasattr(model, "activations"):
            model.keep_activations = False
            model.release_activations()
        self._before = None
        self.save_histograms()
        if self._writer is not None:
            self._writer.close()

    # ------------------------------------------------------------------ files
    def histogram_arrays(self) -> dict[str, np.ndarray]:
        """The histograms as the arrays ``monitor_histograms.npz`` holds.

        Returns:
            ``iteration`` (S,), ``layers`` and ``kinds`` (L,) strings, and per layer
            ``<layer>.counts`` (S, bins) int64 and ``<layer>.edges`` (S, bins + 1) float64.
        """
        layers = sorted(self.histograms, key=lambda n: int(n[5:]))
        out = {
            "iteration": np.asarray(self.hist_iterations, dtype=np.int64),
            "layers": np.asarray(layers, dtype=str),
            "kinds": np.asarray([self.kinds.get(n, "") for n in layers], dtype=str),
        }
        for n in layers:
            counts = [c for c, _ in self.histograms[n]]
            edges = [e for _, e in self.histograms[n]]
            out[f"{n}.counts"] = np.asarray(counts, dtype=np.int64).reshape(-1, self.bins)
            out[f"{n}.edges"] = np.asarray(edges, dtype=np.float64).reshape(-1, self.bins + 1)
        return out

    def save_histograms(self) -> Path | None:
        """Write ``monitor_histograms.npz`` atomically (nothing without a directory)."""
        if self.directory is None or not self.hist_iterations:
            return None
        path = self.directory / NPZ
        with atomic_open(path, "wb") as f:
            np.savez(f, **self.histogram_arrays())
        return path

    def _load_histograms(self, path: Path, last: int) -> None:
        data = read_histograms(path)
        keep = np.flatnonzero(data["iteration"] <= last)
        self.hist_iterations = [int(data["iteration"][k]) for k in keep]
        for n, kind in zip(data["layers"], data["kinds"]):
            self.kinds[n] = kind
            counts, edges = data[f"{n}.counts"], data[f"{n}.edges"]
            self.histograms[n] = [(counts[k], edges[k]) for k in keep]


def check_files(directory: str | os.PathLike, params, bins: int = BINS) -> None:
    """Check, reading only, that a run's monitor files can be continued by a model's monitor.

    A missing file passes (the monitor starts it); a torn last line of ``monitor.csv`` passes (it
    is cut off on continuing).

    Args:
        directory: the folder holding ``monitor.csv`` and ``monitor_histograms.npz``.
        params: the model's parameters (their ``W<i>`` names give the expected columns).
        bins: the monitor's histogram bins per layer.

    Raises:
        MetricsFileError: a file does not parse, or is not this model's: the message names the
            file, what was expected and what was found.
    """
    directory = Path(directory)
    path = directory / CSV
    if path.exists():
        read_rows(path)  # every complete line parses
        header, expected = read_header(path), csv_columns(params)
        if header is not None and header != expected:
            raise MetricsFileError(
                f"{path} has columns {_short(header)}, expected this model's {_short(expected)}"
            )
    path = directory / NPZ
    if path.exists():
        try:
            data = read_histograms(path)
        except ValueError as e:
            raise MetricsFileError(str(e)) from None
        n = len(data["iteration"])
        for layer in data["layers"]:
            shape = data[f"{layer}.counts"].shape
            if shape != (n, bins):
                raise MetricsFileError(
                    f"{path}: {layer}.counts has shape {shape}, expected {(n, bins)}"
                )


def _short(columns: list[str]) -> str:
    """A column list for an error message: the first few and the count."""
    head = ",".join(columns[:4])
    return f"[{head}{',...' if len(columns) > 4 else ''}] ({len(columns)} columns)"


def read_histograms(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a ``monitor_histograms.npz`` (see :meth:`Monitor.histogram_arrays`).

    Raises:
        ValueError: the file cannot be read or lacks an array the layout needs; the message
            names the file.
    """
    path = Path(path)
    if path.is_file() and not zipfile.is_zipfile(path):
        raise ValueError(f"cannot read {path}: not an .npz (zip) archive")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"cannot read {path}: {e}") from None
    need = ["iteration", "layers", "kinds"]
    for n in data.get("layers", []):
        need += [f"{n}.counts", f"{n}.edges"]
    missing = [k for k in need if k not in data]
    if missing:
        raise ValueError(f"{path} is not a monitor histogram file: it lacks {missing}")
    it = data["iteration"]
    if it.ndim != 1 or it.dtype.kind not in "iu":
        raise ValueError(
            f"{path}: iteration must be a 1-D integer array, got {it.dtype} {it.shape}"
        )
    for n in data["layers"]:
        c, e = data[f"{n}.counts"].shape, data[f"{n}.edges"].shape
        if len(c) != 2 or c[0] != len(it) or e != (c[0], c[1] + 1):
            raise ValueError(f"{path}: {n}.counts {c} and {n}.edges {e} must be (S, bins) and "
                             f"(S, bins + 1) with S = {len(it)} samples")  # fmt: skip
    data["layers"] = [str(n) for n in data["layers"]]
    data["kinds"] = [str(k) for k in data["kinds"]]
    return data
