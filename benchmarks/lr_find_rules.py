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
from numnet.babysit.lr_find import lr_range_test  # noqa: E402
from numnet.babysit.lr_rules import DEFAULT_RULE, POINTS, RULES, Rule  # noqa: E402
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
#: Seeds of the range tests (init and batches); every training run uses SEED.
SWEEP_SEEDS = (0, 1, 2)
_DATA = {}


def _cfg(model: str, opt: str, lr: float, seed: int) -> dict:
    m = MODELS[model]
    n = m["steps"] * m["opts"]["batch_size"]
    explicit = {**m["opts"], "optimizer": opt, "lr": lr, "epochs": 1, "num_train": n, "seed": seed}
    return C.resolve(explicit)


def _solver(model: str, opt: str, lr: float, seed: int = SEED) -> Solver:
    cfg = _cfg(model, opt, lr, seed)
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
    seconds = time.perf_counter() - t
    print(f"train {job}: {100 * acc:.2f}% ({seconds:.0f} s)", file=sys.stderr, flush=True)
    return job, acc, seconds


def sweep(job) -> tuple:
    """The range test on the run's model and data: ``job = (model, opt, seed)``."""
    model, opt, seed = job
    r = lr_range_test(_solver(model, opt, 1e-3, seed))
    print(f"sweep {job}: {r.message}", file=sys.stderr, flush=True)
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
    """The screened family: smoothing x point (the knee at 4 fractions) x factor."""
    out = {}
    smoothings = [("ema", 5), ("centered", 2), ("centered", 3), ("centered", 5), ("centered", 8)]
    points = [(p, 0.1) for p in POINTS if p != "knee"]
    points += [("knee", f) for f in (0.05, 0.1, 0.2, 0.3)]
    for sm, half in smoothings:
        for point, frac in points:
            for factor in (2.0, 1.0, 0.5, 1 / 3, 0.2, 0.1):
                name = f"{sm}{'' if sm == 'ema' else half}-{point}"
                if point == "knee":
                    name += f"{frac:g}"
                out[f"{name}x{factor:.2g}"] = Rule(sm, point, factor, half, frac)
    return out


def main() -> None:
    """Run everything and write the results files."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(CONFIGS), help="configs, comma separated")
    p.add_argument("--jobs", type=int, default=1, help="processes (results do not change)")
    p.add_argument("--reuse", default=None, metavar="JSON",
                   help="take the accuracy of each (config, lr) already in this results file "
                   "instead of training again (the runs are deterministic)")  # fmt: skip
    p.add_argument("--json", default=str(HERE / "lr_find_rules.json"))
    p.add_argument("--md", default=str(HERE / "LR_FIND.md"))
    args = p.parse_args()
    configs = [tuple(c.split("-", 1)) for c in args.only.split(",")]
    started, load0 = time.time(), os.getloadavg()
    known, reused = {}, 0
    if args.reuse:
        for name, c in json.load(open(args.reuse))["configs"].items():
            m, o = name.split("-", 1)
            for table in ("grid", "measured"):
                for k, acc in c[table].items():
                    known[(m, o, k)] = acc

    def train_all(jobs):
        nonlocal reused
        todo = [j for j in jobs if (j[0], j[1], _key(j[2])) not in known]
        reused += len(jobs) - len(todo)
        for (m, o, lr), acc, _s in _map(train_once, todo, args.jobs):
            known[(m, o, _key(lr))] = acc
        return {j: known[(j[0], j[1], _key(j[2]))] for j in jobs}

    jobs = [(m, o, seed) for (m, o) in configs for seed in SWEEP_SEEDS]
    sweeps = {}
    for (m, o, seed), sw in _map(sweep, jobs, args.jobs):
        sweeps.setdefault((m, o), {})[seed] = sw
    grids = {c: {} for c in configs}
    todo = [(m, o, 10 ** (k / 4)) for (m, o) in configs for k in GRIDS[(m, o)]]
    for _ in range(5):  # widen the grid while its best lr is at an end
        for (m, o, lr), acc in train_all(todo).items():
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

    # Every rule on the seed-0 sweep; the default rule also on the other seeds' sweeps.
    suggested = {
        c: {r: [suggest(sweeps[c][s], RULES[r]) for s in
                (SWEEP_SEEDS if r == DEFAULT_RULE else SWEEP_SEEDS[:1])] for r in RULES}
        for c in configs
    }  # fmt: skip
    todo = sorted({(*c, lr) for c in configs for lrs in suggested[c].values() for lr in lrs if lr})
    measured = {c: {} for c in configs}
    for (m, o, lr), acc in train_all(todo).items():
        measured[(m, o)][_key(lr)] = acc
    screening = {}
    for name, rule in candidates().items():
        rows = []
        for c in configs:
            best = _grid_best(grids[c])[1]
            for seed in SWEEP_SEEDS:
                lr = suggest(sweeps[c][seed], rule)
                rows.append((lr, None if lr is None else best - interpolate(grids[c], lr)))
        screening[name] = rows

    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_start": load0,
        "load_average_end": os.getloadavg(),
        "wall_seconds": round(time.time() - started),
        "reused_runs": reused,
        "default_rule": DEFAULT_RULE,
        "configs": {
            f"{m}-{o}": {
                "budget_steps": MODELS[m]["steps"],
                "sweeps": {str(s): sw for s, sw in sweeps[(m, o)].items()},
                "grid": grids[(m, o)],
                "suggested": suggested[(m, o)],
                "measured": measured[(m, o)],
            }
            for (m, o) in configs
        },
        "screening": {n: [[lr, gap] for lr, gap in rows] for n, rows in screening.items()},
    }
    # The screening is recomputed from the sweeps and grids; only the markdown keeps it.
    stored = {k: v for k, v in results.items() if k != "screening"}
    atomic_write_text(args.json, json.dumps(stored, indent=1) + "\n")
    atomic_write_text(args.md, report(results, configs))
    print(report(results, configs))


def suggest(sw: dict, rule: Rule) -> float | None:
    """``rule``'s suggestion on one range test's recorded losses."""
    from numnet.babysit.lr_rules import suggest_lr

    return suggest_lr(sw["lrs"], sw["losses"], rule)


def _cell(c: dict, rule: str, i: int, best: float) -> str:
    lr = c["suggested"][rule][i]
    if lr is None:
        return "none"
    acc = c["measured"][_key(lr)]
    return f"{lr:.2g}: {100 * acc:.2f}% ({100 * (best - acc):+.2f})"


def report(res: dict, configs) -> str:
    """The results as markdown: the measured tables, the grids, then the screening."""
    names = [f"{m} {o}" for m, o in configs]
    lines = [
        "# lr-find suggestion rules vs a quarter-decade grid",
        "",
        "Written by `.venv/bin/python benchmarks/lr_find_rules.py`; do not edit by hand.",
        "Fashion-MNIST; score: validation accuracy (5,000 images) after a fixed budget; every "
        f"training run uses seed {SEED}, the range tests seeds {', '.join(map(str, SWEEP_SEEDS))}.",
        "",
        f"- date: {res['date']}; machine: {res['machine']}; wall time {res['wall_seconds']} s"
        + (f" ({res['reused_runs']} runs' accuracies reused from an earlier results file of this "
           "script, --reuse)" if res.get("reused_runs") else ""),
        f"- load average (1, 5, 15 min) at start {[round(v, 2) for v in res['load_average_start']]}"
        f", at end {[round(v, 2) for v in res['load_average_end']]} (other work shared the "
        "machine; accuracies do not depend on it, wall times do)",
        "- budgets: "
        + "; ".join(
            f"{m}: {MODELS[m]['steps']} steps of batch {MODELS[m]['opts']['batch_size']} "
            "(one epoch of a training subset), the recipe's cosine schedule over them"
            for m in MODELS
        ),
        "- networks: fc = configs/fc.toml's (512-256, batchnorm, dropout keep 0.8); convnet = "
        "the default recipe's (conv32-conv64 + batchnorm, fc128); range tests with the "
        "defaults (1e-7 to 10, 100 steps)",
        "",
        f"## The default rule ({DEFAULT_RULE}), one range test per seed, each suggestion trained",
        "",
        "Cells: suggested lr: accuracy (gap = grid best minus it, in points; target <= 1).",
        "",
        "| config | grid best lr | grid best acc | "
        + " | ".join(f"range test seed {s}" for s in SWEEP_SEEDS) + " |",
        "|---|---|---|" + "---|" * len(SWEEP_SEEDS),
    ]  # fmt: skip
    for (m, o), name in zip(configs, names):
        c = res["configs"][f"{m}-{o}"]
        blr, bacc = _grid_best(c["grid"])
        cells = [_cell(c, DEFAULT_RULE, i, bacc) for i in range(len(SWEEP_SEEDS))]
        lines.append(f"| {name} | {blr:.2g} | {100 * bacc:.2f}% | " + " | ".join(cells) + " |")
    others = [r for r in RULES if r != DEFAULT_RULE]
    lines += [
        "",
        "## The published rules (fastai's smoothing), range test seed 0, each trained",
        "",
        "| config | " + " | ".join(others) + " |",
        "|---|" + "---|" * len(others),
    ]
    for (m, o), name in zip(configs, names):
        c = res["configs"][f"{m}-{o}"]
        bacc = _grid_best(c["grid"])[1]
        lines.append(f"| {name} | " + " | ".join(_cell(c, r, 0, bacc) for r in others) + " |")
    lines += ["", "## Grids (validation accuracy %, by lr) and the range tests", ""]
    for (m, o), name in zip(configs, names):
        c = res["configs"][f"{m}-{o}"]
        grid = sorted(c["grid"].items(), key=lambda kv: float(kv[0]))
        lines.append(f"- {name}: " + ", ".join(f"{float(k):.2g}: {100 * v:.1f}" for k, v in grid))
        for seed, sw in c["sweeps"].items():
            lines.append(f"  - range test seed {seed}: {sw['message']}")

    def worst(rows):
        gaps = [g for _, g in rows]
        return math.inf if any(g is None or math.isnan(g) for g in gaps) else max(gaps)

    lines += [
        "",
        "## Screening (interpolated from the grid, not trained)",
        "",
        "How the default rule was chosen: each candidate (smoothing x point of the curve x "
        "factor) reads every range test; its suggestion is scored by the grid's accuracy "
        "interpolated linearly in log lr (outside the grid: no score). Sorted by the worst gap "
        f"over {len(configs)} configs x {len(SWEEP_SEEDS)} range tests; the best 12, and the "
        "published rules.",
        "",
        "| candidate | worst gap | median gap |",
        "|---|---|---|",
    ]
    ranked = sorted(res["screening"].items(), key=lambda kv: worst(kv[1]))
    published = {"ema-steepx1", "ema-valleyx1", "ema-minimumx0.1", "centered5-knee0.1x2"}
    for name, rows in ranked[:12] + [kv for kv in ranked[12:] if kv[0] in published]:
        gaps = [g for _, g in rows if g is not None and not math.isnan(g)]
        med = f"{100 * float(np.median(gaps)):.2f}" if gaps else "-"
        lines.append(f"| {name} | {100 * worst(rows):.2f} | {med} |")
    lines += [
        "",
        "Names: `centeredH` = mean of the 2H+1 points around each point, `ema` = fastai's "
        "bias-corrected EMA (beta 0.98, lags); `kneeF` = first point where the smoothed loss "
        "has only F of its drop (first value to minimum) left; `xK` = times K.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
