"""ThreeLayerConvNet training step, float32, batch 64 of 3x32x32: numnet vs the same torch net."""

from __future__ import annotations

import common
import numpy as np
import torch

from numnet.classifiers.cnn import ThreeLayerConvNet
from numnet.optim import adam

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
    model = ThreeLayerConvNet(weight_scale=1e-2, dtype=np.float32, seed=0)
    configs = {name: {"learning_rate": 1e-3} for name in model.params}
    X = rng.standard_normal((N, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, N)

    def fwd_bwd():
        return model.loss(X, y)

    def update(grads):
        for name, w in model.params.items():
            model.params[name], configs[name] = adam(w, grads[name], configs[name])

    grads = fwd_bwd()[1]
    return X, y, fwd_bwd, update, grads


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
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)

    def fwd_bwd():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(tX), ty).backward()

    fwd_bwd()
    return fwd_bwd, opt.step


def run(threads: int) -> list[dict]:
    rng = np.random.default_rng(0)
    X, y, nn_fwd_bwd, nn_update, grads = _numnet(rng)
    th_fwd_bwd, th_update = _torch(X, y)

    def nn_step():
        nn_update(nn_fwd_bwd()[1])

    def th_step():
        th_fwd_bwd()
        th_update()

    step = common.compare({"numnet": nn_step, "torch": th_step})
    fwd_bwd = common.compare({"numnet": nn_fwd_bwd, "torch": th_fwd_bwd})
    update = common.compare({"numnet": lambda: nn_update(grads), "torch": th_update})
    return [
        common.ratio_row("training step (forward, backward, Adam)", step, TARGET),
        common.ratio_row("forward + backward only", fwd_bwd, None),
        common.ratio_row("Adam update only", update, None),
    ]
