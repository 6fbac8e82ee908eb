"""Where a training step of the recipe ConvNets spends its time, per layer kind, numnet vs torch."""

from __future__ import annotations

import collections
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
Per-kind times are medians over the measured steps of the time spent in each kind of layer;
"%" is the share of the kind in the sum of the kinds. numnet's batch norm recipes run each conv
layer as one fused channels-last block (conv, batch norm, max pool, ReLU), so batch norm, pooling
and ReLU are one kind here, forward and backward, together with the hidden layer's batch norm and
ReLU. numnet: the kernels the ConvNet runs are wrapped with timers that count each function's own
time (time inside a nested timed function goes to that function's kind): the conv's gather and
GEMMs (`conv_nhwc.forward_chunks`, `conv_nhwc.backward_core`) are "conv", the rest of the fused
block (statistics, normalisation, pooling, ReLU, and in the backward the batch norm gradient fed
to the conv chunk by chunk) is "bn/pool/relu"; "other" is the step's wall time outside every
timed function (the loss, dropout, L2, the model's Python). torch: `torch.profiler` self CPU time
of every op, charged to the kind of its nearest enclosing op or autograd node that has one;
profiling adds a few microseconds per op, so torch's kinds add up to slightly more than its
unprofiled step. GFLOPS: the convs' multiply-adds (2 FLOPs each; the backward computes dw for
every conv and dx for all but the first) over their time. The reference rows time one float32
matmul of 1024x1024 by 1024x1024 (NumPy's BLAS, torch's `mm`) at this thread count: the rate a
conv built on GEMM can at best approach.
"""

KINDS = (
    "conv fwd",
    "conv bwd",
    "bn/pool/relu fwd",
    "bn/pool/relu bwd",
    "affine",
    "update",
    "other",
)

# torch op or autograd node name pattern -> kind, tried from the op up through its parents.
_TORCH_KINDS = [
    (r"Optimizer\.step|Optimizer\.zero_grad", "update"),
    (r"ConvolutionBackward|convolution_backward", "conv bwd"),
    (r"aten::convolution|aten::conv2d|mkldnn_convolution", "conv fwd"),
    (
        r"BatchNormBackward|batch_norm_backward|MaxPool.*Backward|max_pool.*backward|"
        r"ReluBackward|threshold_backward",
        "bn/pool/relu bwd",
    ),
    (r"aten::batch_norm|native_batch_norm|max_pool|MaxPool|[Rr]elu|clamp_min", "bn/pool/relu fwd"),
    (r"aten::linear|AddmmBackward|aten::addmm|TBackward", "affine"),
]

STEPS = 9


class _Timers:
    """Own-time timers: each timed call's time minus the time of the timed calls inside it."""

    def __init__(self):
        self.spent = collections.defaultdict(float)
        self._stack = []  # [kind, start, time in nested timed calls]

    def wrap(self, fn, kind):
        def timed(*args, **kwargs):
            self._stack.append([kind, time.perf_counter(), 0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                k, t0, nested = self._stack.pop()
                elapsed = time.perf_counter() - t0
                self.spent[k] += elapsed - nested
                if self._stack:
                    self._stack[-1][2] += elapsed

        return timed


def _numnet_kinds(model, X, y) -> dict[str, float]:
    """Median ms per kind of numnet's step, by wrapping the kernels the model runs."""
    from numnet.classifiers import _affine_stack, _conv_stack
    from numnet.kernels import conv_nhwc

    fwd_bwd, update, _ = common.numnet_train_step(model, X, y)
    timers = _Timers()
    backward_core = conv_nhwc.backward_core

    def backward_core_timed_fill(xp, x, w, g, need_dx, fill, *rest):
        fill = timers.wrap(fill, "bn/pool/relu bwd")
        return backward_core(xp, x, w, g, need_dx, fill, *rest)

    patches = [
        (_conv_stack, "block_forward", "bn/pool/relu fwd"),
        (_conv_stack, "block_backward", "bn/pool/relu bwd"),
        (conv_nhwc, "forward_chunks", "conv fwd"),
        (_affine_stack, "affine_forward", "affine"),
        (_affine_stack, "affine_backward", "affine"),
        (_affine_stack, "affine_param_grads", "affine"),
        (_affine_stack, "relu_forward", "bn/pool/relu fwd"),
        (_affine_stack, "relu_backward", "bn/pool/relu bwd"),
    ]
    originals = [(module, name, getattr(module, name)) for module, name, _ in patches]
    norms = dict(_affine_stack.NORMS)
    try:
        for module, name, kind in patches:
            setattr(module, name, timers.wrap(getattr(module, name), kind))
        conv_nhwc.backward_core = timers.wrap(backward_core_timed_fill, "conv bwd")
        for key, (fwd, bwd) in norms.items():
            _affine_stack.NORMS[key] = (
                timers.wrap(fwd, "bn/pool/relu fwd"),
                timers.wrap(bwd, "bn/pool/relu bwd"),
            )
        per_step = collections.defaultdict(list)
        for i in range(STEPS + common.WARMUP):
            timers.spent.clear()
            t0 = time.perf_counter()
            grads = fwd_bwd()[1]
            t1 = time.perf_counter()
            update(grads)
            timers.spent["update"] += time.perf_counter() - t1
            total = time.perf_counter() - t0
            timers.spent["other"] = total - sum(v for k, v in timers.spent.items() if k != "other")
            if i >= common.WARMUP:
                for k in KINDS:
                    per_step[k].append(timers.spent.get(k, 0.0) * 1e3)
    finally:
        for module, name, fn in originals:
            setattr(module, name, fn)
        conv_nhwc.backward_core = backward_core
        _affine_stack.NORMS.update(norms)
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
