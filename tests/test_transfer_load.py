"""load_pretrained: copies what fits, leaves the rest as initialised, reports, refuses clearly."""

import numpy as np
import pytest

from numnet.checkpoint import read_checkpoint
from numnet.classifiers import ConvNet, FullyConnectedNet, build_model
from numnet.solver import Solver
from numnet.transfer import TransferError, load_pretrained


def convnet(num_classes=3, hidden=(7,), rng=1, **kw):
    return ConvNet((1, 8, 8), (4, 6), hidden_dims=hidden, num_classes=num_classes, rng=rng, **kw)


def trained_like(model, rng):
    """Every param and running statistic set to distinct random values (as if trained)."""
    for k, p in model.params.items():
        model.params[k] = rng.standard_normal(p.shape).astype(p.dtype)
    model.load_buffers(
        {k: (1 + rng.random(a.shape)).astype(a.dtype) for k, a in model.buffers().items()}
    )
    return model


def names(entries):
    return [e.name for e in entries]


def test_new_head_copies_the_base_and_keeps_the_head_as_initialised(rng):
    src = trained_like(convnet(num_classes=5), rng)
    dst = convnet(num_classes=3, rng=7)
    fresh = convnet(num_classes=3, rng=7)  # the same config: the init the head must follow
    report = load_pretrained(dst, src)
    for k in ("W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma3", "W3", "b3"):
        np.testing.assert_array_equal(dst.params[k], src.params[k])
    for k in ("W4", "b4"):
        np.testing.assert_array_equal(dst.params[k], fresh.params[k])
    assert names(report.reinitialised) == ["W4", "b4"]
    w4 = report.reinitialised[0]
    assert w4.shape == (7, 3) and w4.source_shape == (7, 5)
    assert w4.reason == "the source's is (7, 5)"
    src_buffers, dst_buffers = src.buffers(), dst.buffers()
    for k in dst_buffers:
        np.testing.assert_array_equal(dst_buffers[k], src_buffers[k])
    assert "bn3.running_var" in names(report.copied) and report.skipped == []
    text = "\n".join(report.lines())
    assert "re-initialised (2): W4 (7, 3) [the source's is (7, 5)], b4 (3,)" in text
    assert "(ConvNet): 18 of 20 entries copied\n  copied (18): W1 (4, 1, 3, 3), b1 (4,)" in text


def test_other_hidden_size_reinitialises_that_layer_and_its_statistics(rng):
    src = trained_like(convnet(hidden=(7,)), rng)
    dst = convnet(hidden=(9,), rng=2)
    fresh_buffers = dst.buffers()
    report = load_pretrained(dst, src)
    re = {e.name: e for e in report.reinitialised}
    assert set(re) == {"W3", "b3", "gamma3", "beta3", "W4", "bn3.running_mean", "bn3.running_var"}
    assert re["W3"].shape == (24, 9) and re["W3"].source_shape == (24, 7)
    assert re["bn3.running_mean"].reason == "the source's is (7,)"
    np.testing.assert_array_equal(
        dst.buffers()["bn3.running_var"], fresh_buffers["bn3.running_var"]
    )
    np.testing.assert_array_equal(dst.params["b4"], src.params["b4"])  # (3,) fits: copied


def test_reinit_on_request_also_resets_the_layer_statistics(rng):
    src = trained_like(convnet(), rng)
    dst = convnet(rng=3)
    fresh = convnet(rng=3)
    report = load_pretrained(dst, src, reinit="3-4")
    assert {e.reason for e in report.reinitialised} == {
        "re-initialised on request",
        "layer 3's gamma and beta were not copied",
    }
    np.testing.assert_array_equal(dst.params["W4"], fresh.params["W4"])
    np.testing.assert_array_equal(
        dst.buffers()["bn3.running_mean"], fresh.buffers()["bn3.running_mean"]
    )
    np.testing.assert_array_equal(
        dst.buffers()["bn2.running_mean"], src.buffers()["bn2.running_mean"]
    )


def test_source_only_names_are_skipped(rng):
    src = trained_like(ConvNet((1, 8, 8), (4, 6), hidden_dims=(7, 5), num_classes=3, rng=1), rng)
    dst = convnet()
    report = load_pretrained(dst, src)
    assert names(report.skipped) == [
        "gamma4", "beta4", "W5", "b5", "bn4.running_mean", "bn4.running_var",
    ]  # fmt: skip
    assert report.skipped[2].shape == (5, 3)


@pytest.mark.parametrize(
    ("make_src", "keep", "match"),
    [
        # Another architecture: the first layer cannot be kept.
        (lambda: FullyConnectedNet([16], input_dim=64, num_classes=3),
         None,
         r"param 'W1' must be kept but the source has shape \(64, 16\), the model \(4, 1, 3, 3\) "
         r"\(the source is a FullyConnectedNet, the model a ConvNet\)"),
        # The layers the caller freezes must fit.
        (lambda: convnet(hidden=(9,)), "1-3",
         r"param 'W3' must be kept but the source has shape \(24, 9\), the model \(24, 7\)$"),
        (lambda: ConvNet((1, 8, 8), (4,), hidden_dims=(7,), num_classes=3), "2",
         r"param 'W2' must be kept but the source has shape \(64, 7\), the model \(6, 4, 3, 3\)"),
        (lambda: {"W9": np.zeros(3)}, (),
         "nothing in weights fits the model"),
    ],
)  # fmt: skip
def test_mismatch_errors_name_the_param_and_both_shapes(make_src, keep, match):
    dst = convnet()
    before = {k: v.copy() for k, v in dst.params.items()}
    with pytest.raises(TransferError, match=match):
        load_pretrained(dst, make_src(), keep=keep)
    for k, v in before.items():  # all or nothing
        np.testing.assert_array_equal(dst.params[k], v)


def test_missing_kept_param_and_conflicting_requests():
    dst = convnet()
    src = {k: v for k, v in convnet().params.items() if k != "b2"}
    with pytest.raises(TransferError, match="param 'b2' must be kept but the source has no such"):
        load_pretrained(dst, src, keep="2")
    with pytest.raises(TransferError, match="'W4' is both to keep and to re-initialise"):
        load_pretrained(dst, convnet(), keep="head", reinit="4")


def test_from_a_checkpoint_file_last_and_best(tmp_path, rng):
    model = convnet(dtype=np.float64)
    data = {
        "X_train": rng.standard_normal((20, 1, 8, 8)),
        "y_train": rng.integers(0, 3, 20),
        "X_val": rng.standard_normal((10, 1, 8, 8)),
        "y_val": rng.integers(0, 3, 10),
    }
    solver = Solver(model, data, num_epochs=3, batch_size=10, verbose=False, seed=0)
    solver.train()
    path = tmp_path / "src.npz"
    solver.save_checkpoint(path)
    state = read_checkpoint(path).state
    dst = convnet(num_classes=4)  # float32: cast on the way in
    report = load_pretrained(dst, path)
    assert report.source == str(path) and report.source_model == "ConvNet"
    np.testing.assert_array_equal(dst.params["W2"], state["model"]["params"]["W2"].astype("f4"))
    assert dst.params["W2"].dtype == np.float32
    load_pretrained(dst, path, params="best")
    np.testing.assert_array_equal(dst.params["W2"], state["best_params"]["W2"].astype("f4"))
    with pytest.raises(ValueError, match='params must be "last" or "best"'):
        load_pretrained(dst, path, params="first")


def test_report_round_trips_as_json(rng):
    import json

    report = load_pretrained(convnet(num_classes=2), trained_like(convnet(), rng))
    d = json.loads(json.dumps(report.to_dict()))
    assert d["reinitialised"][0] == {
        "name": "W4", "shape": [7, 2], "source_shape": [7, 3], "reason": "the source's is (7, 3)",
    }  # fmt: skip
    assert build_model(convnet().get_config()).num_params() == convnet().num_params()
