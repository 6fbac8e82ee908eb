"""Run directories for ``numnet train``: their default names, the checks before one is made.

What a run directory holds, and how each file is read, is :mod:`numnet.run_files`; its names are
re-exported here for the command's modules. Library errors about those files become one-line
:class:`CLIError` here.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from numnet import _atomic, run_files
from numnet._atomic import atomic_write_text
from numnet._lockfile import FolderLockedError, folder_lock
from numnet.cli.errors import CLIError
from numnet.run_files import (
    ACCURACY_PNG,
    BEST,
    CONFIG,
    CONFUSION_PNG,
    EPOCH_COLUMNS,
    EPOCHS,
    FILTERS_PNG,
    ITERATION_COLUMNS,
    ITERATIONS,
    LAST,
    LOSS_PNG,
    SUMMARY,
    RunFilesError,
)

__all__ = [
    "ACCURACY_PNG",
    "BEST",
    "CONFIG",
    "CONFUSION_PNG",
    "EPOCHS",
    "EPOCH_COLUMNS",
    "FILTERS_PNG",
    "ITERATIONS",
    "ITERATION_COLUMNS",
    "LAST",
    "LOSS_PNG",
    "SUMMARY",
    "check_new_run_dir",
    "create_run_dir",
    "default_run_dir",
    "draw_plots",
    "locked",
    "read_json",
    "read_metrics",
    "remove_stale_temps",
    "write_json",
]


def default_run_dir(model: str, root: str | os.PathLike = "runs") -> Path:
    """``runs/<YYYYmmdd-HHMMSS>-<model>``, with ``-2``, ``-3``... if that name is taken."""
    base = Path(root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{model}"
    path, k = base, 2
    while path.exists():
        path = base.with_name(f"{base.name}-{k}")
        k += 1
    return path


def check_new_run_dir(path: str | os.PathLike) -> Path:
    """Check, without touching the disk, that ``path`` can become a new run directory.

    Raises:
        CLIError: ``path`` is a file or a non-empty directory, or its nearest existing parent is
            not a writable directory.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CLIError(f"--out {path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        raise CLIError(
            f"--out {path} already exists and is not empty; pick another --out, "
            f"or continue that run with: numnet train --resume {path}"
        )
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise CLIError(f"cannot create --out {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(f"cannot write to --out {path}: {parent} is not writable")
    return path


def create_run_dir(path: str | os.PathLike) -> Path:
    """Create a fresh run directory (after :func:`check_new_run_dir`'s checks).

    Raises:
        CLIError: as :func:`check_new_run_dir`, or the directory cannot be created or written.
    """
    path = check_new_run_dir(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".numnet-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise CLIError(f"cannot write to --out {path}: {e.strerror or e}") from None
    return path


@contextlib.contextmanager
def locked(run_dir: str | os.PathLike) -> Iterator[None]:
    """Hold ``run_dir``'s lock (see :mod:`numnet.run_files`) for the ``with`` block.

    Raises:
        CLIError: another process trains in it (the message names its pid).
    """
    try:
        with folder_lock(run_dir, run_files.LOCK):
            yield
    except FolderLockedError as e:
        raise CLIError(f"{e}; wait for it to finish, or stop it first") from None


def remove_stale_temps(run_dir: str | os.PathLike) -> None:
    """Remove the temp files a killed process left in ``run_dir`` (hold its lock)."""
    _atomic.remove_stale_temps(run_dir, run_files.ATOMIC_FILES)


def write_json(path: str | os.PathLike, obj: Mapping) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n")


def read_json(path: str | os.PathLike) -> dict:
    """:func:`numnet.run_files.read_json`; a missing or malformed file is a :class:`CLIError`."""
    try:
        return run_files.read_json(path)
    except RunFilesError as e:
        raise CLIError(str(e)) from None


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """:func:`numnet.run_files.read_metrics`, its errors as :class:`CLIError`."""
    try:
        return run_files.read_metrics(path)
    except RunFilesError as e:
        raise CLIError(str(e)) from None


def draw_plots(run_dir: str | os.PathLike) -> list[Path]:
    """:func:`numnet.plots.redraw`, its errors as :class:`CLIError`; returns the PNGs written."""
    from numnet import plots

    try:
        return plots.redraw(run_dir)
    except RunFilesError as e:
        raise CLIError(str(e)) from None
