"""``numnet lr-find [train options]``: the learning-rate range test and a suggested ``--lr``.

Builds the model, data and Solver ``numnet train`` would build from the same options, runs
``numnet.babysit.lr_find`` (which leaves them exactly as they were) and writes into ``--out``
(default ``runs/<date>-<time>-lr-find-<model>``):

- ``lr_find.png``: loss against learning rate on a log axis, the suggestion marked;
- ``lr_find.csv``: ``step, lr, loss, smoothed`` per step of the sweep;
- ``lr_find.json``: the options, the sweep's settings and why it stopped, every rule's suggestion.
"""

from __future__ import annotations

import argparse
import math

from numnet._names import LR_FIND_RULES
from numnet.cli import values as V
from numnet.cli.outdir import typed

PNG, CSV, JSON = "lr_find.png", "lr_find.csv", "lr_find.json"
#: The sweep's defaults: ``numnet.babysit.lr_find``'s (MIN_LR, MAX_LR, NUM_STEPS), repeated here
#: because that module loads NumPy and the parser must not (``--threads``); a test checks them.
MIN_LR, MAX_LR, NUM_STEPS = 1e-7, 10.0, 100


def _lr(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {s!r}")
    return v


def _steps(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
    if v < 2:
        raise argparse.ArgumentTypeError(f"must be >= 2, got {s!r}")
    return v


def add_parser(cmd, add_train_options, suppress: bool) -> None:
    """Add the ``lr-find`` subcommand (``cmd(name, help, description)`` makes its parser)."""
    p = cmd(
        "lr-find",
        "learning-rate range test: loss against an exponentially growing lr, a suggested --lr",
        "Train the model `numnet train` would build from the same options for up to --steps "
        "minibatches while the learning rate grows geometrically from --min-lr to --max-lr; "
        "stop when the smoothed loss exceeds 4x its minimum or turns nan. Writes lr_find.png, "
        "lr_find.csv and lr_find.json into --out and prints the suggested --lr. The model, "
        "optimizer and random states are left exactly as before the test.",
    )
    add_train_options(p, suppress, run_options=False)
    g = p.add_argument_group("range test options")
    g.add_argument("--min-lr", type=_lr, default=MIN_LR, metavar="LR", help="first lr")
    g.add_argument("--max-lr", type=_lr, default=MAX_LR, metavar="LR", help="last lr")
    g.add_argument("--steps", type=_steps, default=NUM_STEPS, metavar="N",
                   help="steps of the sweep (one minibatch each)")  # fmt: skip
    g.add_argument("--rule", choices=LR_FIND_RULES, default=LR_FIND_RULES[0],
                   help="suggestion rule (see README: Babysitting a run)")  # fmt: skip
    g.add_argument(
        "--out",
        metavar="DIR",
        type=typed(V.path, "out"),
        default=None,
        help="new directory for the PNG, CSV and JSON (default: "
        "runs/<date>-<time>-lr-find-<model>); never overwritten",
    )


def run(args: argparse.Namespace, explicit: dict) -> int:
    """Run the range test, write the files, print the suggestion; exit code 0."""
    import time

    from numnet.babysit.lr_find import lr_range_test, plot_lr_find
    from numnet.babysit.lr_rules import RULES
    from numnet.cli import rundir, setup
    from numnet.cli.errors import UsageError, one_line
    from numnet.solver import Solver

    if not args.min_lr < args.max_lr:
        raise UsageError(f"--min-lr {args.min_lr:g} must be below --max-lr {args.max_lr:g}")
    cfg = setup.options(args, explicit)
    out = rundir.check_new_run_dir(
        args.out if args.out else rundir.default_run_dir(f"lr-find-{cfg['model']}")
    )
    model = setup.build_model(cfg)
    ds, data = setup.load_data(cfg)
    try:
        solver = Solver(model, data, **setup.solver_kwargs(cfg, data),
                        callbacks=setup.data_callbacks(data))  # fmt: skip
    except ValueError as e:
        raise UsageError(f"cannot set up training: {one_line(e)}") from None
    print(f"lr-find: {model.get_config()['name']} on {ds.name}, {cfg['optimizer']}, batch "
          f"{cfg['batch_size']}: lr {args.min_lr:g} to {args.max_lr:g} over at most "
          f"{args.steps} steps")  # fmt: skip
    t0 = time.perf_counter()
    result = lr_range_test(solver, min_lr=args.min_lr, max_lr=args.max_lr, num_steps=args.steps)
    seconds = time.perf_counter() - t0
    suggestions = {rule: result.suggestion(rule) for rule in RULES}
    lr = suggestions[args.rule]
    run_dir = rundir.create_run_dir(out)
    _write(run_dir, cfg, args, result, suggestions, seconds)
    title = f"lr range test: {model.get_config()['name']}, {cfg['optimizer']}"
    plot_lr_find(run_dir / PNG, result, args.rule, title=title)
    print(f"{result.message} ({seconds:.1f} s)")
    for rule, value in suggestions.items():
        shown = "none (curve too short)" if value is None else f"{value:.3g}"
        print(f"  {rule:<11} {shown}{'  <- suggested' if rule == args.rule else ''}")
    if lr is None:
        print(f"no suggestion: the sweep stopped after {len(result.lrs)} steps; lower --min-lr")
    else:
        print(f"suggested: --lr {lr:.3g} ({args.rule} rule)")
    print(f"wrote {run_dir / PNG}, {CSV}, {JSON}")
    return 0


def _write(run_dir, cfg, args, result, suggestions, seconds) -> None:
    from numnet._atomic import atomic_write_text
    from numnet.cli import rundir

    rows = ["step,lr,loss,smoothed"]
    rows += [f"{i},{lr!r},{loss!r},{sm!r}" for i, (lr, loss, sm) in
             enumerate(zip(result.lrs.tolist(), result.losses.tolist(),
                           result.smoothed.tolist()), start=1)]  # fmt: skip
    atomic_write_text(run_dir / CSV, "\n".join(rows) + "\n")
    rundir.write_json(run_dir / JSON, {
        "options": cfg,
        "sweep": {"min_lr": args.min_lr, "max_lr": args.max_lr, "max_steps": args.steps,
                  "steps": len(result.lrs), "stop_reason": result.stop_reason,
                  "message": result.message, "seconds": round(seconds, 3)},
        "rule": args.rule,
        "suggested_lr": suggestions[args.rule],
        "suggestions": suggestions,
    })  # fmt: skip
