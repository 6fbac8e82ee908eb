"""numnet.data_utils behaves as the course's cs231n/data_utils.py (on a tiny CIFAR-10)."""

import os
import pickle

import numpy as np
import pytest
from _data_files import cifar_dataset, cifar_spec, py2_cifar_pickle

from numnet import data_utils
from numnet.data import DATASETS, DatasetNotFoundError, UnsafePickleError, locations


@pytest.fixture
def cifar_dir(tmp_path, monkeypatch):
    """A tiny cifar-10-batches-py (5 x 6 training images, 6 test) registered as "cifar10"."""
    arrays, members = cifar_dataset(np.random.default_rng(3), "cifar-python", 6, 5)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, data in members.items():
        (folder / name).write_bytes(data)
    spec = cifar_spec("cifar-python", members, b"", arrays, name="cifar10")
    monkeypatch.setitem(DATASETS, "cifar10", spec)
    monkeypatch.setenv("NUMNET_DATA", str(tmp_path / "cache"))
    return folder, arrays


def _course_get_CIFAR10_data(
    X_train, y_train, X_test, y_test, num_training, num_validation, num_test, subtract_mean
):
    """The course's get_CIFAR10_data body, verbatim after loading (channels-last float64)."""
    mask = list(range(num_training, num_training + num_validation))
    X_val, y_val = X_train[mask], y_train[mask]
    mask = list(range(num_training))
    X_train, y_train = X_train[mask], y_train[mask]
    mask = list(range(num_test))
    X_test, y_test = X_test[mask], y_test[mask]
    if subtract_mean:
        mean_image = np.mean(X_train, axis=0)
        X_train -= mean_image
        X_val -= mean_image
        X_test -= mean_image
    X_train = X_train.transpose(0, 3, 1, 2).copy()
    X_val = X_val.transpose(0, 3, 1, 2).copy()
    X_test = X_test.transpose(0, 3, 1, 2).copy()
    return {
        "X_train": X_train,
        "y_train": y_train,
        "X_val": X_val,
        "y_val": y_val,
        "X_test": X_test,
        "y_test": y_test,
    }


def test_load_cifar_batch_and_load_cifar10(cifar_dir):
    folder, arrays = cifar_dir
    X, Y = data_utils.load_CIFAR_batch(os.path.join(folder, "data_batch_1"))
    assert X.shape == (6, 32, 32, 3) and X.dtype == np.float64
    assert Y.shape == (6,) and Y.dtype.kind == "i"
    np.testing.assert_array_equal(X, arrays["X_train"][:6].transpose(0, 2, 3, 1))
    Xtr, Ytr, Xte, Yte = data_utils.load_CIFAR10(str(folder))
    assert Xtr.shape == (30, 32, 32, 3) and Xte.shape == (6, 32, 32, 3)
    np.testing.assert_array_equal(Xtr, arrays["X_train"].transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(Ytr, arrays["y_train"])
    np.testing.assert_array_equal(Yte, arrays["y_test"])


@pytest.mark.parametrize("subtract_mean", [True, False])
@pytest.mark.parametrize("where", ["batches-dir", "parent-dir", "cache"])
def test_get_cifar10_data_equals_the_course(cifar_dir, tmp_path, subtract_mean, where):
    folder, _ = cifar_dir
    if where == "cache":
        (tmp_path / "cache").mkdir()
        folder.rename(tmp_path / "cache" / "cifar10")
        kwargs, folder = {}, tmp_path / "cache" / "cifar10"
    else:
        kwargs = {"cifar10_dir": str(folder if where == "batches-dir" else folder.parent)}
    got = data_utils.get_CIFAR10_data(20, 5, 4, subtract_mean, **kwargs)
    want = _course_get_CIFAR10_data(*data_utils.load_CIFAR10(str(folder)), 20, 5, 4, subtract_mean)
    assert list(got) == list(want)
    for k in want:
        assert got[k].shape == want[k].shape and got[k].dtype == want[k].dtype, k
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    assert got["X_train"].shape == (20, 3, 32, 32) and got["X_train"].dtype == np.float64


def test_get_cifar10_data_missing_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMNET_DATA", str(tmp_path))
    monkeypatch.setattr(locations, "DEBIAN_FASHION_MNIST", tmp_path / "none")
    with pytest.raises(DatasetNotFoundError, match="numnet data fetch cifar10"):
        data_utils.get_CIFAR10_data()


def test_load_pickle_is_restricted(tmp_path):
    with open(tmp_path / "ok", "wb") as f:
        f.write(py2_cifar_pickle(np.zeros((1, 3072), np.uint8), [4]))
    with open(tmp_path / "ok", "rb") as f:
        assert data_utils.load_pickle(f)["labels"] == [4]
    (tmp_path / "evil").write_bytes(pickle.dumps(print, protocol=2))
    with open(tmp_path / "evil", "rb") as f, pytest.raises(UnsafePickleError, match="print"):
        data_utils.load_pickle(f)
