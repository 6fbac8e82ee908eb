"""Comparing runs: what differs labels each run; the figures of the babysitting tools."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_cli_train import assert_png

from numnet.babysit import compare as K
from numnet.babysit import figures as F
from numnet.metrics_log import MetricsWriter
from numnet.run_files import RunFilesError


def test_differing_options_leave_out_what_does_not_change_a_run():
    runs = [
        {"lr": 0.001, "optimizer": "adam", "threads": 1, "hidden_dims": [64, 32]},
        {"lr": 0.01, "optimizer": "adam", "threads": 2, "hidden_dims": [64, 32]},
        {"lr": 0.01, "optimizer": "adam", "threads": 1, "hidden_dims": [64, 32], "reg": 0.1},
    ]
    assert K.differing(runs) == ["lr", "reg"]
    assert K.differing(runs[1:2]) == []


def _run(path, options):
    return K.Run(Path(path), options=options)


def test_labels_name_the_differing_options_or_fall_back_to_the_directory():
    runs = [_run("a", {"lr": 0.001, "batch_size": 64}), _run("b", {"lr": 0.01, "batch_size": 64}),
            _run("c", {"lr": 0.01, "batch_size": 64})]  # fmt: skip
    assert K.labels(runs) == ["lr=0.001", "lr=0.01 (b)", "lr=0.01 (c)"]
    assert K.labels([_run("x", {}), _run("y", {})]) == ["x", "y"]
    assert K.labels([_run("x", {"hidden_dims": [512, 256]}), _run("y", {})]) == [
        "hidden_dims=512,256", "hidden_dims=-"]  # fmt: skip


def _write_run(path: Path, lr: float, steps_per_epoch: int = 5, epochs: int = 3):
    path.mkdir(parents=True)
    config = {"options": {"lr": lr, "threads": 1}, "iterations_per_epoch": steps_per_epoch}
    (path / "config.json").write_text(json.dumps(config))
    with MetricsWriter(path / "iterations.csv").open() as w:
        for i in range(1, steps_per_epoch * epochs + 1):
            w.write({"iteration": i, "epoch": (i - 1) // steps_per_epoch + 1, "loss": 2.3 / i})
    with MetricsWriter(path / "epochs.csv").open() as w:
        for e in range(epochs + 1):
            w.write({"epoch": e, "iteration": e * steps_per_epoch, "loss": 1.0,
                     "train_acc": 0.5 + 0.1 * e, "val_acc": 0.4 + 0.1 * e})  # fmt: skip


def test_runs_are_read_and_drawn(tmp_path):
    _write_run(tmp_path / "a", 0.001)
    _write_run(tmp_path / "b", 0.01, steps_per_epoch=10)
    runs = K.load_runs([tmp_path / "a", tmp_path / "b"])
    assert [r.iterations_per_epoch for r in runs] == [5, 10]
    assert len(runs[1].iterations) == 30 and len(runs[1].epochs) == 4
    assert_png(K.plot_compare(tmp_path / "c.png", runs, K.labels(runs)))
    with pytest.raises(ValueError, match="one label per run"):
        K.plot_compare(tmp_path / "c.png", runs, ["x"])


def test_a_directory_without_metrics_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFilesError, match=r"neither iterations\.csv nor epochs\.csv"):
        K.load_runs([tmp_path / "empty"])
    with pytest.raises(RunFilesError, match="not found"):
        K.load_runs([tmp_path / "missing"])


def test_histogram_grid_and_monitor_figures(tmp_path):
    counts = {"layer1": np.array([[50, 1, 2, 3], [0, 5, 5, 0]]), "layer2": np.ones((2, 4))}
    edges = {n: np.tile(np.linspace(0, 1, 5), (2, 1)) for n in counts}
    path = F.histogram_grid(tmp_path / "h.png", counts, edges, ["iteration 1", "iteration 9"],
                            {"layer1": "(relu)"})  # fmt: skip
    assert_png(path)
    rows = [{"iteration": i, "epoch": 1, "layer1.act_std": 0.5, "layer1.update_ratio": 1e-3,
             "layer1.act_dead": 0.1, "layer2.w_norm": 2.0} for i in (1, 21)]  # fmt: skip
    assert F.layer_names(rows[0]) == ["layer1", "layer2"]
    assert_png(F.plot_monitor(tmp_path / "m.png", rows))
    with pytest.raises(ValueError, match="no monitor samples"):
        F.plot_monitor(tmp_path / "m.png", [])
    assert F.redraw_monitor(tmp_path) == []
