"""Classification metrics: batched predictions, confusion matrix, per-class accuracy."""

from __future__ import annotations

import numpy as np

from numnet._checks import check_labels, check_ndim, check_positive_int
from numnet.backend import get_array_module, to_numpy

__all__ = ["confusion_matrix", "per_class_accuracy", "predict"]


def predict(model, X, batch_size: int = 100) -> np.ndarray:
    """Predicted classes: the argmax of ``model.loss(X)``, ``batch_size`` rows per call.

    Works on any model with the course's ``loss(X)`` (scores when no labels are given, in test
    mode), NumPy or CuPy alike.

    Args:
        model: an object whose ``loss(X_batch)`` returns scores (B, C).
        X: (N, ...) inputs; an array or anything with ``shape`` and slicing.
        batch_size: rows per forward pass (bounds memory).

    Returns:
        int64 NumPy array (N,) of class indices. On a GPU they are copied off it once, after the
        last batch (one wait for the device per call).
    """
    check_positive_int("batch_size", batch_size)
    n = X.shape[0]
    parts = [model.loss(X[i : i + batch_size]).argmax(axis=1) for i in range(0, n, batch_size)]
    if not parts:
        return np.empty(0, dtype=np.int64)
    xp = get_array_module(parts[0])
    return to_numpy(xp.concatenate(parts)).astype(np.int64, copy=False)


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
