"""Conv forward + backward, float32, batch 64: numnet.fast_layers vs torch.nn.functional.conv2d."""

from __future__ import annotations

import common
import numpy as np
import torch

from numnet.fast_layers import conv_backward_fast, conv_forward_fast
from numnet.kernels import _im2col
from numnet.kernels import conv as kconv

TITLE = "Conv forward + backward (float32, batch 64)"
TARGET = 1.25
SHARED = ("out", "conv scratch MB", "whole-batch im2col MB", "peak fwd MB", "peak bwd MB")
NOTES = """
Both sides compute out, dx, dw and db (torch: the input requires grad), except the "no dx" row,
where neither computes dx (torch: input without grad; numnet: `conv_backward_fast(...,
need_dx=False)`), as for a network's first layer. Memory: "conv scratch" is the forward's
working memory (planes, columns and GEMM output of a few images at a time, capped by
`numnet.kernels._im2col.CHUNK_BYTES` whatever the batch size), "whole-batch im2col" the single
column buffer a course-style im2col would build; "peak fwd/bwd" is everything NumPy allocates
during one call (tracemalloc), its results and cache included (the cache is the input itself).
The course's integer output-size rule rules out 3x3 stride 2 pad 1 on even sizes, hence the
31x31 and 4x4 stride-2 rows. The last eight rows are the convs of the recipe nets (3x3, stride
1, pad 1; the first conv of a net needs no dx).
"""

N = 64
# (C, F, k, H=W, stride, pad, need_dx)
LAYERS = [
    (3, 32, 7, 32, 1, 3, True),
    (3, 32, 7, 32, 1, 3, False),
    (1, 16, 5, 28, 1, 2, True),
    (16, 32, 5, 28, 1, 2, True),
    (32, 32, 5, 28, 1, 2, True),
    (16, 32, 3, 32, 1, 1, True),
    (32, 64, 3, 32, 1, 1, True),
    (64, 128, 3, 16, 1, 1, True),
    (128, 128, 3, 16, 1, 1, True),
    (32, 64, 3, 31, 2, 1, True),
    (64, 64, 4, 32, 2, 1, True),
    (32, 32, 4, 28, 2, 1, True),
    # The recipe nets' convs (configs/default.toml, configs/long.toml) on 1x28x28 and 3x32x32.
    (1, 32, 3, 28, 1, 1, False),
    (32, 64, 3, 14, 1, 1, True),
    (32, 32, 3, 28, 1, 1, True),
    (64, 64, 3, 14, 1, 1, True),
    (3, 32, 3, 32, 1, 1, False),
    (32, 32, 3, 32, 1, 1, True),
    (32, 64, 3, 16, 1, 1, True),
    (64, 64, 3, 16, 1, 1, True),
]


def _case_name(C, F, k, H, stride, pad, need_dx) -> str:
    name = f"{C}->{F} {k}x{k} s{stride} p{pad} {H}x{H}"
    return name if need_dx else name + " (no dx)"


def _memory(x, w, b, cp, dout, cache, need_dx) -> dict:
    """Numnet's conv scratch per call and peak allocations for one layer, in MB."""
    N = x.shape[0]
    g = kconv.geometry(x.shape, w.shape, cp["stride"], cp["pad"], cp["pad"])
    per_image = kconv.workspace_bytes(g, x.itemsize, backward=False, scatter=False)
    return {
        "conv scratch MB": round(_im2col.chunk_size(N, per_image) * per_image / 2**20, 1),
        "whole-batch im2col MB": round(N * g.K * g.Ho * g.Wo * x.itemsize / 2**20, 1),
        "peak fwd MB": round(common.peak_extra_mb(lambda: conv_forward_fast(x, w, b, cp)), 1),
        "peak bwd MB": round(
            common.peak_extra_mb(lambda: conv_backward_fast(dout, cache, need_dx=need_dx)), 1
        ),
    }


def run(threads: int) -> list[dict]:
    """Time conv forward + backward of every layer in ``LAYERS``, numnet beside torch.

    Args:
        threads: thread count both sides were pinned to (set by run_all before import).

    Returns:
        One row per layer: medians in ms, the numnet/torch ratio, the target and memory columns.
    """
    rng = np.random.default_rng(0)

    rows = []
    for C, F, k, H, stride, pad, need_dx in LAYERS:
        x = rng.standard_normal((N, C, H, H), dtype=np.float32)
        w = (rng.standard_normal((F, C, k, k), dtype=np.float32) * 0.1).astype(np.float32)
        b = np.zeros(F, dtype=np.float32)
        cp = {"stride": stride, "pad": pad}
        out, cache = conv_forward_fast(x, w, b, cp)
        dout = rng.standard_normal(out.shape, dtype=np.float32)

        def numnet_step(x=x, w=w, b=b, cp=cp, dout=dout, need_dx=need_dx):
            _, c = conv_forward_fast(x, w, b, cp)
            return conv_backward_fast(dout, c, need_dx=need_dx)

        conv = torch.nn.Conv2d(C, F, k, stride=stride, padding=pad)
        tx = torch.from_numpy(x).requires_grad_(need_dx)
        tdout = torch.from_numpy(dout)

        def torch_step(conv=conv, tx=tx, tdout=tdout):
            conv.zero_grad(set_to_none=True)
            tx.grad = None
            conv(tx).backward(tdout)

        timings = common.compare({"numnet": numnet_step, "torch": torch_step})
        rows.append(
            common.ratio_row(
                _case_name(C, F, k, H, stride, pad, need_dx),
                timings,
                TARGET,
                out=f"{out.shape[2]}x{out.shape[3]}",
                **_memory(x, w, b, cp, dout, cache, need_dx),
            )
        )
    return rows
