"""``numnet inspect init``: how an initialisation treats a deep net's activations, with figures.

The library side is :mod:`numnet.babysit.inspect_init`; this module parses, prints the per-layer
table and writes ``init_stats.png``, ``init_histograms.png`` and ``init.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import math

from numnet import _names
from numnet.cli import config as C
from numnet.cli.errors import UsageError
from numnet.cli.outdir import add_out_option, output_dir, typed

ACTIVATIONS = ("tanh", "relu", "sigmoid")  # numnet.babysit.inspect_init.ACTIVATIONS (tested)
JSON = "init.json"


def add_parser(cmd) -> None:
    """Add ``inspect`` (with its action ``init``) through ``cmd(name, help, description)``."""
    p = cmd("inspect", "look inside a network before training (inspect init)")
    sub = p.add_subparsers(dest="inspect_command", metavar="WHAT", parser_class=type(p))
    i = sub.add_parser(
        "init",
        help="forward random data through a deep net: per-layer histograms, mean/std, verdicts",
        description="Forward N standard normal inputs through DEPTH fully connected layers of "
        "WIDTH units (no biases) and show each layer's output: mean, std, dead or saturated "
        "units, a histogram, and a verdict (ok, vanishing, shrinking, exploding, growing, "
        "saturated, dead). Writes init_stats.png, init_histograms.png and init.json.",
        formatter_class=p.formatter_class,
    )
    pos_int, pos_float = C.BY_KEY["epochs"].convert, C.BY_KEY["lr"].convert
    i.add_argument("--depth", type=typed(pos_int, "depth"), default=10, metavar="L",
                   help="number of layers")  # fmt: skip
    i.add_argument("--width", type=typed(pos_int, "width"), default=500, metavar="D",
                   help="units per layer (and input features)")  # fmt: skip
    i.add_argument("--activation", choices=ACTIVATIONS, default="tanh", help="nonlinearity")
    i.add_argument("--init", choices=_names.INIT_SCHEMES, default="xavier",
                   help="weight initialisation")  # fmt: skip
    i.add_argument("--weight-scale", type=typed(pos_float, "weight_scale"), default=0.01,
                   metavar="S", help="std of the 'gaussian' init")  # fmt: skip
    i.add_argument("--samples", type=typed(pos_int, "samples"), default=1000, metavar="N",
                   help="random inputs")  # fmt: skip
    i.add_argument("--seed", type=typed(C.BY_KEY["seed"].convert, "seed"), default=0,
                   metavar="S", help="seed of the inputs and weights")  # fmt: skip
    add_out_option(i)


def _fmt(v: float, pct: bool = False) -> str:
    if math.isnan(v):
        return "-"
    return f"{100 * v:.0f}%" if pct else f"{v:.3g}"


def run(args: argparse.Namespace, explicit: dict) -> int:
    """Inspect, print the table, write the figures; exit code 0."""
    if args.inspect_command is None:
        raise UsageError("numnet inspect needs an action: init (see: numnet inspect --help)")
    from numnet.babysit.figures import plot_init
    from numnet.babysit.inspect_init import inspect_init
    from numnet.cli.rundir import write_json

    out = output_dir(args.out, "inspect-init")
    reports = inspect_init(args.depth, args.width, args.activation, args.init,
                           args.weight_scale, args.samples, args.seed)  # fmt: skip
    scale = f" {args.weight_scale:g}" if args.init == "gaussian" else ""
    what = f"{args.depth} x {args.width} {args.activation}, {args.init}{scale} init"
    print(f"{what}: {args.samples} standard normal inputs")
    print(f"{'layer':>5}  {'mean':>10}  {'std':>10}  {'dead':>5}  {'saturated':>9}  verdict")
    for r in reports:
        print(f"{r.layer:>5}  {_fmt(r.mean):>10}  {_fmt(r.std):>10}  {_fmt(r.dead, True):>5}  "
              f"{_fmt(r.saturated, True):>9}  {r.verdict}")  # fmt: skip
    paths = plot_init(out, reports, what)
    settings = {k: getattr(args, k) for k in ("depth", "width", "activation", "init",
                                              "weight_scale", "samples", "seed")}  # fmt: skip
    write_json(out / JSON, {"settings": settings, "layers": [r.to_dict() for r in reports]})
    bad = sum(r.verdict != "ok" for r in reports)
    print(f"{bad} of {len(reports)} layers not ok" if bad else "every layer ok")
    print("wrote " + ", ".join(str(p) for p in [*paths, out / JSON]))
    return 0
