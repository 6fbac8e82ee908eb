"""k-fold cross-validation: folds fixed by the seed, disjoint, covering; lazy row views."""

import numpy as np
import pytest

from numnet.data import Augment, AugmentedImages
from numnet.search import Rows, fold_data, kfold_indices
from numnet.search.kfold import fold_callbacks


@pytest.mark.parametrize("n, k", [(10, 2), (101, 5), (7, 7), (1000, 3)])
def test_no_validation_index_is_in_its_folds_training_indices(n, k):
    folds = kfold_indices(n, k, seed=3)
    assert len(folds) == k
    seen = []
    for train, val in folds:
        assert not np.intersect1d(train, val).size
        np.testing.assert_array_equal(np.union1d(train, val), np.arange(n))
        assert abs(len(val) - n / k) < 1
        seen.append(val)
    np.testing.assert_array_equal(np.sort(np.concatenate(seen)), np.arange(n))


def test_folds_are_fixed_by_the_seed():
    a, b = kfold_indices(50, 5, seed=1), kfold_indices(50, 5, seed=1)
    for (ta, va), (tb, vb) in zip(a, b):
        np.testing.assert_array_equal(ta, tb)
        np.testing.assert_array_equal(va, vb)
    assert not np.array_equal(a[0][1], kfold_indices(50, 5, seed=2)[0][1])


@pytest.mark.parametrize("n, k, seed", [(5, 1, 0), (3, 4, 0), (5, 2, -1), (0, 2, 0), (5, 2.0, 0)])
def test_bad_fold_arguments(n, k, seed):
    with pytest.raises(ValueError):
        kfold_indices(n, k, seed)


def test_rows_index_like_the_selection():
    X = np.arange(40.0).reshape(10, 2, 2)
    rows = np.array([7, 2, 5])
    v = Rows(X, rows)
    assert v.shape == (3, 2, 2) and v.dtype == X.dtype and len(v) == 3 and v.ndim == 3
    np.testing.assert_array_equal(v[1], X[2])
    np.testing.assert_array_equal(v[1:], X[[2, 5]])
    np.testing.assert_array_equal(v[np.array([2, 0])], X[[5, 7]])
    np.testing.assert_array_equal(v[np.array([True, False, True])], X[[7, 5]])
    np.testing.assert_array_equal(v[0, 1], X[7, 1])
    np.testing.assert_array_equal(np.asarray(v), X[rows])


def test_fold_data_uses_views_and_keeps_augmentation():
    rng = np.random.default_rng(0)
    X = rng.random((20, 1, 4, 4)).astype(np.float32)
    y = np.arange(20) % 3
    aug = AugmentedImages(X, Augment(pad=1), seed=5)
    data = {"X_train": aug, "y_train": y, "X_val": X[:2], "y_val": y[:2], "X_test": X}
    train, val = kfold_indices(20, 4, seed=0)[1]
    out = fold_data(data, train, val)
    assert isinstance(out["X_train"], AugmentedImages) and out["X_train"].seed == 5
    assert out["X_train"].augment is aug.augment
    np.testing.assert_array_equal(out["X_train"][np.arange(3)], X[train[:3]])
    np.testing.assert_array_equal(out["X_val"][np.arange(len(val))], X[val])
    np.testing.assert_array_equal(out["y_train"], y[train])
    np.testing.assert_array_equal(out["y_val"], y[val])
    assert out["X_test"] is X and data["X_train"] is aug  # the input dict is not changed
    other = object()
    assert fold_callbacks([other, aug], data, out) == [other, out["X_train"]]
