"""The monitor: its numbers against independent ones, the models' activations, its files."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _resume_testlib import SnapshotAt

from numnet.babysit import monitor as M
from numnet.classifiers import ConvNet, FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet
from numnet.metrics_log import MetricsFileError, read_rows
from numnet.solver import Solver


def _data(rng, n=60, d=8, c=4):
    X = rng.standard_normal((n, d))
    y = rng.integers(0, c, n)
    return {"X_train": X, "y_train": y, "X_val": X[:20], "y_val": y[:20]}


def _fc(d=8, c=4, **kw):
    return FullyConnectedNet([16, 12], input_dim=d, num_classes=c, weight_scale=0.3,
                             dtype=np.float64, rng=5, **kw)  # fmt: skip


def _solver(model, data, lr=0.1, epochs=1, callbacks=(), **kw):
    return Solver(model, data, update_rule="sgd", optim_config={"learning_rate": lr},
                  batch_size=data["X_train"].shape[0], num_epochs=epochs, shuffle=True, seed=0,
                  verbose=False, callbacks=list(callbacks), **kw)  # fmt: skip


def test_numbers_equal_an_independent_computation(rng):
    data = _data(rng)
    model = _fc(reg=0.01)
    before = {k: v.copy() for k, v in model.params.items()}
    monitor = M.Monitor(every=1)
    # One batch of the whole training set: its statistics do not depend on the order.
    _solver(model, data, lr=0.1, callbacks=[monitor]).train()
    (row,) = monitor.rows

    X, y = data["X_train"], data["y_train"]
    h1 = np.maximum(X @ before["W1"] + before["b1"], 0)
    h2 = np.maximum(h1 @ before["W2"] + before["b2"], 0)
    twin = _fc(reg=0.01)
    twin.params = {k: v.copy() for k, v in before.items()}
    _, grads = twin.loss(X, y)
    for name, h in (("layer1", h1), ("layer2", h2)):
        assert row[f"{name}.act_mean"] == pytest.approx(h.mean(), rel=1e-12)
        assert row[f"{name}.act_std"] == pytest.approx(h.std(), rel=1e-12)
        assert row[f"{name}.act_dead"] == pytest.approx(np.mean(np.all(h == 0, axis=0)))
        assert math.isnan(row[f"{name}.act_saturated"])
    assert math.isnan(row["layer3.act_mean"])  # the output layer has no activation
    for i in (1, 2, 3):
        w, g = before[f"W{i}"], grads[f"W{i}"]
        assert row[f"layer{i}.w_norm"] == pytest.approx(np.linalg.norm(w), rel=1e-12)
        assert row[f"layer{i}.grad_norm"] == pytest.approx(np.linalg.norm(g), rel=1e-9)
        # SGD: the update is lr * dW.
        ratio = 0.1 * np.linalg.norm(g) / np.linalg.norm(w)
        assert row[f"layer{i}.update_ratio"] == pytest.approx(ratio, rel=1e-9)
    hist = monitor.histograms["layer2"][0]
    assert hist[0].sum() == h2.size
    assert hist[1][0] == pytest.approx(h2.min()) and hist[1][-1] == pytest.approx(h2.max())


def test_a_tenfold_smaller_learning_rate_gives_a_tenfold_smaller_update_ratio(rng):
    data = _data(rng)
    rows = {}
    for scale in (1.0, 0.1):
        monitor = M.Monitor(every=1)
        solver = _solver(_fc(), data, lr=0.05, epochs=3, callbacks=[monitor])
        solver.optim_configs["W2"]["learning_rate"] *= scale
        solver.train()
        rows[scale] = monitor.rows
    first, slow = rows[1.0][0], rows[0.1][0]
    assert slow["layer2.update_ratio"] == pytest.approx(0.1 * first["layer2.update_ratio"])
    assert slow["layer1.update_ratio"] == pytest.approx(first["layer1.update_ratio"])
    for row in rows[0.1]:  # within a run: update / (grad / weight) is each layer's lr
        lr = {i: row[f"layer{i}.update_ratio"] * row[f"layer{i}.w_norm"]
              / row[f"layer{i}.grad_norm"] for i in (1, 2, 3)}  # fmt: skip
        assert lr[2] == pytest.approx(0.1 * lr[1]) and lr[3] == pytest.approx(lr[1])


@pytest.mark.parametrize(
    ("kind", "values", "dead", "saturated"),
    [
        ("relu", [[0.0, 1.0, 0.0], [0.0, 2.0, 3.0]], 1 / 3, math.nan),
        ("tanh", [[0.995, -0.999, 0.5], [0.0, -0.98, 0.991]], math.nan, 3 / 6),
        ("sigmoid", [[0.005, 0.995, 0.5], [0.02, 0.98, 0.999]], math.nan, 3 / 6),
    ],
)
def test_dead_and_saturated_fractions(kind, values, dead, saturated):
    a = np.asarray(values, dtype=np.float32)
    stats = M.activation_stats(a, kind)
    assert stats["act_dead"] == pytest.approx(dead, nan_ok=True)
    assert stats["act_saturated"] == pytest.approx(saturated, nan_ok=True)
    assert stats["act_mean"] == pytest.approx(a.astype(np.float64).mean())


def test_a_conv_unit_is_dead_only_when_zero_for_the_whole_batch():
    a = np.ones((3, 2, 2, 2))
    a[:, 0, 1, 1] = 0  # one (channel, row, column) zero everywhere
    a[0, 1] = 0  # zero in one example only: alive
    assert M.activation_stats(a, "relu")["act_dead"] == pytest.approx(1 / 8)


def _models():
    return [
        ("TwoLayerNet", TwoLayerNet(12, 9, 5, weight_scale=0.2, rng=0), (6, 12)),
        ("FullyConnectedNet", FullyConnectedNet([9, 7, 8], 12, 5, rng=0), (6, 12)),
        ("ThreeLayerConvNet", ThreeLayerConvNet((2, 8, 8), 4, 3, 10, 5, rng=0), (6, 2, 8, 8)),
        ("ConvNet", ConvNet((2, 8, 8), (3, 4), hidden_dims=(6,), num_classes=5, rng=0),
         (6, 2, 8, 8)),
    ]  # fmt: skip


@pytest.mark.parametrize(("name", "model", "shape"), _models(), ids=[m[0] for m in _models()])
def test_every_model_names_its_hidden_outputs_and_keeps_nothing_unasked(name, model, shape, rng):
    X, y = rng.standard_normal(shape), rng.integers(0, 5, shape[0])
    model.loss(X, y)
    assert model.activations() == {} and model._kept_forward is None
    model.keep_activations = True
    model.loss(X, y)
    acts = model.activations()
    last = len([k for k in model.params if k.startswith("W")])
    assert list(acts) == [f"layer{i}" for i in range(1, last)]
    assert all(kind == "relu" and a.dtype == model.dtype for kind, a in acts.values())
    # The last hidden output is what the output layer reads: it gives the scores.
    for bp in model.bn_params:
        bp["mode"] = "train"
    _, h = acts[f"layer{last - 1}"]
    scores = h.reshape(shape[0], -1) @ model.params[f"W{last}"] + model.params[f"b{last}"]
    model.keep_activations = False
    model.release_activations()
    assert model.activations() == {}
    # The test-mode forward differs only through batchnorm; compare with a train-mode loss.
    model.keep_activations = True
    loss, _ = model.loss(X, y)
    shifted = scores - scores.max(axis=1, keepdims=True)
    ref = np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(shape[0]), y])
    assert loss == pytest.approx(ref, rel=1e-5)


def test_fc_activations_chain_layer_by_layer(rng):
    model = FullyConnectedNet([9, 7], 12, 5, dtype=np.float64, weight_scale=0.5, rng=0)
    X = rng.standard_normal((6, 12))
    model.keep_activations = True
    model.loss(X, rng.integers(0, 5, 6))
    acts = model.activations()
    h = X
    for i in (1, 2):
        h = np.maximum(h @ model.params[f"W{i}"] + model.params[f"b{i}"], 0)
        np.testing.assert_array_equal(acts[f"layer{i}"][1], h)


def test_files_hold_what_the_monitor_saw_and_the_model_is_left_clean(rng, tmp_path):
    data = _data(rng)
    model = _fc()
    monitor = M.Monitor(tmp_path / "run", every=2, bins=7)
    solver = _solver(model, data, epochs=5, callbacks=[monitor])
    solver.batch_size = 20
    solver.train()
    assert [r["iteration"] for r in monitor.rows] == [1, 3, 5, 7, 9, 11, 13, 15]
    saved = read_rows(tmp_path / "run" / M.CSV)
    assert len(saved) == len(monitor.rows)
    for a, b in zip(saved, monitor.rows):
        assert a.keys() == b.keys()
        assert all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)
    h = M.read_histograms(tmp_path / "run" / M.NPZ)
    assert h["layers"] == ["layer1", "layer2"] and h["kinds"] == ["relu", "relu"]
    assert h["iteration"].tolist() == [r["iteration"] for r in monitor.rows]
    assert h["layer1.counts"].shape == (8, 7) and h["layer1.edges"].shape == (8, 8)
    assert (h["layer1.counts"].sum(axis=1) == 20 * 16).all()
    assert not model.keep_activations and model._kept_forward is None


def test_a_continued_run_writes_the_files_of_an_uninterrupted_one(rng, tmp_path):
    data = _data(rng, n=80)

    def run(epochs, directory, callbacks=()):
        solver = _solver(_fc(), data, epochs=epochs, callbacks=[M.Monitor(directory, every=3),
                                                                *callbacks])  # fmt: skip
        solver.batch_size = 20
        solver.train()
        return solver

    run(3, tmp_path / "whole")
    snap = SnapshotAt(6)  # mid-run state; the first run goes on past it, as a crash would
    run(3, tmp_path / "cut", [snap])
    resumed = Solver.from_state_dict(snap.state, data, model=_fc(),
                                     callbacks=[M.Monitor(tmp_path / "cut", every=3)])  # fmt: skip
    resumed.train()
    for name in (M.CSV,):
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    a, b = (M.read_histograms(tmp_path / d / M.NPZ) for d in ("whole", "cut"))
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_continuing_another_models_files_is_refused_before_a_step(rng, tmp_path):
    data = _data(rng)
    _solver(_fc(), data, epochs=2, callbacks=[M.Monitor(tmp_path, every=1)]).train()
    M.check_files(tmp_path, _fc().params)  # its own files pass
    other = FullyConnectedNet([16], input_dim=8, num_classes=4, dtype=np.float64, rng=5)
    found, expected = (
        r"monitor\.csv has columns .* \(23 columns\)",
        r"this model's .* \(16 columns\)",
    )
    with pytest.raises(MetricsFileError, match=f"{found}, expected {expected}"):
        M.check_files(tmp_path, other.params)
    before = (tmp_path / M.CSV).read_bytes()
    solver = _solver(other, data, epochs=2, callbacks=[M.Monitor(tmp_path, every=1)])
    solver.iteration = 1  # as a resumed Solver
    with pytest.raises(MetricsFileError, match="expected this model's"):
        solver.callbacks[0].on_train_begin(solver)
    assert (tmp_path / M.CSV).read_bytes() == before


@pytest.mark.parametrize(("every", "bins"), [(0, 5), (2, 0), (1.5, 5)])
def test_bad_settings_name_the_argument(every, bins):
    with pytest.raises(ValueError, match="every" if bins else "bins"):
        M.Monitor(every=every, bins=bins)
