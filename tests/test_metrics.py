"""The one batched predict (any model with the course's loss(X)), confusion matrix, recall."""

import numpy as np
import pytest
from _train_testlib import Linear, linear_data

from numnet.metrics import confusion_matrix, per_class_accuracy, predict
from numnet.solver import Solver


class Scores:
    """Not a numnet model: only the course's ``loss(X)``; counts its calls and batch sizes."""

    def __init__(self):
        self.sizes = []

    def loss(self, X, y=None):
        self.sizes.append(len(X))
        return np.stack([X[:, 0], X[:, 1], -X[:, 0]], axis=1)


@pytest.mark.parametrize(("n", "batch_size", "sizes"), [(7, 3, [3, 3, 1]), (6, 6, [6]), (0, 4, [])])
def test_predict_is_the_argmax_in_batches(n, batch_size, sizes):
    X = np.random.default_rng(0).standard_normal((n, 2))
    model = Scores()
    out = predict(model, X, batch_size)
    assert out.dtype == np.int64 and out.shape == (n,) and model.sizes == sizes
    np.testing.assert_array_equal(out, np.argmax(Scores().loss(X), axis=1))


def test_predict_refuses_a_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        predict(Scores(), np.zeros((3, 2)), 0)


def test_model_solver_and_command_use_the_one_predict(monkeypatch):
    from numnet.classifiers.fc_net import FullyConnectedNet
    from numnet.cli import metrics as cli_metrics

    assert cli_metrics.predict is predict
    calls = []

    def spy(model, X, batch_size=100):
        calls.append((type(model).__name__, len(X), batch_size))
        return predict(model, X, batch_size)

    monkeypatch.setattr("numnet.classifiers.base.predict", spy)
    monkeypatch.setattr("numnet.solver.predict", spy)
    FullyConnectedNet([3], input_dim=2, rng=0).predict(np.zeros((5, 2)), batch_size=2)
    s = Solver(Linear(), linear_data(), verbose=False)
    acc = s.check_accuracy(s.X_val, s.y_val, batch_size=4)
    assert calls == [("FullyConnectedNet", 5, 2), ("Linear", 10, 4)]
    want = np.mean(np.argmax(s.model.loss(s.X_val), axis=1) == s.y_val)
    assert acc == want


def test_confusion_matrix_and_per_class_accuracy():
    cm = confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 4)
    np.testing.assert_array_equal(cm, [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]])
    np.testing.assert_allclose(per_class_accuracy(cm), [0.5, 1.0, 2 / 3, np.nan])
    with pytest.raises(ValueError, match=r"y_pred must be in \[0, 4\), got label 4"):
        confusion_matrix(np.array([0]), np.array([4]), 4)
