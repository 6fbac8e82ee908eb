"""The babysitting commands end to end: train --monitor, plot, diagnose, inspect init, compare."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from _cli_testlib import run_cli, train_argv
from test_cli_train import assert_png

from numnet.babysit import monitor as M
from numnet.cli import config as C
from numnet.run_files import read_metrics


def test_the_flag_alone_means_the_library_default():
    assert C.MONITOR_EVERY == M.DEFAULT_EVERY
    from numnet.babysit.inspect_init import ACTIVATIONS
    from numnet.cli import inspect_init

    assert inspect_init.ACTIVATIONS == ACTIVATIONS


@pytest.mark.parametrize(("flag", "every"), [(["--monitor", "2"], 2), (["--monitor"], 20)])
def test_train_with_monitor_writes_and_draws_its_files(flag, every, tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, *train_argv(tiny_data, out, "--epochs", "2", *flag))
    assert code == 0, err
    rows = read_metrics(out / M.CSV)
    steps = len(read_metrics(out / "iterations.csv"))
    assert [r["iteration"] for r in rows] == list(range(1, steps + 1, every))
    assert {"layer1.act_std", "layer4.update_ratio"} <= set(rows[0])
    h = M.read_histograms(out / M.NPZ)
    assert h["layers"] == ["layer1", "layer2", "layer3"]
    for name in ("monitor.png", "monitor_histograms.png"):
        assert_png(out / name)
    assert json.loads((out / "config.json").read_text())["options"]["monitor"] == every
    assert f"diagnosis of {out}" in stdout

    for name in ("monitor.png", "monitor_histograms.png"):
        (out / name).unlink()
    code, stdout, _ = run_cli(capsys, "plot", out)
    assert code == 0 and str(out / "monitor_histograms.png") in stdout
    assert_png(out / "monitor.png")


def test_a_resumed_run_continues_the_monitor_files(tiny_data, tmp_path, capsys, monkeypatch):
    argv = ("--epochs", "2", "--monitor", "2")
    full = tmp_path / "full"
    assert run_cli(capsys, *train_argv(tiny_data, full, *argv))[0] == 0

    from numnet.cli.record import RunRecorder

    original = RunRecorder.on_batch_end

    def crash_at_step_9(self, solver, logs):
        original(self, solver, logs)
        if logs["iteration"] == 9:  # last.npz is epoch 1's (step 6); samples 7 and 9 are past it
            raise RuntimeError("power cut")

    monkeypatch.setattr(RunRecorder, "on_batch_end", crash_at_step_9)
    part = tmp_path / "part"
    with pytest.raises(RuntimeError, match="power cut"):
        run_cli(capsys, *train_argv(tiny_data, part, *argv))
    monkeypatch.setattr(RunRecorder, "on_batch_end", original)
    assert [r["iteration"] for r in read_metrics(part / M.CSV)][-1] == 9
    code, _, err = run_cli(capsys, "train", "--resume", part, "--data-dir", tiny_data)
    assert code == 0, err
    assert (part / M.CSV).read_bytes() == (full / M.CSV).read_bytes()
    a, b = M.read_histograms(full / M.NPZ), M.read_histograms(part / M.NPZ)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_a_diverging_run_is_diagnosed_before_the_error(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, *train_argv(tiny_data, out, "--optimizer", "sgd",
                                                    "--lr", "1e6", "--norm", "none"))  # fmt: skip
    assert code == 1 and err.startswith("numnet: error: training stopped: non-finite")
    assert "learning rate too high: non-finite loss at iteration" in stdout
    code, stdout, _ = run_cli(capsys, "diagnose", out)
    assert code == 0 and "learning rate too high" in stdout and "not judged" in stdout


def test_inspect_init_prints_verdicts_and_writes_figures(tmp_path, capsys):
    out = tmp_path / "init"
    code, stdout, err = run_cli(capsys, "inspect", "init", "--depth", "4", "--width", "200",
                                "--activation", "tanh", "--init", "gaussian",
                                "--weight-scale", "0.01", "--out", out)  # fmt: skip
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[0].startswith("4 x 200 tanh, gaussian 0.01 init")
    assert [ln.split()[0] for ln in lines[2:6]] == ["1", "2", "3", "4"]
    assert all("vanishing" in ln for ln in lines[3:6])
    for name in ("init_stats.png", "init_histograms.png"):
        assert_png(out / name)
    saved = json.loads((out / "init.json").read_text())
    assert saved["settings"]["depth"] == 4 and len(saved["layers"]) == 4


def test_compare_labels_runs_by_what_differs(tiny_data, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli(capsys, *train_argv(tiny_data, a, "--epochs", "1"))[0] == 0
    assert run_cli(capsys, *train_argv(tiny_data, b, "--epochs", "1", "--lr", "0.01"))[0] == 0
    out = tmp_path / "cmp"
    code, stdout, err = run_cli(capsys, "compare", a, b, "--out", out)
    assert code == 0, err
    assert "lr=0.003" in stdout and "lr=0.01" in stdout
    assert_png(out / "compare.png")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["inspect"], "numnet inspect needs an action: init"),
        (["inspect", "init", "--depth", "0"], "argument --depth: must be a positive integer"),
        (["inspect", "init", "--activation", "softplus"], "argument --activation: invalid choice"),
        (["inspect", "init", "--init", "orthogonal"], "argument --init: invalid choice"),
        (["inspect", "init", "--weight-scale", "-1"], "argument --weight-scale: must be > 0"),
        (["diagnose"], "the following arguments are required: RUN_DIR"),
        (["diagnose", "{tmp}/missing"], "run directory {tmp}/missing not found"),
        (["diagnose", "{tmp}"], "iterations.csv not found"),
        (["compare"], "the following arguments are required: RUN_DIR"),
        (["compare", "{tmp}"], "is it a numnet run directory?"),
        (["compare", "{tmp}/missing"], "run directory {tmp}/missing not found"),
        (["train", "--monitor", "0"], "argument --monitor: must be a positive integer"),
        (["inspect", "init", "--out", "{tmp}/file"], "--out {tmp}/file exists and is not a dir"),
    ],
)
def test_bad_input_is_one_line(argv, message, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, stdout, err = run_cli(capsys, *argv)
    assert code != 0 and stdout == ""
    assert err.startswith("numnet: error: ") and err.count("\n") == 1
    assert message.replace("{tmp}", str(tmp_path)) in err


@pytest.fixture(scope="module")
def monitored_run(tmp_path_factory):
    """A finished one-epoch run with ``--monitor 2`` (never modified: tests copy it)."""
    from _cli_testlib import load_tiny_dataset, write_tiny_idx

    from numnet.cli.main import main

    root = tmp_path_factory.mktemp("monitored")
    write_tiny_idx(root / "data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("numnet.cli.dataload.load_dataset", load_tiny_dataset)
        argv = train_argv(root / "data", root / "run", "--epochs", "1", "--monitor", "2")
        assert main([str(a) for a in argv]) == 0
    return root / "run"


def _npz_with(path, **changes):
    data = dict(np.load(path))
    data.update(changes)
    np.savez(path, **data)


#: (id, damage of the run's monitor files, fragments of the one-line error)
MONITOR_DAMAGE = [
    ("csv-not-a-number", lambda r: (r / M.CSV).write_text("iteration,epoch\nx,y\n"),
     ["monitor.csv: column 'iteration' holds 'x', not a number"]),
    ("csv-short-row", lambda r: (r / M.CSV).write_text(
        (r / M.CSV).read_text().splitlines()[0] + "\n1,2,3\n"),
     ["monitor.csv: line at byte", "has 3 values for 30 columns"]),
    ("csv-not-utf8", lambda r: (r / M.CSV).write_bytes(b"\xff\xfe\n1\n"),
     ["monitor.csv: line at byte 0 is not UTF-8"]),
    ("csv-other-model", lambda r: (r / M.CSV).write_text("iteration,epoch,layer1.foo\n"),
     ["monitor.csv has columns [iteration,epoch,layer1.foo] (3 columns), expected this model's",
      "(30 columns)"]),
    ("npz-garbage", lambda r: (r / M.NPZ).write_bytes(b"PK garbage"),
     ["monitor_histograms.npz: not an .npz (zip) archive"]),
    ("npz-truncated", lambda r: (r / M.NPZ).write_bytes((r / M.NPZ).read_bytes()[:200]),
     ["cannot read", "monitor_histograms.npz"]),
    ("npz-missing-array", lambda r: np.savez(r / M.NPZ, iteration=np.arange(3)),
     ["monitor_histograms.npz is not a monitor histogram file", "lacks ['layers', 'kinds']"]),
    ("npz-bins", lambda r: _npz_with(r / M.NPZ, **{"layer1.counts": np.zeros((3, 5), int),
                                                   "layer1.edges": np.zeros((3, 6))}),
     ["monitor_histograms.npz: layer1.counts has shape (3, 5), expected (3, 40)"]),
    ("npz-ragged", lambda r: _npz_with(r / M.NPZ, **{"layer1.counts": np.zeros((3, 5), int)}),
     ["layer1.counts (3, 5) and layer1.edges (3, 41) must be (S, bins) and (S, bins + 1)"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"layer1.counts": np.zeros((3, 5), int)}, "layer1.edges (3, 41) must be (S, bins) and"),
        ({"iteration": np.arange(2)}, "(S, bins + 1) with S = 2 samples"),  # 3 rows, 2 samples
    ],
)
def test_plot_refuses_ragged_histograms_in_one_line(change, message, monitored_run, tmp_path,
                                                    capsys):  # fmt: skip
    run = tmp_path / "run"
    shutil.copytree(monitored_run, run)
    _npz_with(run / M.NPZ, **change)
    code, _, err = run_cli(capsys, "plot", run)
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith("numnet: error: ") and message in err, err


@pytest.mark.parametrize(("damage", "fragments"), [c[1:] for c in MONITOR_DAMAGE],
                         ids=[c[0] for c in MONITOR_DAMAGE])  # fmt: skip
def test_resume_refuses_broken_monitor_files_in_one_line(
    damage, fragments, monitored_run, tmp_path, capsys, monkeypatch
):
    from _cli_testlib import load_tiny_dataset, write_tiny_idx

    monkeypatch.setattr("numnet.cli.dataload.load_dataset", load_tiny_dataset)
    write_tiny_idx(tmp_path / "data")
    run = tmp_path / "run"
    shutil.copytree(monitored_run, run)
    damage(run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    argv = ("train", "--resume", run, "--data-dir", tmp_path / "data", "--epochs", "2")
    code, _, err = run_cli(capsys, *argv)
    assert code == 1 and "Traceback" not in err, err
    (line,) = err.splitlines()
    assert line.startswith(f"numnet: error: cannot resume {run}: "), line
    assert line.endswith("move the monitor files aside to resume without their earlier samples")
    for f in fragments:
        assert f in line, (f, line)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # nothing was touched
    if damage is not MONITOR_DAMAGE[0][1]:
        return
    for name in (M.CSV, M.NPZ):  # what the message advises works
        (run / name).rename(tmp_path / name)
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert [r["iteration"] for r in read_metrics(run / M.CSV)] == [7, 9, 11]
