"""Shared fixtures: array backends, a seeded Generator, the CLI tests' tiny data set."""

import dataclasses

import numpy as np
import pytest
from _cli_testlib import write_tiny_idx

from numnet.backend import available_backends, backend_module
from numnet.data import FileSpec, get_spec
from numnet.data import load_dataset as real_load_dataset


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
    """A data dir with the tiny set; the CLI reads it through the real IDX loader.

    The registry pins the real files' checksums and sizes, so the CLI's loader is given the same
    spec without them (everything else, parsing included, is the real code path).
    """
    folder = tmp_path / "data"
    write_tiny_idx(folder)
    spec = get_spec("fashion-mnist")
    spec = dataclasses.replace(
        spec, files=tuple(FileSpec(f.name) for f in spec.files), num_train=None, num_test=None
    )

    def load(name, root=None, download=False, **kw):
        return real_load_dataset(name, root, download, spec=spec, **kw)

    monkeypatch.setattr("numnet.cli.dataload.load_dataset", load)
    return folder
