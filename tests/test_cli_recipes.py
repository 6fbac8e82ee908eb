"""The shipped recipes in configs/ parse and say what the README says they do."""

from pathlib import Path

import pytest

from numnet.cli import config as C

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@pytest.mark.parametrize("name", ["default.toml", "long.toml", "fc.toml"])
def test_recipe_parses(name):
    cfg = C.resolve({}, str(CONFIGS / name))
    assert cfg["data"] == "fashion-mnist"
    assert cfg["epochs"] >= 1


def test_default_recipe_is_the_bare_command():
    # `numnet train` with no flags must run exactly configs/default.toml.
    assert C.resolve({}, str(CONFIGS / "default.toml")) == C.resolve({})


def test_long_recipe_is_the_measured_one():
    cfg = C.resolve({}, str(CONFIGS / "long.toml"))
    assert (cfg["model"], cfg["convs_per_stage"], cfg["epochs"], cfg["augment"]) == (
        "convnet",
        2,
        20,
        True,
    )
