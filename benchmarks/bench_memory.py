"""Peak memory of a training step of the recipe ConvNets: numnet vs torch, each in its own process.

Run directly (``python benchmarks/bench_memory.py --probe SIDE NET``) it is the probe: it measures
one side and prints JSON. ``run(threads)`` starts one probe process per (net, side).
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import common  # noqa: E402
import recipes  # noqa: E402

TITLE = "Peak memory of a training step (float32, batch 64, Adam)"
TARGET = 1.0
NOTES = """
Method: one process per (net, side), same recipe net, batch and Adam step as the training-step
benchmark. After two warm-up steps (Adam's moments exist, lazy initialisation is done) the
process's resident set is read (`VmRSS`, the steady state: code, parameters, optimizer state, the
batch), the kernel's high-water mark is reset (`echo 5 > /proc/self/clear_refs`), one more step
runs, and "peak MB" is `VmHWM` minus the steady state: the most memory the step held at once
beyond what lives between steps (activations, caches, gradients, temporaries). Both processes run
with `MALLOC_MMAP_THRESHOLD_=131072`, so every buffer of 128 KiB or more is its own mapping,
returned to the OS when freed; otherwise glibc keeps freed heap memory and a step that reuses it
would show no growth. torch's CPU tensors come from the same malloc. Median of 3 measured steps.
"numnet tracemalloc MB": the same step's peak as NumPy reports its buffers to tracemalloc
(allocation-exact, numnet only). "steady MB": VmRSS between steps (numnet / torch), for scale.
"""

MMAP_THRESHOLD = "131072"


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _probe(side: str, net_index: int) -> dict:
    """One side's steady-state RSS and step peak above it, in MB."""
    _, stem, input_dim = recipes.NETS[net_index]
    cfg = recipes.recipe(stem)
    X, y = recipes.batch(input_dim, cfg["batch_size"])
    if side == "numnet":
        model = recipes.numnet_convnet(cfg, input_dim)
        fwd_bwd, update, _ = common.numnet_train_step(model, X, y)

        def step():
            update(fwd_bwd()[1])
    else:
        net = recipes.torch_convnet(cfg, input_dim)
        net.train()
        fwd_bwd, update = common.torch_train_step(net, X, y)

        def step():
            fwd_bwd()
            update()

    step()
    step()
    peaks = []
    for _ in range(3):
        gc.collect()
        steady = _rss_kb("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")
        step()
        peaks.append((_rss_kb("VmHWM") - steady) / 1024)
    result = {"peak MB": sorted(peaks)[1], "steady MB": steady / 1024}
    if side == "numnet":
        result["tracemalloc MB"] = common.peak_extra_mb(step)
    return result


def _launch(side: str, net_index: int, threads: int) -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=MMAP_THRESHOLD)
    cmd = [sys.executable, str(Path(__file__)), "--probe", side, str(net_index), str(threads)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe {side} {net_index} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(threads: int) -> list[dict]:
    """This benchmark's result rows, run with ``threads`` BLAS/torch threads."""
    rows = []
    for i, (name, _, _) in enumerate(recipes.NETS):
        nn, th = _launch("numnet", i, threads), _launch("torch", i, threads)
        rows.append(
            {
                "case": name,
                "numnet peak MB": round(nn["peak MB"], 1),
                "torch peak MB": round(th["peak MB"], 1),
                "ratio": round(nn["peak MB"] / th["peak MB"], 2),
                "numnet tracemalloc MB": round(nn["tracemalloc MB"], 1),
                "steady MB": f"{nn['steady MB']:.0f} / {th['steady MB']:.0f}",
                "target": TARGET,
            }
        )
    return rows


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "--probe":
        raise SystemExit("usage: bench_memory.py --probe numnet|torch NET_INDEX THREADS")
    common.set_threads(int(sys.argv[4]))
    print(json.dumps(_probe(sys.argv[2], int(sys.argv[3]))))
