"""Shared helpers of numnet's benchmarks: numnet vs PyTorch on the CPU, side by side in one process.

Protocol. ``benchmarks/run_all.py`` runs every ``benchmarks/bench_*.py`` module it finds; a module
provides

* ``TITLE``: str, the heading of its section in RESULTS.md;
* ``run(threads: int) -> list[dict]``: the measured rows. Each row is a dict of plain values
  (str / int / float / None); its ``"case"`` entry names the row (the same across thread counts);
  a ``"ratio"`` entry (numnet time / torch time) is compared with ``TARGET``;
* optional ``TARGET``: float, the ratio a row should stay at or under (rows may set their own
  ``"target"``, or None for rows shown for information only);
* optional ``SHARED``: tuple of column names that do not depend on the thread count (memory
  figures, shapes); RESULTS.md shows them once;
* optional ``NOTES``: str, markdown shown under the table.

``run_all.py`` calls ``run(threads)`` in a fresh subprocess per (module, thread count), with
``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` set before NumPy is imported;
``set_threads`` below also pins torch (``torch.set_num_threads``) and, as a guard, the BLAS pools
(threadpoolctl). Timings are medians over repeated runs after warm-up, numnet and torch
interleaved so that drifting machine load hits both alike.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the benchmarks run from a checkout, installed or not
    sys.path.insert(0, str(ROOT))

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

#: Repetitions per measurement (run_all --quick lowers them through this env var).
REPEATS = int(os.environ.get("NUMNET_BENCH_REPEATS", "9"))
WARMUP = int(os.environ.get("NUMNET_BENCH_WARMUP", "2"))


def set_threads(n: int) -> None:
    """Pin numnet's BLAS and torch to ``n`` threads (the env vars must already be set)."""
    for var in THREAD_ENV:
        if os.environ.get(var) != str(n):
            raise RuntimeError(f"{var} must be {n} before numpy is imported (run via run_all.py)")
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(n)


def compare(fns: dict, repeats: int | None = None, warmup: int | None = None) -> dict:
    """Median and minimum wall time in ms of each zero-argument callable in ``fns``.

    The callables run interleaved (a, b, a, b, ...) after ``warmup`` untimed rounds.
    """
    repeats = REPEATS if repeats is None else repeats
    warmup = WARMUP if warmup is None else warmup
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: {"median": statistics.median(ts), "min": min(ts)} for name, ts in times.items()}


def peak_extra_mb(fn) -> float:
    """Peak memory in MB that NumPy allocates during ``fn()`` above what was live before it.

    NumPy reports its array buffers to tracemalloc, so this counts every temporary of the call
    (results it returns included).
    """
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return (peak - before) / 2**20


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment() -> dict:
    """Versions, machine and BLAS facts of this process, for the results file."""
    import numpy as np
    import torch
    from threadpoolctl import threadpool_info

    blas = [
        {k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
        for p in threadpool_info()
        if p.get("user_api") == "blas"
    ]
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "machine": f"{_cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()}",
        "numpy_blas": blas,
        "torch_config": torch.backends.cpu.get_cpu_capability(),
        "loadavg": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "openblas_env": {
            k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ
        },
    }


def ratio_row(case: str, timings: dict, target: float | None, **extra) -> dict:
    """A result row from ``compare({"numnet": ..., "torch": ...})`` output.

    "ratio" compares the medians (checked against the target); "min ratio" the fastest
    repetitions, which a machine shared with other jobs disturbs least.
    """
    nn, th = timings["numnet"]["median"], timings["torch"]["median"]
    return {
        "case": case,
        "numnet ms": round(nn, 2),
        "torch ms": round(th, 2),
        "ratio": round(nn / th, 2),
        "min ratio": round(timings["numnet"]["min"] / timings["torch"]["min"], 2),
        "target": target,
        **extra,
    }


def torch_train_step(net, X, y):
    """``(fwd_bwd, update)`` callables of a torch training step (cross-entropy, Adam lr 1e-3)."""
    import torch

    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)

    def fwd_bwd():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(tX), ty).backward()

    fwd_bwd()
    return fwd_bwd, opt.step


def training_step_rows(numnet_side, torch_side, target: float, calls_per_timing: int = 1) -> list:
    """Rows for a full training step, its forward+backward and its update, numnet vs torch.

    Args:
        numnet_side: ``(fwd_bwd, update, grads)``: ``fwd_bwd()`` returns ``(loss, grads)``,
            ``update(grads)`` applies the update rule to every parameter.
        torch_side: ``(fwd_bwd, update)`` as from ``torch_train_step``.
        target: ratio target of the full step.
        calls_per_timing: time blocks of this many calls (for steps of a few ms, so timer and
            scheduler noise stay small); times are reported per call.
    """
    nn_fwd_bwd, nn_update, grads = numnet_side
    th_fwd_bwd, th_update = torch_side

    def nn_step():
        nn_update(nn_fwd_bwd()[1])

    def th_step():
        th_fwd_bwd()
        th_update()

    def block(fn):
        def run_block():
            for _ in range(calls_per_timing):
                fn()

        return run_block

    def timed(nn_fn, th_fn):
        t = compare({"numnet": block(nn_fn), "torch": block(th_fn)})
        return {k: {s: v / calls_per_timing for s, v in d.items()} for k, d in t.items()}

    return [
        ratio_row("training step (forward, backward, Adam)", timed(nn_step, th_step), target),
        ratio_row("forward + backward only", timed(nn_fwd_bwd, th_fwd_bwd), None),
        ratio_row("Adam update only", timed(lambda: nn_update(grads), th_update), None),
    ]


def numnet_train_step(model, X, y):
    """Callables of a numnet training step: ``model.loss``, then Adam (lr 1e-3) on every parameter.

    The update is the one the Solver's step applies.

    Returns:
        ``(fwd_bwd, update, grads)``: ``fwd_bwd()`` returns ``(loss, grads)``; ``update(grads)``
        applies Adam in place of ``model.params``; ``grads`` is one step's gradients, for timing
        the update alone.
    """
    from numnet.optim import adam

    configs = {name: {"learning_rate": 1e-3} for name in model.params}

    def fwd_bwd():
        return model.loss(X, y)

    def update(grads):
        for name, w in model.params.items():
            model.params[name], configs[name] = adam(w, grads[name], configs[name])

    return fwd_bwd, update, fwd_bwd()[1]
