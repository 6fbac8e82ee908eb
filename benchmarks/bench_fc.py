"""FullyConnectedNet training step, float32, batch 64 of 3072 features: numnet vs torch."""

from __future__ import annotations

import common
import numpy as np
import torch

from numnet.classifiers.fc_net import FullyConnectedNet

TITLE = (
    "FullyConnectedNet training step (float32, [100]*4 hidden, batchnorm, dropout, batch 64, Adam)"
)
TARGET = 1.0
NOTES = """
The net: {affine 100 - batchnorm - relu - dropout (keep 0.5)} x 4 - affine 10 - softmax loss on
64 inputs of 3072 features (307k + 30k weights). numnet: `FullyConnectedNet.loss` (dropout masks
from the model's Generator) then `numnet.optim.adam` on every parameter, as the Solver's step does;
torch: the same layers in `torch.nn.Sequential` (`BatchNorm1d`, `Dropout(0.5)`), `cross_entropy`,
`torch.optim.Adam` (defaults). Both skip the gradient of the input batch. Small nets are
overhead-bound: most of the time is the first layer's two (64 x 3072 x 100) matmuls plus
per-call overhead, so NumPy can keep up with torch here. The target applies to the full step; the
other two rows split it.
"""

N, D, HIDDEN, C = 64, 3 * 32 * 32, [100] * 4, 10


def _numnet(rng):
    model = FullyConnectedNet(
        HIDDEN,
        input_dim=D,
        num_classes=C,
        dropout_keep_ratio=0.5,
        normalization="batchnorm",
        dtype=np.float32,
        rng=0,
    )
    X = rng.standard_normal((N, D), dtype=np.float32)
    y = rng.integers(0, C, N)

    return X, y, common.numnet_train_step(model, X, y)


def _torch(X, y):
    layers, fan_in = [], D
    for h in HIDDEN:
        layers += [
            torch.nn.Linear(fan_in, h),
            torch.nn.BatchNorm1d(h),
            torch.nn.ReLU(),
            torch.nn.Dropout(0.5),
        ]
        fan_in = h
    net = torch.nn.Sequential(*layers, torch.nn.Linear(fan_in, C))
    net.train()
    return common.torch_train_step(net, X, y)


def run(threads: int) -> list[dict]:
    """Time one training step of the fully connected net, numnet beside torch.

    Args:
        threads: thread count both sides were pinned to (set by run_all before import).

    Returns:
        Rows for the full step, forward + backward only, and the Adam update only.
    """
    rng = np.random.default_rng(0)

    X, y, numnet_side = _numnet(rng)
    return common.training_step_rows(numnet_side, _torch(X, y), TARGET, calls_per_timing=20)
