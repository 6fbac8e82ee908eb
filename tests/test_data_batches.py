"""Per-batch augmentation, and the augmenting view of the training images the Solver trains on."""

import numpy as np
import pytest

from numnet.data import Augment, AugmentedImages, Dataset, prepare, random_crop, random_flip
from numnet.solver import Solver


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


class ImageModel:
    """Softmax regression on flattened images that records every training batch it sees."""

    def __init__(self, D, C=3):
        self.params = {"W": np.zeros((D, C)), "b": np.zeros(C)}
        self.batches = []

    def loss(self, X, y=None):
        Xf = X.reshape(len(X), -1).astype(np.float64)
        scores = Xf @ self.params["W"] + self.params["b"]
        if y is None:
            return scores
        self.batches.append(np.array(X, copy=True))
        p = np.exp(scores - scores.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        loss = -np.log(p[np.arange(len(y)), y]).mean()
        p[np.arange(len(y)), y] -= 1
        return loss, {"W": Xf.T @ p / len(y), "b": p.mean(0)}


def image_data(n_train=24, n_val=6):
    ds = Dataset("toy", np.arange(30 * 3 * 6 * 6, dtype=np.uint8).reshape(30, 3, 6, 6) % 251,
                 np.arange(30) % 3, np.zeros((3, 3, 6, 6), np.uint8), np.zeros(3, np.int64),
                 ("a", "b", "c"))  # fmt: skip
    return prepare(ds, num_val=n_val, per_batch=True)  # lazily normalised float32 images


def train(data, X, num_epochs=2, **kw):
    model = ImageModel(int(np.prod(data["X_train"].shape[1:])))
    solver = Solver(model, {**data, "X_train": X}, batch_size=8, num_epochs=num_epochs,
                    shuffle=True, seed=3, verbose=False, **kw)  # fmt: skip
    return solver, model


def test_solver_trains_on_augmented_batches_keyed_by_step():
    data = image_data()
    clean_solver, clean = train(data, data["X_train"])
    clean_solver.train()
    aug = Augment(pad=1)
    X = AugmentedImages(data["X_train"], aug, seed=5)
    solver, model = train(data, X, callbacks=[X])
    solver.train()
    assert len(model.batches) == len(clean.batches) == 6
    for t, (batch, plain) in enumerate(zip(model.batches, clean.batches)):
        # The same rows as without augmentation, augmented with step t's own Generator.
        np.testing.assert_array_equal(batch, aug(plain, np.random.default_rng([5, t])))
        assert batch.dtype == np.float32 and not np.array_equal(batch, plain)
    # Any other fetch (the Solver's accuracy sample, a caller's slice) is clean.
    np.testing.assert_array_equal(X[:4], data["X_train"][:4])


def test_resumed_augmentation_equals_uninterrupted(tmp_path):
    data = image_data()
    X = AugmentedImages(data["X_train"], Augment(pad=1), seed=5)
    full, full_model = train(data, X, callbacks=[X])
    full.train()

    class StopAt4:
        def on_batch_end(self, solver, logs):
            if logs["iteration"] == 4:
                raise KeyboardInterrupt

    X2 = AugmentedImages(data["X_train"], Augment(pad=1), seed=5)
    part, _ = train(data, X2, callbacks=[X2, StopAt4()],
                    interrupt_checkpoint=tmp_path / "int.npz")  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        part.train()
    X3 = AugmentedImages(data["X_train"], Augment(pad=1), seed=5)
    model = ImageModel(int(np.prod(data["X_train"].shape[1:])))
    resumed = Solver.resume(tmp_path / "int.npz", model=model, data={**data, "X_train": X3},
                            callbacks=[X3])  # fmt: skip
    resumed.train()
    for a, b in zip(full_model.batches[4:], model.batches):
        np.testing.assert_array_equal(a, b)
    assert len(model.batches) == 2


def test_augmented_images_must_be_the_solvers_training_images():
    data = image_data()
    X = AugmentedImages(data["X_train"], Augment(), seed=0)
    solver, _ = train(data, data["X_train"], callbacks=[X])
    with pytest.raises(ValueError, match="whose data\\['X_train'\\] is not this object"):
        solver.train()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"base": np.zeros((4, 6))}, "base must be a 4-D array of images"),
        ({"augment": "crop"}, "augment must be callable"),
        ({"seed": -1}, "seed must be an integer >= 0, got -1"),
        ({"seed": 1.5}, "seed must be an integer >= 0, got 1.5"),
    ],
)
def test_augmented_images_validates(kwargs, words):
    args = {"base": np.zeros((4, 1, 3, 3)), "augment": Augment(), "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=words):
        AugmentedImages(**args)


def test_augment_validates():
    with pytest.raises(ValueError, match="pad must be a non-negative int"):
        Augment(pad=-1)
