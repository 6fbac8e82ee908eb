"""``numnet compare RUN_DIR...``: several runs' curves on shared axes, labelled by what differs.

The library side is :mod:`numnet.babysit.compare`; this module prints a table of the runs and
writes ``compare.png`` into ``--out``.
"""

from __future__ import annotations

import argparse

from numnet.cli.errors import CLIError
from numnet.cli.outdir import add_out_option, output_dir


def add_parser(cmd) -> None:
    """Add ``compare`` through ``cmd(name, help, description)``."""
    p = cmd(
        "compare",
        "several runs' loss and accuracy curves on shared axes",
        "Draw the training loss (against the epoch) and the train and validation accuracy of "
        "each RUN_DIR on shared axes, each run labelled by the options that differ between the "
        "runs; print a table of them. Writes compare.png.",
    )
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+", help="numnet train run directories")
    add_out_option(p)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def run(args: argparse.Namespace, explicit: dict) -> int:
    """Print the table and draw the figure; exit code 0."""
    from numnet.babysit.compare import COMPARE_PNG, labels, load_runs, plot_compare
    from numnet.run_files import RunFilesError

    try:
        runs = load_runs(args.run_dirs)
    except RunFilesError as e:
        raise CLIError(str(e)) from None
    names = labels(runs)
    out = output_dir(args.out, "compare")
    head = ("run", "label", "epochs", "best val", "test", "last loss")
    rows = []
    for r, name in zip(runs, names):
        checks = [e for e in r.epochs if e.get("epoch", 0) >= 1]
        best = max((e["val_acc"] for e in r.epochs if "val_acc" in e), default=None)
        last = checks[-1]["loss"] if checks and "loss" in checks[-1] else None
        loss = "-" if last is None else f"{last:.4g}"
        test = _pct(r.summary.get("test_acc"))
        rows.append((str(r.path), name, str(len(checks)), _pct(best), test, loss))
    widths = [max(len(h), *(len(row[k]) for row in rows)) for k, h in enumerate(head)]
    for row in (head, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    print(f"wrote {plot_compare(out / COMPARE_PNG, runs, names)}")
    return 0
