"""ThreeLayerConvNet training step, float32, batch 64 of 3x32x32: numnet vs the same torch net."""

from __future__ import annotations

import common
import numpy as np
import torch

from numnet.classifiers.cnn import ThreeLayerConvNet

TITLE = "ThreeLayerConvNet training step (float32, batch 64, 3x32x32, Adam)"
TARGET = 1.25
NOTES = """
The net: conv 32 filters 7x7 pad 3 - relu - 2x2 max pool - affine 100 - relu - affine 10 -
softmax loss. numnet: `ThreeLayerConvNet.loss` then `numnet.optim.adam` on every parameter, as the
Solver's step does; torch: the same layers in `torch.nn.Sequential`, `cross_entropy`,
`torch.optim.Adam` (defaults). The target applies to the full step; the next two rows split it.
The model's conv - relu - pool block is the fused `conv_relu_pool_forward_fast` /
`conv_relu_pool_backward_fast` (the conv and ReLU outputs never leave the cache), and it skips the
input gradient of the first conv, as torch does for images that do not require grad.
"""

N = 64


def _numnet(rng):
    model = ThreeLayerConvNet(weight_scale=1e-2, dtype=np.float32, rng=0)
    X = rng.standard_normal((N, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, N)

    return X, y, common.numnet_train_step(model, X, y)


def _torch(X, y):
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 7, padding=3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 16 * 16, 100),
        torch.nn.ReLU(),
        torch.nn.Linear(100, 10),
    )
    return common.torch_train_step(net, X, y)


def run(threads: int) -> list[dict]:
    """Time one training step of the three-layer ConvNet, numnet beside torch.

    Args:
        threads: thread count both sides were pinned to (set by run_all before import).

    Returns:
        Rows for the full step, forward + backward only, and the Adam update only.
    """
    rng = np.random.default_rng(0)

    X, y, numnet_side = _numnet(rng)
    return common.training_step_rows(numnet_side, _torch(X, y), TARGET)
