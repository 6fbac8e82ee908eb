"""Helpers for the tests that stop a run and continue it: stop points, equality of two runs."""

from __future__ import annotations

import numpy as np


class KeyboardInterruptAt:
    """A callback that raises KeyboardInterrupt after step ``at`` (1-based)."""

    def __init__(self, at):
        self.at = at

    def on_batch_end(self, solver, logs):
        if logs["iteration"] == self.at:
            raise KeyboardInterrupt


class SnapshotAt:
    """A callback that keeps ``solver.state_dict()`` taken after step ``at`` (1-based)."""

    def __init__(self, at):
        self.at, self.state = at, None

    def on_batch_end(self, solver, logs):
        if logs["iteration"] == self.at:
            self.state = solver.state_dict()


def fc_net(rng=3, dtype="float32"):
    """A FullyConnectedNet with batchnorm and dropout: buffers and random masks to carry over."""
    from numnet.classifiers.fc_net import FullyConnectedNet

    return FullyConnectedNet(
        [12, 10],
        input_dim=4,
        num_classes=3,
        normalization="batchnorm",
        dropout_keep_ratio=0.7,
        reg=1e-3,
        weight_scale=0.3,
        dtype=dtype,
        rng=rng,
    )


def last_params(solver) -> dict:
    """The params after the solver's last step (the model may hold its best ones)."""
    return solver.state_dict()["model"]["params"]


def assert_same_run(a, b):
    """Everything that defines where a run stands is bit-identical."""
    assert a.model.params.keys() == b.model.params.keys()
    for k in a.model.params:
        assert np.array_equal(a.model.params[k], b.model.params[k]), ("params", k)
    assert a.best_params.keys() == b.best_params.keys()
    for k in a.best_params:
        assert np.array_equal(a.best_params[k], b.best_params[k]), ("best_params", k)
    # Settings may differ (callbacks, paths), and the model's config (an init seed). NumPy's
    # global state only matters where the run draws from it, and then the params show it.
    skip = ("/settings", "/rng/global", "/model/config")
    assert_state_equal(a.state_dict(), b.state_dict(), skip=skip)
    assert [float(x) for x in a.loss_history] == [float(x) for x in b.loss_history]
    assert a.val_acc_history == b.val_acc_history and a.train_acc_history == b.train_acc_history
    assert a.best_val_acc == b.best_val_acc and a.epoch == b.epoch and a.iteration == b.iteration


def assert_state_equal(a, b, path="", skip=()):
    """Two state dicts hold the same entries; arrays equal in shape, dtype and every value.

    ``skip``: entry paths (``"/rng/global"``) not compared.
    """
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (path, a.keys(), b)
        for k in a:
            if f"{path}/{k}" not in skip:
                assert_state_equal(a[k], b[k], f"{path}/{k}", skip)
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype, (path, b)
        assert np.array_equal(a, b), path
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_state_equal(x, y, f"{path}/{i}", skip)
    else:
        assert type(a) is type(b) and a == b, (path, a, b)
