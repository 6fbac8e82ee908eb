"""Shared fixtures: array backends, a seeded Generator, the CLI tests' tiny data set.

A test that takes ``xp`` runs once per array backend: ``numpy``; ``guard`` (``_guard_xp``: NumPy
that refuses host conversions and counts host syncs, as CuPy would); and ``cupy`` only where CuPy
has a GPU, so no case is generated to be skipped. ``pytest --xp cupy`` (comma separated names)
runs only the named backends' cases; naming one that is not usable here is an error.
"""

import numpy as np
import pytest
from _cli_testlib import load_tiny_dataset, pin_auto_threads, write_tiny_idx
from _guard_xp import guard_xp

from numnet.backend import available_backends, backend_module

BACKENDS = ("numpy", "guard", "cupy")


def pytest_addoption(parser):
    parser.addoption(
        "--xp",
        default=None,
        metavar="NAMES",
        help="array backends of the xp fixture, comma separated (numpy, guard, cupy; default: "
        "every usable one)",
    )


def _backends(config) -> list[str]:
    usable = ["numpy", "guard"] + [b for b in available_backends() if b == "cupy"]
    asked = config.getoption("--xp")
    if asked is None:
        return usable
    names = [n.strip() for n in asked.split(",") if n.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise pytest.UsageError(f"--xp: unknown backend(s) {unknown}; choose from {BACKENDS}")
    missing = [n for n in names if n not in usable]
    if missing:
        raise pytest.UsageError(f"--xp {asked}: {missing} not usable here (cupy needs a GPU)")
    return names


def pytest_generate_tests(metafunc):
    if "xp" in metafunc.fixturenames:
        metafunc.parametrize("xp", _backends(metafunc.config), indirect=True)


@pytest.fixture
def xp(request):
    """The array module under test: numpy, the guard module, or cupy."""
    if request.param == "guard":
        return guard_xp
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


@pytest.fixture(autouse=True, scope="session")
def _one_auto_thread():
    """A new `numnet train` run picks its threads by the machine's load: pinned to 1 in tests.

    So a run's results do not depend on what else the test machine is doing; session-scoped, so
    module-scoped fixtures' runs are pinned too (tests/test_cli_threads_default.py tests the
    real choice).
    """
    with pytest.MonkeyPatch.context() as mp:
        pin_auto_threads(mp.setattr)
        yield
