"""The nets of numnet's training recipes (configs/*.toml), built in numnet and mirrored in torch.

Not a benchmark module itself (run_all.py only runs ``bench_*.py``); bench_convnet, bench_memory
and bench_breakdown share it. The torch net mirrors numnet's ConvNet layer for layer, in numnet's
order: ``{[conv - BN - relu] x (convs_per_stage - 1), conv - BN - pool - relu}`` per stage (numnet
pools before the ReLU; the two commute), then ``{affine - BN - relu - [dropout]}`` per hidden
size, then an affine layer; conv biases kept, as numnet has them. Initial values are irrelevant to
the timings and are not copied.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

#: The nets the benchmarks time: (name, recipe file stem, input_dim (C, H, W)).
NETS = [
    ("default 1x28x28", "default", (1, 28, 28)),
    ("long 1x28x28", "long", (1, 28, 28)),
    ("default 3x32x32", "default", (3, 32, 32)),
    ("long 3x32x32", "long", (3, 32, 32)),
]
NUM_CLASSES = 10


def recipe(stem: str) -> dict:
    """The [model] table of configs/<stem>.toml plus ``batch_size`` from its [training] table."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    with open(ROOT / "configs" / f"{stem}.toml", "rb") as f:
        cfg = tomllib.load(f)
    if cfg["model"]["model"] != "convnet":
        raise ValueError(f"configs/{stem}.toml is not a convnet recipe")
    return {**cfg["model"], "batch_size": cfg["training"]["batch_size"]}


def numnet_convnet(cfg: dict, input_dim, seed: int = 0):
    """Numnet's ConvNet for a recipe, as ``numnet train`` builds it (float32)."""
    from numnet.classifiers.convnet import ConvNet

    return ConvNet(
        input_dim=input_dim,
        conv_channels=cfg["filters"],
        convs_per_stage=cfg["convs_per_stage"],
        filter_size=cfg["filter_size"],
        hidden_dims=cfg["hidden_dims"],
        num_classes=NUM_CLASSES,
        normalization=None if cfg["norm"] == "none" else cfg["norm"],
        dropout_keep_ratio=cfg["dropout"],
        init=cfg["init"],
        dtype=np.float32,
        seed=seed,
    )


def torch_convnet(cfg: dict, input_dim):
    """The same net as ``numnet_convnet`` in ``torch.nn.Sequential`` (batchnorm recipes only)."""
    import torch.nn as tnn

    if cfg["norm"] != "batchnorm":
        raise ValueError("the torch mirror covers the batchnorm recipes only")
    c, h, w = input_dim
    k = cfg["filter_size"]
    layers, prev = [], c
    for ch in cfg["filters"]:
        for j in range(cfg["convs_per_stage"]):
            layers += [tnn.Conv2d(prev, ch, k, padding=(k - 1) // 2), tnn.BatchNorm2d(ch)]
            if j == cfg["convs_per_stage"] - 1:
                layers.append(tnn.MaxPool2d(2))
            layers.append(tnn.ReLU())
            prev = ch
        h, w = h // 2, w // 2
    layers.append(tnn.Flatten())
    prev *= h * w
    for d in cfg["hidden_dims"]:
        layers += [tnn.Linear(prev, d), tnn.BatchNorm1d(d), tnn.ReLU()]
        if cfg["dropout"] < 1:
            layers.append(tnn.Dropout(1 - cfg["dropout"]))
        prev = d
    layers.append(tnn.Linear(prev, NUM_CLASSES))
    return tnn.Sequential(*layers)


def batch(input_dim, n: int, seed: int = 0):
    """``(X, y)``: n random float32 images (N, C, H, W) and int64 labels."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, *input_dim), dtype=np.float32)
    return X, rng.integers(0, NUM_CLASSES, n)


def conv_layers(cfg: dict, input_dim, n: int) -> list[tuple]:
    """``(N, C, F, H, W, k, need_dx)`` of each conv layer of the recipe's net."""
    c, h, w = input_dim
    out, first = [], True
    for ch in cfg["filters"]:
        for _ in range(cfg["convs_per_stage"]):
            out.append((n, c, ch, h, w, cfg["filter_size"], not first))
            c, first = ch, False
        h, w = h // 2, w // 2
    return out


def conv_flops(cfg: dict, input_dim, n: int) -> tuple[float, float]:
    """``(forward, backward)`` multiply-add FLOPs (2 per MAC) of the net's convs for n images.

    The backward counts dw for every conv and dx for all but the first (which needs none).
    """
    fwd = bwd = 0.0
    for N, C, F, H, W, k, need_dx in conv_layers(cfg, input_dim, n):
        macs = N * F * C * k * k * H * W  # stride 1, "same" padding
        fwd += 2 * macs
        bwd += 2 * macs * (2 if need_dx else 1)
    return fwd, bwd
