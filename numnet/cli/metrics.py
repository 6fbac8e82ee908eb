"""The command's text tables of classification metrics (the metrics are ``numnet.metrics``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from numnet.metrics import confusion_matrix, per_class_accuracy, predict

__all__ = ["class_table", "confusion_matrix", "confusion_table", "per_class_accuracy", "predict"]


def class_table(cm: np.ndarray, class_names: Sequence[str]) -> str:
    """Per-class accuracy as a text table, one class per line, then the overall accuracy."""
    acc = per_class_accuracy(cm)
    rows = cm.sum(axis=1)
    width = max(5, *(len(n) for n in class_names))
    lines = [f"{'class':<{width}}  {'accuracy':>8}  {'correct':>7} / total"]
    for i, name in enumerate(class_names):
        a = "-" if np.isnan(acc[i]) else f"{100 * acc[i]:.2f}%"
        lines.append(f"{name:<{width}}  {a:>8}  {int(cm[i, i]):>7} / {int(rows[i])}")
    total = int(cm.sum())
    overall = np.trace(cm) / total if total else float("nan")
    lines.append(f"{'all':<{width}}  {100 * overall:>7.2f}%  {int(np.trace(cm)):>7} / {total}")
    return "\n".join(lines)


def confusion_table(cm: np.ndarray, class_names: Sequence[str]) -> str:
    """The confusion matrix as text: rows true classes, columns predicted (numbered as the rows)."""
    C = cm.shape[0]
    cell = max(4, len(str(int(cm.max(initial=0)))) + 1)
    width = max(len(n) for n in class_names) + 4
    head = " " * width + "".join(f"{j:>{cell}}" for j in range(C))
    lines = ["confusion matrix (rows: true class, columns: predicted class)", head]
    for i, name in enumerate(class_names):
        label = f"{i:>2} {name}"
        lines.append(f"{label:<{width}}" + "".join(f"{int(v):>{cell}}" for v in cm[i]))
    return "\n".join(lines)
