"""``numnet sanity [train options]``: the lecture's checks before a long run, as a PASS/FAIL table.

The checks and their criteria are ``numnet.babysit.sanity``'s; this command builds the model and
data ``numnet train`` would build from the same options, runs them, prints the table and exits 1
if any check failed.
"""

from __future__ import annotations

import argparse
import sys
import time

#: Training examples the checks draw from (a seeded random sample of the training split).
SAMPLE = 1000

NOTE = (
    "note: a gaussian 1e-2 init passes the initial-loss check while its deep activations "
    "vanish; look at the activations too (numnet inspect init, numnet train --monitor)."
)


def add_parser(cmd, add_train_options, suppress: bool) -> None:
    """Add the ``sanity`` subcommand (``cmd(name, help, description)`` makes its parser)."""
    p = cmd(
        "sanity",
        "check a configured model before training: initial loss, overfitting 20 examples, "
        "gradients",
        "Run the lecture's sanity checks on the model and data `numnet train` would build "
        "from the same options: initial loss vs ln(C) with regularisation off; the loss rises "
        "with regularisation; 2 examples per class overfit to 100% training accuracy; training "
        "on zeroed inputs does worse; a float64 numeric gradient check of the whole model. "
        "Prints PASS/FAIL with the numbers; exit code 1 if any check fails.",
    )
    add_train_options(p, suppress, run_options=False)


def run(args: argparse.Namespace, explicit: dict) -> int:
    """Run the checks; exit code 0 if all pass, 1 otherwise."""
    import numpy as np

    from numnet.babysit.sanity import run_sanity_checks
    from numnet.cli import setup
    from numnet.cli.errors import CLIError, UsageError, one_line

    t0 = time.perf_counter()
    cfg = setup.options(args, explicit)
    if cfg["device"] != "cpu":
        raise UsageError("numnet sanity runs on the CPU (float64 gradient checks on a few images); "
                         f"drop --device {cfg['device']}")  # fmt: skip
    model = setup.build_model(cfg)
    ds, data = setup.load_data(cfg)
    n = data["X_train"].shape[0]
    idx = np.random.default_rng(cfg["seed"]).permutation(n)[: min(n, SAMPLE)]
    X, y = np.asarray(data["X_train"][idx]), np.asarray(data["y_train"][idx])
    name = model.get_config()["name"]
    print(f"numnet sanity: {name} ({model.num_params():,} params) on {ds.name}, "
          f"{cfg['optimizer']} lr {cfg['lr']:g}")  # fmt: skip
    try:
        results = run_sanity_checks(
            model, X, y, update_rule=cfg["optimizer"], optim_config=setup.optim_config(cfg),
            seed=cfg["seed"], grad_clip=cfg["grad_clip"],
        )  # fmt: skip
    except ValueError as e:
        raise CLIError(f"cannot run the sanity checks: {one_line(e)}") from None
    print(format_results(results))
    passed = sum(r.passed for r in results)
    print(f"{passed} of {len(results)} checks passed ({time.perf_counter() - t0:.1f} s in all)")
    print(NOTE)
    sys.stdout.flush()
    return 0 if passed == len(results) else 1


def format_results(results) -> str:
    """The table: check, result, seconds, the numbers, and under them what PASS needs."""
    width = max(len("check"), *(len(r.name) for r in results))
    lines = [f"{'check':<{width}}  result  seconds  measured / needed"]
    for r in results:
        verdict = "PASS" if r.passed else "FAIL"
        lines.append(f"{r.name:<{width}}  {verdict:<6}  {r.seconds:7.1f}  {r.measured}")
        lines.append(f"{'':<{width}}  {'':<6}  {'':>7}  needs {r.criterion}")
    return "\n".join(lines)
