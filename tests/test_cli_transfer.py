"""Transfer learning from the command line, end to end on the tiny data set.

``numnet finetune`` / ``train --init-from``, ``--classes`` / ``--per-class``, ``numnet features``.
"""

import json
import re

import numpy as np
import pytest
from _cli_testlib import SMALL, run_cli

from numnet.checkpoint import read_checkpoint
from numnet.classifiers import LinearClassifier
from numnet.solver import Solver

FIVE = ["--classes", "5,6,7,8,9"]


def ckpt(path, group="params"):
    return read_checkpoint(path).group(group)


def buffers(path):
    return read_checkpoint(path).state["model"]["buffers"]


@pytest.fixture
def pretrained(tiny_data, tmp_path, capsys):
    """A convnet trained on classes 0-4 of the tiny set: its run directory."""
    out = tmp_path / "pre"
    code, _, err = run_cli(capsys, "train", *SMALL, "--data-dir", tiny_data, "--out", out,
                           "--classes", "0,1,2,3,4", "--epochs", "1")  # fmt: skip
    assert code == 0, err
    return out


def finetune(capsys, tiny_data, source, out, *extra):
    common = ["--num-val", "40", "--batch-size", "10", "--lr", "0.003", *FIVE]
    return run_cli(capsys, "finetune", source, "--data-dir", tiny_data, "--out", out, *common,
                   *extra)  # fmt: skip


def test_classes_run_sees_only_those_classes(pretrained):
    summary = json.loads((pretrained / "summary.json").read_text())
    conf = json.loads((pretrained / "config.json").read_text())
    assert summary["class_names"] == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
    assert len(summary["confusion_matrix"]) == 5 and conf["options"]["classes"] == [0, 1, 2, 3, 4]
    assert conf["model_config"]["num_classes"] == 5
    assert summary["num_test"] == 60  # the tiny test set has 12 images of each class


def test_finetune_freezes_copies_reports_and_records(pretrained, tiny_data, tmp_path, capsys):
    out = tmp_path / "ft"
    code, stdout, err = finetune(capsys, tiny_data, pretrained / "best.npz", out, "--per-class",
                                 "8", "--new-classes", "5", "--freeze-upto", "2",
                                 "--head-epochs", "1", "--epochs", "3")  # fmt: skip
    assert code == 0, err
    assert f"loaded {pretrained / 'best.npz'} (ConvNet): 18 of 20 entries copied" in stdout
    assert "re-initialised (2): W4 (16, 5) [re-initialised on request], b4 (5,)" in stdout
    src, last = ckpt(pretrained / "best.npz"), ckpt(out / "last.npz")
    frozen = ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2"]
    for k in src:
        assert np.array_equal(last[k], src[k]) == (k in frozen), k
    sb, lb = buffers(pretrained / "best.npz"), buffers(out / "last.npz")
    for k in sb:
        assert np.array_equal(lb[k], sb[k]) == k.startswith(("bn1.", "bn2.")), k
    conf = json.loads((out / "config.json").read_text())
    init = conf["init_from"]
    assert init["checkpoint"] == str(pretrained / "best.npz") and init["frozen"] == frozen
    assert init["frozen_during_head_epochs"] == ["W3", "b3", "gamma3", "beta3"]
    assert init["normalization"] == "the checkpoint's run"
    assert conf["data_info"]["normalization"] == json.loads(
        (pretrained / "config.json").read_text())["data_info"]["normalization"]  # fmt: skip
    assert conf["data_info"]["num_train"] == 40  # exactly 8 of each of 5 classes
    assert [r["name"] for r in init["report"]["reinitialised"]] == ["W4", "b4"]
    assert read_checkpoint(out / "last.npz").state["model"]["frozen"] == sorted(frozen)
    code, stdout, _ = run_cli(capsys, "eval", out / "best.npz", "--data-dir", tiny_data)
    assert code == 0 and "on 60 fashion-mnist images" in stdout and "Sandal" in stdout


def test_train_init_from_is_finetune(pretrained, tiny_data, tmp_path, capsys):
    common = ["--per-class", "8", "--freeze", "1", "--lr-mult", "base=0.5", "--epochs", "2"]
    code, _, err = finetune(capsys, tiny_data, pretrained / "last.npz", tmp_path / "a", *common)
    assert code == 0, err
    code, _, err = run_cli(capsys, "train", "--init-from", pretrained / "last.npz",
                           "--data-dir", tiny_data, "--out", tmp_path / "b", "--num-val", "40",
                           "--batch-size", "10", "--lr", "0.003", *FIVE, *common)  # fmt: skip
    assert code == 0, err
    a, b = ckpt(tmp_path / "a" / "last.npz"), ckpt(tmp_path / "b" / "last.npz")
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    settings = read_checkpoint(tmp_path / "a" / "last.npz").state["settings"]
    assert settings["lr_mult"] == {"base": 0.5}


@pytest.mark.parametrize("stop_at", [2, 6])  # 4 steps an epoch: in the head phase, and after it
def test_finetune_resumes_exactly_after_ctrl_c(stop_at, pretrained, tiny_data, tmp_path, capsys,
                                               monkeypatch):  # fmt: skip
    extra = ["--per-class", "8", "--new-classes", "5", "--head-epochs", "1", "--epochs", "2",
             "--lr-mult", "1=0.5", "--dropout-keep", "0.5"]  # fmt: skip
    code, _, err = finetune(capsys, tiny_data, pretrained / "best.npz", tmp_path / "full", *extra)
    assert code == 0, err
    from numnet.cli.record import RunRecorder

    original = RunRecorder.on_batch_end

    def interrupt(self, solver, logs):
        original(self, solver, logs)
        if logs["iteration"] == stop_at:
            raise KeyboardInterrupt

    monkeypatch.setattr(RunRecorder, "on_batch_end", interrupt)
    part = tmp_path / "part"
    code, _, err = finetune(capsys, tiny_data, pretrained / "best.npz", part, *extra)
    assert code == 130 and f"numnet train --resume {part}" in err
    monkeypatch.setattr(RunRecorder, "on_batch_end", original)
    code, _, err = run_cli(capsys, "train", "--resume", part, "--data-dir", tiny_data)
    assert code == 0, err
    for name in ("last.npz", "best.npz"):
        a, b = ckpt(tmp_path / "full" / name), ckpt(part / name)
        for k in a:
            assert np.array_equal(a[k], b[k]), (name, k)
    assert (tmp_path / "full" / "epochs.csv").read_text().count("\n") == (
        part / "epochs.csv").read_text().count("\n")  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--filters", "8,8"], "cannot start from .*best.npz: param 'W1' must be kept but the "
         r"source has shape \(4, 1, 3, 3\), the model \(8, 1, 3, 3\)"),
        (["--hidden-dims", "32", "--freeze-upto", "3"], r"param 'W3' must be kept but the source "
         r"has shape \(392, 16\), the model \(392, 32\)"),
        (["--model", "fc"], "--model fc: .*best.npz holds a ConvNet; the architecture comes"),
        (["--new-classes", "3"], r"--new-classes 3, but the data has 5 classes \(--classes\)"),
        (["--freeze-upto", "4"], "--freeze-upto 4 leaves nothing to train: the model has layers "
         "1..4, and 4 is the head"),
        (["--freeze", "W9"], "parameter selector 'W9' matches nothing"),
        (["--head-epochs", "2", "--epochs", "2"], "--head-epochs 2 must be less than --epochs 2"),
        (["--freeze", "base", "--head-epochs", "1"], "--head-epochs: head_first needs trainable"),
        (["--per-class", "100"], "--per-class: per_class=100 but class . has only"),
        (["--lr-mult", "7=2"], "cannot set up training: parameter selector '7' matches nothing"),
        (["--classes", "5,10"], "--classes 10: fashion-mnist has classes 0..9"),
    ],
)  # fmt: skip
def test_mistakes_are_one_line_and_leave_nothing(extra, message, pretrained, tiny_data, tmp_path,
                                                 capsys):  # fmt: skip
    out = tmp_path / "bad"
    argv = list(extra)
    if "--classes" in argv:
        code, _, err = run_cli(capsys, "finetune", pretrained / "best.npz", "--data-dir",
                               tiny_data, "--out", out, *argv)  # fmt: skip
    else:
        code, _, err = finetune(capsys, tiny_data, pretrained / "best.npz", out, *argv)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("numnet: error: ")
    assert re.search(message, err), err
    assert not out.exists()


def test_transfer_options_need_a_checkpoint(tiny_data, tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", *SMALL, "--data-dir", tiny_data, "--out",
                           tmp_path / "x", "--freeze-upto", "1")  # fmt: skip
    assert code == 2 and "--freeze-upto needs a checkpoint to start from" in err
    code, _, err = run_cli(capsys, "finetune", tmp_path / "none.npz", "--data-dir", tiny_data,
                           "--out", tmp_path / "x")  # fmt: skip
    assert code == 1 and "cannot start from it: checkpoint" in err and "no such file" in err


def test_features_command_writes_a_solver_ready_npz(pretrained, tiny_data, tmp_path, capsys):
    out = tmp_path / "feats.npz"
    code, stdout, err = run_cli(capsys, "features", pretrained / "best.npz", "--data-dir",
                                tiny_data, "--out", out, *FIVE, "--num-val", "40",
                                "--per-class", "10")  # fmt: skip
    assert code == 0, err
    assert "layer 3 features (16 per image) of 50 train / 40 val / 60 test" in stdout
    assert "normalised with the checkpoint's run's statistics" in stdout
    with np.load(out, allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    assert d["X_train"].shape == (50, 16) and d["X_train"].dtype == np.float32
    assert np.bincount(d["y_train"]).tolist() == [10] * 5 and d["y_test"].shape == (60,)
    assert d["class_names"].tolist() == ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert int(d["layer"]) == 3
    clf = LinearClassifier(16, 5, loss="svm", rng=0)
    Solver(clf, d, num_epochs=2, verbose=False, seed=0, batch_size=10).train()
    layer1 = ["--out", out, "--layer", "1", "--num-val", "40"]
    code, stdout, _ = run_cli(capsys, "features", pretrained / "best.npz", "--data-dir",
                              tiny_data, *layer1)  # fmt: skip
    assert code == 0 and "layer 1 features (784 per image)" in stdout
    code, _, err = run_cli(capsys, "features", pretrained / "best.npz", "--data-dir", tiny_data,
                           "--out", out, "--layer", "4", "--num-val", "40")  # fmt: skip
    assert code == 2 and "--layer: layer must be an int in [1, 3]" in err


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--classes", "5", "must be at least two distinct class labels"),
        ("--classes", "5,5", "must be at least two distinct class labels"),
        ("--classes", "5,-1", "must be class labels"),
        ("--lr-mult", "base", "must be SELECTOR=FACTOR"),
        ("--lr-mult", "head=0", "must be a finite number > 0"),
        ("--freeze", "1,,2", "non-empty and comma separated"),
        ("--finetune-lr-factor", "2", r"must be a number in \(0, 1\]"),
        ("--per-class", "0", "must be a positive integer"),
    ],
)
def test_transfer_option_values_are_checked_when_parsed(flag, value, message, capsys):
    code, _, err = run_cli(capsys, "train", f"{flag}={value}")
    assert code == 2 and re.search(message, err), err


def test_transfer_options_from_a_config_file(tmp_path):
    from numnet.cli.config import load_toml

    f = tmp_path / "ft.toml"
    f.write_text('init-from = "runs/pre/best.npz"\nclasses = [5, 6, 7]\nlr_mult = "base=0.1"\n'
                 "[transfer]\nhead-epochs = 2\nfreeze = 'W1'\n")  # fmt: skip
    assert load_toml(f) == {"init_from": "runs/pre/best.npz", "classes": [5, 6, 7],
                            "lr_mult": "base=0.1", "head_epochs": 2, "freeze": "W1"}  # fmt: skip
