"""Classification metrics and their text tables: confusion matrix, per-class accuracy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from numnet._checks import check_labels, check_ndim


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts (C, C) of true class i predicted as j.

    Args:
        y_true: (N,) integer labels in [0, C).
        y_pred: (N,) integer predictions in [0, C).
        num_classes: C.

    Returns:
        int64 array (C, C).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    check_ndim("y_true", y_true, 1)
    check_labels("y_true", y_true, y_true.shape[0], num_classes)
    check_labels("y_pred", y_pred, y_true.shape[0], num_classes)
    flat = y_true.astype(np.int64) * num_classes + y_pred
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Recall of each class (C,): diagonal over row sums; NaN for a class with no examples."""
    cm = np.asarray(cm)
    rows = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rows > 0, np.diag(cm) / np.maximum(rows, 1), np.nan)


def predict(model, X, batch_size: int = 100) -> np.ndarray:
    """Predicted classes (N,) of the test-mode model, ``batch_size`` images per forward pass."""
    n = X.shape[0]
    out = np.empty(n, dtype=np.int64)
    for i in range(0, n, batch_size):
        out[i : i + batch_size] = np.argmax(model.loss(X[i : i + batch_size]), axis=1)
    return out


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
