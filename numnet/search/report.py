"""What a search found, from its studies: a table of every trial, trials.csv, a leaderboard.

Everything here reads the storage only, so ``numnet search --report DIR`` (or a notebook) can
redraw a search's files at any time, even while workers still run.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from numnet._atomic import atomic_write_text

__all__ = ["TrialRow", "best_row", "leaderboard", "trial_rows", "write_trials_csv"]


@dataclass(frozen=True)
class TrialRow:
    """One trial, flattened for tables and plots.

    Attributes:
        stage: the stage's study name; stage_index: its position (0-based).
        number: the trial number within its study.
        state: ``COMPLETE``, ``PRUNED``, ``FAIL``, ``RUNNING`` or ``WAITING``.
        stop_reason: ``completed``, ``pruned``, ``diverged``, ``interrupted``, ``error``,
            ``surplus``, ``worker died`` or ``""`` (unknown, e.g. failed by the heartbeat).
        value: the trial's value (best val accuracy; k-fold mean) or None.
        score: ``value``, or for a pruned trial the best accuracy it reached (for plots).
        params: ``{name: value}`` as stored by Optuna (lists as JSON text).
        val_acc: per-epoch validation accuracies (k-fold: the reported running means).
        epochs: epochs trained; seconds: wall time; reason: message of a diverged/failed trial.
        cv_std: the folds' standard deviation, with k-fold.
    """

    stage: str
    stage_index: int
    number: int
    state: str
    stop_reason: str
    value: float | None
    score: float | None
    params: dict
    val_acc: list
    epochs: int
    seconds: float | None
    reason: str
    cv_std: float | None


def trial_rows(studies: Sequence) -> list[TrialRow]:
    """Rows of every trial of ``studies`` (the stages, in order)."""
    rows = []
    for i, study in enumerate(studies):
        for t in study.get_trials(deepcopy=False):
            ua = t.user_attrs
            curve = [t.intermediate_values[k] for k in sorted(t.intermediate_values)]
            score = t.value if t.value is not None else (max(curve) if curve else None)
            rows.append(
                TrialRow(
                    stage=study.study_name,
                    stage_index=i,
                    number=t.number,
                    state=t.state.name,
                    stop_reason=str(ua.get("stop_reason", "")),
                    value=t.value,
                    score=score,
                    params=dict(t.params),
                    val_acc=curve,
                    epochs=int(ua.get("epochs", len(curve)) or 0),
                    seconds=ua.get("seconds"),
                    reason=str(ua.get("reason", "")),
                    cv_std=ua.get("cv_std"),
                )
            )
    return rows


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    return str(v)


def write_trials_csv(path: str | os.PathLike, rows: Sequence[TrialRow]) -> Path:
    """Write ``trials.csv`` atomically.

    Columns: stage, number, state, stop_reason, value, epochs, seconds, one column per
    parameter, val_acc (per-epoch accuracies separated by spaces), cv_std, reason.
    """
    names = []
    for r in rows:
        names += [n for n in r.params if n not in names]
    head = ["stage", "number", "state", "stop_reason", "value", "epochs", "seconds", *names,
            "val_acc", "cv_std", "reason"]  # fmt: skip
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for r in rows:
        w.writerow(
            [r.stage, r.number, r.state, r.stop_reason, _fmt(r.value), r.epochs, _fmt(r.seconds),
             *(_fmt(r.params.get(n)) for n in names), " ".join(f"{a:.4f}" for a in r.val_acc),
             _fmt(r.cv_std), r.reason]
        )  # fmt: skip
    atomic_write_text(path, buf.getvalue())
    return Path(path)


def best_row(rows: Sequence[TrialRow]) -> TrialRow | None:
    """The best COMPLETE trial of the last stage that has one (its trials trained longest)."""
    done = [r for r in rows if r.state == "COMPLETE" and r.value is not None]
    if not done:
        return None
    last = max(r.stage_index for r in done)
    return max((r for r in done if r.stage_index == last), key=lambda r: (r.value, -r.number))


def _param_text(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def leaderboard(rows: Sequence[TrialRow], top: int = 10, names: Mapping | None = None) -> str:
    """A text table of the best ``top`` COMPLETE trials of each stage, plus counts per state.

    Args:
        rows: from :func:`trial_rows`.
        top: trials shown per stage.
        names: optional ``{param: column title}``.
    """
    lines = []
    stages = sorted({(r.stage_index, r.stage) for r in rows})
    for _, stage in stages:
        mine = [r for r in rows if r.stage == stage]
        states: dict[str, int] = {}
        for r in mine:
            key = r.stop_reason or r.state.lower()
            states[key] = states.get(key, 0) + 1
        counts = ", ".join(f"{n} {k}" for k, n in sorted(states.items()))
        epochs = sum(r.epochs for r in mine)
        lines.append(f"{stage}: {len(mine)} trials ({counts}), {epochs} epochs trained")
        done = sorted((r for r in mine if r.state == "COMPLETE" and r.value is not None),
                      key=lambda r: (-r.value, r.number))[:top]  # fmt: skip
        if not done:
            lines.append("  no completed trial")
            continue
        params = [n for n in done[0].params]
        titles = [(names or {}).get(n, n) for n in params]
        table = [["rank", "trial", "val acc", "epochs", *titles]]
        for k, r in enumerate(done, start=1):
            acc = f"{100 * r.value:.2f}%" + (f" ±{100 * r.cv_std:.2f}" if r.cv_std else "")
            table.append([str(k), str(r.number), acc, str(r.epochs),
                          *(_param_text(r.params.get(n)) for n in params)])  # fmt: skip
        widths = [max(len(row[c]) for row in table) for c in range(len(table[0]))]
        for row in table:
            lines.append("  " + "  ".join(cell.rjust(w) for cell, w in zip(row, widths)))
    return "\n".join(lines)
