"""Helpers for the search tests that run real ``numnet search`` processes on Fashion-MNIST."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from numnet.data import DATASETS, locations

ROOT = Path(__file__).resolve().parents[1]
SYSTEM = locations.DEBIAN_FASHION_MNIST
#: The processes read the real Fashion-MNIST (a subset: about a second per trial).
needs_fashion_mnist = pytest.mark.skipif(
    not all((SYSTEM / f.name).is_file() for f in DATASETS["fashion-mnist"].files),
    reason=f"Fashion-MNIST not installed at {SYSTEM} (apt-get install dataset-fashion-mnist)",
)
SPACE = """
[lr]
low = 1e-4
high = 0.1
log = true
[reg]
low = 1e-6
high = 1e-2
log = true
"""
TRIAL = ["--model", "fc", "--hidden-dims", "256,256", "--num-train", "5000", "--num-val", "500",
         "--num-test", "100", "--batch-size", "100", "--epochs", "2", "--data-dir", str(SYSTEM),
         "--pruner", "none"]  # fmt: skip


def write_space(folder: Path) -> Path:
    path = folder / "space.toml"
    path.write_text(SPACE)
    return path


def start(folder: Path, *argv) -> subprocess.Popen:
    """Start ``numnet search --space space.toml <TRIAL options> argv`` in ``folder``.

    In its own session (so a signal reaches it alone); its output goes to ``proc.log``.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = open(folder / f"log-{time.monotonic_ns()}.txt", "w")
    cmd = [sys.executable, "-m", "numnet", "search", "--space", "space.toml", *TRIAL, *argv]
    proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    proc.log = Path(out.name)
    out.close()
    return proc


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    """Wait for ``proc``; (exit code, its output)."""
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"numnet search still running after {timeout}s:\n"
                             f"{proc.log.read_text()}") from None  # fmt: skip
    return code, proc.log.read_text()


def load(storage, name: str):
    """The study ``name`` once it exists (processes create it at their start)."""
    for _ in range(600):
        if name in {s.study_name for s in storage.get_all_studies()}:
            return optuna.load_study(study_name=name, storage=storage)
        time.sleep(0.1)
    raise AssertionError(f"study {name!r} never appeared")


def wait_until(predicate, timeout: float = 120, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def pid_of(trial) -> int | None:
    worker = trial.user_attrs.get("worker", "")
    parts = worker.split(":")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def check_exact(study, n: int) -> list:
    """The finished trials: exactly ``n``, none with the params of another (none ran twice)."""
    done = [t for t in study.get_trials() if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(done) == n, [(t.number, t.state.name, t.user_attrs) for t in study.get_trials()]
    params = [tuple(sorted(t.params.items())) for t in done]
    assert len(set(params)) == n
    return done
