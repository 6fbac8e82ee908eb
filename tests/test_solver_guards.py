"""The Solver never keeps or saves a broken model, and refuses nonsensical settings at its edge."""

import numpy as np
import pytest
from _resume_testlib import fc_net
from _train_testlib import make_data

from numnet.callbacks import NonFiniteLossError
from numnet.solver import Solver

DATA = make_data(np.random.default_rng(0), n_train=40, n_val=20)


def solver(model=None, data=None, **kw):
    kw = {"batch_size": 8, "num_epochs": 2, "verbose": False, **kw}
    return Solver(model or fc_net(), data or DATA, **kw)


def snapshot(s):
    return (
        {k: v.copy() for k, v in s.model.params.items()},
        {p: {k: (v.copy() if hasattr(v, "copy") else v) for k, v in c.items()}
         for p, c in s.optim_configs.items()},
        s.model.buffers(),
    )  # fmt: skip


def assert_same(a, b):
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            if isinstance(x[k], dict):
                assert x[k].keys() == y[k].keys(), k
                for j in x[k]:
                    assert np.array_equal(x[k][j], y[k][j]), (k, j)
            else:
                assert np.array_equal(x[k], y[k]), k


# ------------------------------------------------------------- parameters stay finite
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the update rule's own overflow
@pytest.mark.parametrize("rule", ["sgd", "adam", "sgd_momentum"])
def test_an_update_that_overflows_float32_is_not_applied(rule, tmp_path):
    """--lr 1e39 is finite in float64 but not in the model's float32.

    The first update made every weight nan, and the epoch-0 check saved them as the best model.
    """
    s = solver(
        update_rule=rule,
        optim_config={"learning_rate": 1e39},
        checkpoint_name=str(tmp_path / "run"),
        interrupt_checkpoint=tmp_path / "stop.npz",
    )
    before = snapshot(s)
    with pytest.raises(NonFiniteLossError) as info:
        s.train()
    msg = str(info.value)
    assert "the update would make 'W1' non-finite at epoch 0, iteration 1" in msg, msg
    assert "learning rate 1e+39" in msg
    assert "not applied" in msg and "nothing was updated" not in msg
    assert_same(snapshot(s), before)
    assert s.loss_history == [] and s.iteration == 0
    assert list(tmp_path.iterdir()) == []  # no checkpoint of anything


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_nonfinite_loss_leaves_the_running_statistics_as_they_were():
    """The forward pass updates batchnorm's running statistics before the loss is known."""
    huge = (np.sign(DATA["X_train"]) * 3e38).astype(np.float32)  # x @ W overflows float32
    data = dict(DATA, X_train=huge)
    s = solver(data=data, update_rule="adam", optim_config={"learning_rate": 1e-3})
    before = snapshot(s)
    with pytest.raises(NonFiniteLossError, match="non-finite loss") as info:
        s.train()
    assert "running statistics" in str(info.value)
    assert_same(snapshot(s), before)


def test_a_checkpoint_of_nonfinite_params_is_never_written(tmp_path):
    s = solver(optim_config={"learning_rate": 1e-2}, num_epochs=1)
    s.model.params["W2"][0, 0] = np.inf  # e.g. a callback wrote into the weights
    with pytest.raises(ValueError, match=r"'model/params/W2' holds non-finite values"):
        s.save_checkpoint(tmp_path / "c.npz")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ settings at the edge
@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"learning_rate": -1e-3}, r"optim_config\['learning_rate'\] must be a finite number >= 0"),
        ({"learning_rate": "abc"}, r"optim_config\['learning_rate'\] .* got 'abc'"),
        ({"learning_rate": float("nan")}, r"optim_config\['learning_rate'\] .* got nan"),
        ({"learning_rate": True}, r"optim_config\['learning_rate'\] .* got True"),
        ({"momentum": -0.5}, r"optim_config\['momentum'\] must be a finite number >= 0"),
        ({"beta1": 1.0}, r"optim_config\['beta1'\] must be a number in \[0, 1\)"),
        ({"weight_decay": float("inf")}, r"optim_config\['weight_decay'\]"),
    ],
)
def test_nonsensical_hyperparameters_are_refused(config, match):
    with pytest.raises(ValueError, match=match):
        solver(update_rule="adam", optim_config=config)


def test_a_zero_learning_rate_is_allowed():
    s = solver(optim_config={"learning_rate": 0.0}, num_epochs=1)
    before = {k: v.copy() for k, v in s.model.params.items()}
    s.train()
    assert all(np.array_equal(s.model.params[k], before[k]) for k in before)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            lambda d: d.update(y_val=d["y_val"] + 3),
            r"data\['y_val'\] must be in \[0, 3\), got label",
        ),
        (lambda d: d.update(y_train=d["y_train"] - 1), r"data\['y_train'\] must be in \[0, 3\)"),
        (
            lambda d: d.update(X_val=d["X_val"][:0], y_val=d["y_val"][:0]),
            r"data\['X_val'\] must hold at least one sample, got 0",
        ),
    ],
    ids=["y_val", "y_train", "no-val"],
)
def test_data_that_does_not_fit_the_model_is_refused(change, match):
    data = dict(DATA)
    change(data)
    with pytest.raises(ValueError, match=match):
        solver(data=data)
