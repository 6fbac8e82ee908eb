"""The learning-rate range test (``numnet.babysit.lr_find``, ``numnet lr-find``).

The sweep leaves every state as it was (a later ``train()`` is bit-identical), nan ends the
sweep, and the rules read the curve as stated.
"""

import json

import numpy as np
import pytest
from _babysit_testlib import SMALL_NET, assert_one_line_error
from _cli_testlib import run_cli
from _train_testlib import Linear, linear_data, make_data

from numnet import _names, _random, _state
from numnet.babysit import lr_find as L
from numnet.babysit import lr_rules as R
from numnet.classifiers import ConvNet, FullyConnectedNet
from numnet.cli import lr_find as cli_lr_find
from numnet.data import Augment, AugmentedImages
from numnet.schedules import CosineDecay
from numnet.solver import Solver


def _build(rule: str, kind: str) -> Solver:
    """A run with every kind of state: batchnorm buffers, dropout masks, shuffled batches."""
    rng = np.random.default_rng(0)
    if kind == "images":  # a conv net on augmented images: the data is also a callback
        X = rng.standard_normal((48, 1, 8, 8))
        y = rng.integers(0, 3, 48)
        data = {"X_train": X[:40], "y_train": y[:40], "X_val": X[40:], "y_val": y[40:]}
        data["X_train"] = AugmentedImages(data["X_train"], Augment(pad=1), seed=4)
        model = ConvNet((1, 8, 8), (3,), hidden_dims=(6,), num_classes=3,
                        dropout_keep_ratio=0.7, dtype=np.float64, rng=5)  # fmt: skip
        extra = {"callbacks": [data["X_train"]], "seed": 3}
    else:
        data = make_data(rng, n_train=40, n_val=12, input_dim=10, num_classes=4)
        seed = 3 if kind == "seeded" else None
        if seed is None:  # the course's way: init, masks and batches from NumPy's global state
            np.random.seed(11)  # noqa: NPY002
        model = FullyConnectedNet([12, 8], input_dim=10, num_classes=4, dtype=np.float64,
                                  normalization="batchnorm", dropout_keep_ratio=0.7,
                                  init="kaiming", rng=None if seed is None else 5)  # fmt: skip
        extra = {"seed": seed}
    return Solver(model, data, update_rule=rule, optim_config={"learning_rate": 1e-2},
                  batch_size=8, num_epochs=3, shuffle=kind != "unseeded", verbose=False,
                  lr_schedule=CosineDecay(15), **extra)  # fmt: skip


def _outcome(solver) -> dict:
    """Everything a run produced, as plain data to compare bit for bit."""
    return {
        "loss": np.array(solver.loss_history),
        "val": np.array(solver.val_acc_history),
        "state": solver.state_dict(),
        "model": _state.model_state_dict(solver.model),
        "global": _random.global_state(),
    }


def _assert_same(a, b, path="") -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype, path
        np.testing.assert_array_equal(a, b, err_msg=path)
    else:
        assert a == b, path


def _train_after(rule, kind, sweep: bool, **kw) -> dict:
    solver = _build(rule, kind)
    if sweep:
        result = L.lr_range_test(solver, num_steps=25, **kw)
        assert len(result.lrs) > 5  # the sweep did train
    solver.train()
    return _outcome(solver)


@pytest.mark.parametrize("kind", ["seeded", "unseeded", "images"])
@pytest.mark.parametrize("rule", _names.UPDATE_RULES)
def test_train_after_lr_find_is_bit_identical(rule, kind):
    _assert_same(_train_after(rule, kind, sweep=True), _train_after(rule, kind, sweep=False))


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum", "adam"])
def test_state_dict_and_rng_states_unchanged_by_the_sweep(rule):
    solver = _build(rule, "unseeded")
    before = {"state": solver.state_dict(), "global": _random.global_state()}
    L.lr_range_test(solver, num_steps=20)
    _assert_same(before, {"state": solver.state_dict(), "global": _random.global_state()})


def test_the_comparison_sees_a_sweep_that_is_not_undone(monkeypatch):
    """The check above can fail: with the restoring calls disabled, training differs."""
    monkeypatch.setattr(Solver, "load_state_dict", lambda self, state: None)
    monkeypatch.setattr(_state, "load_model_state", lambda *a, **k: None)
    monkeypatch.setattr(_random, "set_global_state", lambda state: None)
    changed = _train_after("adam", "seeded", sweep=True)
    monkeypatch.undo()
    with pytest.raises(AssertionError):
        _assert_same(changed, _train_after("adam", "seeded", sweep=False))


def test_lrs_grow_geometrically_from_min_to_max():
    solver = Solver(Linear(), linear_data(), update_rule="sgd", batch_size=10, seed=0,
                    shuffle=True, verbose=False)  # fmt: skip
    r = L.lr_range_test(solver, min_lr=1e-4, max_lr=1e-1, num_steps=13, diverge=1e9)
    assert r.stop_reason == "completed" and len(r.lrs) == 13
    np.testing.assert_allclose(r.lrs, 1e-4 * 10 ** (np.arange(13) / 4), rtol=1e-12)
    np.testing.assert_allclose(r.smoothed, R.ema(r.losses), rtol=1e-12)


def test_nan_ends_the_sweep_not_the_program():
    model = Linear(nan_at=7)
    solver = Solver(model, linear_data(), update_rule="adam", batch_size=10, seed=0,
                    shuffle=True, verbose=False)  # fmt: skip
    W = model.params["W"].copy()
    r = L.lr_range_test(solver, num_steps=30)
    assert r.stop_reason == "non-finite" and len(r.losses) == 6
    assert "step 7" in r.message and np.isfinite(r.losses).all()
    np.testing.assert_array_equal(model.params["W"], W)


def test_divergence_stops_the_sweep_at_4x_the_minimum():
    solver = Solver(Linear(), linear_data(), update_rule="sgd", batch_size=10, seed=0,
                    shuffle=True, verbose=False)  # fmt: skip
    r = L.lr_range_test(solver, min_lr=1e-2, max_lr=1e6, num_steps=80)
    assert r.stop_reason in ("diverged", "non-finite") and len(r.lrs) < 80
    if r.stop_reason == "diverged":
        assert r.smoothed[-1] > 4 * r.smoothed.min()
        assert all(s <= 4 * r.smoothed[: i + 1].min() for i, s in enumerate(r.smoothed[:-1]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"min_lr": 1.0, "max_lr": 0.1}, "min_lr must be below max_lr"),
     ({"min_lr": 0.0}, "min_lr must be a finite number > 0"),
     ({"num_steps": 1}, "num_steps must be an int >= 2"),
     ({"beta": 1.0}, "beta must be in"),
     ({"diverge": 1.0}, "diverge must be > 1")],
)  # fmt: skip
def test_bad_arguments_name_themselves(kwargs, match):
    solver = Solver(Linear(), linear_data(), verbose=False)
    with pytest.raises(ValueError, match=match):
        L.lr_range_test(solver, **kwargs)


# ------------------------------------------------------------------------------------- rules
LRS = np.logspace(-6, 1, 141)  # 20 points a decade
X = np.log10(LRS)
#: A drop centred on lr 1e-3, flat, then a rise after lr 0.1.
CURVE = 2.3 - 2.0 / (1.0 + np.exp(-3.0 * (X + 3.0))) + np.where(X > -1.0, 3.0 * (X + 1.0), 0.0)


@pytest.mark.parametrize(
    ("curve", "rule", "expected"),
    [(CURVE, R.Rule("centered", "steep"), 1e-3),
     (CURVE, R.Rule("centered", "steep", 0.5), 5e-4),
     (1.0 + (X + 1.0) ** 2, R.Rule("centered", "minimum", 0.1), 1e-2)],
)  # fmt: skip
def test_rules_read_the_curve(curve, rule, expected):
    assert R.suggest_lr(LRS, curve, rule) == pytest.approx(expected, rel=0.13)  # one step: 12%


def test_the_default_rule_doubles_the_lr_where_90_percent_of_the_drop_is_made():
    """The drop is 2 / (1 + exp(-3 (x + 3))): 90% of it is made at x = -3 + ln(9) / 3."""
    knee = 10 ** (-3 + np.log(9) / 3)
    assert R.suggest_lr(LRS, CURVE) == pytest.approx(2 * knee, rel=0.13)
    assert R.suggest_lr(LRS, CURVE, R.Rule("centered", "knee", fraction=0.5)) == pytest.approx(
        1e-3, rel=0.13
    )


def test_valley_lies_in_the_middle_of_the_descent():
    lr = R.suggest_lr(LRS, CURVE, R.Rule("centered", "valley"))
    assert 1e-5 < lr < 1e-1


def test_the_lagging_ema_moves_the_steep_point_right():
    assert R.suggest_lr(LRS, CURVE, "steep") > 2e-3


def test_curve_ends_at_the_first_non_finite_loss():
    bad = CURVE.copy()
    bad[100:] = np.nan
    assert R.suggest_lr(LRS, bad, "minimum/10") == pytest.approx(LRS[99] / 10)
    assert R.suggest_lr(LRS[:2], CURVE[:2]) is None
    assert R.suggest_lr(LRS, np.full(141, np.inf)) is None


@pytest.mark.parametrize(
    ("args", "match"),
    [((LRS, CURVE, "slide"), "rule must be one of"), ((LRS, CURVE[:-1]), "1-D of one length")],
)  # fmt: skip
def test_suggest_lr_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        R.suggest_lr(*args)


def test_names_and_defaults_the_command_shows_are_the_librarys():
    assert tuple(R.RULES) == _names.LR_FIND_RULES and R.DEFAULT_RULE == _names.LR_FIND_RULES[0]
    assert (cli_lr_find.MIN_LR, cli_lr_find.MAX_LR, cli_lr_find.NUM_STEPS) == (
        L.MIN_LR, L.MAX_LR, L.NUM_STEPS)  # fmt: skip


# ----------------------------------------------------------------------------------- command
@pytest.mark.parametrize("extra", [[], ["--augment", "--optimizer", "sgd_momentum"]])
def test_command_writes_png_csv_json_and_suggests(extra, tiny_data, tmp_path, capsys):
    out = tmp_path / "lr"
    code, stdout, err = run_cli(capsys, "lr-find", *SMALL_NET, "--data-dir", tiny_data,
                                "--out", out, "--steps", "30", *extra)  # fmt: skip
    assert code == 0, err
    assert (out / "lr_find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = (out / "lr_find.csv").read_text().splitlines()
    assert rows[0] == "step,lr,loss,smoothed" and 3 <= len(rows) <= 31
    info = json.loads((out / "lr_find.json").read_text())
    assert info["rule"] == "numnet" and set(info["suggestions"]) == set(R.RULES)
    lr = info["suggested_lr"]
    assert lr is None or f"suggested: --lr {lr:.3g}" in stdout
    assert info["sweep"]["steps"] == len(rows) - 1


@pytest.mark.parametrize(
    ("argv", "code", "fragments"),
    [
        (["--min-lr", "1", "--max-lr", "0.5"], 2, ["--min-lr 1 must be below --max-lr 0.5"]),
        (["--steps", "1"], 2, ["argument --steps: must be >= 2"]),
        (["--min-lr", "abc"], 2, ["argument --min-lr: expected a number"]),
        (["--max-lr", "-1"], 2, ["argument --max-lr: must be a finite number > 0"]),
        (["--rule", "slide"], 2, ["argument --rule: invalid choice: 'slide'"]),
        (["--resume", "x"], 2, ["unrecognized arguments: --resume"]),
        (["--model", "nope"], 2, ["argument --model: invalid choice"]),
    ],
)
def test_command_bad_inputs_are_one_line_errors(argv, code, fragments, capsys):
    got, _, err = run_cli(capsys, "lr-find", *argv)
    assert_one_line_error(err, got, code, *fragments)


def test_command_refuses_a_used_out_dir_before_any_work(tiny_data, tmp_path, capsys):
    out = tmp_path / "used"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    code, _, err = run_cli(capsys, "lr-find", *SMALL_NET, "--data-dir", tiny_data, "--out", out)
    assert_one_line_error(err, code, 1, "already exists and is not empty")
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_the_new_commands_parsers_load_no_numpy():
    """``--threads`` must act before NumPy loads: building every parser must not load it."""
    import subprocess
    import sys

    code = ("import sys; from numnet.cli.main import build_parser; build_parser(); "
            "build_parser(suppress=True); print('numpy' in sys.modules)")  # fmt: skip
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.stdout.strip() == "False", res.stderr
