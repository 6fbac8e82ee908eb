"""Batch iterator (every sample once per epoch, seeded) and per-batch augmentation."""

import numpy as np
import pytest

from numnet.data import (
    Augment,
    BatchIterator,
    Dataset,
    iterate_minibatches,
    prepare,
    random_crop,
    random_flip,
)


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize(("n", "batch_size"), [(10, 3), (12, 4), (5, 8), (1, 1)])
def test_every_sample_once_per_epoch(n, batch_size, drop_last, shuffle):
    X = np.arange(n)[:, None] * np.ones((1, 2))
    y = np.arange(n)
    it = BatchIterator(X, y, batch_size, shuffle=shuffle, drop_last=drop_last, seed=0)
    for _ in range(3):
        seen = [yb for _, yb in it]
        sizes = [len(b) for b in seen]
        assert len(seen) == len(it)
        if drop_last:
            assert sizes == [batch_size] * (n // batch_size)
        else:
            assert sum(sizes) == n and all(s == batch_size for s in sizes[:-1])
            np.testing.assert_array_equal(np.sort(np.concatenate(seen)), np.arange(n))
        got = np.concatenate(seen) if seen else np.array([], int)
        assert len(set(got.tolist())) == len(got)  # nothing twice
        for xb, yb in it:
            np.testing.assert_array_equal(xb[:, 0], yb)  # X and y stay paired
    assert it.epoch == 6


def test_seeded_epochs_reproducible_and_different():
    X, y = np.zeros((50, 1)), np.arange(50)
    a = [np.concatenate([yb for _, yb in BatchIterator(X, y, 7, seed=11)]) for _ in range(2)]
    np.testing.assert_array_equal(a[0], a[1])
    it = BatchIterator(X, y, 7, seed=11)
    e1, e2 = (np.concatenate([yb for _, yb in it]) for _ in range(2))
    np.testing.assert_array_equal(e1, a[0])
    assert not np.array_equal(e1, e2)
    np.testing.assert_array_equal(
        np.concatenate([yb for _, yb in BatchIterator(X, y, 7, shuffle=False)]), y
    )


def test_unseeded_iterator_follows_numpy_global_seed():
    X, y = np.zeros((20, 1)), np.arange(20)
    orders = []
    for _ in range(2):
        np.random.seed(5)  # noqa: NPY002 (testing the global-state fallback)
        orders.append(np.concatenate([yb for _, yb in iterate_minibatches(X, y, 6)]))
    np.testing.assert_array_equal(*orders)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("aug", [Augment(), Augment(pad=2, flip=False), Augment(pad=0)], ids=repr)
def test_augment_keeps_shape_dtype_and_is_seeded(rng, dtype, aug):
    x = (rng.random((6, 3, 8, 7)) * 255).astype(dtype)
    a = aug(x, np.random.default_rng(4))
    b = aug(x, np.random.default_rng(4))
    assert a.shape == x.shape and a.dtype == x.dtype
    np.testing.assert_array_equal(a, b)
    assert not np.shares_memory(a, x)


def test_flip_mirrors_exactly_the_chosen_images(rng):
    x = rng.integers(0, 255, (40, 2, 4, 5), dtype=np.uint8)
    out = random_flip(x, np.random.default_rng(1))
    flipped = np.random.default_rng(1).random(40) < 0.5
    np.testing.assert_array_equal(out[flipped], x[flipped][..., ::-1])
    np.testing.assert_array_equal(out[~flipped], x[~flipped])
    assert 0 < flipped.sum() < 40
    np.testing.assert_array_equal(random_flip(x, rng, p=1.0), x[..., ::-1])


@pytest.mark.parametrize("pad", [1, 3])
def test_crop_is_a_window_of_the_zero_padded_image(rng, pad):
    x = rng.integers(1, 255, (12, 2, 5, 6), dtype=np.uint8)  # no zeros: padding is visible
    out = random_crop(x, pad, np.random.default_rng(2))
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    offsets = set()
    for i in range(len(x)):
        hits = [
            (dy, dx)
            for dy in range(2 * pad + 1)
            for dx in range(2 * pad + 1)
            if np.array_equal(out[i], padded[i, :, dy : dy + 5, dx : dx + 6])
        ]
        assert hits, f"image {i} is not a window of its padded image"
        offsets.add(hits[0])
    assert len(offsets) > 1  # offsets vary per image


def test_iterator_with_augmentation_and_lazy_float_images(rng):
    X = rng.integers(0, 256, (30, 3, 8, 8), dtype=np.uint8)
    X_test, y_test = np.zeros((5, 3, 8, 8), np.uint8), np.zeros(5, np.int64)
    ds = Dataset("toy", X, np.arange(30) % 10, X_test, y_test, tuple("0123456789"))
    data = prepare(ds, num_val=5, per_batch=True)
    batches = list(BatchIterator(data["X_train"], data["y_train"], 8, seed=0, augment=Augment()))
    assert [b[0].shape for b in batches] == [(8, 3, 8, 8)] * 3 + [(1, 3, 8, 8)]
    assert all(b[0].dtype == np.float32 for b in batches)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"y": np.arange(3)}, "y must have 4 labels"),
    ],
)
def test_iterator_validates(kwargs, words):
    args = {"X": np.zeros((4, 1)), "y": np.arange(4), "batch_size": 2, **kwargs}
    with pytest.raises(ValueError, match=words):
        BatchIterator(args.pop("X"), args.pop("y"), **args)
    with pytest.raises(ValueError, match="pad must be a non-negative int"):
        Augment(pad=-1)
