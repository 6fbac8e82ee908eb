"""Sanity checks before a run (``numnet.babysit.sanity``, ``numnet sanity``).

A sane model passes every check; a broken backward fails the gradient check, a model that cannot
learn fails the overfit check, and each other check fails on the fault it is there for.
"""

import numpy as np
import pytest
from _babysit_testlib import SMALL_NET, assert_one_line_error, tiny_set
from _cli_testlib import run_cli

from numnet import _random
from numnet.babysit import sanity as S
from numnet.classifiers import ConvNet, FullyConnectedNet, ThreeLayerConvNet

ADAM = {"update_rule": "adam", "optim_config": {"learning_rate": 3e-3}}


def small_convnet(**kw):
    return ConvNet((1, 28, 28), (4, 8), hidden_dims=(16,), rng=1, **kw)


class WrongGradient(ConvNet):
    """The backward of one layer is off by 1%."""

    def loss(self, X, y=None):
        out = super().loss(X, y)
        if y is None:
            return out
        loss, grads = out
        return loss, {**grads, "W2": grads["W2"] * 1.01}


class DroppedGradient(FullyConnectedNet):
    """The backward forgets the regularisation term of W1."""

    def loss(self, X, y=None):
        out = super().loss(X, y)
        if y is None:
            return out
        loss, grads = out
        return loss, {**grads, "W1": grads["W1"] - self.reg * self.params["W1"]}


class NoRegularization(ConvNet):
    """``reg`` is accepted and ignored."""

    def _l2(self, grads, weight_names):
        return 0.0


class BlindNet(FullyConnectedNet):
    """Sees only zeros, whatever the input."""

    def loss(self, X, y=None):
        return super().loss(np.zeros_like(X), y)


@pytest.fixture(scope="module")
def data():
    return tiny_set()


def by_name(results):
    return {r.name: r for r in results}


@pytest.mark.parametrize(
    "make",
    [small_convnet, lambda: small_convnet(normalization="groupnorm", groups=2,
                                          dropout_keep_ratio=0.7),
     lambda: FullyConnectedNet([32, 16], input_dim=784, normalization="batchnorm",
                               dropout_keep_ratio=0.8, init="kaiming", rng=1),
     lambda: ThreeLayerConvNet((1, 28, 28), 4, 5, 16, init="kaiming", rng=1)],
    ids=["convnet", "convnet-groupnorm-dropout", "fc-batchnorm-dropout", "threelayer"],
)  # fmt: skip
def test_a_sane_model_passes_every_check(make, data):
    results = S.run_sanity_checks(make(), *data, **ADAM)
    assert [r.name for r in results] == [
        "initial loss", "regularisation raises loss", "overfit a tiny subset",
        "input-independent baseline", "gradient check (float64)"]  # fmt: skip
    assert all(r.passed for r in results), [r for r in results if not r.passed]


@pytest.mark.parametrize(
    ("make", "where"),
    [(lambda: WrongGradient((1, 28, 28), (4, 8), hidden_dims=(16,), rng=1), "(W2)"),
     (lambda: DroppedGradient([16], input_dim=784, reg=0.5, init="kaiming", rng=1), "(W1)")],
)  # fmt: skip
def test_a_broken_backward_fails_the_gradient_check(make, where, data):
    r = by_name(S.run_sanity_checks(make(), *data, **ADAM))["gradient check (float64)"]
    assert not r.passed and where in r.measured, r


def test_a_missing_gradient_fails_and_is_named(data):
    class Missing(FullyConnectedNet):
        def loss(self, X, y=None):
            out = super().loss(X, y)
            return out if y is None else (out[0], {k: g for k, g in out[1].items() if k != "b2"})

    r = S.check_gradients(Missing([8], input_dim=784, rng=1), data[0][:4], data[1][:4])
    assert not r.passed and r.measured.startswith("b2: gradient missing")


def test_a_model_that_cannot_learn_fails_the_overfit_check(data):
    results = by_name(S.run_sanity_checks(small_convnet(), *data, update_rule="adam",
                                          optim_config={"learning_rate": 0.0}))  # fmt: skip
    r = results["overfit a tiny subset"]
    assert not r.passed and f"after {S.OVERFIT_STEPS} steps" in r.measured
    assert results["gradient check (float64)"].passed  # its gradients are right


def test_ignored_regularisation_fails(data):
    r = by_name(S.run_sanity_checks(NoRegularization((1, 28, 28), (4,), hidden_dims=(8,), rng=1),
                                    *data, **ADAM))["regularisation raises loss"]  # fmt: skip
    assert not r.passed


@pytest.mark.parametrize(("scale", "passed"), [(1.0, False), (1e-2, True)])
def test_initial_loss_flags_a_huge_init_and_not_a_tiny_one(scale, passed, data):
    """The documented weakness: 0.01-std gaussian weights pass although deep activations die."""
    model = FullyConnectedNet([50] * 4, input_dim=784, init="gaussian", weight_scale=scale, rng=1)
    r = S.check_initial_loss(model, *data)
    assert r.passed is passed, r


def test_a_model_blind_to_its_input_fails_the_baseline(data):
    results = by_name(S.run_sanity_checks(BlindNet([16], input_dim=784, init="kaiming", rng=1),
                                          *data, **ADAM))  # fmt: skip
    assert not results["input-independent baseline"].passed
    assert not results["overfit a tiny subset"].passed


def test_model_and_random_states_are_left_alone(data):
    model = small_convnet(dropout_keep_ratio=0.8)
    params = {k: v.copy() for k, v in model.params.items()}
    rng_state, global_state = model.rng.bit_generator.state, _random.global_state()
    S.run_sanity_checks(model, *data, **ADAM)
    for k, v in params.items():
        np.testing.assert_array_equal(model.params[k], v)
    assert model.rng.bit_generator.state == rng_state
    after = _random.global_state()
    np.testing.assert_array_equal(after["state"]["key"], global_state["state"]["key"])
    assert after["state"]["pos"] == global_state["state"]["pos"]


def test_too_few_examples_of_a_class_is_an_error(data):
    X, y = data
    keep = y != 3
    with pytest.raises(ValueError, match="class 3 has 0 examples"):
        S.run_sanity_checks(small_convnet(), X[keep], y[keep])


# ----------------------------------------------------------------------------------- command
def test_command_passes_a_sane_model(tiny_data, capsys):
    code, out, err = run_cli(capsys, "sanity", *SMALL_NET, "--data-dir", tiny_data)
    assert code == 0, out + err
    assert out.count("PASS") == 5 and "FAIL" not in out
    assert "5 of 5 checks passed" in out and "numnet inspect init" in out


def test_command_exits_1_when_a_check_fails(tiny_data, capsys):
    code, out, err = run_cli(capsys, "sanity", *SMALL_NET, "--data-dir", tiny_data,
                             "--lr", "1e-12")  # fmt: skip
    assert code == 1, out + err
    row = next(line for line in out.splitlines() if line.startswith("overfit a tiny subset"))
    assert row.split()[4] == "FAIL" and "checks passed" in out


@pytest.mark.parametrize(
    ("argv", "code", "fragments"),
    [
        (["--num-train", "5"], 1, ["cannot run the sanity checks: class", "has 0 examples"]),
        (["--lr", "0"], 2, ["argument --lr: must be > 0"]),
        (["--out", "x"], 2, ["unrecognized arguments: --out"]),
        (["--model", "fc", "--norm", "groupnorm"], 2, ["--norm groupnorm needs conv layers"]),
    ],
)
def test_command_bad_inputs_are_one_line_errors(argv, code, fragments, tiny_data, capsys):
    got, _, err = run_cli(capsys, "sanity", *SMALL_NET, "--data-dir", tiny_data, *argv)
    assert_one_line_error(err, got, code, *fragments)
