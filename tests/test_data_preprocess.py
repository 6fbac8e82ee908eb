"""Splits, normalisation from the training split only, float conversion once or per batch."""

import json

import numpy as np
import pytest

from numnet.data import (
    Dataset,
    Normalization,
    NormalizedImages,
    compute_normalization,
    prepare,
    split_indices,
)


def _dataset(rng, n=120, n_test=40, shape=(3, 6, 5)):
    X = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    X_test = rng.integers(0, 256, size=(n_test, *shape), dtype=np.uint8)
    y, y_test = rng.integers(0, 10, n), rng.integers(0, 10, n_test)
    return Dataset("toy", X, y, X_test, y_test, tuple("abcdefghij"))


SEEDS = [None, 3]
MODES = ["standardize", "mean", "scale", None]


@pytest.mark.parametrize("seed", SEEDS)
def test_split_sizes_disjoint_and_reproducible(seed):
    tr, va = split_indices(100, 70, 20, seed)
    assert len(tr) == 70 and len(va) == 20
    assert not set(tr) & set(va) and set(tr) | set(va) <= set(range(100))
    tr2, va2 = split_indices(100, 70, 20, seed)
    np.testing.assert_array_equal(tr, tr2)
    np.testing.assert_array_equal(va, va2)
    if seed is None:  # the course's split: train first, validation right after
        np.testing.assert_array_equal(tr, np.arange(70))
        np.testing.assert_array_equal(va, np.arange(70, 90))
    else:
        assert not np.array_equal(tr, split_indices(100, 70, 20, seed + 1)[0])


def test_split_rejects_oversize():
    with pytest.raises(ValueError, match=r"num_train \+ num_val must be <= 100.*90 \+ 20"):
        split_indices(100, 90, 20)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mode", MODES)
def test_statistics_use_training_split_only(rng, seed, mode):
    ds = _dataset(rng)
    data = prepare(ds, num_val=30, seed=seed, normalize=mode)
    _, val_rows = split_indices(120, 90, 30, seed)
    X2 = ds.X_train.copy()
    X2[val_rows] = 255 - X2[val_rows]  # change every validation image
    ds2 = Dataset("toy", X2, ds.y_train, 255 - ds.X_test, ds.y_test, ds.class_names)
    data2 = prepare(ds2, num_val=30, seed=seed, normalize=mode)
    for a, b in [
        (data.normalization.shift, data2.normalization.shift),
        (data.normalization.scale, data2.normalization.scale),
    ]:
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(data["X_train"], data2["X_train"])
    assert not np.array_equal(data["X_val"], data2["X_val"])


@pytest.mark.parametrize("seed", SEEDS)
def test_standardize_makes_train_channels_zero_mean_unit_std(rng, seed):
    data = prepare(_dataset(rng), num_val=20, seed=seed, dtype=np.float64)
    X = data["X_train"]
    np.testing.assert_allclose(X.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(axis=(0, 2, 3)), 1, rtol=1e-12)
    assert data.normalization.shift.shape == (3, 1, 1)


def test_mean_mode_is_the_courses_mean_image(rng):
    ds = _dataset(rng)
    data = prepare(ds, num_train=80, num_val=20, normalize="mean", dtype=np.float64)
    X = ds.X_train.astype(np.float64)
    mean = X[:80].mean(axis=0)
    np.testing.assert_array_equal(data["X_train"], X[:80] - mean)
    np.testing.assert_array_equal(data["X_val"], X[80:100] - mean)
    np.testing.assert_array_equal(data["X_test"], ds.X_test.astype(np.float64) - mean)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("per_batch", [False, True], ids=["once", "per-batch"])
def test_prepare_keys_shapes_dtypes(rng, dtype, per_batch):
    ds = _dataset(rng)
    data = prepare(
        ds, num_train=50, num_val=30, num_test=25, seed=1, dtype=dtype, per_batch=per_batch
    )
    assert list(data) == ["X_train", "y_train", "X_val", "y_val", "X_test", "y_test"]
    for split, n in [("train", 50), ("val", 30), ("test", 25)]:
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        assert X.shape == (n, 3, 6, 5) and X.dtype == dtype and len(X) == n
        assert y.shape == (n,) and y.dtype == np.int64
        assert isinstance(X, NormalizedImages) == per_batch
    assert data.class_names == tuple("abcdefghij")
    np.testing.assert_array_equal(data["y_test"], ds.y_test[:25])


def test_per_batch_equals_once(rng):
    ds = _dataset(rng)
    once = prepare(ds, num_val=20, seed=2)
    lazy = prepare(ds, num_val=20, seed=2, per_batch=True)
    X, L = once["X_train"], lazy["X_train"]
    idx = rng.integers(0, len(X), 17)
    mask = rng.random(len(X)) < 0.3
    for key in [
        idx,
        slice(5, 40, 3),
        7,
        -1,
        mask,
        (idx, 1),
        (3, slice(None), 2),
        (slice(2, 9), 0, 1),
    ]:
        np.testing.assert_array_equal(L[key], X[key], err_msg=str(key))
    np.testing.assert_array_equal(np.asarray(L), X)
    assert L[idx].dtype == np.float32 and L.ndim == 4 and L.size == X.size
    with pytest.raises(ValueError, match="without a copy"):
        L.__array__(copy=False)


def test_once_holds_a_single_float_copy(rng):
    ds = _dataset(rng)
    data = prepare(ds, num_val=20)
    for key in ("X_train", "X_val", "X_test"):
        X = data[key]
        assert isinstance(X, np.ndarray) and X.flags.owndata and X.base is None
        assert not np.shares_memory(X, ds.X_train)


@pytest.mark.parametrize("mode", MODES)
def test_normalization_round_trips_through_json(rng, mode):
    norm = compute_normalization(_dataset(rng).X_train, mode)
    back = Normalization.from_dict(json.loads(json.dumps(norm.to_dict())))
    x = rng.integers(0, 256, (4, 3, 6, 5), dtype=np.uint8)
    np.testing.assert_array_equal(back.apply(x), norm.apply(x))
    assert back.apply(x).dtype == np.float32


def test_scale_mode_maps_to_unit_interval():
    x = np.array([[[[0, 255, 51]]]], dtype=np.uint8)
    np.testing.assert_allclose(
        compute_normalization(x, "scale").apply(x), [[[[0, 1, 0.2]]]], rtol=1e-7
    )


def test_constant_channel_is_not_divided_by_zero():
    x = np.zeros((4, 2, 3, 3), np.uint8)
    x[:, 1] = np.arange(4)[:, None, None]
    out = compute_normalization(x, "standardize").apply(x)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[:, 0], 0)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"normalize": "zscore"}, "normalize must be one of"),
        ({"num_val": 200}, "num_train + num_val must be <= 120"),
        ({"num_test": 41}, "num_test must be in [0, 40], got 41"),
        ({"dtype": np.int32}, "dtype must be a floating dtype"),
    ],
)
def test_prepare_validates_arguments(rng, kwargs, words):
    with pytest.raises(ValueError) as err:
        prepare(_dataset(rng), **kwargs)
    assert words in str(err.value)
