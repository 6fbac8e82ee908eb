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


def _readme_commands() -> list[list[str]]:
    """Every ``numnet ...`` command line of README.md's sh blocks, split as a shell would."""
    import shlex

    text = (CONFIGS.parent / "README.md").read_text(encoding="utf-8")
    commands, in_sh = [], False
    for line in text.replace("\\\n", " ").splitlines():
        if line.startswith("```"):
            in_sh = line.strip() == "```sh"
            continue
        words = shlex.split(line, comments=True) if in_sh else []
        if words and words[0] in ("numnet", ".venv/bin/numnet"):
            commands.append(words[1:])
    return commands


README_COMMANDS = _readme_commands()


def test_the_readme_shows_commands():
    assert len(README_COMMANDS) >= 25
    assert ["summary", "--filters", "32,64,128", "--data", "cifar10"] in README_COMMANDS


@pytest.mark.parametrize("argv", README_COMMANDS, ids=" ".join)
def test_every_readme_command_parses(argv):
    from numnet.cli.main import build_parser

    args = build_parser().parse_args(argv)  # a flag the command lacks raises UsageError
    assert args.command == argv[0]


@pytest.mark.parametrize("argv", [a for a in README_COMMANDS if a[0] == "summary"], ids=" ".join)
def test_readme_summaries_run(argv, capsys):
    from numnet.cli.main import main

    code = main(argv)  # needs no data set: shapes only
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines()[-1].startswith("total")
