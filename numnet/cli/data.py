"""``numnet data list|fetch NAME``: where each data set is, and verified downloads."""

from __future__ import annotations

import argparse

from numnet.cli.errors import CLIError, one_line


def run(args: argparse.Namespace, explicit: dict) -> int:
    """Run ``numnet data list`` (print where each data set is) or ``numnet data fetch NAME``.

    Returns:
        The exit status, 0.

    Raises:
        CLIError: the download or its verification failed.
    """
    from numnet import data

    if args.data_command == "list":
        print(data.describe(args.data_dir))
        return 0
    try:
        loc = data.fetch(args.name, args.data_dir)
    except (data.DataError, OSError) as e:
        raise CLIError(f"cannot fetch {args.name}: {one_line(e)}") from None
    print(f"{args.name}: verified in {loc.path} ({loc.source})")
    return 0
