"""Pretrained weights into a model whose head (or more) differs, with a report of what happened.

``load_pretrained(model, source)`` copies every parameter whose name and shape match, leaves the
others as the model initialised them (its ``init`` and seed), and returns a ``LoadReport`` that
lists the copied, re-initialised and skipped names with their shapes. Batch norm statistics
(``bn{n}.running_mean`` / ``running_var``) go with their layer: copied when that layer's
``gamma{n}`` and ``beta{n}`` were copied and their shapes fit, else left as initialised.

Some parameters must be copied (``keep``): by default the first layer (a checkpoint whose first
layer does not fit holds another architecture or input size, and nothing after it would be
meaningful), and whatever the caller will freeze. Such a parameter missing from the source or of
another shape is a ``TransferError`` naming it and both shapes; nothing is loaded then.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from numnet import param_groups
from numnet._state import copy_into_library
from numnet.backend import to_numpy

__all__ = ["LoadReport", "ReportEntry", "TransferError", "load_pretrained", "read_source"]

PARAMS_CHOICES = ("last", "best")


class TransferError(ValueError):
    """A pretrained source does not fit the model where it must (one line, names both shapes)."""


@dataclass(frozen=True)
class ReportEntry:
    """One name in a ``LoadReport``.

    Attributes:
        name: the param or buffer name (``"W3"``, ``"bn2.running_mean"``).
        shape: the model's shape (the source's for a skipped name).
        source_shape: the source's shape, or None when the source has no such name.
        reason: why it was re-initialised or skipped ("" for a copy).
    """

    name: str
    shape: tuple
    source_shape: tuple | None = None
    reason: str = ""

    def __str__(self) -> str:
        text = f"{self.name} {_shape(self.shape)}"
        return f"{text} [{self.reason}]" if self.reason else text


@dataclass
class LoadReport:
    """What ``load_pretrained`` did, name by name.

    Attributes:
        source: where the weights came from (a path, or a description).
        source_model: the source's model class name, when known.
        copied: names copied from the source.
        reinitialised: the model's names left as initialised, each with its reason.
        skipped: the source's names the model has no place for.
    """

    source: str
    source_model: str | None
    copied: list[ReportEntry] = field(default_factory=list)
    reinitialised: list[ReportEntry] = field(default_factory=list)
    skipped: list[ReportEntry] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report as text lines: a heading, then copied / re-initialised / skipped."""
        n = len(self.copied) + len(self.reinitialised)
        model = f" ({self.source_model})" if self.source_model else ""
        out = [f"loaded {self.source}{model}: {len(self.copied)} of {n} entries copied"]
        for title, entries in (
            ("copied", self.copied),
            ("re-initialised", self.reinitialised),
            ("skipped", self.skipped),
        ):
            listed = ", ".join(str(e) for e in entries) if entries else "none"
            out.append(f"  {title} ({len(entries)}): {listed}")
        return out

    def to_dict(self) -> dict:
        """JSON-able form (a run's config.json records it)."""

        def rows(entries):
            return [
                {
                    "name": e.name,
                    "shape": list(e.shape),
                    "source_shape": None if e.source_shape is None else list(e.source_shape),
                    "reason": e.reason,
                }
                for e in entries
            ]

        return {
            "source": self.source,
            "source_model": self.source_model,
            "copied": rows(self.copied),
            "reinitialised": rows(self.reinitialised),
            "skipped": rows(self.skipped),
        }


def _shape(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def read_source(source, params: str = "last") -> tuple[dict, dict, str | None, str]:
    """The weights a source holds.

    Args:
        source: a checkpoint path, a ``numnet.checkpoint.Checkpoint``, a Solver state dict (with
            ``"model"``), a model state dict (with ``"params"``), a model (``params`` and
            optionally ``buffers()``), or a plain ``{name: array}`` dict.
        params: for checkpoints and Solver state dicts: ``"last"`` (the params of the last step,
            which the stored batch norm statistics belong to; in ``best.npz`` these are the best
            ones) or ``"best"`` (the best-validation params; the last ones when none recorded).

    Returns:
        ``(params, buffers, model class name or None, description)``.

    Raises:
        ValueError: an unknown ``params`` or a source of another kind;
            ``numnet.checkpoint.CheckpointError`` for an unreadable checkpoint.
    """
    if params not in PARAMS_CHOICES:
        raise ValueError(f'params must be "last" or "best", got {params!r}')
    label = "weights"
    if isinstance(source, (str, os.PathLike)):
        from numnet.checkpoint import read_checkpoint

        label, source = os.fspath(source), read_checkpoint(source).state
    elif hasattr(source, "state") and hasattr(source, "path"):  # a Checkpoint
        label, source = source.path, source.state
    if isinstance(source, Mapping) and isinstance(source.get("model"), Mapping):
        state = source["model"]
        chosen = source.get("best_params") if params == "best" else None
        weights = dict(chosen or state.get("params", {}))
        return weights, dict(state.get("buffers", {})), state.get("class"), label
    if isinstance(source, Mapping) and isinstance(source.get("params"), Mapping):
        return dict(source["params"]), dict(source.get("buffers", {})), source.get("class"), label
    if hasattr(source, "params") and isinstance(source.params, Mapping):
        buffers = source.buffers() if hasattr(source, "buffers") else {}
        return dict(source.params), dict(buffers), type(source).__name__, label
    if isinstance(source, Mapping) and all(hasattr(v, "shape") for v in source.values()):
        return dict(source), {}, None, label
    raise ValueError(
        "source must be a checkpoint path, a Checkpoint, a state dict, a model or a params "
        f"dict, got {type(source).__name__}"
    )


def load_pretrained(model, source, *, keep=None, reinit=(), params: str = "last") -> LoadReport:
    """Copy what fits of ``source`` into ``model`` and report it (see the module docstring).

    Args:
        model: a numnet model (``params``; ``buffers``/``load_buffers`` for batch norm).
        source: see ``read_source``.
        keep: selectors (``numnet.param_groups``) of params that must be copied; None: layer 1
            when the model's params are numbered, else nothing.
        reinit: selectors of params to leave as initialised even when they fit (``"head"`` for a
            new task whose class count happens to match the source's).
        params: ``"last"`` or ``"best"``, see ``read_source``.

    Returns:
        The ``LoadReport``.

    Raises:
        TransferError: a kept param is missing from the source, has another shape, or is also
            in ``reinit``; or nothing fits at all. Nothing is loaded then.
    """
    src, src_buffers, src_class, label = read_source(source, params)
    names = list(model.params)
    if keep is None:
        keep = ["1"] if 1 in param_groups.layers(names) else []
    kept = set(param_groups.select_all(names, keep)) if keep else set()
    forced = set(param_groups.select_all(names, reinit)) if reinit else set()
    both = [n for n in names if n in kept and n in forced]
    if both:
        raise TransferError(f"param {both[0]!r} is both to keep and to re-initialise")
    report = LoadReport(label, src_class)
    whose = f" (the source is a {src_class}, the model a {type(model).__name__})"
    for n in names:
        want = tuple(model.params[n].shape)
        got = tuple(np.shape(src[n])) if n in src else None
        if n in forced:
            reason = "re-initialised on request"
        elif got is None:
            reason = "not in the source"
        elif got != want:
            reason = f"the source's is {_shape(got)}"
        else:
            report.copied.append(ReportEntry(n, want, got))
            continue
        if n in kept:
            found = "has no such param" if got is None else f"has shape {_shape(got)}"
            raise TransferError(
                f"param {n!r} must be kept but the source {found}, the model {_shape(want)}"
                + (whose if src_class and src_class != type(model).__name__ else "")
            )
        report.reinitialised.append(ReportEntry(n, want, got, reason))
    if not report.copied:
        raise TransferError(f"nothing in {label} fits the model{whose if src_class else ''}")
    report.skipped = [
        ReportEntry(k, tuple(np.shape(a)), tuple(np.shape(a)), "the model has no such param")
        for k, a in src.items()
        if k not in model.params
    ]
    copied = [e.name for e in report.copied]
    buffers = _plan_buffers(model, src_buffers, set(copied), report)
    for n in copied:
        like = model.params[n]
        model.params[n] = copy_into_library(np.asarray(to_numpy(src[n]), dtype=like.dtype), like)
    if buffers is not None:
        model.load_buffers(buffers)
    return report


def _plan_buffers(model, src_buffers: Mapping, copied: set, report: LoadReport):
    """The full buffers dict to load (None when the model has none); adds entries to ``report``."""
    if not hasattr(model, "buffers") or not hasattr(model, "load_buffers"):
        return None
    current = model.buffers()
    if not current:
        return None
    out = {}
    for k, a in current.items():
        n = param_groups.layer_of(k)
        got = tuple(np.shape(src_buffers[k])) if k in src_buffers else None
        if got is None:
            reason = "not in the source"
        elif got != a.shape:
            reason = f"the source's is {_shape(got)}"
        elif not {f"gamma{n}", f"beta{n}"} <= copied:
            reason = f"layer {n}'s gamma and beta were not copied"
        else:
            report.copied.append(ReportEntry(k, a.shape, got))
            out[k] = np.asarray(to_numpy(src_buffers[k]), dtype=a.dtype).copy()
            continue
        report.reinitialised.append(ReportEntry(k, a.shape, got, reason))
        out[k] = a
    report.skipped += [
        ReportEntry(k, tuple(np.shape(a)), tuple(np.shape(a)), "the model has no such buffer")
        for k, a in src_buffers.items()
        if k not in current
    ]
    return out
