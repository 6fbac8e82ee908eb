"""Crash-consistent run directories: stopped at any write, ``--resume`` ends as if never stopped.

Temp files are cleaned, SIGTERM checkpoints, a second trainer is locked out.

The stops are injected at every write point of an epoch end (see ``_crash_testlib``): killed
(``os._exit(137)`` in a child process, as SIGKILL leaves it) or interrupted (``KeyboardInterrupt``
raised inside the writer). Then the run is resumed and every file is compared with the files of
a run that was never stopped.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _cli_testlib import load_tiny_dataset, run_cli, train_argv, write_tiny_idx
from _crash_testlib import KILLED_RUN, Faults, assert_same_run_dir, install_faults

from numnet.checkpoint import read_checkpoint

TESTS = str(Path(__file__).parent)
EPOCHS = ("--epochs", "2")  # 6 steps an epoch: checks after steps 1, 6 and 12

#: The write points of the epoch-1 end, in the order they happen (``(file, n, mode)``: the n-th
#: write to that file; epochs.csv's first write is its header): the epoch's row, the checkpoint,
#: the best checkpoint (epoch 1 is a new best), then after all of them.
EPOCH_END = [
    ("epochs.csv", 2, "before"),
    ("epochs.csv", 2, "torn"),
    ("last.npz", 1, "before"),
    ("best.npz", 1, "before"),
    ("best.npz", 1, "after"),
]
#: Before the first checkpoint exists (the check after step 1), and in the final evaluation.
OTHER = [("last.npz", 0, "before"), ("best.npz", 0, "before"), ("summary.json", 0, "before")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny data set and a run that was never stopped, with the log of its write points."""
    root = tmp_path_factory.mktemp("crash")
    data = root / "data"
    write_tiny_idx(data)
    full = root / "full"
    faults = Faults(full)
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(io.StringIO()):
        mp.setattr("numnet.cli.dataload.load_dataset", load_tiny_dataset)
        install_faults(faults, mp.setattr)
        from numnet.cli.main import main

        assert main([str(a) for a in train_argv(data, full, *EPOCHS)]) == 0
    # The points above are the epoch end's writes, in this order: epoch 1's check is a new best.
    i = faults.log.index(("epochs.csv", 2))
    assert faults.log[i : i + 3] == [("epochs.csv", 2), ("last.npz", 1), ("best.npz", 1)]
    return data, full


def _resume_and_compare(capsys, data, full, part):
    code, out, err = run_cli(capsys, "train", "--resume", part, "--data-dir", data)
    assert code == 0, err
    assert_same_run_dir(full, part)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("at", EPOCH_END + OTHER, ids=lambda p: f"{p[2]}-{p[0]}-{p[1]}")
def test_killed_at_a_write_then_resumed_equals_uninterrupted(at, reference, tmp_path, capsys,
                                                             monkeypatch):  # fmt: skip
    data, full = reference
    part = tmp_path / "part"
    argv = [str(a) for a in train_argv(data, part, *EPOCHS)]
    script = KILLED_RUN.format(tests=TESTS, run_dir=str(part), at=at, argv=argv)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 137, proc.stderr
    if at[2] == "before" and at[0].endswith(".npz"):  # killed with the temp file complete
        assert any(p.name.startswith(f".{at[0]}.") for p in part.iterdir())
    monkeypatch.setattr("numnet.cli.dataload.load_dataset", load_tiny_dataset)
    _resume_and_compare(capsys, data, full, part)


@pytest.mark.slow
@pytest.mark.parametrize(
    "at", [p for p in EPOCH_END + OTHER if p[2] != "torn"], ids=lambda p: f"{p[2]}-{p[0]}-{p[1]}"
)
def test_interrupted_in_a_write_then_resumed_equals_uninterrupted(at, reference, tmp_path, capsys,
                                                                  monkeypatch):  # fmt: skip
    data, full = reference
    part = tmp_path / "part"
    monkeypatch.setattr("numnet.cli.dataload.load_dataset", load_tiny_dataset)
    with monkeypatch.context() as mp:
        faults = Faults(part, at, "interrupt")
        install_faults(faults, mp.setattr)
        code, _, err = run_cli(capsys, *train_argv(data, part, *EPOCHS))
    assert faults.fired and code == 130, err
    assert "Traceback" not in err
    if at[0] != "summary.json":
        last = part / "last.npz"
        holds = read_checkpoint(last).meta["state"]["iteration"] if last.exists() else None
        # The message names what the checkpoint really holds.
        assert f"resume with: numnet train --resume {part}" in err
        assert (f"checkpoint of step {holds}" in err) if holds else ("no checkpoint yet" in err)
    _resume_and_compare(capsys, data, full, part)


def test_a_users_files_are_never_taken_for_temp_files(reference, tmp_path, capsys, monkeypatch):
    data, _ = reference
    monkeypatch.setattr("numnet.cli.dataload.load_dataset", load_tiny_dataset)
    part = tmp_path / "part"
    assert run_cli(capsys, *train_argv(data, part, "--epochs", "1"))[0] == 0
    stale = [part / ".last.npz.ab_c9xyz.tmp", part / ".config.json.12345678.tmp"]
    mine = [part / ".last.npz.notes.tmp", part / "last.npz.abcdefgh.tmp", part / ".x.abcdefgh.tmp"]
    for p in stale + mine:
        p.write_text("x")
    assert run_cli(capsys, "train", "--resume", part, "--data-dir", data)[0] == 0
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in mine)


# ------------------------------------------------------------------------ signals and locks
SLOW_RUN = """
import sys, time
sys.path.insert(0, {tests!r})
import numnet.cli.dataload
from _cli_testlib import load_tiny_dataset, pin_auto_threads
from numnet.cli.record import RunRecorder
numnet.cli.dataload.load_dataset = load_tiny_dataset
pin_auto_threads()
original = RunRecorder.on_batch_end
def slow(self, solver, logs):
    original(self, solver, logs)
    if logs["iteration"] == 3:
        print("step 3", flush=True)
        time.sleep({sleep})
RunRecorder.on_batch_end = slow
from numnet.cli.main import main
sys.exit(main({argv!r}))
"""


def _start_slow_run(data, run_dir, sleep, *extra):
    argv = [str(a) for a in train_argv(data, run_dir, *EPOCHS, *extra)]
    script = SLOW_RUN.format(tests=TESTS, sleep=sleep, argv=argv)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    for line in proc.stdout:  # wait until it is inside step 3
        if line.startswith("step 3"):
            return proc
    raise AssertionError(proc.stderr.read())


def test_sigterm_checkpoints_and_exits_143(reference, tmp_path, capsys, monkeypatch):
    data, full = reference
    part = tmp_path / "part"
    proc = _start_slow_run(data, part, 2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "terminated" in err and f"resume with: numnet train --resume {part}" in err
    assert read_checkpoint(part / "last.npz").meta["state"]["iteration"] == 3
    monkeypatch.setattr("numnet.cli.dataload.load_dataset", load_tiny_dataset)
    _resume_and_compare(capsys, data, full, part)


def test_a_run_directory_is_locked_while_training(reference, tmp_path, capsys, monkeypatch):
    data, _ = reference
    part = tmp_path / "part"
    proc = _start_slow_run(data, part, 60)
    try:
        monkeypatch.setattr("numnet.cli.dataload.load_dataset", load_tiny_dataset)
        before = {p.name: p.stat().st_mtime_ns for p in part.iterdir()}
        code, _, err = run_cli(capsys, "train", "--resume", part, "--data-dir", data)
        assert code == 1 and len(err.strip().splitlines()) == 1, err
        assert f"numnet: error: {part} is in use by another numnet (pid {proc.pid})" in err
        assert {p.name: p.stat().st_mtime_ns for p in part.iterdir()} == before
    finally:
        proc.kill()
        proc.wait()
    # Killed: the OS released the lock; the run continues.
    time.sleep(0.1)
    code, _, err = run_cli(capsys, "train", "--resume", part, "--data-dir", data)
    assert code == 0, err
    assert not (part / ".lock").exists()


def test_the_lock_file_of_a_killed_run_is_no_obstacle(reference, tmp_path, capsys, monkeypatch):
    data, full = reference
    part = tmp_path / "part"
    script = KILLED_RUN.format(
        tests=TESTS, run_dir=str(part), at=("last.npz", 1, "after"),
        argv=[str(a) for a in train_argv(data, part, *EPOCHS)],
    )  # fmt: skip
    assert subprocess.run([sys.executable, "-c", script], capture_output=True).returncode == 137
    assert (part / ".lock").read_text().strip().isdigit()  # the dead process's pid
    monkeypatch.setattr("numnet.cli.dataload.load_dataset", load_tiny_dataset)
    _resume_and_compare(capsys, data, full, part)


def test_patience_resumes_as_if_never_stopped(reference, tmp_path, capsys, monkeypatch):
    """EarlyStopping's count of epochs without improvement comes back from the val history."""
    data, _ = reference
    monkeypatch.setattr("numnet.cli.dataload.load_dataset", load_tiny_dataset)
    flat = ["--lr", "1e-12", "--lr-schedule", "none", "--norm", "none", "--epochs", "3",
            "--patience", "1"]  # fmt: skip
    full = tmp_path / "full"
    assert run_cli(capsys, *train_argv(data, full, *flat))[0] == 0
    part = tmp_path / "part"
    with monkeypatch.context() as mp:
        install_faults(Faults(part, ("best.npz", 0, "after"), "interrupt"), mp.setattr)
        assert run_cli(capsys, *train_argv(data, part, *flat))[0] == 130
    out = _resume_and_compare(capsys, data, full, part)
    assert "stopped early after epoch 1" in out
    assert json.loads((part / "summary.json").read_text())["stop_reason"] == "early_stop"


def test_no_lock_or_temp_file_outlives_a_run(reference, tmp_path, capsys, monkeypatch):
    data, _ = reference
    monkeypatch.setattr("numnet.cli.dataload.load_dataset", load_tiny_dataset)
    out = tmp_path / "run"
    assert run_cli(capsys, *train_argv(data, out, "--epochs", "1"))[0] == 0
    assert not [p for p in os.listdir(out) if p.startswith(".")]
