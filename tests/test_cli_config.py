"""The command's options: choice lists that are the library's, and renamed options' old names."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from _cli_testlib import run_cli, train_argv

from numnet import _names, optim, schedules
from numnet.classifiers import MODEL_REGISTRY, ConvNet, FullyConnectedNet, build_model
from numnet.classifiers._affine_stack import NORMS as AFFINE_NORMS
from numnet.cli import config as C
from numnet.cli.errors import UsageError
from numnet.cli.main import explicit_train_options, main
from numnet.cli.models import model_kwargs
from numnet.cli.train import lr_schedule
from numnet.initializers import INIT_SCHEMES, init_weight

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


# ------------------------------------------------------------ choices are the library's
def test_names_are_the_library_registries():
    """``numnet._names`` holds the names of modules that load NumPy: each is what they accept."""
    assert _names.UPDATE_RULES == tuple(optim.UPDATE_RULES)
    assert set(_names.UPDATE_RULES) == set(optim.DEFAULT_LEARNING_RATES)
    for scheme in _names.INIT_SCHEMES:
        assert init_weight((3, 2), scheme, 0.1, np.random.default_rng(0)).shape == (3, 2)
    assert _names.FC_NORMALIZATIONS == (None, *AFFINE_NORMS)
    for norm in _names.FC_NORMALIZATIONS:
        FullyConnectedNet([3], input_dim=2, normalization=norm)
    for norm in _names.CONV_NORMALIZATIONS:
        ConvNet((1, 4, 4), (2,), hidden_dims=(3,), normalization=norm, groups=1)
    with pytest.raises(ValueError, match="normalization must be one of"):
        ConvNet((1, 4, 4), (2,), normalization="instancenorm")


def test_choice_lists_are_the_library_lists():
    assert C.OPTIMIZERS == tuple(optim.UPDATE_RULES)
    assert C.INITS == INIT_SCHEMES
    assert C.NORMS == ("none", *(n for n in _names.CONV_NORMALIZATIONS if n is not None))
    # TwoLayerNet is fc with one hidden layer; LinearClassifier is for extracted features.
    assert set(C.MODEL_NAMES.values()) == set(MODEL_REGISTRY) - {"TwoLayerNet", "LinearClassifier"}
    assert C.MODELS == tuple(C.MODEL_NAMES)
    assert C.BY_KEY["optimizer"].choices == C.OPTIMIZERS
    assert C.BY_KEY["init"].choices == C.INITS
    assert C.BY_KEY["norm"].choices == C.NORMS
    assert C.BY_KEY["lr_schedule"].choices == C.SCHEDULES
    assert C.BY_KEY["model"].choices == C.MODELS


def test_every_schedule_choice_builds_its_library_schedule():
    """Each --lr-schedule builds the numnet.schedules schedule of its name.

    So a schedule the library adds cannot be offered and then silently run as a constant rate.
    """
    built = {}
    for choice in C.SCHEDULES:
        cfg = {**C.defaults(), "lr_schedule": choice, "lr_decay": 0.5}
        sched = lr_schedule(cfg, iterations_per_epoch=10)
        built[choice] = "constant" if sched is None else sched.name
    # warmup and two_phase wrap the chosen one (--warmup-epochs, --head-epochs).
    assert set(built.values()) == set(schedules.SCHEDULES) - {"warmup", "two_phase"}
    assert built == {"none": "constant", "lr_decay": "exponential", "step": "step",
                     "cosine": "cosine"}  # fmt: skip
    cfg = {**C.defaults(), "warmup_epochs": 1.0}
    assert lr_schedule(cfg, iterations_per_epoch=10).name == "warmup"


@pytest.mark.parametrize("model", C.MODELS)
def test_every_model_choice_builds_its_library_model(model):
    cfg = C.resolve({"model": model, "norm": "batchnorm", "dropout_keep": 0.5})
    config = model_kwargs(cfg, (1, 28, 28), 10)
    assert config["name"] == C.MODEL_NAMES[model]
    assert type(build_model(config)).__name__ == C.MODEL_NAMES[model]
    assert config["rng"] == cfg["seed"] + 1 and "seed" not in config


@pytest.mark.parametrize("init", C.INITS)
def test_every_init_choice_builds(init):
    config = model_kwargs(C.resolve({"init": init}), (1, 28, 28), 10)
    assert build_model(config).get_config()["init"] == init


def test_fc_rejects_a_conv_only_norm():
    cfg = C.resolve({"model": "fc", "norm": "groupnorm"})
    with pytest.raises(UsageError, match="takes none, batchnorm, layernorm"):
        model_kwargs(cfg, (1, 28, 28), 10)


# ----------------------------------------------------------- --dropout is --dropout-keep
def test_old_flag_is_the_new_option_with_one_warning(capsys):
    assert explicit_train_options(["train", "--dropout", "0.5"]) == {"dropout_keep": 0.5}
    err = capsys.readouterr().err
    assert err == (
        "numnet: warning: --dropout is deprecated (it is a keep probability); use --dropout-keep\n"
    )
    assert explicit_train_options(["train", "--dropout-keep", "0.5"]) == {"dropout_keep": 0.5}
    assert capsys.readouterr().err == ""


def test_old_and_new_flag_together_is_an_error():
    with pytest.raises(UsageError, match="give --dropout-keep or its old name --dropout, not both"):
        explicit_train_options(["train", "--dropout", "0.5", "--dropout-keep", "0.5"])


@pytest.mark.parametrize("flag", ["--dropout", "--dropout-keep"])
def test_bad_keep_probability_names_the_flag_given(flag, capsys):
    code, _, err = run_cli(capsys, "train", flag, "0")
    assert code == 2
    assert f"argument {flag}: must be a keep probability in (0, 1], got '0'" in err


def test_help_lists_only_the_new_flag(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert re.search(r"^ +--dropout-keep P ", out, re.MULTILINE)
    assert not re.search(r"^ +--dropout ", out, re.MULTILINE)


def test_old_config_key_is_the_new_option_with_one_warning(tmp_path, capsys):
    path = tmp_path / "old.toml"
    path.write_text("[model]\ndropout = 0.8\n")
    assert C.load_toml(path) == {"dropout_keep": 0.8}
    err = capsys.readouterr().err
    assert err == (
        f"numnet: warning: {path}: key 'model.dropout' is deprecated (it is a keep "
        "probability); use dropout_keep\n"
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("dropout = 0.5\ndropout_keep = 0.5\n", "dropout_keep"),
        ("[a]\nlr = 0.1\n[b]\nlr = 0.2\n", "lr"),
        ("lr_decay = 0.1\nlr-decay = 0.2\n", "lr_decay"),
    ],
)
def test_a_key_set_twice_is_an_error(text, key, tmp_path):
    path = tmp_path / "twice.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=f"sets {key} twice"):
        C.load_toml(path)


@pytest.mark.parametrize("name", ["default.toml", "long.toml", "fc.toml"])
def test_shipped_recipes_use_no_old_key(name, capsys):
    C.load_toml(CONFIGS / name)
    assert capsys.readouterr().err == ""


def test_saved_options_are_renamed_quietly(capsys):
    assert C.renamed_keys({"dropout": 0.5, "lr": 0.1}) == {"dropout_keep": 0.5, "lr": 0.1}
    assert C.renamed_keys({"dropout_keep": 0.5}) == {"dropout_keep": 0.5}
    assert capsys.readouterr().err == ""


@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_resume_a_run_saved_before_the_renames(tiny_data, tmp_path, capsys):
    """A run directory whose config.json says ``dropout`` and ``seed`` resumes without warnings.

    It keeps its keep probability.
    """
    out = tmp_path / "run"
    argv = train_argv(tiny_data, out, "--model", "fc", "--epochs", "1", "--dropout-keep", "0.7")
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err
    conf_path = out / "config.json"
    conf = json.loads(conf_path.read_text())
    conf["options"]["dropout"] = conf["options"].pop("dropout_keep")
    conf_path.write_text(json.dumps(conf))

    argv = ["train", "--resume", out, "--data-dir", tiny_data, "--epochs", "2"]
    code, stdout, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert "resuming" in stdout and "warning" not in err
    options = json.loads(conf_path.read_text())["options"]
    assert options["dropout_keep"] == 0.7 and "dropout" not in options


@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_resume_a_convnet_saved_with_seed(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *train_argv(tiny_data, out, "--epochs", "1"))
    assert code == 0, err
    conf_path = out / "config.json"
    conf = json.loads(conf_path.read_text())
    conf["model_config"]["seed"] = conf["model_config"].pop("rng")
    conf_path.write_text(json.dumps(conf))

    argv = ["train", "--resume", out, "--data-dir", tiny_data, "--epochs", "2"]
    code, stdout, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert "resuming" in stdout and "warning" not in err.lower()
    assert json.loads(conf_path.read_text())["model_config"]["rng"] == C.defaults()["seed"] + 1
