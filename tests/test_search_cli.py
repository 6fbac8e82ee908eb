"""``numnet search`` in this process on the tiny data set: outputs, best.toml, errors, safety."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _cli_testlib import run_cli, train_argv
from _search_testlib import SPACE

from numnet.cli import config as C

ROOT = Path(__file__).resolve().parents[1]
FC = ["--model", "fc", "--hidden-dims", "16", "--num-val", "60", "--batch-size", "50"]


@pytest.fixture
def space(tmp_path):
    path = tmp_path / "fc.toml"
    path.write_text(SPACE)
    return path


def search(capsys, tiny_data, *argv):
    return run_cli(capsys, "search", *FC, "--data-dir", tiny_data, *argv)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_stages_write_every_file_and_best_toml_trains(space, tiny_data, tmp_path, capsys):
    out = tmp_path / "s"
    code, stdout, err = search(capsys, tiny_data, "--space", space, "--stages", "6x1,3x2",
                               "--epochs", "3", "--out", out)  # fmt: skip
    assert code == 0, err
    for name in ("search.json", "journal.log", "trials.csv", "leaderboard.txt", "best.toml",
                 "params.png", "lr_reg.png", "progress.png"):  # fmt: skip
        assert (out / name).is_file(), name
    rows = read_csv(out / "trials.csv")
    assert [r["stage"] for r in rows] == ["fc-stage1"] * 6 + ["fc-stage2"] * 3
    for r in rows:
        assert (
            r["state"] in ("COMPLETE", "PRUNED") and float(r["lr"]) > 0 and float(r["seconds"]) >= 0
        )
        assert len(r["val_acc"].split()) == int(r["epochs"])
    assert {
        r["epochs"] for r in rows if r["stage"] == "fc-stage2" and r["state"] == "COMPLETE"
    } == {"2"}
    assert "fc-stage1: 6 trials" in stdout and "fc-stage2: 3 trials" in stdout
    assert "train it in full: numnet train --config" in stdout and "optuna-dashboard" in stdout
    # best.toml: the best stage-2 trial's options, with the full --epochs 3
    best = C.load_toml(out / "best.toml")
    done = [r for r in rows if r["stage"] == "fc-stage2" and r["state"] == "COMPLETE"]
    top = max(done, key=lambda r: float(r["value"]))
    assert best["lr"] == float(top["lr"]) and best["reg"] == float(top["reg"])
    assert best["epochs"] == 3 and best["model"] == "fc" and best["hidden_dims"] == [16]
    run = tmp_path / "rerun"
    code, stdout, err = run_cli(capsys, "train", "--config", out / "best.toml", "--data-dir",
                                tiny_data, "--out", run)  # fmt: skip
    assert code == 0, err
    saved = json.loads((run / "config.json").read_text())["options"]
    assert saved["lr"] == best["lr"] and saved["epochs"] == 3 and saved["model"] == "fc"


def test_rerun_continues_and_report_redraws(space, tiny_data, tmp_path, capsys):
    out = tmp_path / "s"
    args = ["--space", space, "--trials", "4", "--epochs", "1", "--out", out]
    assert search(capsys, tiny_data, *args)[0] == 0
    before = read_csv(out / "trials.csv")
    code, stdout, err = search(capsys, tiny_data, *args)
    assert code == 0, err
    assert "fc: 4/4 trials" in stdout and read_csv(out / "trials.csv") == before
    (out / "trials.csv").unlink()
    (out / "best.toml").unlink()
    code, stdout, _ = run_cli(capsys, "search", "--report", out)
    assert code == 0 and read_csv(out / "trials.csv") == before and (out / "best.toml").is_file()
    assert "fc: 4 trials" in stdout


def test_kfold_and_grid(space, tiny_data, tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text(SPACE.replace("log = true", "log = true\nsteps = 2"))
    out = tmp_path / "g"
    code, stdout, err = search(capsys, tiny_data, "--space", grid, "--sampler", "grid", "--cv",
                               "3", "--epochs", "1", "--out", out, "--pruner", "none")  # fmt: skip
    assert code == 0, err
    rows = read_csv(out / "trials.csv")
    assert len(rows) == 4  # the whole 2 x 2 grid, once each
    assert {(float(r["lr"]), float(r["reg"])) for r in rows} == {
        (lr, reg) for lr in (1e-4, 0.1) for reg in (1e-6, 1e-2)
    }
    assert all(r["epochs"] == "3" and r["cv_std"] != "" for r in rows)  # 3 folds x 1 epoch
    assert "±" in stdout


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--trials", "3", "--stages", "2x1"], "give --trials or --stages, not both"),
        (["--stages", "3x"], "--stages item 1 ('3x'): expected TRIALSxEPOCHS"),
        (["--lr", "0.1"], "lr is searched (space file) and also fixed on the command line"),
        (["--sampler", "grid"], "the grid sampler needs steps = N"),
        (["--cv", "1"], "--cv must be >= 2 folds"),
        (["--workers", "0"], "--workers must be >= 1"),
        (["--timeout", "nan"], "--timeout must be a finite number of seconds > 0, got nan"),
        (["--timeout", "-5"], "--timeout must be a finite number of seconds > 0, got -5.0"),
        (["--storage", "postgresql+psycopg://u@127.0.0.1:1/db"], "cannot use the storage "),
        (["--storage", "nosuchdb://x/y"], "unknown database 'nosuchdb'"),
        (["--storage", "mysql+nosuchdriver://x/y"], "unknown database 'mysql+nosuchdriver'"),
        (["--storage", "postgresql+psycopg://u:secret@127.0.0.1:1/db"], "u:***@127.0.0.1"),
        (["--storage", "some/file.db"], "is not a database URL"),
        (["--norm", "groupnorm"], "lr = 0.0001 cannot be trained: --norm groupnorm needs conv"),
    ],
)
def test_mistakes_are_one_line_errors_and_leave_nothing(space, tiny_data, tmp_path, capsys,
                                                         argv, message):  # fmt: skip
    out = tmp_path / "s"
    code, _, err = search(capsys, tiny_data, "--space", space, "--out", out, *argv)
    assert code != 0 and message in err, err
    assert err.startswith("numnet: error: ") and err.count("\n") == 1
    assert "secret" not in err
    assert not out.exists()


def test_a_missing_space_flag(tiny_data, capsys):
    code, _, err = run_cli(capsys, "search", "--model", "fc")
    assert code == 2 and "numnet search needs --space FILE" in err


def test_never_touches_a_directory_it_did_not_create(space, tiny_data, tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, *train_argv(tiny_data, run, "--epochs", "1"))
    assert code == 0, err
    snapshot = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in run.iterdir()}
    code, _, err = search(capsys, tiny_data, "--space", space, "--out", run, "--trials", "2")
    assert code == 1 and "was not made by numnet search" in err
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in run.iterdir()} == snapshot
    # Another search's directory is refused too, and so is a changed search in its own.
    out = tmp_path / "s"
    assert search(capsys, tiny_data, "--space", space, "--out", out, "--trials", "2",
                  "--epochs", "1")[0] == 0  # fmt: skip
    code, _, err = search(capsys, tiny_data, "--space", space, "--out", out, "--study", "x")
    assert code == 1 and "holds the search 'fc', not 'x'" in err
    code, _, err = search(capsys, tiny_data, "--space", space, "--out", out, "--trials", "2",
                          "--epochs", "2")  # fmt: skip
    assert code == 1 and "with other settings (extra.fixed.epochs: stored 1, now 2)" in err


def test_without_optuna_the_command_says_what_to_install(space, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)
    code, _, err = run_cli(capsys, "search", "--space", space)
    assert code == 1
    assert err == "numnet: error: numnet search needs Optuna: pip install 'numnet[search]'\n"


def test_numnet_and_its_other_commands_do_not_import_optuna():
    code = (
        "import sys, numnet, numnet.solver, numnet.cli.main as m\n"
        "m.build_parser()\n"
        "assert 'optuna' not in sys.modules and 'numnet.search.runner' not in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT, timeout=60)
