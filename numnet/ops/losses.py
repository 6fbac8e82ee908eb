"""Classification losses: softmax cross-entropy and multiclass SVM (hinge), mean over the batch."""

from __future__ import annotations

from numnet._checks import check_floating, check_labels, check_ndim
from numnet.backend import get_array_module


def _check_scores_labels(x, y, labels_checked: bool) -> None:
    check_ndim("x", x, 2, "of scores (N, C)")
    check_floating("x", x)
    if x.shape[0] == 0:
        raise ValueError("x must hold at least one sample, got shape (0, C)")
    if not labels_checked:
        check_labels("y", y, x.shape[0], x.shape[1])


def softmax_loss(x, y, *, labels_checked: bool = False):
    """Softmax (cross-entropy) loss and its gradient.

    Works in log-probabilities after shifting each row by its max, so large scores neither overflow
    nor produce ``log(0)``.

    Args:
        x: scores of shape (N, C).
        y: integer labels of shape (N,), each in [0, C).
        labels_checked: the caller has checked ``y`` already (a model does, on the host, before
            moving it to the GPU); the range check of labels on a GPU makes the host wait for it.

    Returns:
        ``(loss, dx)``: ``loss`` the mean cross-entropy (a scalar of ``x.dtype``); ``dx`` of shape
        (N, C), already divided by N.

    Raises:
        ValueError: ``x`` is not a 2-D float array with N >= 1, or ``y`` is not (N,) integer labels
            in [0, C).
    """
    _check_scores_labels(x, y, labels_checked)
    xp = get_array_module(x)
    N = x.shape[0]
    rows = xp.arange(N)
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[rows, y].sum() / N
    dx = xp.exp(log_probs)
    dx[rows, y] -= 1
    dx /= N
    return loss, dx


def svm_loss(x, y, *, labels_checked: bool = False):
    """Multiclass SVM (hinge) loss with margin 1 and its gradient.

    ``loss = mean_i sum_{j != y_i} max(0, x[i, j] - x[i, y_i] + 1)``.

    Args:
        x: scores of shape (N, C).
        y: integer labels of shape (N,), each in [0, C).
        labels_checked: as ``softmax_loss``.

    Returns:
        ``(loss, dx)``: ``loss`` a scalar of ``x.dtype``; ``dx`` of shape (N, C), already divided
        by N.

    Raises:
        ValueError: as ``softmax_loss``.
    """
    _check_scores_labels(x, y, labels_checked)
    xp = get_array_module(x)
    N = x.shape[0]
    rows = xp.arange(N)
    margins = xp.maximum(0, x - x[rows, y][:, None] + 1)
    margins[rows, y] = 0
    loss = margins.sum() / N
    positive = margins > 0
    dx = positive.astype(x.dtype)
    dx[rows, y] -= positive.sum(axis=1).astype(x.dtype)
    dx /= N
    return loss, dx
