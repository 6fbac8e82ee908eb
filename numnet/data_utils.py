"""The course's CIFAR-10 loaders (``cs231n/data_utils.py``), numnet edition.

Same names, signatures, shapes and dtypes as the course, with two deliberate differences: pickles
go through a restricted unpickler (a pickle can run code; these files need only numpy arrays,
dicts and lists), and the data folder defaults to numnet's cache (``numnet data fetch cifar10``)
instead of ``cs231n/datasets/``. The image-set loaders the notebooks never use
(``load_tiny_imagenet``, ``load_models``, ``load_imagenet_val``) are not provided.
"""

from __future__ import annotations

import os

import numpy as np

from .data.cifar import load_cifar_python_batch, restricted_load
from .data.datasets import load_dataset
from .data.preprocess import prepare


def load_pickle(f):
    """Unpickle from the binary file ``f`` as the course does (``encoding="latin1"``), safely.

    numnet's restricted unpickler resolves only numpy arrays, dicts, lists, strings and numbers.
    """
    return restricted_load(f, encoding="latin1")


def load_CIFAR_batch(filename):
    """Load one CIFAR-10 python batch.

    Returns:
        X: (N, 32, 32, 3) float64, channels-last as the course; Y: (N,) int64.
    """
    X, Y = load_cifar_python_batch(filename)
    return X.transpose(0, 2, 3, 1).astype("float"), np.array(Y)


def load_CIFAR10(ROOT):
    """Load all of CIFAR-10 from the folder ``ROOT`` (``cifar-10-batches-py``).

    Returns:
        Xtr (50000, 32, 32, 3) float64, Ytr (50000,), Xte (10000, 32, 32, 3) float64,
        Yte (10000,).
    """
    xs, ys = [], []
    for b in range(1, 6):
        X, Y = load_CIFAR_batch(os.path.join(ROOT, f"data_batch_{b}"))
        xs.append(X)
        ys.append(Y)
    Xtr, Ytr = np.concatenate(xs), np.concatenate(ys)
    del X, Y, xs
    Xte, Yte = load_CIFAR_batch(os.path.join(ROOT, "test_batch"))
    return Xtr, Ytr, Xte, Yte


def get_CIFAR10_data(
    num_training=49000, num_validation=1000, num_test=1000, subtract_mean=True, cifar10_dir=None
):
    """CIFAR-10 ready for the course's classifiers, exactly as the course prepares it.

    Train = the first ``num_training`` training images, validation = the next
    ``num_validation``, test = the first ``num_test`` test images; if ``subtract_mean``, the
    mean training image is subtracted from all three (no scaling). The values equal the
    course's; they are computed from the uint8 data without the course's channels-last float64
    intermediate copy of all 50,000 images.

    Args:
        num_training: training images (the first ones of the training set).
        num_validation: validation images (the training-set images right after those).
        num_test: test images (the first ones of the test set).
        subtract_mean: subtract the mean training image from all three splits.
        cifar10_dir: the ``cifar-10-batches-py`` folder (or one containing it); None: numnet's
            cache (``numnet data fetch cifar10``).

    Returns:
        dict with X_train (num_training, 3, 32, 32), y_train (num_training,), X_val, y_val,
        X_test, y_test; X arrays float64, channels-first.
    """
    dataset = load_dataset("cifar10", root=cifar10_dir)
    data = prepare(
        dataset,
        num_train=num_training,
        num_val=num_validation,
        num_test=num_test,
        seed=None,
        normalize="mean" if subtract_mean else None,
        dtype=np.float64,
    )
    return dict(data)
