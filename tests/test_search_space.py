"""Search spaces: parsing and its one-line errors, sampling in log space, grids, JSON round trip."""

import math

import numpy as np
import optuna
import pytest

from numnet.cli.errors import UsageError
from numnet.cli.search_space import parse_space_file
from numnet.search import Choice, FloatRange, IntRange, SpaceError, parse_space, suggest
from numnet.search.space import decode, grid_values, space_from_dict, space_to_dict

optuna.logging.set_verbosity(optuna.logging.ERROR)


def test_parse_infers_types_and_keeps_order():
    space = parse_space(
        {
            "lr": {"low": 1e-5, "high": 1.0, "log": True},
            "batch_size": {"low": 32, "high": 256, "log": True},
            "optimizer": {"choices": ["adam", "sgd"]},
            "hidden-dims": {"choices": [[512, 256], [128]]},
        }
    )
    assert list(space) == ["lr", "batch_size", "optimizer", "hidden_dims"]
    assert space["lr"] == FloatRange(1e-5, 1.0, True)
    assert space["batch_size"] == IntRange(32, 256, True)
    assert space["optimizer"] == Choice(("adam", "sgd"))
    assert space["hidden_dims"].labels() == ["[512, 256]", "[128]"]


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"low": 1.0, "high": 0.1}, "low (1.0) must be < high (0.1)"),
        ({"low": 0.1, "high": 0.1}, "must be < high"),
        ({"low": 0.0, "high": 1.0, "log": True}, "a log range needs low > 0"),
        ({"low": -1, "high": 3, "log": True}, "a log range needs low > 0"),
        ({"low": "a", "high": 1.0}, "low and high must be numbers, got 'a'"),
        ({"low": 1e-3}, "missing high"),
        ({"high": 1.0, "log": True}, "missing low"),
        ({"low": 1e-3, "high": 1.0, "log": "yes"}, "log must be true or false"),
        ({"low": 1e-3, "high": 1.0, "stepz": 3}, "unknown key 'stepz'"),
        ({"low": 1e-3, "high": 1.0, "steps": 1}, "steps must be an integer >= 2"),
        ({"low": 1e-3, "high": float("inf")}, "high must be a finite number"),
        ({"choices": []}, "choices must be a non-empty list"),
        ({"choices": "adam"}, "choices must be a list"),
        ({"choices": ["a", "a"]}, "choice 'a' is listed twice"),
        ({"choices": ["a"], "low": 1}, "choices cannot be combined with low"),
        (0.001, "expected a table with low/high or choices"),
    ],
)
def test_bad_tables_are_one_line_errors_naming_the_parameter(spec, message):
    with pytest.raises(SpaceError) as e:
        parse_space({"lr": spec}, where="space file s.toml")
    text = str(e.value)
    assert "\n" not in text and text.startswith("space file s.toml: [lr]: ")
    assert message in text


def test_an_empty_space_is_an_error():
    with pytest.raises(SpaceError, match="no parameter to search"):
        parse_space({"stage": []}, reserved=("stage",))


def _write(tmp_path, text):
    path = tmp_path / "space.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("[lrr]\nlow = 1e-5\nhigh = 1.0\n", "[lrr]: unknown option (numnet train options: model,"),
        ("[threads]\nlow = 1\nhigh = 2\n", "is not a hyperparameter and cannot be searched"),
        ("[data]\nchoices = ['mnist']\n", "cannot be searched"),
        ("[optimizer]\nchoices = ['adam', 'adamm']\n", "choice 'adamm' is not allowed: choose"),
        ("[optimizer]\nlow = 1\nhigh = 2\n", "takes no range; list its values as choices"),
        ("[batch_size]\nlow = 16.5\nhigh = 64\n", "low must be an integer, got 16.5"),
        ("[dropout_keep]\nlow = 0.5\nhigh = 1.5\n", "high 1.5 is not allowed: must be a keep"),
        ("[lr]\nlow = 1e-5\nhigh = 1.0\n[fixed]\nlrr = 3\n", "[fixed]: unknown option 'lrr'"),
        (
            "[lr]\nlow = 1e-5\nhigh = 1.0\n[fixed]\nepochs = 0\n",
            "[fixed] epochs: must be a positive integer",
        ),
        ("[lr]\nlow = 1e-5\nhigh = 1.0\n[search]\ntrial = 3\n", "unknown key 'trial'"),
        ("[lr]\nlow = 1e-5\nhigh = 1.0\n[[stage]]\nepochs = 1\n", "stage]] 1: missing trials"),
        ("[lr]\nlow = 1e-5\nhigh = 1.0\n[[stage]]\ntrials = 0\n", "trials must be an integer"),
        ("[lr]\nlow = 1e-5\nhigh = [1.0\n", "is not valid TOML"),
        ("lr = 1e-3\n", "expected a table with low/high or choices"),
    ],
)
def test_space_files_are_checked_against_the_train_options(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(UsageError) as e:
        parse_space_file(path)
    assert "\n" not in str(e.value) and message in str(e.value) and str(path) in str(e.value)


def test_a_missing_space_file_is_named(tmp_path):
    with pytest.raises(UsageError, match=r"space file .*nope\.toml not found"):
        parse_space_file(tmp_path / "nope.toml")


def test_a_binary_space_file_is_named(tmp_path):
    path = tmp_path / "s.npz"
    path.write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\xaf\xff")
    with pytest.raises(UsageError, match=r"space file .*s\.npz is not UTF-8 \(byte 10\)"):
        parse_space_file(path)


def test_space_file_kinds_follow_the_options(tmp_path):
    path = _write(
        tmp_path,
        "[lr]\nlow = 1e-5\nhigh = 1\nlog = true\n[batch_size]\nlow = 32\nhigh = 128\n"
        "[hidden_dims]\nchoices = [[64], '32,16']\n[augment]\nchoices = [true, false]\n"
        "[fixed]\nmodel = 'fc'\n[search]\ntrials = 4\n[[stage]]\ntrials = 3\nepochs = 1\n",
    )
    space, fixed, search, stages = parse_space_file(path)
    # lr's int bound 1 is a float range all the same: the option is a float.
    assert space["lr"] == FloatRange(1e-5, 1.0, True)
    assert space["batch_size"] == IntRange(32, 128)
    assert space["hidden_dims"].choices == ((64,), (32, 16))  # converted as --hidden-dims does
    assert space["augment"].choices == (True, False)
    assert fixed == {"model": "fc"} and search == {"trials": 4}
    assert [(s.trials, s.epochs) for s in stages] == [(3, 1)]


def _samples(space, n, seed=0):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(suggest(trial, space))
        study.tell(trial, 0.0)
    return out


def _ks_uniform(u):
    """Kolmogorov-Smirnov distance between the samples ``u`` and U(0, 1)."""
    u = np.sort(np.asarray(u))
    n = len(u)
    upper = np.arange(1, n + 1) / n - u
    lower = u - np.arange(n) / n
    return max(upper.max(), lower.max())


@pytest.mark.parametrize("seed", [0, 1])
def test_log_uniform_samples_are_uniform_in_log_space(seed):
    n = 1000
    space = {"lr": FloatRange(1e-5, 1.0, log=True)}
    lr = np.array([p["lr"] for p in _samples(space, n, seed)])
    assert lr.min() >= 1e-5 and lr.max() <= 1.0
    u = (np.log10(lr) + 5) / 5  # log10(lr) in [-5, 0] -> [0, 1]
    crit = 1.63 / math.sqrt(n)  # the KS test's 1% critical value
    assert _ks_uniform(u) < crit
    # Each decade gets about a fifth of the samples (a linear draw gives the top one 90%).
    per_decade = np.histogram(np.log10(lr), bins=5, range=(-5, 0))[0]
    assert per_decade.min() > 0.15 * n and per_decade.max() < 0.25 * n
    # The same test rejects a linear-uniform draw over the same range: it can fail.
    lin = np.array([p["lr"] for p in _samples({"lr": FloatRange(1e-5, 1.0)}, n, seed)])
    assert _ks_uniform((np.log10(lin) + 5) / 5) > crit


def test_choices_of_lists_come_back_as_lists():
    space = {"hidden_dims": Choice(((64,), (32, 16))), "opt": Choice(("adam", "sgd"))}
    for params in _samples(space, 20):
        assert params["hidden_dims"] in ([64], [32, 16]) and params["opt"] in ("adam", "sgd")
    assert decode(space, {"hidden_dims": "[32, 16]"}) == {"hidden_dims": [32, 16]}


@pytest.mark.parametrize(
    "param, expected",
    [
        (FloatRange(1e-5, 1.0, True, steps=6), [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]),
        (FloatRange(0.5, 1.0, steps=3), [0.5, 0.75, 1.0]),
        (IntRange(1, 4), [1, 2, 3, 4]),
        (IntRange(16, 256, True, steps=5), [16, 32, 64, 128, 256]),
    ],
)
def test_grid_points(param, expected):
    np.testing.assert_allclose(grid_values({"x": param})["x"], expected, rtol=1e-12)
    pts = grid_values({"x": param})["x"]
    assert pts[0] == param.low and pts[-1] == param.high


def test_grid_needs_steps_on_float_ranges():
    with pytest.raises(SpaceError, match="lr: the grid sampler needs steps"):
        grid_values({"lr": FloatRange(1e-5, 1.0, True)})


def test_json_round_trip_keeps_kinds():
    space = {
        "lr": FloatRange(1e-5, 1.0, True, 7),
        "bs": IntRange(32, 128),
        "hd": Choice(((64,), (32, 16))),
        "keep": FloatRange(0.5, 1.0),
    }
    assert space_from_dict(space_to_dict(space)) == space
