"""A search directory: what ``numnet search`` writes, and the checks before it writes anything.

| file | contents |
|---|---|
| ``search.json`` | the search (study, storage, plan, fixed options, command); marks the directory |
| ``journal.log`` | the trials (Optuna journal), unless ``--storage`` names a database |
| ``trials.csv`` | every trial: stage, state, value, epochs, seconds, params, per-epoch accuracy |
| ``leaderboard.txt`` | the best trials of each stage and the edge warnings |
| ``best.toml`` | the best trial's options for ``numnet train --config best.toml`` |
| ``params.png``, ``lr_reg.png``, ``progress.png`` | plots |

A directory without ``search.json`` that exists and is not empty is never written to: a search
never touches a run directory (or anything else) it did not create.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from numnet import __version__
from numnet._atomic import atomic_write_text
from numnet.cli.errors import CLIError

MARKER = "search.json"
JOURNAL = "journal.log"
TRIALS_CSV = "trials.csv"
LEADERBOARD = "leaderboard.txt"
BEST_TOML = "best.toml"


def read_marker(out: Path) -> dict | None:
    """The directory's search.json, None when it has none.

    Raises:
        CLIError: a search.json that cannot be read.
    """
    path = out / MARKER
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CLIError(f"{path} is not a readable numnet search file: {e}") from None
    if not isinstance(data, dict) or "study" not in data or "plan" not in data:
        raise CLIError(f"{path} is not a numnet search file")
    return data


def check_out(out: Path, study: str) -> dict | None:
    """Check ``--out`` before anything is written: new, empty, or this very search's directory.

    Returns:
        The existing search.json (a rerun continues), or None (a new directory).

    Raises:
        CLIError: a file, a non-empty directory that no search made, another study's directory,
            or a parent that cannot be written.
    """
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        marker = read_marker(out)
        if marker is None:
            raise CLIError(
                f"--out {out} exists and was not made by numnet search; a search never writes "
                "into a directory it did not create: pick another --out"
            )
        if marker["study"] != study:
            raise CLIError(
                f"--out {out} holds the search {marker['study']!r}, not {study!r}; pick another "
                f"--out, or rerun that search with --study {marker['study']}"
            )
        return marker
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(f"cannot create --out {out}: {parent} is not a writable directory")
    return None


def create(out: Path, marker: dict) -> None:
    """Make the directory and its search.json (the last write: a directory with it is whole)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / MARKER, json.dumps(marker, indent=2) + "\n")
    except OSError as e:
        raise CLIError(f"cannot write to --out {out}: {e.strerror or e}") from None


def marker(study: str, storage: str, plan: dict, fixed: dict, command: str) -> dict:
    """The contents of search.json."""
    return {
        "numnet_version": __version__,
        "study": study,
        "storage": storage,
        "plan": plan,
        "fixed": fixed,
        "command": command,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically; a failure is a one-line CLIError."""
    try:
        atomic_write_text(path, text)
    except OSError as e:
        raise CLIError(f"cannot write {path}: {e.strerror or e}") from None
