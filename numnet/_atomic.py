"""Atomic file writes: a temp file in the same folder, fsync, ``os.replace``, fsync the folder.

A crash or Ctrl-C mid-write leaves either the old file or the new one, never a torn file; once
the write returned, the new file survives a power cut too (the rename itself is synced). A kill
between the temp file's creation and the rename leaves the temp file behind: its name is
``.<name>.<8 random characters><suffix>`` (``tempfile.mkstemp``'s), and
:func:`remove_stale_temps` removes exactly such files of given final names, never anything else.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

#: The random part of a ``tempfile.mkstemp`` name.
_RANDOM = "[a-z0-9_]{8}"


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
    sync_folder(Path(path).parent)


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy the file ``src`` to ``dst`` atomically (``dst`` is the old file or the whole copy)."""
    with open(src, "rb") as f, atomic_open(dst, "wb") as out:
        shutil.copyfileobj(f, out, 1 << 20)


def sync_folder(folder: str | os.PathLike) -> None:
    """Fsync a folder, so that renames into it survive a power cut (where the OS allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # not every file system syncs a directory
            os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(
    folder: str | os.PathLike, names: Iterable[str], suffix: str = ".tmp"
) -> list[Path]:
    """Remove the temp files an interrupted :func:`atomic_open` left for any of ``names``.

    Only ``.<name>.<8 random characters><suffix>`` files in ``folder`` itself go (the pattern
    ``temp_beside`` creates); a user's own file never matches. Call it only where no other
    process is writing (numnet holds the folder's lock), as a live writer's temp file matches.

    Returns:
        The files removed.
    """
    folder = Path(folder)
    pattern = re.compile(
        "|".join(rf"\.{re.escape(n)}\.{_RANDOM}{re.escape(suffix)}" for n in names) or "(?!)"
    )
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for p in entries:
        if pattern.fullmatch(p.name) and p.is_file() and not p.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w") as f:
        f.write(text)
