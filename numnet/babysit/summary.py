"""A model summary from its config: per layer the output shape, params, activation memory, FLOPs.

``summarize(config, batch_size)`` takes a model's ``get_config()`` (or the config ``numnet
train`` would build) and follows the layers in the order the model's ``loss`` runs them, without
building the model or running anything, so it also explains a config that does not fit: the
lecture's arithmetic, output size ``(W - F + 2P) / S + 1``, must be a whole number >= 1 for every
conv and pool, else :class:`ShapeError` names the layer and shows the sum.

Counting conventions (forward pass, batch of N):

- conv: ``2 * N * Cout * Hout * Wout * Cin * F * F`` FLOPs (a multiply and an add per weight
  and output; the bias add is not counted); params ``Cout * Cin * F * F + Cout``.
- affine: ``2 * N * D * M`` FLOPs; params ``D * M + M``.
- max pool: ``N * C * Hout * Wout * (F * F - 1)`` comparisons.
- relu and dropout: 1 per element; batch/layer/group norm: 4 per element (subtract the mean,
  divide by the std, scale, shift; computing the statistics is not counted); params
  ``2 * C``.
- activation memory: the layer's output, ``N * prod(shape)`` elements of the model's dtype. The
  backward's caches hold about these outputs plus, for convs, their im2col columns, so training
  needs more than this total.

ConvNet applies relu after the pool (they commute exactly; the pool then touches 4x fewer
values), and the rows say so by their order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

_POOL = 2  # every numnet conv model pools 2x2 with stride 2
#: ConvNet's normalisation of its hidden affine blocks for each conv normalisation.
_AFFINE_NORM = {None: None, "batchnorm": "batchnorm", "groupnorm": "layernorm",
                "layernorm": "layernorm"}  # fmt: skip


class ShapeError(ValueError):
    """A layer's input does not fit it; ``layer`` names the layer (``"pool3"``)."""

    def __init__(self, layer: str, message: str):
        """Name ``layer`` and say what does not fit."""
        self.layer = layer
        super().__init__(f"{layer}: {message}")


@dataclass(frozen=True)
class LayerRow:
    """One layer of a summary.

    Attributes:
        name: ``conv1``, ``norm1``, ``pool1``, ``relu1``, ``fc3``, ``dropout3``, ``input``...
        kind: ``input``, ``conv``, ``affine``, ``pool``, ``relu``, ``dropout``, ``batchnorm``,
            ``layernorm`` or ``groupnorm``.
        shape: output shape of one example: ``(C, H, W)`` or ``(D,)``.
        params: parameter count.
        flops: forward FLOPs for the batch (see the module's conventions).
        activation_bytes: bytes of the output for the batch.
        detail: the layer's settings (``3x3 s1 p1``), for the table.
    """

    name: str
    kind: str
    shape: tuple
    params: int
    flops: int
    activation_bytes: int
    detail: str = ""


@dataclass
class Summary:
    """Rows and totals of :func:`summarize`."""

    model: str
    batch_size: int
    dtype: str
    rows: list[LayerRow] = field(default_factory=list)

    @property
    def total_params(self) -> int:
        """Sum of the rows' params."""
        return sum(r.params for r in self.rows)

    @property
    def total_flops(self) -> int:
        """Sum of the rows' forward FLOPs for the batch."""
        return sum(r.flops for r in self.rows)

    @property
    def activation_bytes(self) -> int:
        """Sum of the layer outputs' bytes for the batch (the input not counted)."""
        return sum(r.activation_bytes for r in self.rows if r.kind != "input")


def window_output(size: int, window: int, pad: int, stride: int, layer: str, axis: str) -> int:
    """``(size - window + 2 * pad) / stride + 1``, which must be a whole number >= 1.

    Raises:
        ShapeError: it is not, naming ``layer`` and showing the arithmetic.
    """
    span = size - window + 2 * pad
    if span < 0 or span % stride:
        value = span / stride + 1
        raise ShapeError(
            layer,
            f"input {axis} = {size} does not fit a {window}x{window} window with stride {stride} "
            f"and padding {pad}: ({size} - {window} + 2*{pad}) / {stride} + 1 = {value:g}, not a "
            "whole number >= 1",
        )
    return span // stride + 1


class _Builder:
    """Appends rows while tracking the current shape."""

    def __init__(self, summary: Summary, shape: tuple, itemsize: int):
        self.s, self.shape, self.itemsize = summary, tuple(int(v) for v in shape), itemsize
        self.add("input", "input", self.shape, 0, 0, "")

    def add(self, name, kind, shape, params, flops, detail):
        self.shape = tuple(int(v) for v in shape)
        n = self.s.batch_size * math.prod(self.shape)
        self.s.rows.append(LayerRow(name, kind, self.shape, int(params), int(flops),
                                    n * self.itemsize, detail))  # fmt: skip

    def elementwise(self, name, kind, per_element, params=0, detail=""):
        n = self.s.batch_size * math.prod(self.shape)
        self.add(name, kind, self.shape, params, per_element * n, detail)

    def conv(self, i, filters, size, pad, stride=1):
        c, h, w = self.shape
        ho = window_output(h, size, pad, stride, f"conv{i}", "H")
        wo = window_output(w, size, pad, stride, f"conv{i}", "W")
        flops = 2 * self.s.batch_size * filters * ho * wo * c * size * size
        detail = f"{filters} filters {size}x{size} s{stride} p{pad}"
        self.add(f"conv{i}", "conv", (filters, ho, wo), filters * c * size * size + filters,
                 flops, detail)  # fmt: skip

    def pool(self, i):
        c, h, w = self.shape
        ho = window_output(h, _POOL, 0, _POOL, f"pool{i}", "H")
        wo = window_output(w, _POOL, 0, _POOL, f"pool{i}", "W")
        flops = self.s.batch_size * c * ho * wo * (_POOL * _POOL - 1)
        self.add(f"pool{i}", "pool", (c, ho, wo), 0, flops, f"max {_POOL}x{_POOL} s{_POOL}")

    def affine(self, i, m, last=False):
        d = math.prod(self.shape)
        name = "scores" if last else f"fc{i}"
        self.add(name, "affine", (m,), d * m + m, 2 * self.s.batch_size * d * m, f"{d} -> {m}")

    def norm(self, i, kind, detail=""):
        self.elementwise(f"norm{i}", kind, 4, params=2 * self.shape[0], detail=detail)


def summarize(config: Mapping, batch_size: int = 64) -> Summary:
    """The summary of the model ``config`` describes (``get_config()`` form, with ``"name"``).

    Args:
        config: ``{"name": "ConvNet" | "FullyConnectedNet" | "ThreeLayerConvNet" |
            "TwoLayerNet", **constructor arguments}``; missing arguments take the constructor's
            defaults only where listed in this module (the shape-deciding ones are required).
        batch_size: N for the FLOPs and the activation memory.

    Returns:
        A :class:`Summary`.

    Raises:
        ShapeError: a conv or pool whose input does not fit it (the layer is named).
        ValueError: an unknown model name, or a batch size < 1.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    name = config.get("name")
    build = _MODELS.get(name)
    if build is None:
        raise ValueError(f"summary knows the models {', '.join(_MODELS)}; got {name!r}")
    dtype = np.dtype(config.get("dtype", "float32"))
    summary = Summary(name, batch_size, dtype.name)
    build(config, summary, dtype.itemsize)
    return summary


def _hidden_blocks(b: _Builder, first: int, dims, num_classes, norm, keep):
    for i, d in enumerate(dims, start=first):
        b.affine(i, d)
        if norm is not None:
            b.norm(i, norm)
        b.elementwise(f"relu{i}", "relu", 1)
        if keep < 1:
            b.elementwise(f"dropout{i}", "dropout", 1, detail=f"keep {keep:g}")
    b.affine(first + len(dims), num_classes, last=True)


def _fc(config, s, itemsize):
    b = _Builder(s, (config["input_dim"],), itemsize)
    _hidden_blocks(b, 1, config["hidden_dims"], config.get("num_classes", 10),
                   config.get("normalization"), config.get("dropout_keep_ratio", 1.0))  # fmt: skip


def _two_layer(config, s, itemsize):
    b = _Builder(s, (config["input_dim"],), itemsize)
    _hidden_blocks(b, 1, [config["hidden_dim"]], config.get("num_classes", 10), None, 1.0)


def _three_layer(config, s, itemsize):
    b = _Builder(s, tuple(config["input_dim"]), itemsize)
    fs = config.get("filter_size", 7)
    b.conv(1, config.get("num_filters", 32), fs, (fs - 1) // 2)
    b.elementwise("relu1", "relu", 1)
    b.pool(1)
    _hidden_blocks(b, 2, [config.get("hidden_dim", 100)], config.get("num_classes", 10), None,
                   1.0)  # fmt: skip


def _convnet(config, s, itemsize):
    b = _Builder(s, tuple(config["input_dim"]), itemsize)
    fs, per_stage = config.get("filter_size", 3), config.get("convs_per_stage", 1)
    norm, pool = config.get("normalization", "batchnorm"), config.get("pool", True)
    groups = config.get("groups", 8)
    i = 0
    for channels in config.get("conv_channels", (32, 64)):
        for j in range(per_stage):
            i += 1
            b.conv(i, channels, fs, (fs - 1) // 2)
            if norm is not None:
                kind = "batchnorm" if norm == "batchnorm" else "groupnorm"
                g = groups if norm == "groupnorm" else 1
                b.norm(i, kind, "" if kind == "batchnorm" else f"{g} group{'s' * (g > 1)}")
            if pool and j == per_stage - 1:
                b.pool(i)
            b.elementwise(f"relu{i}", "relu", 1)
    _hidden_blocks(b, i + 1, config.get("hidden_dims", (128,)), config.get("num_classes", 10),
                   _AFFINE_NORM[norm], config.get("dropout_keep_ratio", 1.0))  # fmt: skip


_MODELS = {
    "ConvNet": _convnet,
    "FullyConnectedNet": _fc,
    "ThreeLayerConvNet": _three_layer,
    "TwoLayerNet": _two_layer,
}


def format_summary(summary: Summary) -> str:
    """The summary as a text table with a totals line (what ``numnet summary`` prints)."""
    head = ("layer", "output shape", "params", "activations", "FLOPs", "")
    rows = [head]
    for r in summary.rows:
        shape = f"({summary.batch_size}, {', '.join(map(str, r.shape))})"
        rows.append((r.name, shape, f"{r.params:,}", _bytes(r.activation_bytes),
                     _count(r.flops), r.detail))  # fmt: skip
    rows.append(("total", "", f"{summary.total_params:,}", _bytes(summary.activation_bytes),
                 _count(summary.total_flops), ""))  # fmt: skip
    widths = [max(len(row[k]) for row in rows) for k in range(len(head))]
    right = {2, 3, 4}
    lines = []
    for n, row in enumerate(rows):
        cells = [c.rjust(w) if k in right else c.ljust(w) for k, (c, w) in
                 enumerate(zip(row, widths))]  # fmt: skip
        lines.append("  ".join(cells).rstrip())
        if n == 0 or n == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)


def _bytes(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _count(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)
