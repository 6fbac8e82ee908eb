"""Training on a device: one host read per step, batches moved one at a time, checkpoints across.

Each test takes ``xp``: on the guard backend (every machine) it proves the code never leaves its
array module and counts the host synchronisations; on ``cupy`` (where a GPU is) it runs the same
training on the GPU. Comparisons are against the same run on NumPy, to float32 rounding (the guard
takes CuPy's code branches, so it rounds as CuPy does).
"""

import numpy as np
import pytest
import test_layers_dtype as dtype_tests
from _guard_xp import DeviceArrayError, count_host_syncs, guard_xp

from numnet import schedules
from numnet.backend import get_array_module, to_numpy
from numnet.checkpoint import load_model
from numnet.classifiers import ConvNet, FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet
from numnet.solver import Solver

N_TRAIN, N_VAL, BATCH, EPOCHS, ACC_SAMPLES = 16, 12, 4, 2, 6

MODELS = {
    "two_layer": lambda: TwoLayerNet(
        input_dim=2 * 4 * 4, hidden_dim=7, num_classes=3, reg=0.1, dtype=np.float32, rng=1
    ),
    "fc_batchnorm_dropout": lambda: FullyConnectedNet(
        [6, 5],
        input_dim=2 * 4 * 4,
        num_classes=3,
        normalization="batchnorm",
        dropout_keep_ratio=0.7,
        reg=0.1,
        dtype=np.float32,
        rng=1,
    ),
    "fc_layernorm": lambda: FullyConnectedNet(
        [6], input_dim=2 * 4 * 4, num_classes=3, normalization="layernorm", dtype=np.float32, rng=1
    ),
    "threelayer": lambda: ThreeLayerConvNet(
        input_dim=(2, 4, 4),
        num_filters=3,
        filter_size=3,
        hidden_dim=5,
        num_classes=3,
        reg=0.1,
        dtype=np.float32,
        rng=1,
    ),
    "convnet_batchnorm": lambda: ConvNet(
        input_dim=(2, 4, 4),
        conv_channels=(4,),
        hidden_dims=(5,),
        num_classes=3,
        normalization="batchnorm",
        dropout_keep_ratio=0.8,
        reg=0.1,
        dtype=np.float32,
        rng=1,
    ),
    "convnet_groupnorm": lambda: ConvNet(
        input_dim=(2, 4, 4),
        conv_channels=(4, 4),
        hidden_dims=(5,),
        num_classes=3,
        normalization="groupnorm",
        groups=2,
        dtype=np.float32,
        rng=1,
    ),
}

RULES = {
    "adam": {"update_rule": "adam", "optim_config": {"learning_rate": 1e-2}},
    "sgd_momentum_clip": {
        "update_rule": "sgd_momentum",
        "optim_config": {"learning_rate": 0.1},
        "grad_clip": 0.5,
    },
    "adamw_cosine": {
        "update_rule": "adamw",
        "optim_config": {"learning_rate": 1e-2},
        "lr_schedule": schedules.CosineDecay(8),
    },
}


def _data():
    rng = np.random.default_rng(5)
    return {
        "X_train": rng.standard_normal((N_TRAIN, 2, 4, 4)),
        "y_train": rng.integers(3, size=N_TRAIN),
        "X_val": rng.standard_normal((N_VAL, 2, 4, 4)),
        "y_val": rng.integers(3, size=N_VAL),
    }


def _solver(model, rule, **kw):
    return Solver(model, _data(), **RULES[rule], batch_size=BATCH, num_epochs=EPOCHS,
                  num_train_samples=ACC_SAMPLES, num_val_samples=ACC_SAMPLES, seed=3,
                  shuffle=True, verbose=False, **kw)  # fmt: skip


def _tolerance(xp) -> float:
    # The guard takes CuPy's branches (no vecdot: einsum), so it rounds as CuPy, not as NumPy;
    # cuBLAS sums in yet another order, and 8 steps of training carry the difference along.
    return {"numpy": 0.0, "cupy": 1e-3}.get(xp.__name__, 1e-4)


def _noise_driven(model) -> set:
    """Biases that feed a batchnorm: their gradient is 0 up to rounding, which Adam amplifies."""
    if getattr(model, "normalization", None) != "batchnorm":
        return set()
    return {f"b{i}" for i in range(1, model.num_layers)}


def train_and_count(xp, model_name, rule):
    """Train on ``xp`` and on NumPy; return (device solver, numpy solver, host syncs)."""
    ref = _solver(MODELS[model_name](), rule)
    ref.train()
    solver = _solver(MODELS[model_name]().to(xp), rule)
    with count_host_syncs() as syncs:
        solver.train()
    return solver, ref, syncs


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("model_name", MODELS)
def test_a_training_step_reads_the_device_once(xp, model_name, rule):
    solver, ref, syncs = train_and_count(xp, model_name, rule)
    steps, checks = len(solver.loss_history), len(solver.val_acc_history)
    assert steps == EPOCHS * N_TRAIN // BATCH and checks == 3
    if xp is guard_xp:
        # One read per step (loss and gradient norm together), one per accuracy check.
        assert syncs.count == steps + 2 * checks, "\n".join(syncs.events)
        # The data set stays on the host: nothing bigger than an accuracy batch is copied over.
        row = 2 * 4 * 4 * np.dtype(np.float32).itemsize
        assert max(syncs.uploads) <= ACC_SAMPLES * row
    for k, w in solver.model.params.items():
        assert get_array_module(w) is xp, k
        if k in _noise_driven(ref.model):
            continue
        tol = _tolerance(xp)
        np.testing.assert_allclose(to_numpy(w), ref.model.params[k], rtol=tol, atol=tol, err_msg=k)
    np.testing.assert_allclose(solver.loss_history, ref.loss_history, rtol=_tolerance(xp))
    assert all(type(v) is float for v in solver.loss_history)


@pytest.mark.parametrize("model_name", ["fc_batchnorm_dropout", "convnet_batchnorm"])
def test_checkpoints_load_on_the_other_device(xp, model_name, tmp_path):
    # Trained on the device, loaded on the host; trained on the host, loaded onto the device.
    data = _data()
    X = data["X_val"].astype(np.float32)
    for train_on, load_on in ((xp, np), (np, xp)):
        solver = _solver(
            MODELS[model_name]().to(train_on), "adam", checkpoint_name=str(tmp_path / "c")
        )
        solver.train()
        loaded = load_model(tmp_path / f"c_epoch_{EPOCHS}.npz", params="last").to(load_on)
        for name, m in (("trained", solver.model), ("loaded", loaded)):
            assert all(get_array_module(w) is (train_on if name == "trained" else load_on)
                       for w in m.params.values()), name  # fmt: skip
        solver.model.params = solver._last_step_params  # the params the checkpoint holds
        want, got = to_numpy(solver.model.loss(X)), to_numpy(loaded.loss(X))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(loaded.predict(X), solver.model.predict(X))


def test_model_to_moves_params_and_running_statistics_and_back(xp):
    model = MODELS["convnet_batchnorm"]()
    host = {k: v.copy() for k, v in model.params.items()}
    assert model.to(xp) is model and model.xp is xp
    stats = [bp[k] for bp in model.bn_params for k in ("running_mean", "running_var") if k in bp]
    assert stats and all(get_array_module(s) is xp for s in stats)
    model.to("cpu")
    assert model.xp is np
    for k, v in host.items():
        np.testing.assert_array_equal(model.params[k], v, err_msg=k)


def test_predict_reads_the_device_once_and_returns_host_classes(xp):
    model = MODELS["fc_layernorm"]().to(xp)
    X = _data()["X_val"]
    with count_host_syncs() as syncs:
        pred = model.predict(X, batch_size=5)
    assert isinstance(pred, np.ndarray) and pred.dtype == np.int64 and pred.shape == (N_VAL,)
    assert syncs.count == (1 if xp is guard_xp else 0), syncs.events
    np.testing.assert_array_equal(pred, to_numpy(model.loss(X)).argmax(axis=1))


# ------------------------------------------------------- a stray np. call must fail the suite
def test_a_stray_np_pad_fails_the_layer_tests_guard_case(monkeypatch):
    import numnet.ops.conv as conv

    pad = lambda xp, x, p: np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))  # noqa: E731
    monkeypatch.setattr(conv, "_pad_spatial", pad)
    dtype_tests.test_forward_and_backward_keep_dtype(np, "conv_naive", np.float64)  # fine on NumPy
    with pytest.raises(DeviceArrayError, match=r"np\.pad"):
        dtype_tests.test_forward_and_backward_keep_dtype(guard_xp, "conv_naive", np.float64)


def test_a_hard_numpy_module_in_a_kernel_fails_its_guard_case(monkeypatch):
    import numnet.kernels.pool as pool

    monkeypatch.setattr(pool, "get_array_module", lambda *a: np)
    x = guard_xp.asarray(np.random.default_rng(0).standard_normal((2, 3, 4, 4)))
    from numnet.fast_layers import max_pool_forward_fast

    with pytest.raises(TypeError):
        max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})


def test_a_numpy_ufunc_on_a_device_array_fails_its_guard_case(monkeypatch):
    import numnet.ops.losses as losses

    monkeypatch.setattr(losses, "get_array_module", lambda *a: np)
    dtype_tests.test_forward_and_backward_keep_dtype(np, "softmax_loss", np.float32)
    with pytest.raises(TypeError):
        dtype_tests.test_forward_and_backward_keep_dtype(guard_xp, "softmax_loss", np.float32)


def test_a_host_read_inside_the_step_fails_the_sync_count(monkeypatch):
    from numnet.classifiers.base import Model

    l2 = Model._l2
    monkeypatch.setattr(Model, "_l2", lambda self, g, n: float(l2(self, g, n)))  # a stray float()
    with pytest.raises(AssertionError, match="float"):
        test_a_training_step_reads_the_device_once(guard_xp, "two_layer", "adam")
