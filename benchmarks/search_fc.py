"""The documented search, end to end with the real command: coarse to fine against a 7 x 7 grid.

Usage: ``.venv/bin/python benchmarks/search_fc.py [--skip-grid] [--grid-workers W] [--out DIR]``

1. ``numnet search --space configs/search-fc.toml``: FullyConnectedNet 512-256 + batchnorm on
   Fashion-MNIST, lr in [1e-5, 1] and reg in [1e-6, 1e-1] on log scales, 30 random trials of 1
   epoch, then 10 trials of 5 epochs over ranges narrowed around the 5 best, median pruning.
2. ``numnet search --space configs/search-fc-grid.toml``: the same ranges as a 7 x 7 log grid,
   every point 5 epochs (what a course student writes). Target: the search within 0.5 points of
   the grid's best validation accuracy, with at most a third of its epochs.
3. Throughput: a small search (12 trials of 1 epoch, FC 100 on 10,000 images, no pruning) with
   ``--workers 1`` and ``--workers 2``: trials per minute from the first trial's start to the
   last one's end, as the storage recorded them.

Not a test and not part of ``make bench`` (about 15 minutes on 2 idle cores). It writes
``benchmarks/SEARCH.md`` and prints the same; the machine's load average is recorded with it,
since other work on the machine slows every row. Search times come from the storage (first
trial's start to last trial's end), so ``--out DIR`` of an earlier run reuses its finished
searches (``numnet search`` on a finished search only redraws its files). Accuracy and epochs
do not depend on ``--grid-workers`` (every trial has the same seeds and one BLAS thread).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from numnet._atomic import atomic_write_text  # noqa: E402

SMALL = ["--trials", "12", "--epochs", "1", "--num-train", "10000", "--hidden-dims", "100",
         "--pruner", "none"]  # fmt: skip


def numnet_search(out: Path, *argv) -> None:
    """Run ``numnet search ... --out out`` (output appended to out.log)."""
    with open(f"{out}.log", "a") as log:
        subprocess.run([sys.executable, "-m", "numnet", "search", *map(str, argv), "--out", out],
                       cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=True)  # fmt: skip


def span(out: Path) -> float:
    """Seconds from the first trial's start to the last trial's end, over all stages."""
    trials = [t for s in studies(out) for t in s.get_trials() if t.datetime_complete]
    start = min(t.datetime_start for t in trials)
    return (max(t.datetime_complete for t in trials) - start).total_seconds()


def studies(out: Path):
    """Every study in ``out``'s journal, by name."""
    import optuna

    from numnet.search import open_storage

    storage = open_storage(out / "journal.log")
    names = sorted(s.study_name for s in storage.get_all_studies())
    return [optuna.load_study(study_name=n, storage=storage) for n in names]


def summary(out: Path) -> dict:
    """Best validation accuracy of the last stage, epochs trained, trials per state."""
    all_studies = studies(out)
    epochs, states = 0, {}
    for study in all_studies:
        for t in study.get_trials():
            epochs += int(t.user_attrs.get("epochs", 0))
            key = t.user_attrs.get("stop_reason", t.state.name.lower())
            states[key] = states.get(key, 0) + 1
    last = all_studies[-1]
    best = last.best_trial
    return {"best": best.value, "params": best.params, "epochs": epochs, "states": states}


def throughput(out: Path) -> float:
    """Trials per minute between the first trial's start and the last trial's end."""
    (study,) = studies(out)
    done = [t for t in study.get_trials() if t.state.name in ("COMPLETE", "PRUNED")]
    start = min(t.datetime_start for t in done)
    end = max(t.datetime_complete for t in done)
    return len(done) / ((end - start).total_seconds() / 60)


def _fmt_params(p: dict) -> str:
    return ", ".join(f"{k} {v:.3g}" for k, v in p.items())


def main() -> None:
    """Run the three measurements and write SEARCH.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-grid", action="store_true", help="only the search and throughput")
    ap.add_argument("--grid-workers", type=int, default=1, help="worker processes of the grid")
    ap.add_argument("--out", type=Path, default=None, help="keep (or reuse) the searches here")
    args = ap.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="numnet-search-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    rows = []
    numnet_search(root / "staged", "--space", "configs/search-fc.toml")
    staged = summary(root / "staged")
    name = "coarse to fine, 30 x 1 + 10 x 5 epochs (random, median pruner)"
    rows.append((name, staged, span(root / "staged"), 1))
    if not args.skip_grid:
        w = args.grid_workers
        numnet_search(root / "grid", "--space", "configs/search-fc-grid.toml", "--workers", w)
        rows.append(("7 x 7 log grid x 5 epochs", summary(root / "grid"), span(root / "grid"), w))
    tpm = {}
    for w in (1, 2):
        out = root / f"small-w{w}"
        numnet_search(out, "--space", "configs/search-fc.toml", *SMALL, "--study",
                      f"small-w{w}", "--workers", w)  # fmt: skip
        tpm[w] = (throughput(out), span(out))
    load_after = os.getloadavg()
    lines = [
        "# numnet search: the documented FC search (benchmarks/search_fc.py)",
        "",
        f"{datetime.date.today()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores; load average (1/5/15 min) {load_before[0]:.2f}/"
        f"{load_before[1]:.2f}/{load_before[2]:.2f} before, {load_after[0]:.2f}/"
        f"{load_after[1]:.2f}/{load_after[2]:.2f} after. Fashion-MNIST, validation = 5,000 "
        "held-out training images, one BLAS thread per process.",
        "",
        "| search | best val accuracy | epochs trained | trials | search time (workers) | "
        "best setting |",
        "|---|---|---|---|---|---|",
    ]
    for name, s, secs, w in rows:
        states = ", ".join(f"{n} {k}" for k, n in sorted(s["states"].items()))
        lines.append(f"| {name} | {100 * s['best']:.2f}% | {s['epochs']} | {states} | "
                     f"{secs / 60:.1f} min ({w}) | {_fmt_params(s['params'])} |")  # fmt: skip
    if len(rows) == 2:
        gap = 100 * (rows[1][1]["best"] - rows[0][1]["best"])
        share = rows[0][1]["epochs"] / rows[1][1]["epochs"]
        side = "below" if gap >= 0 else "above"
        lines += ["", f"The search's best is {abs(gap):.2f} points {side} the grid's best "
                  f"(target: at most 0.5 below) with {share:.2f} of its epochs (target: at most "
                  "1/3)."]  # fmt: skip
    lines += [
        "",
        "Throughput, a small search (12 trials x 1 epoch, FC 100, 10,000 training images, no "
        "pruning), trials per minute from the first trial's start to the last one's end:",
        "",
        "| workers | trials / minute | search time |",
        "|---|---|---|",
    ]
    for w, (rate, secs) in tpm.items():
        lines.append(f"| {w} | {rate:.1f} | {secs:.0f} s |")
    text = "\n".join(lines) + "\n"
    atomic_write_text(HERE / "SEARCH.md", text)
    print(text)
    print(f"searches kept in {root}")


if __name__ == "__main__":
    main()
