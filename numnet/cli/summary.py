"""``numnet summary [train options]``: per layer the output shape, params, memory and FLOPs.

The table comes from ``numnet.babysit.summary`` on the model config ``numnet train`` would build
from the same options; no data is loaded and nothing is trained.
"""

from __future__ import annotations

import argparse


def add_parser(cmd, add_train_options, suppress: bool) -> None:
    """Add the ``summary`` subcommand (``cmd(name, help, description)`` makes its parser)."""
    p = cmd(
        "summary",
        "per-layer output shapes, parameters, activation memory and FLOPs of a configured model",
        "Summarise the model `numnet train` would build from the same options: per layer the "
        "output shape for --batch-size (conv and pool sizes by (W - F + 2P) / S + 1, with an "
        "error naming the layer that does not fit), parameter count, activation memory and "
        "forward FLOPs (conv: 2*N*Cout*Hout*Wout*Cin*F*F), and totals. Loads no data.",
    )
    add_train_options(p, suppress, run_options=False)


def run(args: argparse.Namespace, explicit: dict) -> int:
    """Print the summary; exit code 0."""
    from numnet.babysit.summary import ShapeError, format_summary, summarize
    from numnet.cli import models, setup
    from numnet.cli.errors import UsageError, one_line

    cfg = setup.options(args, explicit)
    config = setup.model_config(cfg)
    try:
        summary = summarize(config, cfg["batch_size"])
    except ShapeError as e:
        dim = config["input_dim"]
        shape = "x".join(str(v) for v in (dim if isinstance(dim, list) else [dim]))
        raise UsageError(f"the {config['name']} does not fit {cfg['data']}'s {shape} images at "
                         f"{one_line(e)}") from None  # fmt: skip
    model = models.build(config)  # every other check of the options
    print(f"{config['name']} for {cfg['data']}, batch {cfg['batch_size']}, {summary.dtype} "
          f"({model.num_params():,} params)")  # fmt: skip
    print(format_summary(summary))
    return 0
