"""Measure ``numnet lr-find``'s suggestion rules against a quarter-decade learning-rate grid.

For each of FullyConnectedNet and ConvNet (the shipped recipes' networks, configs/fc.toml and
configs/default.toml) and each of sgd_momentum and adam, on Fashion-MNIST:

1. run the range test (``numnet.babysit.lr_find`` with its defaults) on the run's model and data;
2. train a fresh model with a short fixed budget (one epoch of a training subset, the recipe's
   cosine schedule over it, seed 0) at every lr of a quarter-decade grid (10^(k/4)), widening the
   grid while its best lr sits at an end, and at the lr each named rule of
   ``numnet.babysit.lr_find.RULES`` suggests;
3. score every run by its accuracy on the 5,000 validation images (never the test set).

It also screens a family of candidate rules (smoothing x point x factor) by interpolating the
grid's accuracy (linear in log lr) at each candidate's suggestion; that screening chose the
default rule. Only the named rules' accuracies are measured runs; the screening table says so.

Usage: ``.venv/bin/python benchmarks/lr_find_rules.py [--only fc-adam,...] [--jobs N]``
(writes benchmarks/lr_find_rules.json and benchmarks/LR_FIND.md). Deterministic: fixed seeds,
one BLAS thread per process, so ``--jobs`` changes the wall time only.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402

from numnet._atomic import atomic_write_text  # noqa: E402
from numnet.babysit.lr_find import DEFAULT_RULE, POINTS, RULES, Rule, lr_range_test  # noqa: E402
from numnet.cli import config as C  # noqa: E402
from numnet.cli import setup  # noqa: E402
from numnet.solver import Solver  # noqa: E402

#: Network options (as the recipes set them) and the budget: steps of one epoch of num_train.
MODELS = {
    "fc": {"opts": {"model": "fc", "hidden_dims": [512, 256], "norm": "batchnorm",
                    "dropout_keep": 0.8, "batch_size": 128}, "steps": 400},
    "convnet": {"opts": {"model": "convnet", "batch_size": 64}, "steps": 300},
}  # fmt: skip
#: First grid, as quarter-decade exponents k (lr = 10^(k/4)), per (model, optimizer).
GRIDS = {
    ("fc", "adam"): range(-16, -3),
    ("fc", "sgd_momentum"): range(-12, 1),
    ("convnet", "adam"): range(-16, -5),
    ("convnet", "sgd_momentum"): range(-12, 1),
}
CONFIGS = [f"{m}-{o}" for m, o in GRIDS]
SEED = 0
_DATA = {}


def _cfg(model: str, opt: str, lr: float) -> dict:
    m = MODELS[model]
    n = m["steps"] * m["opts"]["batch_size"]
    explicit = {**m["opts"], "optimizer": opt, "lr": lr, "epochs": 1, "num_train": n, "seed": SEED}
    return C.resolve(explicit)


def _solver(model: str, opt: str, lr: float) -> Solver:
    cfg = _cfg(model, opt, lr)
    if "ds" not in _DATA:
        from numnet.data import load_dataset

        _DATA["ds"] = load_dataset("fashion-mnist")
    data = setup.prepared_data(_DATA["ds"], cfg)
    return Solver(setup.build_model(cfg), data, **setup.solver_kwargs(cfg, data))


def train_once(job) -> tuple:
    """Val accuracy after the budget at one lr: ``job = (model, opt, lr)``."""
    model, opt, lr = job
    solver = _solver(model, opt, lr)
    t = time.perf_counter()
    try:
        with np.errstate(all="ignore"):
            solver.train()
        acc = float(solver.val_acc_history[-1])
    except FloatingPointError:  # NonFiniteLossError: the run diverged
        acc = float("nan")
    return job, acc, time.perf_counter() - t


def sweep(job) -> tuple:
    """The range test on the run's model and data: ``job = (model, opt)``."""
    model, opt = job
    r = lr_range_test(_solver(model, opt, 1e-3))
    return job, {"lrs": r.lrs.tolist(), "losses": r.losses.tolist(), "message": r.message}


def _map(fn, jobs, n):
    if n <= 1:
        return [fn(j) for j in jobs]
    import multiprocessing as mp

    with mp.get_context("fork").Pool(n) as pool:
        return pool.map(fn, jobs, chunksize=1)


def _key(lr: float) -> str:
    return f"{lr:.4g}"


def _grid_best(grid: dict) -> tuple[float, float]:
    lr = max(grid, key=lambda k: -1 if math.isnan(grid[k]) else grid[k])
    return float(lr), grid[lr]


def interpolate(grid: dict, lr: float) -> float:
    """Grid accuracy at ``lr``, linear in log10 lr (nan outside the grid)."""
    xs = sorted(grid, key=float)
    x = np.log10([float(k) for k in xs])
    y = np.array([grid[k] if not math.isnan(grid[k]) else 0.0 for k in xs])
    v = math.log10(lr)
    return float(np.interp(v, x, y)) if x[0] <= v <= x[-1] else float("nan")


def candidates() -> dict:
    """The screened family: smoothing x point x factor."""
    out = {}
    smoothings = [("ema", 5), ("centered", 3), ("centered", 5), ("centered", 8)]
    for sm, half in smoothings:
        for point in POINTS:
            for factor in (1.0, 0.5, 1 / 3, 0.1):
                name = f"{sm}{'' if sm == 'ema' else half}-{point}x{factor:.2g}"
                out[name] = Rule(sm, point, factor, half)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(CONFIGS), help="configs, comma separated")
    p.add_argument("--jobs", type=int, default=1, help="processes (results do not change)")
    p.add_argument("--json", default=str(HERE / "lr_find_rules.json"))
    p.add_argument("--md", default=str(HERE / "LR_FIND.md"))
    args = p.parse_args()
    configs = [tuple(c.split("-", 1)) for c in args.only.split(",")]
    started, load0 = time.time(), os.getloadavg()

    sweeps = dict(_map(sweep, configs, args.jobs))
    grids = {c: {} for c in configs}
    todo = [(m, o, 10 ** (k / 4)) for (m, o) in configs for k in GRIDS[(m, o)]]
    for _ in range(5):  # widen the grid while its best lr is at an end
        for (m, o, lr), acc, _s in _map(train_once, todo, args.jobs):
            grids[(m, o)][_key(lr)] = acc
        todo = []
        for c, grid in grids.items():
            ks = sorted(round(4 * math.log10(float(k))) for k in grid)
            best = round(4 * math.log10(_grid_best(grid)[0]))
            if best == ks[0]:
                todo.append((*c, 10 ** ((ks[0] - 1) / 4)))
            elif best == ks[-1]:
                todo.append((*c, 10 ** ((ks[-1] + 1) / 4)))
        if not todo:
            break

    suggested = {c: {r: suggest(sweeps[c], RULES[r]) for r in RULES} for c in configs}
    todo = sorted({(*c, lr) for c in configs for lr in suggested[c].values() if lr})
    measured = {c: {} for c in configs}
    for (m, o, lr), acc, _s in _map(train_once, todo, args.jobs):
        measured[(m, o)][_key(lr)] = acc
    screening = {}
    for name, rule in candidates().items():
        rows = []
        for c in configs:
            lr = suggest(sweeps[c], rule)
            best = _grid_best(grids[c])[1]
            rows.append((lr, None if lr is None else best - interpolate(grids[c], lr)))
        screening[name] = rows

    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_start": load0,
        "load_average_end": os.getloadavg(),
        "wall_seconds": round(time.time() - started),
        "default_rule": DEFAULT_RULE,
        "configs": {
            f"{m}-{o}": {
                "budget_steps": MODELS[m]["steps"],
                "sweep": sweeps[(m, o)],
                "grid": grids[(m, o)],
                "suggested": suggested[(m, o)],
                "measured": measured[(m, o)],
            }
            for (m, o) in configs
        },
        "screening": {n: [[lr, gap] for lr, gap in rows] for n, rows in screening.items()},
    }
    atomic_write_text(args.json, json.dumps(results, indent=1) + "\n")
    atomic_write_text(args.md, report(results, configs))
    print(report(results, configs))


def suggest(sw: dict, rule: Rule) -> float | None:
    from numnet.babysit.lr_find import suggest_lr

    return suggest_lr(sw["lrs"], sw["losses"], rule)


def report(res: dict, configs) -> str:
    """RESULTS markdown: the measured table, then the screening."""
    lines = [
        "# lr-find suggestion rules vs a quarter-decade grid",
        "",
        "Written by `.venv/bin/python benchmarks/lr_find_rules.py`; do not edit by hand.",
        f"Fashion-MNIST, validation accuracy (5,000 images) after a fixed budget, seed {SEED}.",
        "",
        f"- date: {res['date']}; machine: {res['machine']}; wall time {res['wall_seconds']} s",
        f"- load average (1, 5, 15 min) at start {list(res['load_average_start'])}, at end "
        f"{list(res['load_average_end'])} (other work shared the machine; accuracies do not "
        "depend on it)",
        "- budgets: "
        + "; ".join(
            f"{m}: {MODELS[m]['steps']} steps of batch {MODELS[m]['opts']['batch_size']} "
            "(one epoch of a training subset), cosine schedule"
            for m in MODELS
        ),
        "",
        "## Measured: accuracy at each rule's suggestion (trained), against the grid's best",
        "",
        "| config | grid best lr | grid best acc | "
        + " | ".join(f"{r} lr / acc (gap)" for r in RULES)
        + " |",
        "|---|---|---|" + "---|" * len(RULES),
    ]
    for m, o in configs:
        c = res["configs"][f"{m}-{o}"]
        blr, bacc = _grid_best(c["grid"])
        cells = []
        for r in RULES:
            lr = c["suggested"][r]
            if lr is None:
                cells.append("none")
                continue
            acc = c["measured"][_key(lr)]
            cells.append(f"{lr:.2g} / {100 * acc:.2f}% ({100 * (bacc - acc):+.2f})")
        lines.append(f"| {m} {o} | {blr:.2g} | {100 * bacc:.2f}% | " + " | ".join(cells) + " |")
    lines += ["", "Gap: grid best minus the rule's accuracy, in points (target: <= 1).", ""]
    lines += ["## Grid (val accuracy %, by lr)", ""]
    for m, o in configs:
        c = res["configs"][f"{m}-{o}"]
        row = ", ".join(
            f"{float(k):.2g}: {100 * v:.1f}" for k, v in sorted(c["grid"].items(),
                                                              key=lambda kv: float(kv[0]))
        )  # fmt: skip
        lines.append(f"- {m} {o}: {row}; sweep: {c['sweep']['message']}")
    lines += [
        "",
        "## Screening (interpolated from the grid, not trained): worst gap over the configs",
        "",
        "Each candidate's suggestion is scored by the grid's accuracy interpolated linearly in "
        "log lr (nan: outside the grid). Sorted by the worst gap; the best 15.",
        "",
        "| candidate | worst gap | gaps (" + ", ".join(f"{m} {o}" for m, o in configs) + ") |",
        "|---|---|---|",
    ]

    def worst(rows):
        gaps = [g for _, g in rows]
        return math.inf if any(g is None or math.isnan(g) for g in gaps) else max(gaps)

    ranked = sorted(res["screening"].items(), key=lambda kv: worst(kv[1]))[:15]
    for name, rows in ranked:
        gaps = ", ".join(
            "none" if g is None else f"{100 * g:.2f} @ {lr:.2g}" for lr, g in rows
        )  # fmt: skip
        lines.append(f"| {name} | {100 * worst(rows):.2f} | {gaps} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
