"""``numnet plot RUN_DIR``: redraw a run's plots from its saved metrics."""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace, explicit: dict) -> int:
    """Run ``numnet plot RUN_DIR``: redraw the run's plots and print each file's path.

    Returns:
        The exit status, 0.
    """
    from numnet.cli.rundir import draw_plots

    for path in draw_plots(Path(args.run_dir)):
        print(path)
    return 0
