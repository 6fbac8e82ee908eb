"""FullyConnectedNet training step, float32, batch 64 of 3072 features: numnet vs torch."""

from __future__ import annotations

import common
import numpy as np
import torch

from numnet.classifiers.fc_net import FullyConnectedNet
from numnet.optim import adam

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
    configs = {name: {"learning_rate": 1e-3} for name in model.params}
    X = rng.standard_normal((N, D), dtype=np.float32)
    y = rng.integers(0, C, N)

    def fwd_bwd():
        return model.loss(X, y)

    def update(grads):
        for name, w in model.params.items():
            model.params[name], configs[name] = adam(w, grads[name], configs[name])

    grads = fwd_bwd()[1]
    return X, y, fwd_bwd, update, grads


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

    # One step is ~1-3 ms: time blocks of 20 steps so timer and scheduler noise stay small.
    def block(fn, n=20):
        def run_block():
            for _ in range(n):
                fn()

        return run_block

    def per_step(t):
        return {k: {s: v / 20 for s, v in d.items()} for k, d in t.items()}

    step = per_step(common.compare({"numnet": block(nn_step), "torch": block(th_step)}))
    fwd_bwd = per_step(common.compare({"numnet": block(nn_fwd_bwd), "torch": block(th_fwd_bwd)}))
    update = per_step(
        common.compare({"numnet": block(lambda: nn_update(grads)), "torch": block(th_update)})
    )
    return [
        common.ratio_row("training step (forward, backward, Adam)", step, TARGET),
        common.ratio_row("forward + backward only", fwd_bwd, None),
        common.ratio_row("Adam update only", update, None),
    ]
