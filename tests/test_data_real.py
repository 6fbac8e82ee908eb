"""The real Fashion-MNIST from Debian's dataset-fashion-mnist (installed by .ci/run)."""

import numpy as np
import pytest

from numnet.data import (
    DATASETS,
    load_dataset,
    locate,
    locations,
    prepare,
    verify_dataset,
    verify_file,
)
from numnet.data.integrity import content_sha256, file_digests

SYSTEM = locations.DEBIAN_FASHION_MNIST
pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(
        not all((SYSTEM / f.name).is_file() for f in DATASETS["fashion-mnist"].files),
        reason=f"Fashion-MNIST not installed at {SYSTEM} (apt-get install dataset-fashion-mnist)",
    ),
]


@pytest.fixture(scope="module")
def fashion():
    return load_dataset("fashion-mnist", root=SYSTEM)


def test_shapes_dtypes_and_class_balance(fashion):
    assert fashion.X_train.shape == (60000, 1, 28, 28) and fashion.X_train.dtype == np.uint8
    assert fashion.X_test.shape == (10000, 1, 28, 28) and fashion.X_test.dtype == np.uint8
    assert fashion.y_train.dtype == np.int64 and fashion.y_test.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(fashion.y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(fashion.y_test), [1000] * 10)
    assert fashion.class_names[0] == "T-shirt/top" and fashion.class_names[9] == "Ankle boot"
    assert fashion.X_train.max() == 255 and fashion.X_train.min() == 0


@pytest.mark.parametrize("spec", DATASETS["fashion-mnist"].files, ids=lambda f: f.name)
def test_debian_files_match_pinned_hashes(spec):
    path = SYSTEM / spec.name
    verify_file(path, spec)
    # Debian's archives are recompressed; their decompressed bytes are the upstream IDX bytes.
    assert content_sha256(path) == spec.content_sha256
    sha, md5 = file_digests(path)
    assert sha in spec.sha256 and md5 in spec.md5


def test_integrity_and_search_order(tmp_path, monkeypatch):
    verify_dataset(SYSTEM, DATASETS["fashion-mnist"])
    monkeypatch.setenv("NUMNET_DATA", str(tmp_path))  # empty cache: the system copy is next
    loc = locate("fashion-mnist")
    assert loc.path == SYSTEM and loc.source == "system"


def test_published_statistics(fashion):
    # Upstream reports mean 0.2860 and std 0.3530 of pixels / 255 over the training set.
    data = prepare(fashion, num_train=60000, num_val=0, num_test=10, normalize="standardize")
    norm = data.normalization
    np.testing.assert_allclose(norm.shift.ravel() / 255, [0.2860], atol=5e-4)
    np.testing.assert_allclose(norm.scale.ravel() / 255, [0.3530], atol=5e-4)
    assert data["X_train"].dtype == np.float32
    np.testing.assert_allclose(data["X_train"].mean(dtype=np.float64), 0, atol=1e-5)
