"""``numnet diagnose RUN_DIR``: the usual training problems a run's curves show, with evidence.

The rules and their thresholds are :mod:`numnet.babysit.diagnose`'s (one table, in its
docstring); ``numnet train`` prints the same report when it ends.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from numnet import run_files
from numnet.cli.errors import CLIError


def add_parser(cmd) -> None:
    """Add ``diagnose`` through ``cmd(name, help, description)``."""
    p = cmd(
        "diagnose",
        "name a run's problems (learning rate, init, over/underfitting, noise) with evidence",
        "Read RUN_DIR's iterations.csv and epochs.csv and name the usual problems, each with "
        "its evidence and a suggestion: learning rate too high or too low, bad initialisation, "
        "overfitting, underfitting, a too noisy loss; or nothing wrong. The rules and "
        "thresholds are in numnet.babysit.diagnose.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a numnet train run directory")


def report(run_dir: Path, nonfinite_at: int | None = None) -> list[str]:
    """The report's lines for ``run_dir`` (see :mod:`numnet.babysit.diagnose`).

    Raises:
        CLIError: the run directory or its metrics cannot be read.
    """
    from numnet.babysit.diagnose import diagnose, load_run, not_judged
    from numnet.run_files import RunFilesError

    try:
        iterations, epochs, num_classes = load_run(run_dir)
    except RunFilesError as e:
        raise CLIError(str(e)) from None
    found = diagnose(iterations, epochs, num_classes, nonfinite_at)
    checks = sum(1 for r in epochs if r["epoch"] >= 1)
    short = not_judged(len(iterations), checks)
    if not found:
        lines = [f"diagnosis of {run_dir}: nothing wrong found"]
    else:
        lines = [f"diagnosis of {run_dir}:"]
        for d in found:
            lines += [f"  {d.title}: {d.evidence}", f"    try: {d.suggestion}"]
    return lines + [f"  (not judged: {s})" for s in short]


def print_report(run_dir: Path, nonfinite_at: int | None = None, file=None) -> None:
    """Print :func:`report` (stdout by default)."""
    print("\n".join(report(run_dir, nonfinite_at)), file=file or sys.stdout)


def run(args: argparse.Namespace, explicit: dict) -> int:
    """Print the diagnosis of ``args.run_dir``; exit code 0 (problems found or not)."""
    run_dir = Path(args.run_dir)
    try:
        run_files.check_run_dir(run_dir)
    except run_files.RunFilesError as e:
        raise CLIError(str(e)) from None
    print_report(run_dir)
    return 0
