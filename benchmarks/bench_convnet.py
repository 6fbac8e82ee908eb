"""The recipe ConvNets, numnet vs torch: training step (batch 64, Adam), inference (batch 1000)."""

from __future__ import annotations

import common
import recipes
import torch

TITLE = "Recipe ConvNets: training step (float32, batch 64, Adam) and inference (batch 1000)"
TARGET = 1.0
NOTES = """
The nets `numnet train` builds from configs/default.toml (conv32-BN-pool-relu, conv64-BN-pool-relu,
fc128-BN-relu, fc10) and configs/long.toml (2x conv32, pool, 2x conv64, pool, fc256-BN-relu-dropout
0.5, fc10), 3x3 convs, on Fashion-MNIST's 1x28x28 images and on CIFAR-10's 3x32x32.
numnet: `ConvNet.loss` then `numnet.optim.adam` on every parameter, as the Solver's step does;
torch: the same layers (`benchmarks/recipes.py` builds both) in `torch.nn.Sequential`,
`cross_entropy`, `torch.optim.Adam` (defaults). Neither side computes the gradient of the images.
Inference: `ConvNet.loss(X)` (test mode) against `net.eval()` under `torch.inference_mode()`, on
1000 images. The target applies to the training step and inference rows; the fwd + bwd and update
rows split the step.
"""

INFER_N = 1000


def _net_rows(name, stem, input_dim) -> list[dict]:
    cfg = recipes.recipe(stem)
    n = cfg["batch_size"]
    X, y = recipes.batch(input_dim, n)
    model = recipes.numnet_convnet(cfg, input_dim)
    net = recipes.torch_convnet(cfg, input_dim)
    net.train()
    rows = common.training_step_rows(
        common.numnet_train_step(model, X, y), common.torch_train_step(net, X, y), TARGET
    )
    for row in rows:
        row["case"] = f"{name}: {row['case']}"

    Xi, _ = recipes.batch(input_dim, INFER_N, seed=1)
    tXi = torch.from_numpy(Xi)

    def torch_infer():
        with torch.inference_mode():
            return net(tXi)

    net.eval()
    timings = common.compare({"numnet": lambda: model.loss(Xi), "torch": torch_infer}, repeats=5)
    net.train()
    rows.append(common.ratio_row(f"{name}: inference, batch {INFER_N}", timings, TARGET))
    return rows


def run(threads: int) -> list[dict]:
    """This benchmark's result rows, run with ``threads`` BLAS/torch threads."""
    rows = []
    for name, stem, input_dim in recipes.NETS:
        rows += _net_rows(name, stem, input_dim)
    return rows
