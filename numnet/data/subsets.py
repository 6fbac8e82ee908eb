"""Class subsets and per-class samples: a new task out of a data set, for transfer learning.

``select_classes(ds, [5, 6, 7, 8, 9])`` keeps those classes' images (training and test sets) and
relabels them ``0..K-1`` in the order given; ``per_class_rows(y, rows, n, rng)`` draws exactly
``n`` of the given rows of each class (``prepare(..., per_class=n)`` uses it on the training
split). Both are exact and, with a seed, reproducible.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._random import as_generator

__all__ = ["check_classes", "per_class_rows", "select_classes"]


def check_classes(classes, num_classes: int) -> list[int]:
    """``classes`` as a list of distinct ints in ``[0, num_classes)``, at least two.

    Raises:
        ValueError: naming the bad entry, a repeat, or too few classes.
    """
    try:
        items = list(classes)
    except TypeError:
        raise ValueError(f"classes must be a list of class labels, got {classes!r}") from None
    out = []
    for c in items:
        ok = isinstance(c, (int, np.integer)) and not isinstance(c, bool)
        if not ok or not 0 <= int(c) < num_classes:
            raise ValueError(f"classes entries must be labels in [0, {num_classes}), got {c!r}")
        if int(c) in out:
            raise ValueError(f"classes must be distinct, got {int(c)} twice in {items}")
        out.append(int(c))
    if len(out) < 2:
        raise ValueError(f"classes must name at least two classes, got {items}")
    return out


def _relabel(y: np.ndarray, classes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(rows of ``y`` in ``classes``, their new labels ``0..K-1`` as int64)."""
    lookup = np.full(int(max(classes)) + 1, -1, dtype=np.int64)
    lookup[classes] = np.arange(len(classes))
    keep = np.flatnonzero((y >= 0) & (y < lookup.size))
    keep = keep[lookup[y[keep]] >= 0]
    return keep, lookup[y[keep]]


def select_classes(dataset, classes):
    """The data set restricted to ``classes``, relabelled ``0..K-1`` in the order given.

    Args:
        dataset: a ``numnet.data.Dataset`` (uint8 images, int labels, ``class_names``).
        classes: distinct labels of ``dataset``, e.g. ``[5, 6, 7, 8, 9]``; class ``classes[i]``
            becomes label ``i`` and keeps its name.

    Returns:
        A new Dataset (the same name and source) holding only those images, in their order.

    Raises:
        ValueError: see ``check_classes``.
    """
    classes = check_classes(classes, len(dataset.class_names))
    tr, y_tr = _relabel(dataset.y_train, classes)
    te, y_te = _relabel(dataset.y_test, classes)
    return dataclasses.replace(
        dataset,
        X_train=dataset.X_train[tr],
        y_train=y_tr,
        X_test=dataset.X_test[te],
        y_test=y_te,
        class_names=tuple(dataset.class_names[c] for c in classes),
    )


def per_class_rows(y, rows, n: int, seed=None) -> np.ndarray:
    """Exactly ``n`` of ``rows`` from each class of ``y[rows]``.

    Args:
        y: ``(N,)`` integer labels.
        rows: int array of the candidate rows (e.g. a training split), in any order.
        n: rows per class, >= 1.
        seed: None: each class's first ``n`` rows in ``rows``' order; an int or a Generator:
            ``n`` drawn without replacement with it.

    Returns:
        The chosen rows, sorted (int64).

    Raises:
        ValueError: a class of ``y[rows]`` has fewer than ``n`` rows (the message names it).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"per_class must be a positive integer, got {n!r}")
    rows = np.asarray(rows, dtype=np.int64)
    labels = np.asarray(y)[rows]
    rng = as_generator(seed, "seed")
    chosen = []
    for c in np.unique(labels):
        members = rows[labels == c]
        if members.size < n:
            raise ValueError(
                f"per_class={n} but class {int(c)} has only {members.size} training images"
            )
        chosen.append(members[:n] if rng is None else rng.choice(members, n, replace=False))
    return np.sort(np.concatenate(chosen)) if chosen else rows[:0]
