"""One epoch of ``numnet train`` at each BLAS thread count, interleaved: which default is faster.

Usage: ``.venv/bin/python benchmarks/threads_epoch.py [--threads 1,2] [--num-train 10000]
[--rounds 2] [--out benchmarks/THREADS.md]``.

Each run is a fresh ``numnet train --epochs 1 --threads T`` process (the thread count must be set
before NumPy loads) on the default recipe, ``--num-train`` images, seed 0; the thread counts
alternate within each round (1, 2, then 2, 1, ...) so a change of machine load hits both. The
training time is the command's own (the sum of its ``epochs.csv`` rows: steps and accuracy
checks); wall time includes start-up, data loading, test evaluation and plots. The 1-minute load
average before and after each run is recorded, since another job on a 2-core machine decides
whether a second BLAS thread helps (OpenBLAS threads busy-wait for each other).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT)]

from numnet._atomic import atomic_write_text  # noqa: E402


def run_once(threads: int, num_train: int, workdir: str) -> dict:
    """One ``numnet train`` epoch at ``threads``; training seconds, wall seconds, load."""
    out = Path(workdir) / f"run-{threads}-{time.monotonic_ns()}"
    cmd = [
        sys.executable, "-m", "numnet.cli.main", "train",
        "--config", str(ROOT / "configs" / "default.toml"),
        "--epochs", "1", "--num-train", str(num_train), "--threads", str(threads),
        "--out", str(out),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - t0
    with open(out / "epochs.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    train = sum(float(r["seconds"]) for r in rows)
    return {"threads": threads, "train_s": train, "wall_s": wall,
            "load": (load0, os.getloadavg()[0])}  # fmt: skip


def main(argv=None) -> int:
    """Run the interleaved rounds and write the results file."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--num-train", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "THREADS.md"))
    args = ap.parse_args(argv)
    counts = [int(t) for t in args.threads.split(",")]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for t in counts if r % 2 == 0 else counts[::-1]:
                runs.append(run_once(t, args.num_train, tmp))
                print(runs[-1], flush=True)
    lines = [
        "# `numnet train` thread default: one epoch at each BLAS thread count",
        "",
        "Written by `benchmarks/threads_epoch.py`; do not edit by hand.",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} logical CPUs",
        f"- default recipe, `--epochs 1 --num-train {args.num_train}`, seed 0, "
        f"{args.rounds} interleaved rounds",
        "",
        "| run | threads | training time s | wall s | 1-min load before -> after |",
        "|---|---|---|---|---|",
    ]
    for i, run in enumerate(runs, 1):
        lo, hi = run["load"]
        lines.append(f"| {i} | {run['threads']} | {run['train_s']:.1f} | {run['wall_s']:.1f} | "
                     f"{lo:.2f} -> {hi:.2f} |")  # fmt: skip
    lines += ["", "| threads | fastest training time s | median s |", "|---|---|---|"]
    for t in counts:
        times = sorted(run["train_s"] for run in runs if run["threads"] == t)
        lines.append(f"| {t} | {times[0]:.1f} | {times[len(times) // 2]:.1f} |")
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
