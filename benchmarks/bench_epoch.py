r"""End to end: epochs of ``numnet train`` against the same training in PyTorch, in one process.

numnet runs its real command, ``numnet.cli.main.main(["train", "--config", <recipe>, ...])``, in
this process: data loading and split, the Solver (batch assembly from the uint8 images, the
model, Adam, the cosine schedule, the gradient norm), the run recorder (CSV rows, checkpoints),
the progress callback, the accuracy checks, then the test evaluation and the plots. The Solver's
``train`` and ``_check`` are wrapped with timers for the split below; nothing else is changed.

torch runs the loop a PyTorch user would write for the same recipe: the same net
(``recipes.torch_convnet``), the same normalised images of the same train/validation split
(converted to one float tensor up front, untimed), batch size, shuffling (a permutation per
epoch, last batch partial), ``torch.optim.Adam`` with numnet's own schedule object as a
``LambdaLR``, the same augmentation when the recipe has it (random crop of the zero-padded batch,
horizontal flips), ``loss.item()`` every step, and the same accuracy checks as the command (after
the first step and at each epoch end: 1000 random training images and the whole validation split,
100 images per forward pass, in eval mode under ``torch.inference_mode``), keeping a copy of the
best state and saving last/best checkpoints (``torch.save``) at each check.

Training time = from the first step to the end of the last check (the command's "training time",
the sum of its epochs.csv rows). The two sides alternate (numnet, torch, torch, numnet, ...) and
the fastest of each is reported.

Usage (standalone; ``run_all.py`` runs it as a benchmark module too)::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \\
        .venv/bin/python benchmarks/bench_epoch.py --recipe default --threads 1

Environment for ``run_all.py``: ``NUMNET_BENCH_EPOCH_RECIPES`` (default ``default``),
``NUMNET_BENCH_EPOCH_TRAIN`` (training images; default all the split leaves: a full 860-step
epoch), ``NUMNET_BENCH_EPOCH_REPEATS`` (runs of each side, default 2).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import common
import numpy as np
import recipes

TITLE = "End to end: one epoch of `numnet train` vs the same recipe in PyTorch"
TARGET = 1.0
NOTES = __doc__.split("\n\n", 1)[1].split("\n\nUsage")[0]

_CHECK_TRAIN_SAMPLES = 1000  # numnet.cli.setup.TRAIN_ACC_SAMPLES
_PREDICT_BATCH = 100  # the Solver's check_accuracy batch size


def _config(recipe: str, num_train: int | None) -> dict:
    from numnet.cli import config as C

    explicit = {"num_train": num_train} if num_train else {}
    return C.resolve(explicit, str(recipes.ROOT / "configs" / f"{recipe}.toml"))


def numnet_epochs(recipe: str, epochs: int, threads: int, num_train: int | None) -> dict:
    """Run ``numnet train`` in this process; seconds of training, checks and the whole command."""
    from numnet.cli.main import main
    from numnet.solver import Solver

    spent = {"train": 0.0, "checks": 0.0}
    train, check = Solver.train, Solver._check

    def timed_train(self):
        t0 = time.perf_counter()
        try:
            return train(self)
        finally:
            spent["train"] += time.perf_counter() - t0

    def timed_check(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return check(self, *args, **kwargs)
        finally:
            spent["checks"] += time.perf_counter() - t0

    argv = ["train", "--config", str(recipes.ROOT / "configs" / f"{recipe}.toml")]
    argv += ["--epochs", str(epochs), "--threads", str(threads)]
    if num_train:
        argv += ["--num-train", str(num_train)]
    with tempfile.TemporaryDirectory() as tmp:
        Solver.train, Solver._check = timed_train, timed_check
        out = io.StringIO()
        t0 = time.perf_counter()
        try:
            with contextlib.redirect_stdout(out):
                code = main([*argv, "--out", str(Path(tmp) / "run")])
        finally:
            Solver.train, Solver._check = train, check
        total = time.perf_counter() - t0
        if code != 0:
            raise RuntimeError(f"numnet train failed ({code}):\n{out.getvalue()}")
        summary = (Path(tmp) / "run" / "summary.json").read_text()
    import json

    return {
        "train": spent["train"],
        "checks": spent["checks"],
        "command": total,
        "test_acc": json.loads(summary)["test_acc"],
    }


def _torch_augment(xb, pad: int, gen):
    """Random crop of the zero-padded batch and horizontal flips (numnet.data.Augment's)."""
    import torch

    N, C, H, W = xb.shape
    padded = torch.nn.functional.pad(xb, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (N,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (N,), generator=gen)
    rows = (dy[:, None] + torch.arange(H))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(W))[:, None, None, :]
    n_idx, c_idx = torch.arange(N)[:, None, None, None], torch.arange(C)[None, :, None, None]
    out = padded[n_idx, c_idx, rows, cols]
    flip = torch.rand(N, generator=gen) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


def torch_epochs(recipe: str, epochs: int, num_train: int | None) -> dict:
    """The same recipe as a PyTorch training loop; seconds of training and of the checks."""
    import torch

    from numnet.cli import setup

    cfg = {**_config(recipe, num_train), "epochs": epochs}
    ds, data = setup.load_data({**cfg, "augment": False})
    X_train = torch.from_numpy(np.asarray(data["X_train"]))
    y_train = torch.from_numpy(np.asarray(data["y_train"], dtype=np.int64))
    X_val = torch.from_numpy(np.asarray(data["X_val"]))
    y_val = torch.from_numpy(np.asarray(data["y_val"], dtype=np.int64))
    input_dim = tuple(X_train.shape[1:])
    torch.manual_seed(cfg["seed"])
    net = recipes.torch_convnet(
        {**cfg, "filters": cfg["filters"], "dropout_keep": cfg["dropout_keep"]}, input_dim
    )
    n, bs = X_train.shape[0], cfg["batch_size"]
    ipe = math.ceil(n / bs)
    schedule = setup.lr_schedule(cfg, ipe)
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, (lambda t: schedule(t // ipe, t)) if schedule is not None else (lambda t: 1.0)
    )
    rng = np.random.default_rng(cfg["seed"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    pad = 2 if input_dim[1] == 28 else 4
    best, spent_checks, losses = -1.0, 0.0, []

    def accuracy(X, y):
        net.eval()
        correct = 0
        with torch.inference_mode():
            for i in range(0, X.shape[0], _PREDICT_BATCH):
                pred = net(X[i : i + _PREDICT_BATCH]).argmax(1)
                correct += int((pred == y[i : i + _PREDICT_BATCH]).sum())
        net.train()
        return correct / X.shape[0]

    with tempfile.TemporaryDirectory() as tmp:

        def check():
            nonlocal best
            t0 = time.perf_counter()
            idx = torch.from_numpy(rng.integers(0, n, size=_CHECK_TRAIN_SAMPLES))
            accuracy(X_train[idx], y_train[idx])
            val = accuracy(X_val, y_val)
            torch.save(net.state_dict(), Path(tmp) / "last.pt")
            if val > best:
                best = val
                best_state = copy.deepcopy(net.state_dict())
                torch.save(best_state, Path(tmp) / "best.pt")
            return time.perf_counter() - t0

        net.train()
        t0 = time.perf_counter()
        t = 0
        for _ in range(epochs):
            order = torch.from_numpy(rng.permutation(n))
            for i in range(ipe):
                idx = order[i * bs : (i + 1) * bs]
                xb, yb = X_train[idx], y_train[idx]
                if cfg["augment"]:
                    xb = _torch_augment(xb, pad, gen)
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.cross_entropy(net(xb), yb)
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.item())
                if t == 0 or i == ipe - 1:
                    spent_checks += check()
                t += 1
        train = time.perf_counter() - t0
    return {"train": train, "checks": spent_checks, "val_acc": best, "steps": t, "ds": ds.name}


def compare(recipe: str, epochs: int, threads: int, num_train: int | None, repeats: int) -> dict:
    """Alternate numnet and torch ``repeats`` times each (ABBA...); the fastest of each."""
    runs = {"numnet": [], "torch": []}
    order = []
    for r in range(repeats):
        order += ["numnet", "torch"] if r % 2 == 0 else ["torch", "numnet"]
    for side in order:
        if side == "numnet":
            runs[side].append(numnet_epochs(recipe, epochs, threads, num_train))
        else:
            runs[side].append(torch_epochs(recipe, epochs, num_train))
    best = {k: min(v, key=lambda r: r["train"]) for k, v in runs.items()}
    return {"best": best, "runs": runs}


def _rows(recipe: str, epochs: int, threads: int, num_train: int | None, repeats: int) -> list:
    res = compare(recipe, epochs, threads, num_train, repeats)
    nn, th = res["best"]["numnet"], res["best"]["torch"]
    steps = th["steps"]
    what = f"{recipe} recipe, {epochs} epoch{'s' if epochs > 1 else ''} ({steps} steps)"
    nn_step = (nn["train"] - nn["checks"]) / steps * 1e3
    th_step = (th["train"] - th["checks"]) / steps * 1e3
    return [
        {
            "case": f"{what}: training time, s",
            "numnet": round(nn["train"], 1),
            "torch": round(th["train"], 1),
            "ratio": round(nn["train"] / th["train"], 2),
            "target": TARGET,
        },
        {
            "case": f"{what}: per step without the checks, ms",
            "numnet": round(nn_step, 1),
            "torch": round(th_step, 1),
            "ratio": round(nn_step / th_step, 2),
            "target": None,
        },
        {
            "case": f"{what}: accuracy checks, s",
            "numnet": round(nn["checks"], 1),
            "torch": round(th["checks"], 1),
            "ratio": round(nn["checks"] / th["checks"], 2),
            "target": None,
        },
        {
            "case": f"{what}: whole command (data, training, test evaluation, plots), s",
            "numnet": round(nn["command"], 1),
            "torch": None,
            "ratio": None,
            "target": None,
        },
    ]


def run(threads: int) -> list[dict]:
    """This benchmark's result rows, run with ``threads`` BLAS/torch threads."""
    num_train = int(os.environ.get("NUMNET_BENCH_EPOCH_TRAIN", "0")) or None
    repeats = int(os.environ.get("NUMNET_BENCH_EPOCH_REPEATS", "2"))
    rows = []
    for recipe in os.environ.get("NUMNET_BENCH_EPOCH_RECIPES", "default").split(","):
        rows += _rows(recipe, 1, threads, num_train, repeats)
    return rows


def main(argv=None) -> int:
    """Standalone entry: print the rows for one recipe and thread count."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default="default", help="configs/<recipe>.toml (default: default)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--num-train", type=int, default=None, help="fewer training images (quick)")
    p.add_argument("--repeats", type=int, default=2, help="runs of each side (default 2)")
    args = p.parse_args(argv)
    common.set_threads(args.threads)
    print(f"load average at start: {os.getloadavg()}", file=sys.stderr)
    for row in _rows(args.recipe, args.epochs, args.threads, args.num_train, args.repeats):
        print(row)
    print(f"load average at end: {os.getloadavg()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
