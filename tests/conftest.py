"""Shared fixtures: array backends, a seeded Generator, the CLI tests' tiny data set."""

import numpy as np
import pytest
from _cli_testlib import load_tiny_dataset, write_tiny_idx

from numnet.backend import available_backends, backend_module


@pytest.fixture(params=["numpy", "cupy"])
def xp(request):
    """The array module under test; cupy cases skip where no GPU is present."""
    if request.param not in available_backends():
        pytest.skip("cupy backend needs a GPU")
    return backend_module(request.param)


@pytest.fixture
def rng():
    """A seeded Generator so every test's inputs are reproducible."""
    return np.random.default_rng(231)


@pytest.fixture
def tiny_data(tmp_path, monkeypatch):
    """A data dir with the tiny set; the CLI reads it through the real IDX loader."""
    folder = tmp_path / "data"
    write_tiny_idx(folder)
    monkeypatch.setattr("numnet.cli.dataload.load_dataset", load_tiny_dataset)
    return folder
