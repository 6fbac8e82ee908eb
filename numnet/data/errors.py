"""The errors numnet.data raises.

``DataError`` is a ``ValueError``: the file is there but its bytes are wrong (truncated, corrupt,
wrong format, wrong checksum). A missing data set is a ``FileNotFoundError`` and a download that no
mirror could complete is an ``OSError``, so callers can tell "fix the file" from "get the file".
"""

from __future__ import annotations

import pickle


class DataError(ValueError):
    """A data file is truncated, corrupt or not in the expected format; the message names it."""


class ChecksumError(DataError):
    """A file's hash differs from the pinned one; the message names file, expected and actual."""


class UnsafePickleError(DataError, pickle.UnpicklingError):
    """A pickle asked for a global outside the allow-list (e.g. ``os.system``); nothing was run."""


class DatasetNotFoundError(FileNotFoundError):
    """The data set is nowhere numnet looks; the message lists the places and how to get it."""


class DownloadError(OSError):
    """No mirror delivered the file; the message lists each mirror's failure."""
