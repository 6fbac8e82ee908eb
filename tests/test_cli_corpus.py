"""Every subcommand against a corpus of broken inputs: one line on stderr, no traceback, exit != 0.

Each case damages a copy of a finished run (or gives a bad argument) and runs one command; the
error must be ``numnet: error: ...`` on a single line, naming what is wrong where a fragment is
given. Afterwards the run's checkpoints are untouched.
"""

from __future__ import annotations

import errno
import json
import shutil

import numpy as np
import pytest
from _cli_testlib import load_tiny_dataset, run_cli, train_argv, write_tiny_idx

from numnet.checkpoint import load_model


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The tiny data set and a finished one-epoch run (never modified: tests copy it)."""
    root = tmp_path_factory.mktemp("corpus")
    data = root / "data"
    write_tiny_idx(data)
    run = root / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("numnet.cli.dataload.load_dataset", load_tiny_dataset)
        from numnet.cli.main import main

        assert main([str(a) for a in train_argv(data, run, "--epochs", "1")]) == 0
    return data, run


@pytest.fixture
def run(finished, tmp_path, monkeypatch):
    data, original = finished
    monkeypatch.setattr("numnet.cli.dataload.load_dataset", load_tiny_dataset)
    copy = tmp_path / "run"
    shutil.copytree(original, copy)
    return data, copy


def edit_json(path, change):
    obj = json.loads(path.read_text())
    change(obj)
    path.write_text(json.dumps(obj))


def edit_options(**values):
    return lambda r, t: edit_json(r / "config.json", lambda c: c["options"].update(values))


def assert_one_line(code, err, *fragments):
    assert code != 0, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("numnet: error: "), err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def resume(r, data, tmp=None):
    return ["train", "--resume", r, "--data-dir", data]


#: (id, damage(run_dir, tmp_path), argv(run_dir, data, tmp_path), fragments of the message)
CORPUS = [
    # --- train: config files and options
    ("toml-not-utf8", lambda r, t: (t / "c.toml").write_bytes(b"lr = 0.1 # caf\xe9\n"),
     lambda r, d, t: ["train", "--config", t / "c.toml", "--out", t / "new"],
     ["c.toml", "not UTF-8"]),
    ("toml-empty-filters", lambda r, t: (t / "c.toml").write_text("filters = []\n"),
     lambda r, d, t: ["train", "--config", t / "c.toml", "--data-dir", d, "--out", t / "new"],
     ["--filters", "at least one"]),
    ("out-empty", None, lambda r, d, t: ["train", "--out", ""], ["--out: must name a path"]),
    ("resume-empty", None, lambda r, d, t: ["train", "--resume", ""], ["--resume: must name"]),
    ("data-dir-empty", None, lambda r, d, t: ["train", "--data-dir", ""],
     ["--data-dir: must name a folder"]),
    ("lr-overflows-float32", None,
     lambda r, d, t: [*train_argv(d, t / "new"), "--optimizer", "sgd", "--lr", "1e39"],
     ["training stopped: the update would make", "not applied"]),
    # --- train --resume: a hand-edited config.json
    ("config-data", edit_options(data="imagenet"), resume, ["config.json: options.data",
                                                            "invalid choice 'imagenet'"]),
    ("config-batch-size", edit_options(batch_size="abc"), resume,
     ["config.json: options.batch_size", "expected an integer, got 'abc'"]),
    ("config-lr", edit_options(lr="abc"), resume, ["options.lr", "expected a number"]),
    ("config-threads", edit_options(threads="abc"), resume, ["options.threads"]),
    ("config-unknown", edit_options(colour="red"), resume, ["unknown option 'colour'"]),
    ("config-options-list", lambda r, t: edit_json(r / "config.json",
                                                   lambda c: c.update(options=[1])),
     resume, ["is not a numnet run config"]),
    ("config-model", lambda r, t: edit_json(r / "config.json",
                                            lambda c: c["model_config"].update(hidden_dims="x")),
     resume, ["cannot build the ConvNet model"]),
    ("config-not-json", lambda r, t: (r / "config.json").write_text("{"), resume,
     ["config.json"]),
    ("config-not-utf8", lambda r, t: (r / "config.json").write_bytes(b"\xff\xfe{}"), resume,
     ["config.json"]),
    ("last-garbage", lambda r, t: (r / "last.npz").write_bytes(b"PK garbage"), resume,
     ["cannot resume", "last.npz"]),
    ("metrics-garbage", lambda r, t: (r / "epochs.csv").write_text("epoch,iteration\nx,y\n"),
     resume, ["epochs.csv"]),
    # --- plot: a malformed summary.json or metrics
    ("summary-ragged", lambda r, t: edit_json(r / "summary.json",
                                              lambda s: s.update(confusion_matrix=[[1], [1, 2]])),
     lambda r, d, t: ["plot", r], ["summary.json"]),
    ("summary-overflow", lambda r, t: edit_json(r / "summary.json",
                                                lambda s: s.update(confusion_matrix=[[10**30]])),
     lambda r, d, t: ["plot", r], ["summary.json"]),
    ("summary-inf", lambda r, t: (r / "summary.json").write_text(
        '{"confusion_matrix": [[Infinity]], "class_names": ["a"]}'),
     lambda r, d, t: ["plot", r], ["summary.json"]),
    ("summary-names", lambda r, t: edit_json(r / "summary.json",
                                             lambda s: s.update(class_names=5)),
     lambda r, d, t: ["plot", r], ["summary.json"]),
    ("summary-list", lambda r, t: (r / "summary.json").write_text("[]"),
     lambda r, d, t: ["plot", r], ["summary.json"]),
    ("summary-not-utf8", lambda r, t: (r / "summary.json").write_bytes(b"\xff"),
     lambda r, d, t: ["plot", r], ["summary.json"]),
    ("plot-iterations", lambda r, t: (r / "iterations.csv").write_text("iteration,loss\n1\n"),
     lambda r, d, t: ["plot", r], ["iterations.csv"]),
    # --- eval
    ("eval-garbage", lambda r, t: (r / "best.npz").write_bytes(b"\x00" * 100),
     lambda r, d, t: ["eval", r / "best.npz", "--data-dir", d], ["best.npz", "cannot be read"]),
    ("eval-out-file", lambda r, t: (t / "f").write_text("x"),
     lambda r, d, t: ["eval", r / "best.npz", "--data-dir", d, "--out", t / "f"],
     ["cannot write to --out"]),
    ("eval-out-empty", None, lambda r, d, t: ["eval", r / "best.npz", "--out", ""],
     ["--out: must name a path"]),
    ("eval-config", edit_options(data="imagenet"),
     lambda r, d, t: ["eval", r / "best.npz", "--data-dir", d], ["config.json", "options.data"]),
    # --- data and gradcheck
    ("fetch-into-a-file", lambda r, t: (t / "f").write_text("x"),
     lambda r, d, t: ["data", "fetch", "mnist", "--data-dir", t / "f"], ["cannot fetch mnist"]),
    ("plot-empty", None, lambda r, d, t: ["plot", ""], ["RUN_DIR: must name a path"]),
    ("list-empty", None, lambda r, d, t: ["data", "list", "--data-dir", ""], ["must name a path"]),
    ("gradcheck-only", None, lambda r, d, t: ["gradcheck", "--only", "no-such-check"],
     ["matches no check"]),
    # --- a directory for a file, a file for a directory
    ("eval-run-dir", None, lambda r, d, t: ["eval", r, "--data-dir", d],
     ["is a directory; pass a checkpoint file, such as", "best.npz"]),
    ("features-run-dir", None, lambda r, d, t: ["features", r, "--out", t / "f.npz"],
     ["is a directory; pass a checkpoint file"]),
    ("features-out-dir", None, lambda r, d, t: ["features", r / "best.npz", "--out", r],
     ["--out", "is a directory; name the .npz file"]),
    ("features-over-checkpoint", None,
     lambda r, d, t: ["features", r / "best.npz", "--out", r / "last.npz", "--data-dir", d],
     ["last.npz exists and is not a features file", "pick another name"]),
    ("features-over-a-file", lambda r, t: (t / "notes.npz").write_text("mine"),
     lambda r, d, t: ["features", r / "best.npz", "--out", t / "notes.npz", "--data-dir", d],
     ["notes.npz exists and is not a features file"]),
    ("plot-a-file", None, lambda r, d, t: ["plot", r / "summary.json"],
     ["summary.json is a file, not a run directory"]),
    ("diagnose-a-file", None, lambda r, d, t: ["diagnose", r / "summary.json"],
     ["summary.json is a file, not a run directory"]),
    ("compare-a-file", None, lambda r, d, t: ["compare", r, r / "summary.json"],
     ["summary.json is a file, not a run directory"]),
    ("resume-a-file", None, lambda r, d, t: ["train", "--resume", r / "summary.json"],
     ["summary.json: is a file, not a run directory"]),
    ("compare-out-empty", None, lambda r, d, t: ["compare", r, "--out", ""],
     ["argument --out: must name a folder, got ''"]),
    ("lr-find-out-empty", None, lambda r, d, t: ["lr-find", "--out", ""],
     ["argument --out: must name a folder, got ''"]),
    ("inspect-out-empty", None, lambda r, d, t: ["inspect", "init", "--out", ""],
     ["argument --out: must name a folder, got ''"]),
    # --- numbers out of range, sizes beyond any memory
    ("momentum-one", None, lambda r, d, t: ["train", "--momentum", "1"],
     ["argument --momentum: must be in [0, 1), got '1'"]),
    ("inspect-too-wide", None,
     lambda r, d, t: ["inspect", "init", "--width", str(10**12), "--out", t / "i"],
     ["not enough memory"]),
]  # fmt: skip


@pytest.mark.parametrize(("damage", "argv", "fragments"), [c[1:] for c in CORPUS],
                         ids=[c[0] for c in CORPUS])  # fmt: skip
def test_broken_input_gives_one_line(damage, argv, fragments, run, tmp_path, capsys):
    data, r = run
    if damage is not None:
        damage(r, tmp_path)
    checkpoints = {n: (r / n).read_bytes() for n in ("last.npz", "best.npz")}
    code, _, err = run_cli(capsys, *argv(r, data, tmp_path))
    assert_one_line(code, err, *fragments)
    if "garbage" not in str(fragments):
        assert {n: (r / n).read_bytes() for n in checkpoints} == checkpoints


def test_disk_full_while_writing_a_checkpoint(run, capsys, monkeypatch):
    data, r = run
    before = {n: (r / n).read_bytes() for n in ("last.npz", "best.npz")}

    def full(f, **arrays):
        f.write(b"PK\x03\x04 a part")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("numnet.checkpoint.np.savez", full)
    code, _, err = run_cli(capsys, *resume(r, data), "--epochs", "2")
    assert_one_line(code, err, "No space left on device", "checkpoint of step 6",
                    f"resume with: numnet train --resume {r}")  # fmt: skip
    assert {n: (r / n).read_bytes() for n in before} == before  # the checkpoints stayed intact
    assert not [p for p in r.iterdir() if p.name.startswith(".")]


def test_a_diverged_run_leaves_no_broken_model(finished, tmp_path, capsys, monkeypatch):
    data, _ = finished
    monkeypatch.setattr("numnet.cli.dataload.load_dataset", load_tiny_dataset)
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *train_argv(data, out, "--lr", "1e39"))
    assert code == 1 and "the update would make" in err
    assert not (out / "best.npz").exists()  # diverged in step 1: nothing was worth saving


def test_eval_refuses_a_checkpoint_of_nonfinite_weights(run, tmp_path, capsys):
    from numnet import checkpoint as C

    data, r = run
    state = C.read_state(r / "best.npz")
    state["model"]["params"]["W1"] = np.full_like(state["model"]["params"]["W1"], np.nan)
    C.write_state(r / "best.npz", state)
    code, _, err = run_cli(capsys, "eval", r / "best.npz", "--data-dir", data)
    assert_one_line(code, err, "model/params/W1", "non-finite")
    with pytest.raises(C.CheckpointError):
        load_model(r / "best.npz")
