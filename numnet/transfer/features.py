"""Feature extraction: a trained net's hidden activations as inputs for a new classifier.

``extract_features(model, X, layer)`` runs the model in test mode (batch norm with its running
statistics, no dropout) up to layer ``layer`` and returns that layer's output, flattened, for
every row of ``X``; ``feature_data`` does it for each split of a Solver data dict. A linear
classifier trained on the result (``numnet.classifiers.LinearClassifier``, softmax or SVM loss)
is the "feature extraction" form of transfer learning::

    feats = feature_data(pretrained, data)                    # penultimate layer
    clf = LinearClassifier(feats["X_train"].shape[1], num_classes, loss="svm", rng=0)
    Solver(clf, feats, update_rule="adam", num_epochs=10, seed=0).train()
"""

from __future__ import annotations

import numpy as np

from numnet._checks import check_positive_int
from numnet.backend import to_numpy

__all__ = ["extract_features", "feature_data"]

#: The splits of a Solver data dict that ``feature_data`` converts, when present.
SPLITS = ("train", "val", "test")


def extract_features(model, X, layer=None, batch_size: int = 100) -> np.ndarray:
    """The test-mode output of layer ``layer`` of ``model`` for every row of ``X``.

    Args:
        model: a model with ``features(X, layer)`` (every numnet model with a hidden layer).
        X: ``(N, ...)`` inputs as the model takes them (an array or ``NormalizedImages``).
        layer: the layer number (1..L-1); None for the penultimate layer (the head's input).
        batch_size: rows per forward pass.

    Returns:
        ``(N, D)`` NumPy array in the model's dtype.

    Raises:
        ValueError: a model without ``features``, an empty ``X``, a bad ``batch_size`` or
            ``layer`` (the model's message names its layers).
    """
    if not callable(getattr(model, "features", None)):
        raise ValueError(f"model {type(model).__name__} has no features(X, layer) method")
    check_positive_int("batch_size", batch_size)
    n = X.shape[0]
    if n == 0:
        raise ValueError("X must hold at least one sample, got 0")
    parts = [
        to_numpy(model.features(X[i : i + batch_size], layer)) for i in range(0, n, batch_size)
    ]
    return np.concatenate(parts)


def feature_data(model, data, layer=None, batch_size: int = 100) -> dict:
    """``data`` with every ``X_<split>`` replaced by its features (``y_<split>`` copied).

    Args:
        model: a model with ``features(X, layer)``.
        data: a dict with ``X_train``/``y_train`` and optionally the ``val`` and ``test`` splits.
        layer: the layer number; None for the penultimate layer.
        batch_size: rows per forward pass.

    Returns:
        ``{"X_train": (N_train, D), "y_train": (N_train,), ...}`` for the splits present, NumPy.
    """
    out = {}
    for split in SPLITS:
        if f"X_{split}" in data:
            out[f"X_{split}"] = extract_features(model, data[f"X_{split}"], layer, batch_size)
            out[f"y_{split}"] = np.array(to_numpy(data[f"y_{split}"]), copy=True)
    return out
