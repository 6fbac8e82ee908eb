"""Class subsets (relabelled 0..K-1) and exact per-class samples, reproducible with a seed."""

import numpy as np
import pytest

from numnet.data import Dataset, Normalization, per_class_rows, prepare, select_classes


def dataset(seed=0, n=400, n_test=100):
    r = np.random.default_rng(seed)
    X = r.integers(0, 256, size=(n, 1, 4, 4), dtype=np.uint8)
    # The label is written into the image, so a test can check images and labels stay paired.
    y = r.integers(0, 10, n)
    X[:, 0, 0, 0] = y
    Xt = r.integers(0, 256, size=(n_test, 1, 4, 4), dtype=np.uint8)
    yt = r.integers(0, 10, n_test)
    Xt[:, 0, 0, 0] = yt
    return Dataset("toy", X, y, Xt, yt, tuple(f"c{i}" for i in range(10)))


def test_select_classes_keeps_exactly_those_relabelled_in_order():
    ds = dataset()
    sub = select_classes(ds, [7, 2, 5])
    assert sub.class_names == ("c7", "c2", "c5") and sub.name == "toy"
    for X, y, X0, y0 in ((sub.X_train, sub.y_train, ds.X_train, ds.y_train),
                         (sub.X_test, sub.y_test, ds.X_test, ds.y_test)):  # fmt: skip
        assert len(y) == np.isin(y0, [7, 2, 5]).sum()
        np.testing.assert_array_equal(np.array([7, 2, 5])[y], X[:, 0, 0, 0])  # still paired
        np.testing.assert_array_equal(X, X0[np.isin(y0, [7, 2, 5])])  # original order
        assert y.dtype == np.int64 and set(np.unique(y)) == {0, 1, 2}
    assert ds.y_train.max() == 9  # the source is not modified


@pytest.mark.parametrize(
    ("classes", "match"),
    [
        ([5, 10], r"labels in \[0, 10\), got 10"),
        ([-1, 2], "got -1"),
        ([3, 3], "distinct, got 3 twice"),
        ([4], "at least two classes"),
        ([1.0, 2], "got 1.0"),
        (5, "must be a list of class labels"),
    ],
)
def test_select_classes_errors(classes, match):
    with pytest.raises(ValueError, match=match):
        select_classes(dataset(), classes)


@pytest.mark.parametrize("seed", [None, 0, 1])
def test_per_class_rows_exact_and_reproducible(seed):
    y = dataset().y_train
    rows = np.arange(10, 390)
    a = per_class_rows(y, rows, 7, seed)
    assert len(a) == 70 and len(set(a)) == 70 and set(a) <= set(rows)
    assert np.bincount(y[a], minlength=10).tolist() == [7] * 10
    np.testing.assert_array_equal(a, per_class_rows(y, rows, 7, seed))
    if seed is None:  # each class's first 7 rows
        for c in range(10):
            np.testing.assert_array_equal(a[y[a] == c], rows[y[rows] == c][:7])


def test_per_class_seeds_differ_and_errors():
    y = dataset().y_train
    rows = np.arange(400)
    assert not np.array_equal(per_class_rows(y, rows, 5, 0), per_class_rows(y, rows, 5, 1))
    fewest = int(np.bincount(y).min())
    with pytest.raises(ValueError, match=f"per_class={fewest + 1} but class .* has only {fewest}"):
        per_class_rows(y, rows, fewest + 1, 0)
    with pytest.raises(ValueError, match="per_class must be a positive integer, got 0"):
        per_class_rows(y, rows, 0, 0)


@pytest.mark.parametrize("seed", [None, 4])
def test_prepare_per_class_draws_from_the_training_split(seed):
    ds = select_classes(dataset(), [5, 6, 7, 8, 9])
    raw = {"num_val": 40, "seed": seed, "normalize": None}
    full = prepare(ds, **raw)
    data = prepare(ds, **raw, per_class=6)
    assert np.bincount(data["y_train"]).tolist() == [6] * 5
    np.testing.assert_array_equal(data["y_val"], full["y_val"])  # the same validation split
    np.testing.assert_array_equal(data["X_val"], full["X_val"])
    pool = {x.tobytes(): y for x, y in zip(full["X_train"], full["y_train"])}
    assert all(pool[x.tobytes()] == y for x, y in zip(data["X_train"], data["y_train"]))
    again = prepare(ds, **raw, per_class=6)
    np.testing.assert_array_equal(again["X_train"], data["X_train"])
    # Standardisation statistics come from the chosen images only.
    chosen = prepare(ds, num_val=40, seed=seed, per_class=6).normalization
    mean = data["X_train"].mean(axis=(0, 2, 3)).reshape(1, 1, 1)
    np.testing.assert_allclose(chosen.shift, mean, rtol=1e-6)
    with pytest.raises(ValueError, match="give num_train or per_class, not both"):
        prepare(ds, num_val=40, num_train=10, per_class=6)


def test_prepare_uses_given_normalization():
    ds = dataset()
    norm = Normalization("standardize", np.full((1, 1, 1), 100.0), np.full((1, 1, 1), 50.0))
    data = prepare(ds, num_val=40, seed=0, normalization=norm)
    assert data.normalization is norm
    np.testing.assert_allclose(
        data["X_test"], ((ds.X_test.astype(np.float64) - 100) / 50).astype(np.float32)
    )
