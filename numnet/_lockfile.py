"""One process at a time in a folder: an exclusive ``flock`` on a lock file inside it.

The lock belongs to the open file, so the OS releases it when the process ends in any way,
SIGKILL included: a killed process never leaves a stale lock, only a lock file, which the next
holder takes over. The holder writes its pid into the file, so a refused process can say who
holds the folder. On release the file is removed; a process that opened it just before then
finds its lock on a removed file and starts again (so two processes never both hold a lock).
Where ``fcntl`` does not exist (Windows) nothing is locked.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None


class FolderLockedError(RuntimeError):
    """Another process holds the folder's lock.

    Attributes:
        folder: the folder.
        pid: the holder's process id, as it wrote it (None if unreadable).
    """

    def __init__(self, folder, pid: int | None):
        self.folder, self.pid = Path(folder), pid
        holder = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(f"{folder} is in use by another numnet ({holder})")


def _holder(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode("ascii").strip())
    return None


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, name: str = ".lock") -> Iterator[Path | None]:
    """Hold ``folder``'s lock (the file ``folder/name``) for the ``with`` block.

    Yields:
        The lock file, or None where locks are not supported (no ``fcntl``, or a file system
        without ``flock``).

    Raises:
        FolderLockedError: another process holds it (the message names its pid); nothing in the
            folder was changed.
    """
    if fcntl is None:
        yield None
        return
    path = Path(folder) / name
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _holder(fd)
            os.close(fd)
            raise FolderLockedError(folder, pid) from None
        except OSError:  # e.g. a network file system without flock: go on unlocked
            os.close(fd)
            fd = None
            break
        try:
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)  # the holder before us removed the file after we opened it
    if fd is None:
        yield None
        return
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)
