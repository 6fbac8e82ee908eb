"""Atomic file writes: a temp file in the same folder, fsync, then ``os.replace``.

A crash or Ctrl-C mid-write leaves either the old file or the new one, never a torn file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def temp_beside(path: str | os.PathLike, suffix: str = ".tmp") -> tuple[int, str]:
    """Create a hidden temp file in ``path``'s folder, with the permissions a plain ``open`` gives.

    ``tempfile.mkstemp`` makes files readable by their owner only (0600); a file renamed over
    ``path`` should carry the usual ``0666 & ~umask`` instead.

    Returns:
        ``(fd, temp_path)``: an open descriptor (the caller closes it) and the temp file's path.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    return fd, tmp


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike, mode: str = "wb", *, suffix: str = ".tmp", check=None, **kwargs
) -> Iterator:
    """Open a temp file beside ``path``; on a clean exit it replaces ``path`` atomically.

    Args:
        path: the final file.
        mode: ``"wb"`` or ``"w"`` (text; ``kwargs`` such as ``encoding`` pass through).
        suffix: the temp file's suffix.
        check: optional ``check(temp_path)`` run on the complete, closed temp file before it
            replaces ``path``; whatever it raises leaves ``path`` untouched and the temp removed.
        **kwargs: passed to ``open`` for the temp file (text mode defaults to UTF-8).

    Yields:
        The open temp file object; write the whole content through it.

    Raises:
        ValueError: ``mode`` is neither ``"wb"`` nor ``"w"``.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f'mode must be "wb" or "w", got {mode!r}')
    fd, tmp = temp_beside(path, suffix)
    try:
        if mode == "w":
            kwargs.setdefault("encoding", "utf-8")
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if check is not None:
            check(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w") as f:
        f.write(text)
