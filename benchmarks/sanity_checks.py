"""Measure what ``numnet sanity`` rests on: initial losses per init, and its own wall time.

1. The initial loss (regularisation off, one train-mode forward on 100 Fashion-MNIST training
   images) of the command's networks for 20 init seeds each: the evidence behind the initial-loss
   band of ``numnet.babysit.sanity`` (``LOSS_BAND``).
2. ``numnet sanity`` end to end (a subprocess, data loading included) on the default recipe,
   ``--threads 1``, three times; the issue asks for under ~30 s on 2 cores.

Usage: ``.venv/bin/python benchmarks/sanity_checks.py`` (writes benchmarks/SANITY.md).
Deterministic apart from the wall times; the load average is recorded beside them.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import datetime  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402

from numnet._atomic import atomic_write_text  # noqa: E402
from numnet.babysit.sanity import LOSS_BAND  # noqa: E402
from numnet.classifiers import ConvNet, FullyConnectedNet, ThreeLayerConvNet  # noqa: E402

SEEDS = range(1, 21)
NETS = {
    "ConvNet (default recipe: batchnorm, kaiming)": lambda s: ConvNet(rng=s),
    "ConvNet, group norm": lambda s: ConvNet(rng=s, normalization="groupnorm"),
    "ConvNet, no normalisation": lambda s: ConvNet(rng=s, normalization=None),
    "FullyConnectedNet 512-256, batchnorm": lambda s: FullyConnectedNet(
        [512, 256], input_dim=784, normalization="batchnorm", init="kaiming", rng=s),
    "FullyConnectedNet 512-256, no normalisation": lambda s: FullyConnectedNet(
        [512, 256], input_dim=784, init="kaiming", rng=s),
    "ThreeLayerConvNet, kaiming": lambda s: ThreeLayerConvNet(
        (1, 28, 28), 32, 7, 100, init="kaiming", rng=s),
    "ThreeLayerConvNet, xavier": lambda s: ThreeLayerConvNet(
        (1, 28, 28), 32, 7, 100, init="xavier", rng=s),
    "FullyConnectedNet 5x100, gaussian 1e-2": lambda s: FullyConnectedNet(
        [100] * 5, input_dim=784, init="gaussian", weight_scale=1e-2, rng=s),
    "FullyConnectedNet 512-256, gaussian 1.0": lambda s: FullyConnectedNet(
        [512, 256], input_dim=784, init="gaussian", weight_scale=1.0, rng=s),
}  # fmt: skip


def initial_losses() -> list[str]:
    """Markdown rows: min, median, max of the initial loss over the seeds, and outside the band."""
    from numnet.data import load_dataset, prepare

    data = prepare(load_dataset("fashion-mnist"), num_val=5000, seed=0, per_batch=True)
    idx = np.random.default_rng(0).permutation(data["X_train"].shape[0])[:100]
    X, y = data["X_train"][idx], data["y_train"][idx]
    lo, hi = (f * math.log(10) for f in LOSS_BAND)
    rows = []
    for name, make in NETS.items():
        with np.errstate(all="ignore"):
            losses = np.array([make(s).loss(X, y)[0] for s in SEEDS])
        out = int(np.sum((losses < lo) | (losses > hi)))
        rows.append(f"| {name} | {losses.min():.2f} | {np.median(losses):.2f} | "
                    f"{losses.max():.4g} | {out} of {len(losses)} |")  # fmt: skip
    return rows


def command_times(repeats: int = 3) -> list[tuple[float, tuple, str]]:
    """Wall seconds of ``numnet sanity`` (default recipe), load average before, last line."""
    exe = Path(sys.executable).with_name("numnet")
    out = []
    for _ in range(repeats):
        load = os.getloadavg()
        t = time.perf_counter()
        p = subprocess.run([str(exe), "sanity", "--threads", "1"], capture_output=True, text=True)
        seconds = time.perf_counter() - t
        summary = [line for line in p.stdout.splitlines() if "checks passed" in line]
        out.append((seconds, load, summary[-1] if summary else p.stderr.strip()))
    return out


def main() -> None:
    """Measure both and write SANITY.md."""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lo, hi = (f * math.log(10) for f in LOSS_BAND)
    lines = [
        "# numnet sanity: initial losses and wall time",
        "",
        "Written by `.venv/bin/python benchmarks/sanity_checks.py`; do not edit by hand.",
        f"- date: {date}; machine: {os.cpu_count()} CPUs",
        "",
        "## Initial loss (reg off) on 100 Fashion-MNIST training images, 20 init seeds",
        "",
        f"ln(10) = {math.log(10):.3f}; the check's band is [{lo:.2f}, {hi:.2f}] "
        f"({LOSS_BAND[0]:g}x to {LOSS_BAND[1]:g}x ln C).",
        "",
        "| network | min | median | max | outside the band |",
        "|---|---|---|---|---|",
        *initial_losses(),
        "",
        "## `numnet sanity` on the default recipe (ConvNet, 422k params), --threads 1",
        "",
        "| run | wall s | load average before (1, 5, 15 min) | result |",
        "|---|---|---|---|",
    ]
    for i, (s, load, last) in enumerate(command_times(), start=1):
        lines.append(f"| {i} | {s:.1f} | {[round(v, 2) for v in load]} | {last} |")
    text = "\n".join(lines) + "\n"
    atomic_write_text(HERE / "SANITY.md", text)
    print(text)


if __name__ == "__main__":
    main()
