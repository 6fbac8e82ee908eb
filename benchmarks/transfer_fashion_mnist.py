"""Does transfer learning help? Fashion-MNIST classes 0-4 -> classes 5-9, measured end to end.

Protocol (the README's example):

1. Pretrain the default ConvNet (``configs/default.toml``'s net and optimiser: conv32-conv64 with
   batch norm, fc128, Adam 2e-3, cosine, batch 64) on Fashion-MNIST classes 0-4 (T-shirt,
   trouser, pullover, dress, coat) for ``PRETRAIN_EPOCHS`` epochs: ``numnet train --classes``.
2. Learn classes 5-9 (sandal, shirt, sneaker, bag, ankle boot) from N labelled training images per
   class (``--per-class N``, drawn with the seed) in three ways, with the same epochs (``SIZES``),
   batch size, optimiser, schedule and seeds:

   a. scratch: ``numnet train`` (a fresh net, its own normalisation statistics);
   b. features + softmax: ``numnet features`` (the pretrained net's penultimate layer, 128 values
      per image) and a ``LinearClassifier`` (softmax) trained on them with the Solver;
   c. fine-tuning: ``numnet finetune best.npz --new-classes 5 --head-epochs E/2``: the head alone
      for half the epochs (the base frozen, its batch norm on running statistics), then every
      layer at a tenth of the learning rate (batch norm then normalises with batch statistics
      again and updates its running ones);

   and two variants that ask why: (b) with the output of layer 2 (the second conv stage, 3136
   values per image, ``--layer 2``), features less specific to the source classes; and (c) with
   every batch norm layer's scale and shift frozen throughout (``--freeze 'gamma*,beta*'``), so
   batch norm keeps the source's running statistics in both phases (Keras's advice for
   fine-tuning).

3. Test accuracy on all 5,000 test images of classes 5-9, of the model at the end of training
   (no validation-based selection: the validation split only feeds the per-epoch lines), and the
   wall time of each method's commands (b: extraction and training). Every (N, method) runs with
   seeds 0, 1, 2; the pretrained net is one run (seed 0), its time reported once.

Usage (from the repository root)::

    .venv/bin/python benchmarks/transfer_fashion_mnist.py           # writes benchmarks/TRANSFER.md
    .venv/bin/python benchmarks/transfer_fashion_mnist.py --quick   # a smoke run, into /tmp

It writes ``TRANSFER.md`` (tables, protocol, machine load) and ``transfer_results.json`` (every
run) beside this script, or under ``--out``. ``--keep`` reuses the finished runs of a previous
invocation's work directory (an interrupted benchmark continues). Deterministic given the seeds;
the times depend on the machine and its load, which the results file records.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # runs from a checkout, installed or not
    sys.path.insert(0, str(ROOT))

SOURCE = (0, 1, 2, 3, 4)
TARGET = (5, 6, 7, 8, 9)
#: Labelled images per class -> epochs of every method (the same budget within a size): a few
#: hundred steps of batch 64 each (200, 320 and 474), so that even 50 images get trained.
SIZES = {10: 200, 100: 40, 1000: 6}
SEEDS = (0, 1, 2)
PRETRAIN_EPOCHS = 3
PRETRAIN_VAL = 1000
#: Validation images of the target runs (per-epoch lines only; the final model is scored).
TARGET_VAL = 100
#: Method -> the short name of its runs. The first three are the README's (a), (b) and (c); the
#: other two ask why transfer does what it does here (see the docstring).
METHODS = {
    "scratch": "scratch",
    "features + softmax": "features",
    "fine-tune": "finetune",
    "layer-2 features + softmax": "features2",
    "fine-tune, batch norm frozen": "finetune-bnfrozen",
}


def _csv(values) -> str:
    return ",".join(str(v) for v in values)


def cli(argv: list[str], log: Path) -> float:
    """Run ``numnet ARGV`` in this process, its output into ``log``; return its wall seconds."""
    from numnet.cli.main import main

    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as f, contextlib.redirect_stdout(f):
        with contextlib.redirect_stderr(f):
            start = time.perf_counter()
            code = main([str(a) for a in argv])
            seconds = time.perf_counter() - start
    if code != 0:
        raise RuntimeError(f"numnet {' '.join(map(str, argv))} exited {code}; see {log}")
    return seconds


def target_test_set():
    """Classes 5-9 of the Fashion-MNIST test set (uint8 images, labels 0..4)."""
    from numnet.data import load_dataset, select_classes

    ds = select_classes(load_dataset("fashion-mnist"), TARGET)
    return ds.X_test, ds.y_test


def final_accuracy(run_dir: Path, test) -> float:
    """Test accuracy of a run's final model (last.npz), images normalised as the run did."""
    import numpy as np

    from numnet.checkpoint import load_model
    from numnet.data import Normalization, NormalizedImages
    from numnet.metrics import predict

    conf = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    norm = Normalization.from_dict(conf["data_info"]["normalization"])
    model = load_model(run_dir / "last.npz", params="last")
    X, y = test
    return float(np.mean(predict(model, NormalizedImages(X, norm), 500) == y))


def linear_on_features(path: Path, epochs: int, seed: int) -> tuple[float, float]:
    """Train a softmax LinearClassifier on a ``numnet features`` file; (test accuracy, seconds)."""
    import numpy as np

    from numnet.classifiers import LinearClassifier
    from numnet.cli.setup import TRAIN_ACC_SAMPLES
    from numnet.metrics import predict
    from numnet.schedules import CosineDecay
    from numnet.solver import Solver

    start = time.perf_counter()
    with np.load(path, allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    n, dim = d["X_train"].shape
    ipe = -(-n // 64)
    clf = LinearClassifier(dim, len(d["class_names"]), loss="softmax", init="kaiming", rng=seed + 1)
    solver = Solver(clf, d, update_rule="adam", optim_config={"learning_rate": 2e-3},
                    lr_schedule=CosineDecay(epochs * ipe), num_epochs=epochs, batch_size=64,
                    shuffle=True, seed=seed, num_train_samples=TRAIN_ACC_SAMPLES,
                    verbose=False)  # fmt: skip
    solver.train()
    for k, w in solver.state_dict()["model"]["params"].items():  # the final model, not the best
        clf.params[k] = w
    acc = float(np.mean(predict(clf, d["X_test"], 500) == d["y_test"]))
    return acc, time.perf_counter() - start


def run_one(method: str, n: int, epochs: int, seed: int, work: Path, pre: Path, test) -> dict:
    """One (method, images per class, seed) run: its test accuracy and wall seconds."""
    name = f"{METHODS[method]}-n{n}-s{seed}"
    out = work / name
    common = ["--classes", _csv(TARGET), "--per-class", n, "--num-val", TARGET_VAL,
              "--seed", seed]  # fmt: skip
    train = [*common, "--epochs", epochs, "--out", out]
    if method == "scratch":
        seconds = cli(["train", *train], work / f"{name}.log")
        acc = final_accuracy(out, test)
    elif method.startswith("fine-tune"):
        ft = ["finetune", pre / "best.npz", *train, "--new-classes", len(TARGET),
              "--head-epochs", epochs // 2]  # fmt: skip
        if method.endswith("batch norm frozen"):
            ft += ["--freeze", "gamma*,beta*"]
        seconds = cli(ft, work / f"{name}.log")
        acc = final_accuracy(out, test)
    else:
        feats = work / f"{name}.npz"
        layer = ["--layer", 2] if method.startswith("layer-2") else []
        seconds = cli(["features", pre / "best.npz", *common, *layer, "--out", feats],
                      work / f"{name}.log")  # fmt: skip
        acc, train_seconds = linear_on_features(feats, epochs, seed)
        seconds += train_seconds
    return {"method": method, "per_class": n, "epochs": epochs, "seed": seed,
            "test_acc": acc, "seconds": round(seconds, 2),
            "load_average_1min": round(os.getloadavg()[0], 2)}  # fmt: skip


def machine() -> dict:
    """What the numbers ran on, and how loaded it was."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                                capture_output=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "commit": commit,
            "load_average": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip


def summarise(runs: list[dict], sizes: dict) -> list[dict]:
    """Mean, standard deviation and range of test accuracy, and mean seconds, per size/method."""
    rows = []
    for n in sizes:
        for method in METHODS:
            rs = [r for r in runs if r["per_class"] == n and r["method"] == method]
            if not rs:
                continue
            accs = [r["test_acc"] for r in rs]
            rows.append({
                "per_class": n, "method": method, "epochs": rs[0]["epochs"], "runs": len(rs),
                "mean": statistics.mean(accs),
                "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                "min": min(accs), "max": max(accs),
                "seconds": statistics.mean(r["seconds"] for r in rs),
            })  # fmt: skip
    return rows


def markdown(results: dict) -> str:
    """The results file: summary table, pretraining, protocol, every run, machine."""
    pre, m0, m1 = results["pretrain"], results["machine_start"], results["machine_end"]
    lines = [
        "# Transfer learning on Fashion-MNIST: classes 0-4 -> classes 5-9",
        "",
        "Written by `benchmarks/transfer_fashion_mnist.py`"
        + (" (`--quick`: a smoke run, not the README's numbers)" if results["quick"] else "")
        + "; the protocol is in its docstring.",
        "",
        "Test accuracy on the 5,000 test images of classes 5-9 of the model at the end of "
        f"training, over seeds {_csv(results['seeds'])}: mean ± standard deviation (min-max); "
        "wall seconds per run (features: extraction plus training). Scratch, features + "
        "softmax and fine-tune are the README's (a), (b) and (c); the layer-2 and frozen batch "
        "norm rows are variants (see the script's docstring).",
        "",
        "| labelled images per class | epochs | method | test accuracy | min-max | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for r in results["summary"]:
        lines.append(
            f"| {r['per_class']} | {r['epochs']} | {r['method']} | "
            f"{100 * r['mean']:.2f}% ± {100 * r['std']:.2f} | "
            f"{100 * r['min']:.2f}-{100 * r['max']:.2f}% | {r['seconds']:.1f} |"
        )
    lines += [
        "",
        f"Pretraining (once, seed 0): {pre['epochs']} epochs on {pre['num_train']} images of "
        f"classes 0-4, {pre['seconds']:.0f} s for the whole `numnet train` command; its test "
        f"accuracy on classes 0-4: {100 * pre['test_acc']:.2f}%.",
        "",
        f"Machine: {m0['cpus']} CPUs ({m0['processor']}), Python {m0['python']}, numnet "
        f"{m0['commit']}, one BLAS thread per run. Load average (1, 5, 15 min) "
        f"{m0['load_average']} at the start and {m1['load_average']} at the end (2 CPUs: a "
        "load above 2 means other work shared them, and the seconds of those runs are upper "
        "bounds of what a quiet machine takes).",
        "",
        "## Every run",
        "",
        "The last column is the 1-minute load average when the run ended.",
        "",
        "| method | per class | seed | test accuracy | seconds | load |",
        "|---|---|---|---|---|---|",
    ]
    for r in results["runs"]:
        lines.append(f"| {r['method']} | {r['per_class']} | {r['seed']} | "
                     f"{100 * r['test_acc']:.2f}% | {r['seconds']:.1f} | "
                     f"{r.get('load_average_1min', '')} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """Run the benchmark and write its results; return the exit status."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=None, help="results folder (default: benchmarks/)")
    p.add_argument("--work", type=Path, default=None,
                   help="run directories (default: in the temp folder)")  # fmt: skip
    p.add_argument("--quick", action="store_true", help="a smoke run: 1 seed, N=10, 4 epochs")
    p.add_argument("--keep", action="store_true", help="reuse finished runs in the work folder")
    args = p.parse_args(argv)
    from numnet._atomic import atomic_write_text

    sizes, seeds, pre_epochs = SIZES, SEEDS, PRETRAIN_EPOCHS
    out = args.out or Path(__file__).resolve().parent
    extra = []
    if args.quick:
        sizes, seeds, pre_epochs = {10: 4}, (0,), 1
        out = args.out or Path(tempfile.gettempdir()) / "numnet-transfer-quick"
        extra = ["--num-train", "2000"]
    work = args.work or Path(tempfile.gettempdir()) / (
        "numnet-transfer-quick" if args.quick else "numnet-transfer-work"
    )
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    results_json = out / "transfer_results.json"
    old = {}
    if args.keep and results_json.is_file():
        old = json.loads(results_json.read_text(encoding="utf-8"))
    results = {"quick": args.quick, "seeds": list(seeds), "machine_start": machine(), "runs": []}

    pre = work / "pretrain"
    if args.keep and "pretrain" in old and (pre / "best.npz").is_file():
        results["pretrain"] = old["pretrain"]
    else:
        argv = ["train", "--classes", _csv(SOURCE), "--epochs", pre_epochs, "--num-val",
                PRETRAIN_VAL, "--seed", 0, "--out", pre, *extra]  # fmt: skip
        if pre.exists():
            raise SystemExit(f"{pre} exists: remove it, or pass --keep to reuse it")
        seconds = cli(argv, work / "pretrain.log")
        summary = json.loads((pre / "summary.json").read_text(encoding="utf-8"))
        conf = json.loads((pre / "config.json").read_text(encoding="utf-8"))
        results["pretrain"] = {"epochs": pre_epochs, "seconds": round(seconds, 1),
                               "test_acc": summary["test_acc"],
                               "num_train": conf["data_info"]["num_train"]}  # fmt: skip
    test = target_test_set()
    done = {(r["method"], r["per_class"], r["seed"]): r for r in old.get("runs", [])}
    for n, epochs in sizes.items():
        for seed in seeds:
            for method in METHODS:
                key = (method, n, seed)
                if key in done and done[key]["epochs"] == epochs:
                    results["runs"].append(done[key])
                    continue
                r = run_one(method, n, epochs, seed, work, pre, test)
                print(f"{method:28s} N={n:<5d} seed {seed}: {100 * r['test_acc']:.2f}% "
                      f"in {r['seconds']:.1f} s", flush=True)  # fmt: skip
                results["runs"].append(r)
                results["machine_end"] = machine()
                results["summary"] = summarise(results["runs"], sizes)
                atomic_write_text(results_json, json.dumps(results, indent=1))
    results["machine_end"] = machine()
    results["summary"] = summarise(results["runs"], sizes)
    atomic_write_text(results_json, json.dumps(results, indent=1))
    atomic_write_text(out / "TRANSFER.md", markdown(results))
    print(f"wrote {out / 'TRANSFER.md'} and {results_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
