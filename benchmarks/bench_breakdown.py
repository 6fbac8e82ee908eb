"""Where a training step of the recipe ConvNets spends its time, per layer kind, numnet vs torch."""

from __future__ import annotations

import collections
import inspect
import re
import statistics
import time

import common
import numpy as np
import recipes
import torch

TITLE = "Recipe ConvNets: training step by layer kind (float32, batch 64 of 1x28x28, Adam)"
SHARED = ()
NOTES = """
Per-kind times are medians over the measured steps of the time spent in each kind of layer
(forward and backward separately for conv and batch norm); "%" is the share of the kind in the sum
of the kinds. numnet: every layer function the ConvNet module calls is wrapped with a timer (its
name decides its kind; "other" is the step's wall time not inside any of them: the model's
Python, the loss, L2, dropout, the parameter loop). torch: `torch.profiler` self CPU time of every
op, charged to the kind of its nearest enclosing op or autograd node that has one (conv, batch
norm, pool, relu, linear, loss, optimizer); profiling adds a few microseconds per op, so torch's
kinds add up to slightly more than its unprofiled step. GFLOPS: the convs' multiply-adds (2 FLOPs
each; the backward computes dw for every conv and dx for all but the first) over their time. The
reference rows time one float32 matmul of 1024x1024 by 1024x1024 (NumPy's BLAS, torch's `mm`) at
this thread count: the rate a conv built on GEMM can at best approach.
"""

KINDS = ("conv fwd", "conv bwd", "bn fwd", "bn bwd", "pool", "relu", "affine", "update", "other")

# numnet function name -> kind (first match wins); anything the model calls that none of these
# match (loss, dropout, checks) counts as "other".
_NUMNET_KINDS = [
    (r"conv.*forward", "conv fwd"),
    (r"conv.*backward", "conv bwd"),
    (r"batchnorm.*forward", "bn fwd"),
    (r"batchnorm.*backward", "bn bwd"),
    (r"pool", "pool"),
    (r"relu", "relu"),
    (r"affine", "affine"),
]

# torch op or autograd node name pattern -> kind, tried from the op up through its parents.
_TORCH_KINDS = [
    (r"Optimizer\.step|Optimizer\.zero_grad", "update"),
    (r"ConvolutionBackward|convolution_backward", "conv bwd"),
    (r"aten::convolution|aten::conv2d|mkldnn_convolution", "conv fwd"),
    (r"BatchNormBackward|batch_norm_backward", "bn bwd"),
    (r"aten::batch_norm|native_batch_norm", "bn fwd"),
    (r"max_pool|MaxPool", "pool"),
    (r"[Rr]elu|threshold_backward|clamp_min", "relu"),
    (r"aten::linear|AddmmBackward|aten::addmm|TBackward", "affine"),
]

STEPS = 9


def _numnet_kinds(model, X, y) -> dict[str, float]:
    """Median ms per kind of numnet's step, by wrapping the layer functions the model calls."""
    import numnet.classifiers.convnet as module

    fwd_bwd, update, _ = common.numnet_train_step(model, X, y)
    spent = collections.defaultdict(float)
    depth = [0]

    def timed(fn, kind):
        def wrapper(*args, **kwargs):
            if depth[0]:
                return fn(*args, **kwargs)
            depth[0] += 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[kind] += time.perf_counter() - t0
                depth[0] -= 1

        return wrapper

    originals = {}
    for name, fn in vars(module).items():
        if not inspect.isfunction(fn):
            continue
        kind = next((k for pat, k in _NUMNET_KINDS if re.search(pat, name)), None)
        if kind is not None:
            originals[name] = fn
            setattr(module, name, timed(fn, kind))
    try:
        per_step = collections.defaultdict(list)
        for i in range(STEPS + common.WARMUP):
            spent.clear()
            t0 = time.perf_counter()
            grads = fwd_bwd()[1]
            t1 = time.perf_counter()
            update(grads)
            spent["update"] += time.perf_counter() - t1
            total = time.perf_counter() - t0
            spent["other"] = total - sum(v for k, v in spent.items() if k != "other")
            if i >= common.WARMUP:
                for k in KINDS:
                    per_step[k].append(spent.get(k, 0.0) * 1e3)
    finally:
        for name, fn in originals.items():
            setattr(module, name, fn)
    return {k: statistics.median(v) for k, v in per_step.items()}


def _torch_kinds(net, X, y) -> dict[str, float]:
    """Median ms per kind of torch's step from the profiler's self CPU times."""
    from torch.profiler import ProfilerActivity, profile

    fwd_bwd, update = common.torch_train_step(net, X, y)
    for _ in range(common.WARMUP):
        fwd_bwd()
        update()
    per_step = collections.defaultdict(list)
    for _ in range(STEPS):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fwd_bwd()
            update()
        spent = collections.defaultdict(float)
        for ev in prof.events():
            kind, node = "other", ev
            while node is not None:
                hit = next((k for pat, k in _TORCH_KINDS if re.search(pat, node.name)), None)
                if hit is not None:
                    kind = hit
                    break
                node = node.cpu_parent
            spent[kind] += ev.self_cpu_time_total / 1e3
        for k in KINDS:
            per_step[k].append(spent.get(k, 0.0))
    return {k: statistics.median(v) for k, v in per_step.items()}


def _sgemm_row() -> dict:
    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    out = np.empty_like(a)
    ta, tout = torch.from_numpy(a), torch.empty(1024, 1024)
    t = common.compare(
        {
            "numnet": lambda: np.matmul(a, a, out=out),
            "torch": lambda: torch.mm(ta, ta, out=tout),
        }
    )
    flops = 2 * 1024**3
    row = common.ratio_row("reference: SGEMM 1024^3", t, None)
    row.pop("min ratio")
    row.update(
        {
            "numnet %": None,
            "torch %": None,
            "numnet GFLOPS": round(flops / t["numnet"]["median"] / 1e6, 1),
            "torch GFLOPS": round(flops / t["torch"]["median"] / 1e6, 1),
        }
    )
    return row


def run(threads: int) -> list[dict]:
    """This benchmark's result rows, run with ``threads`` BLAS/torch threads."""
    rows = []
    for name, stem, input_dim in recipes.NETS:
        if input_dim != (1, 28, 28):
            continue
        cfg = recipes.recipe(stem)
        X, y = recipes.batch(input_dim, cfg["batch_size"])
        nn = _numnet_kinds(recipes.numnet_convnet(cfg, input_dim), X, y)
        net = recipes.torch_convnet(cfg, input_dim)
        net.train()
        th = _torch_kinds(net, X, y)
        fwd_flops, bwd_flops = recipes.conv_flops(cfg, input_dim, cfg["batch_size"])
        nn_total, th_total = sum(nn.values()), sum(th.values())
        for kind in KINDS:
            flops = {"conv fwd": fwd_flops, "conv bwd": bwd_flops}.get(kind)
            rows.append(
                {
                    "case": f"{name}: {kind}",
                    "numnet ms": round(nn[kind], 2),
                    "torch ms": round(th[kind], 2),
                    "ratio": round(nn[kind] / th[kind], 2) if th[kind] > 0 else None,
                    "numnet %": round(100 * nn[kind] / nn_total, 1),
                    "torch %": round(100 * th[kind] / th_total, 1),
                    "numnet GFLOPS": round(flops / nn[kind] / 1e6, 1) if flops else None,
                    "torch GFLOPS": round(flops / th[kind] / 1e6, 1) if flops else None,
                    "target": None,
                }
            )
        rows.append(
            {
                "case": f"{name}: sum of kinds",
                "numnet ms": round(nn_total, 2),
                "torch ms": round(th_total, 2),
                "ratio": round(nn_total / th_total, 2),
                "numnet %": 100.0,
                "torch %": 100.0,
                "numnet GFLOPS": None,
                "torch GFLOPS": None,
                "target": None,
            }
        )
    rows.append({**_sgemm_row(), "target": None})
    return rows
