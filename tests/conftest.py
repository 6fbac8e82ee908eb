"""Shared fixtures: one test body runs on every array backend (GPU cases skip without a GPU)."""

import numpy as np
import pytest

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
