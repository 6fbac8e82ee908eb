"""Feature extraction from every model, and the linear classifier (softmax or SVM) trained on it."""

import numpy as np
import pytest
import torch

from numnet.classifiers import (
    ConvNet,
    FullyConnectedNet,
    LinearClassifier,
    ThreeLayerConvNet,
    TwoLayerNet,
    build_model,
)
from numnet.solver import Solver
from numnet.transfer import extract_features, feature_data


def convnet(**kw):
    return ConvNet((1, 8, 8), (4, 6), hidden_dims=(7,), num_classes=3, rng=1, **kw)


@pytest.mark.parametrize(
    ("make", "shape", "sizes"),
    [
        (convnet, (1, 8, 8), {1: 4 * 4 * 4, 2: 6 * 2 * 2, 3: 7}),
        (lambda: ConvNet((1, 8, 8), (4,), convs_per_stage=2, hidden_dims=(), num_classes=3),
         (1, 8, 8), {1: 4 * 8 * 8, 2: 4 * 4 * 4}),
        (lambda: FullyConnectedNet([9, 5], input_dim=12, num_classes=3, normalization="batchnorm",
                                   dropout_keep_ratio=0.5, rng=0), (12,), {1: 9, 2: 5}),
        (lambda: TwoLayerNet(12, 9, 3), (12,), {1: 9}),
        (lambda: ThreeLayerConvNet((1, 8, 8), num_filters=3, filter_size=3, hidden_dim=5,
                                   num_classes=3), (1, 8, 8), {1: 3 * 4 * 4, 2: 5}),
    ],
)  # fmt: skip
def test_features_of_every_layer_and_the_head_reads_the_last(make, shape, sizes, rng):
    model = make()
    X = rng.standard_normal((6, *shape)).astype(model.dtype)
    for layer, d in sizes.items():
        f = model.features(X, layer)
        assert f.shape == (6, d) and f.dtype == model.dtype and (f >= 0).all()  # after relu
    L = max(sizes) + 1
    f = model.features(X)  # the penultimate layer
    scores = model.loss(X)
    np.testing.assert_allclose(f @ model.params[f"W{L}"] + model.params[f"b{L}"], scores,
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    with pytest.raises(ValueError, match=f"layer must be an int in \\[1, {L - 1}\\]"):
        model.features(X, L)


def test_extraction_is_test_mode_batch_invariant_and_leaves_statistics(rng):
    model = convnet(dropout_keep_ratio=0.5)
    model.load_buffers({k: (1 + rng.random(a.shape)).astype(a.dtype)
                        for k, a in model.buffers().items()})  # fmt: skip
    stats = model.buffers()
    X = rng.standard_normal((23, 1, 8, 8)).astype(np.float32)
    a = extract_features(model, X, batch_size=5)
    b = extract_features(model, X, batch_size=23)
    np.testing.assert_allclose(a, b, rtol=1e-6)
    for k, v in model.buffers().items():
        np.testing.assert_array_equal(v, stats[k])
    with pytest.raises(ValueError, match="has no features"):
        extract_features(LinearClassifier(4, 2), X)
    with pytest.raises(ValueError, match="no hidden layer"):
        ConvNet((1, 8, 8), (), hidden_dims=(), num_classes=3).features(X)


@pytest.mark.parametrize("loss", ["softmax", "svm"])
def test_linear_classifier_on_features_learns(loss):
    r = np.random.default_rng(3)
    X = r.standard_normal((160, 1, 8, 8)).astype(np.float32)
    y = (X[:, 0, :, :4].mean(axis=(1, 2)) > X[:, 0, :, 4:].mean(axis=(1, 2))).astype(np.int64)
    data = {"X_train": X[:120], "y_train": y[:120], "X_val": X[120:], "y_val": y[120:]}
    model = convnet()
    Solver(model, data, num_epochs=1, batch_size=20, verbose=False, seed=0).train()
    feats = feature_data(model, data, layer=1)  # conv - BN - pool - relu: local brightness
    assert feats["X_train"].shape == (120, 64) and feats["X_val"].shape == (40, 64)
    np.testing.assert_array_equal(feats["y_val"], y[120:])
    clf = LinearClassifier(64, 2, loss=loss, reg=1e-3, init="kaiming", rng=0)
    solver = Solver(clf, feats, update_rule="adam", optim_config={"learning_rate": 1e-2},
                    num_epochs=30, batch_size=40, verbose=False, seed=0)  # fmt: skip
    solver.train()
    assert solver.check_accuracy(feats["X_train"], feats["y_train"]) > 0.8  # chance: 0.5
    assert type(build_model(clf.get_config())) is LinearClassifier


@pytest.mark.parametrize("loss", ["softmax", "svm"])
def test_linear_classifier_matches_torch(loss, rng):
    model = LinearClassifier(6, 4, loss=loss, reg=0.3, init="kaiming", dtype=np.float64, rng=2)
    X, y = rng.standard_normal((9, 6)), rng.integers(0, 4, 9)
    value, grads = model.loss(X, y)
    W = torch.tensor(model.params["W1"], requires_grad=True)
    b = torch.tensor(model.params["b1"], requires_grad=True)
    s = torch.tensor(X) @ W + b
    t = torch.tensor(y)
    if loss == "softmax":
        data_loss = torch.nn.functional.cross_entropy(s, t)
    else:  # torch averages the hinge terms over the C classes too
        data_loss = 4 * torch.nn.functional.multi_margin_loss(s, t, margin=1.0)
    total = data_loss + 0.5 * 0.3 * (W * W).sum()
    total.backward()
    assert value == pytest.approx(total.item(), rel=1e-12)
    np.testing.assert_allclose(grads["W1"], W.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["b1"], b.grad.numpy(), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="loss must be one of 'softmax', 'svm'"):
        LinearClassifier(6, 4, loss="hinge")
