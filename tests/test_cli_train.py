"""``numnet train`` end to end on a tiny generated data set: run directory, output, resume."""

import json
import time

import numpy as np
import pytest
from _cli_testlib import run_cli, train_argv

from numnet.checkpoint import read_checkpoint
from numnet.run_files import read_metrics

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RUN_FILES = {
    "config.json", "iterations.csv", "epochs.csv", "last.npz", "best.npz", "summary.json",
    "loss.png", "accuracy.png", "filters.png", "confusion.png",
}  # fmt: skip


def assert_png(path):
    import matplotlib.image as mpimg

    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    img = mpimg.imread(path)
    assert img.ndim == 3 and min(img.shape[:2]) > 50 and img.shape[2] in (3, 4), path


def epoch_lines(stdout):
    """The per-epoch lines without their timing field."""
    return [ln.rsplit("  ", 1)[0] for ln in stdout.splitlines() if ln.startswith("epoch ")]


def params(path):
    return read_checkpoint(path).group("params")


def assert_same_params(a, b):
    pa, pb = params(a), params(b)
    assert sorted(pa) == sorted(pb)
    for k in pa:
        assert np.array_equal(pa[k], pb[k]), k


@pytest.fixture
def trained(tiny_data, tmp_path, capsys):
    """A finished 2-epoch convnet run: (run_dir, stdout, wall seconds of the whole command)."""
    out = tmp_path / "run"
    start = time.perf_counter()
    code, stdout, err = run_cli(capsys, *train_argv(tiny_data, out, "--epochs", "2"))
    wall = time.perf_counter() - start
    assert code == 0, err
    return out, stdout, wall


def test_run_directory_contents(trained):
    out, _, _ = trained
    assert {p.name for p in out.iterdir()} == RUN_FILES
    for name in ("loss.png", "accuracy.png", "filters.png", "confusion.png"):
        assert_png(out / name)


def test_metrics_files_columns_and_rows(trained):
    out, _, wall = trained
    conf = json.loads((out / "config.json").read_text())
    ipe = conf["iterations_per_epoch"]
    assert ipe == 6  # 300 training images (360 - 60 val) in batches of 50
    it = (out / "iterations.csv").read_text().splitlines()
    assert it[0] == "iteration,epoch,loss,lr"
    assert len(it) == 1 + 2 * ipe
    rows = read_metrics(out / "iterations.csv")
    assert [r["iteration"] for r in rows] == list(range(1, 2 * ipe + 1))
    assert [r["epoch"] for r in rows] == [1] * ipe + [2] * ipe
    ep = (out / "epochs.csv").read_text().splitlines()
    assert ep[0] == "epoch,iteration,loss,train_acc,val_acc,lr,seconds"
    rows = read_metrics(out / "epochs.csv")
    assert [r["epoch"] for r in rows] == [0, 1, 2]  # the check after step 1, then each epoch
    assert [r["iteration"] for r in rows] == [1, ipe, 2 * ipe]
    assert all(0 <= r["val_acc"] <= 1 for r in rows)
    # Each check's loss is the mean over the steps since the previous check.
    steps = read_metrics(out / "iterations.csv")
    for prev, row in zip([{"iteration": 0}, *rows], rows):
        losses = [
            r["loss"] for r in steps if prev["iteration"] < r["iteration"] <= row["iteration"]
        ]
        assert row["loss"] == pytest.approx(sum(losses) / len(losses), rel=1e-12)
    # Seconds are per check, not cumulative: together they fit inside the command's run time.
    assert all(r["seconds"] > 0 for r in rows) and sum(r["seconds"] for r in rows) < wall
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train_seconds"] == round(sum(r["seconds"] for r in rows), 1)


def test_config_and_summary(trained):
    out, stdout, _ = trained
    conf = json.loads((out / "config.json").read_text())
    assert conf["options"]["model"] == "convnet"
    assert conf["options"]["filters"] == [4, 8]  # resolved, including per-model defaults
    assert conf["options"]["filter_size"] == 3
    assert conf["model_config"]["name"] == "ConvNet"
    assert conf["data_info"]["class_names"][0] == "T-shirt/top"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_test"] == 120
    assert np.array(summary["confusion_matrix"]).sum() == 120
    assert summary["test_acc"] > 0.5  # the tiny classes are easy; chance is 0.1
    assert f"test accuracy {100 * summary['test_acc']:.2f}%" in stdout
    assert f"run saved to {out}" in stdout


def test_one_plain_line_per_epoch_when_not_a_tty(trained):
    out, stdout, _ = trained
    lines = [ln for ln in stdout.splitlines() if ln.startswith("epoch ")]
    rows = read_metrics(out / "epochs.csv")
    assert len(lines) == len(rows) == 3
    for ln, r in zip(lines, rows):  # the line shows the CSV's row
        assert ln == (
            f"epoch {r['epoch']}/2  loss {r['loss']:.4f}  train {100 * r['train_acc']:.2f}%  "
            f"val {100 * r['val_acc']:.2f}%  lr {r['lr']:.2e}  {r['seconds']:.1f}s"
        )
    assert "\r" not in stdout  # no progress bar when stdout is not a terminal


@pytest.mark.parametrize(
    "extra", [["--dropout-keep", "0.5"], ["--augment", "--model", "fc", "--norm", "layernorm"]]
)
def test_resume_after_ctrl_c_equals_uninterrupted(extra, tiny_data, tmp_path, capsys, monkeypatch):
    full = tmp_path / "full"
    code, full_out, _ = run_cli(capsys, *train_argv(tiny_data, full, "--epochs", "2", *extra))
    assert code == 0

    from numnet.cli.record import RunRecorder

    original = RunRecorder.on_batch_end

    def interrupt_at_step_8(self, solver, logs):
        original(self, solver, logs)
        if logs["iteration"] == 8:  # mid-way through epoch 2
            raise KeyboardInterrupt

    monkeypatch.setattr(RunRecorder, "on_batch_end", interrupt_at_step_8)
    part = tmp_path / "part"
    code, _, err = run_cli(capsys, *train_argv(tiny_data, part, "--epochs", "2", *extra))
    assert code == 130
    assert f"resume with: numnet train --resume {part}" in err
    assert read_checkpoint(part / "last.npz").meta["state"]["iteration"] == 8
    monkeypatch.setattr(RunRecorder, "on_batch_end", original)

    code, stdout, err = run_cli(capsys, "train", "--resume", part, "--data-dir", tiny_data)
    assert code == 0, err
    assert "resuming" in stdout
    # The epoch line after the resume reports the whole epoch, as the uninterrupted run did.
    assert epoch_lines(stdout)[-1] == epoch_lines(full_out)[-1]
    assert_same_params(full / "last.npz", part / "last.npz")
    assert_same_params(full / "best.npz", part / "best.npz")
    # The metrics read as if the run had never stopped (times aside).
    for name in ("iterations.csv", "epochs.csv"):
        a, b = read_metrics(full / name), read_metrics(part / name)
        assert [{**r, "seconds": 0} for r in a] == [{**r, "seconds": 0} for r in b]


def test_resume_after_a_crash_cuts_the_rows_past_the_checkpoint(
    tiny_data, tmp_path, capsys, monkeypatch
):
    full = tmp_path / "full"
    assert run_cli(capsys, *train_argv(tiny_data, full, "--epochs", "2"))[0] == 0

    from numnet.cli.record import RunRecorder

    original = RunRecorder.on_batch_end

    def crash_at_step_9(self, solver, logs):
        original(self, solver, logs)
        if logs["iteration"] == 9:  # no interrupt checkpoint: last.npz is epoch 1's (step 6)
            raise RuntimeError("power cut")

    monkeypatch.setattr(RunRecorder, "on_batch_end", crash_at_step_9)
    part = tmp_path / "part"
    with pytest.raises(RuntimeError, match="power cut"):
        run_cli(capsys, *train_argv(tiny_data, part, "--epochs", "2"))
    monkeypatch.setattr(RunRecorder, "on_batch_end", original)
    assert read_checkpoint(part / "last.npz").meta["state"]["iteration"] == 6
    assert len(read_metrics(part / "iterations.csv")) == 9
    with open(part / "iterations.csv", "a") as f:
        f.write("10,2,0.4")  # and the kill cut a line short

    code, _, err = run_cli(capsys, "train", "--resume", part, "--data-dir", tiny_data)
    assert code == 0, err
    for name in ("iterations.csv", "epochs.csv"):
        a, b = read_metrics(full / name), read_metrics(part / name)
        assert [{**r, "seconds": 0} for r in a] == [{**r, "seconds": 0} for r in b]
    assert_same_params(full / "last.npz", part / "last.npz")


def test_resume_with_more_epochs_equals_longer_run(tiny_data, tmp_path, capsys):
    sched = ["--lr-schedule", "step", "--lr-step", "1", "--lr-decay", "0.5"]
    full = tmp_path / "full"
    assert run_cli(capsys, *train_argv(tiny_data, full, "--epochs", "2", *sched))[0] == 0
    part = tmp_path / "part"
    assert run_cli(capsys, *train_argv(tiny_data, part, "--epochs", "1", *sched))[0] == 0
    code, _, err = run_cli(capsys, "train", "--resume", part, "--epochs", "2",
                           "--data-dir", tiny_data)  # fmt: skip
    assert code == 0, err
    assert_same_params(full / "last.npz", part / "last.npz")
    assert json.loads((part / "config.json").read_text())["options"]["epochs"] == 2


def test_config_file_with_command_line_override(tiny_data, tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text('model = "fc"\nlr = 0.01\n[optim]\noptimizer = "sgd_momentum"\nepochs = 1\n')
    out = tmp_path / "run"
    code, _, err = run_cli(
        capsys, *train_argv(tiny_data, out, "--config", cfg, "--lr", "0.005", "--threads", "2")
    )
    assert code == 0, err
    opts = json.loads((out / "config.json").read_text())["options"]
    assert (opts["model"], opts["optimizer"], opts["epochs"]) == ("fc", "sgd_momentum", 1)
    assert opts["lr"] == 0.005  # the command line wins over the file
    assert opts["hidden_dims"] == [16] and opts["threads"] == 2
    assert not (out / "filters.png").exists()  # no conv layer to show


def test_threelayer_model_trains(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    argv = train_argv(tiny_data, out, "--model", "threelayer", "--filters", "4", "--epochs", "1")
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert json.loads((out / "config.json").read_text())["model_config"]["name"] == (
        "ThreeLayerConvNet"
    )
    assert_png(out / "filters.png")


def test_patience_stops_early(tiny_data, tmp_path, capsys):
    # A learning rate this small and no batchnorm statistics: val accuracy cannot change.
    out = tmp_path / "run"
    argv = train_argv(tiny_data, out, "--lr", "1e-12", "--lr-schedule", "none", "--norm", "none",
                      "--epochs", "3", "--patience", "1")  # fmt: skip
    code, stdout, err = run_cli(capsys, *argv)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stop_reason"] == "early_stop"
    assert summary["epochs_completed"] == 1
    assert "stopped early after epoch 1" in stdout


@pytest.mark.realdata
def test_train_on_real_fashion_mnist(tmp_path, capsys):
    from numnet.data import DatasetNotFoundError, load_dataset

    try:
        load_dataset("fashion-mnist")
    except DatasetNotFoundError:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    out = tmp_path / "run"
    argv = ["train", "--num-train", "600", "--num-val", "200", "--num-test", "300", "--epochs",
            "1", "--batch-size", "32", "--filters", "8,16", "--hidden-dims", "32",
            "--out", out]  # fmt: skip
    code, stdout, err = run_cli(capsys, *argv)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["class_names"][9] == "Ankle boot"
    assert summary["test_acc"] > 0.4  # 19 steps on 600 images: well above chance (0.1)
    assert "test accuracy" in stdout
