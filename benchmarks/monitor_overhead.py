"""What ``numnet train --monitor`` costs: training-step time with and without the monitor.

Usage: ``.venv/bin/python benchmarks/monitor_overhead.py [--repeats N] [--out FILE]``; writes
``benchmarks/MONITOR.md`` (a markdown table plus the machine's facts and load).

The workloads are the recipes' networks with the recipes' batches: the default ConvNet
(conv32-conv64 with batch norm, fc128; batch 64 of 1x28x28, Adam) and the fc recipe's
FullyConnectedNet (512-256 with batch norm, dropout keep 0.8; batch 128 of 784 features, Adam).
Each timing is one ``Solver.train()`` of ``STEPS`` steps (one epoch, plus the Solver's two
accuracy checks on 64 images, the same on every side) on random data, repeated with the three
settings interleaved (monitor off, every ``DEFAULT_EVERY`` steps, every step); times are medians
per step. The monitor's own time is also measured inside the monitored runs (its hooks, timed),
per sample. The off path adds one attribute test to the model's loss and one attribute store to
the Solver's step: the last row times those two statements alone.

One BLAS thread (as ``numnet train`` uses by default), set before NumPy loads. Seeds are fixed;
the machine's load is recorded, since it moves every timing.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402

from numnet._atomic import atomic_write_text  # noqa: E402
from numnet.babysit.monitor import DEFAULT_EVERY, Monitor  # noqa: E402
from numnet.classifiers import ConvNet, FullyConnectedNet  # noqa: E402
from numnet.solver import Solver  # noqa: E402

STEPS = {"convnet": 100, "fc": 200}


class TimedMonitor(Monitor):
    """A Monitor that adds up the time spent in its step hooks."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seconds = 0.0

    def on_batch_begin(self, solver):
        """Timed ``Monitor.on_batch_begin``."""
        t = time.perf_counter()
        super().on_batch_begin(solver)
        self.seconds += time.perf_counter() - t

    def on_batch_end(self, solver, logs):
        """Timed ``Monitor.on_batch_end``."""
        t = time.perf_counter()
        super().on_batch_end(solver, logs)
        self.seconds += time.perf_counter() - t


def workload(name: str):
    """(model, data, batch size) of one recipe's network on random data."""
    rng = np.random.default_rng(0)
    if name == "convnet":
        model, batch, shape = ConvNet(rng=0), 64, (1, 28, 28)
    else:
        model = FullyConnectedNet([512, 256], input_dim=784, num_classes=10,
                                  normalization="batchnorm", dropout_keep_ratio=0.8,
                                  init="kaiming", rng=0)  # fmt: skip
        batch, shape = 128, (784,)
    n = STEPS[name] * batch
    X = rng.standard_normal((n, *shape), dtype=np.float32)
    y = rng.integers(0, 10, n)
    data = {"X_train": X, "y_train": y, "X_val": X[:64], "y_val": y[:64]}
    return model, data, batch


def measure(name: str, repeats: int) -> dict:
    """Median seconds per step for each setting, and the monitor's own seconds per sample."""
    model, data, batch = workload(name)
    settings = {"off": None, "default": DEFAULT_EVERY, "every step": 1}
    times = {k: [] for k in settings}
    own = {k: [] for k in settings}
    for r in range(repeats + 1):  # the first round warms up and is not kept
        for key, every in settings.items():
            monitor = TimedMonitor(every=every) if every else None
            solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                            batch_size=batch, num_epochs=1, shuffle=True, seed=r,
                            num_train_samples=64, verbose=False,
                            callbacks=[monitor] if monitor else [])  # fmt: skip
            t = time.perf_counter()
            solver.train()
            elapsed = time.perf_counter() - t
            if r:
                times[key].append(elapsed / STEPS[name])
                if monitor:
                    own[key].append(monitor.seconds / len(monitor.rows))
    out = {k: statistics.median(v) for k, v in times.items()}
    # Paired: each round's monitored run against the unmonitored run next to it, so that a
    # change of machine load between rounds cancels out.
    out["overhead"] = statistics.median(d / o for d, o in zip(times["default"], times["off"])) - 1
    out["per sample"] = statistics.median(own["default"] + own["every step"])
    return out


def off_path_ns() -> float:
    """Nanoseconds of the two statements the off path adds to a step."""

    class Holder:
        keep_activations = False

    m, s, grads = Holder(), Holder(), {}

    def added():
        if m.keep_activations:
            pass
        s.last_grads = grads

    n = 1_000_000
    return min(timeit.repeat(added, number=n, repeat=5)) / n * 1e9


def cpu_model() -> str:
    """The CPU's model name (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None) -> int:
    """Measure and write the results file."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="timed rounds per setting (median)")
    p.add_argument("--out", default=str(HERE / "MONITOR.md"))
    args = p.parse_args(argv)
    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc)
    rows = []
    for name, title in (("convnet", "ConvNet, default recipe (batch 64)"),
                        ("fc", "FullyConnectedNet, fc recipe (batch 128)")):  # fmt: skip
        print(f"{name} ...", file=sys.stderr, flush=True)
        m = measure(name, args.repeats)
        overhead = m["overhead"]
        rows.append(
            f"| {title} | {1e3 * m['off']:.2f} | {1e3 * m['default']:.2f} | "
            f"{100 * overhead:+.1f}% | {1e3 * m['every step']:.2f} | "
            f"{1e3 * m['per sample']:.2f} | "
            f"{100 * m['per sample'] / (DEFAULT_EVERY * m['off']):.1f}% |"
        )
    ns = off_path_ns()
    load_after = os.getloadavg()
    text = "\n".join([
        "# Monitor overhead",
        "",
        "Written by `.venv/bin/python benchmarks/monitor_overhead.py`; do not edit by hand.",
        "Times are medians per training step in ms (one BLAS thread). Target: the monitor at",
        f"its default interval (every {DEFAULT_EVERY} steps) costs at most 5% of the step time.",
        "",
        f"- date: {started:%Y-%m-%d %H:%M UTC}, {args.repeats} timed rounds per setting",
        f"- machine: {cpu_model()}, {os.cpu_count()} logical "
        f"CPUs; python {platform.python_version()}, numpy {np.__version__}",
        f"- load average (1, 5, 15 min) before: {[round(v, 2) for v in load_before]}, after: "
        f"{[round(v, 2) for v in load_after]} (other work shared the machine when these are "
        "above 1)",
        "",
        f"| network | off | every {DEFAULT_EVERY} | overhead (measured) | every step | "
        f"monitor per sample | per sample / ({DEFAULT_EVERY} steps) |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "\"overhead (measured)\" is the median over the rounds of each monitored run's time over "
        "the unmonitored run's beside it: whole runs, so machine noise enters it; the last "
        "column is the monitor's own time per sample (its hooks, timed inside the runs) over "
        f"{DEFAULT_EVERY} monitor-off steps: the overhead without that noise.",
        "",
        f"Off (no `--monitor`): the two statements the off path adds to a step (the model's "
        f"`keep_activations` test, the Solver's `last_grads` store) take {ns:.0f} ns together, "
        "against steps of milliseconds.",
        "",
    ])  # fmt: skip
    atomic_write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
