"""Spatial batch norm forward + backward at the recipe nets' shapes: numnet vs torch batch_norm."""

from __future__ import annotations

import common
import numpy as np
import torch

from numnet.layers import spatial_batchnorm_backward, spatial_batchnorm_forward

TITLE = "Spatial batch norm (float32, train mode, batch 64)"
TARGET = 1.0
SHARED = ("peak fwd MB", "peak bwd MB")
NOTES = """
The shapes the recipe nets normalise: conv outputs of 32 and 64 channels on Fashion-MNIST
(28x28, 14x14) and CIFAR-10 (32x32, 16x16) images. numnet: `spatial_batchnorm_forward` (train
mode, running statistics updated) then `spatial_batchnorm_backward`; torch:
`torch.nn.functional.batch_norm(training=True)` with running statistics, the input, weight and bias
requiring grad, then `.backward(dout)`. The target applies to the forward + backward rows; the
forward-only rows (torch under `no_grad`) are for information. "peak fwd/bwd MB": everything NumPy
allocates during one call (tracemalloc), results and cache included.
"""

# (N, C, H=W)
SHAPES = [(64, 32, 28), (64, 64, 14), (64, 32, 32), (64, 64, 16)]


def run(threads: int) -> list[dict]:
    """This benchmark's result rows, run with ``threads`` BLAS/torch threads."""
    rng = np.random.default_rng(0)
    rows = []
    for N, C, H in SHAPES:
        x = rng.standard_normal((N, C, H, H), dtype=np.float32)
        dout = rng.standard_normal(x.shape, dtype=np.float32)
        gamma = rng.standard_normal(C, dtype=np.float32)
        beta = rng.standard_normal(C, dtype=np.float32)
        bn_param = {"mode": "train"}

        def numnet_fwd(x=x, gamma=gamma, beta=beta, bn_param=bn_param):
            return spatial_batchnorm_forward(x, gamma, beta, bn_param)

        def numnet_step(dout=dout, numnet_fwd=numnet_fwd):
            return spatial_batchnorm_backward(dout, numnet_fwd()[1])

        tx = torch.from_numpy(x).requires_grad_(True)
        tg = torch.from_numpy(gamma.copy()).requires_grad_(True)
        tb = torch.from_numpy(beta.copy()).requires_grad_(True)
        rm, rv = torch.zeros(C), torch.ones(C)
        tdout = torch.from_numpy(dout)

        def torch_fwd(tx=tx, tg=tg, tb=tb, rm=rm, rv=rv):
            return torch.nn.functional.batch_norm(tx, rm, rv, tg, tb, training=True)

        def torch_step(tx=tx, tg=tg, tb=tb, tdout=tdout, torch_fwd=torch_fwd):
            tx.grad = tg.grad = tb.grad = None
            torch_fwd().backward(tdout)

        def torch_fwd_only(torch_fwd=torch_fwd):
            with torch.no_grad():
                return torch_fwd()

        name = f"{C}x{H}x{H}"
        _, cache = numnet_fwd()
        memory = {
            "peak fwd MB": round(common.peak_extra_mb(numnet_fwd), 1),
            "peak bwd MB": round(
                common.peak_extra_mb(lambda d=dout, c=cache: spatial_batchnorm_backward(d, c)),
                1,
            ),
        }
        timings = common.compare({"numnet": numnet_step, "torch": torch_step})
        rows.append(common.ratio_row(f"{name} forward + backward", timings, TARGET, **memory))
        timings = common.compare({"numnet": numnet_fwd, "torch": torch_fwd_only})
        rows.append(common.ratio_row(f"{name} forward only", timings, None, **memory))
    return rows
