"""Max pool forward + backward, float32, batch 64: numnet.fast_layers vs torch max_pool2d."""

from __future__ import annotations

import common
import numpy as np
import torch

from numnet.fast_layers import max_pool_backward_fast, max_pool_forward_fast

TITLE = "Max pool forward + backward (float32, batch 64)"
TARGET = 1.0
SHARED = ("peak fwd MB", "peak bwd MB")
NOTES = """
The target applies to the 2x2 stride-2 rows; the 3x3 stride-2 (overlapping) row is for
information. torch's input requires grad, as inside a network.
"""

N = 64
# (C, H=W, pool, stride)
SHAPES = [(32, 32, 2, 2), (64, 16, 2, 2), (128, 8, 2, 2), (16, 28, 2, 2), (64, 32, 3, 2)]


def run(threads: int) -> list[dict]:
    """Time max pool forward + backward of every shape in ``SHAPES``, numnet beside torch.

    Args:
        threads: thread count both sides were pinned to (set by run_all before import).

    Returns:
        One row per shape: medians in ms, the numnet/torch ratio, the target and peak memory.
    """
    rng = np.random.default_rng(0)

    rows = []
    for C, H, k, s in SHAPES:
        x = rng.standard_normal((N, C, H, H), dtype=np.float32)
        pp = {"pool_height": k, "pool_width": k, "stride": s}
        out, cache = max_pool_forward_fast(x, pp)
        dout = rng.standard_normal(out.shape, dtype=np.float32)

        def numnet_step(x=x, pp=pp, dout=dout):
            _, c = max_pool_forward_fast(x, pp)
            return max_pool_backward_fast(dout, c)

        tx = torch.from_numpy(x).requires_grad_(True)
        tdout = torch.from_numpy(dout)

        def torch_step(tx=tx, tdout=tdout, k=k, s=s):
            tx.grad = None
            torch.nn.functional.max_pool2d(tx, k, stride=s).backward(tdout)

        timings = common.compare({"numnet": numnet_step, "torch": torch_step})
        rows.append(
            common.ratio_row(
                f"{C}x{H}x{H} pool {k}x{k} s{s}",
                timings,
                TARGET if k == s == 2 else None,
                **{
                    "peak fwd MB": round(
                        common.peak_extra_mb(lambda x=x, pp=pp: max_pool_forward_fast(x, pp)), 1
                    ),
                    "peak bwd MB": round(
                        common.peak_extra_mb(lambda d=dout, c=cache: max_pool_backward_fast(d, c)),
                        1,
                    ),
                },
            )
        )
    return rows
