"""``--out DIR`` of the commands that only draw (``inspect init``, ``compare``).

Unlike a training run's directory, such a directory may already exist: the command writes its
own file names into it (each atomically) and leaves everything else alone. Its default is a new
directory under ``runs/``, named as training runs are.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from numnet.cli import values as V
from numnet.cli.errors import CLIError
from numnet.cli.rundir import default_run_dir


def output_dir(out: str | None, name: str) -> Path:
    """The directory to draw into: ``out`` (created if missing) or ``runs/<date>-<time>-<name>``.

    Raises:
        CLIError: ``out`` is a file, or cannot be created or written.
    """
    path = Path(out) if out else default_run_dir(name)
    if path.exists() and not path.is_dir():
        raise CLIError(f"--out {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CLIError(f"cannot create --out {path}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise CLIError(f"cannot write to --out {path}: permission denied")
    return path


def add_out_option(p: argparse.ArgumentParser) -> None:
    """The ``--out DIR`` flag of a drawing command."""
    p.add_argument(
        "--out",
        metavar="DIR",
        type=typed(V.path, "out"),
        default=None,
        help="directory for the figures (created if missing; files of the same names are "
        "replaced; default: a new runs/<date>-<time>-<command>)",
    )


def typed(convert: Callable, name: str) -> Callable:
    """An argparse ``type`` from one of ``numnet.cli.config``'s converters (errors one line)."""

    def conv(s):
        try:
            return convert(s)
        except (ValueError, TypeError) as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    conv.__name__ = name
    return conv
