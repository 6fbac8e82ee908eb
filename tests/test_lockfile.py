"""Folder locks: one holder at a time, the refusal names the holder, nothing stale is left."""

import os
import subprocess
import sys

import pytest

from numnet._lockfile import FolderLockedError, folder_lock


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path):
    with folder_lock(tmp_path) as path:
        assert path.read_text() == f"{os.getpid()}\n"
        with pytest.raises(
            FolderLockedError, match=rf"is in use by another numnet \(pid {os.getpid()}\)"
        ) as e:
            with folder_lock(tmp_path):
                pass
        assert e.value.pid == os.getpid()
    assert list(tmp_path.iterdir()) == []  # released and removed
    with folder_lock(tmp_path):  # and free again
        pass


def test_a_killed_holder_leaves_no_lock_only_its_file(tmp_path):
    code = (
        "import os, sys\n"
        "from numnet._lockfile import folder_lock\n"
        f"with folder_lock({str(tmp_path)!r}):\n"
        "    os._exit(9)\n"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert (tmp_path / ".lock").exists()
    with folder_lock(tmp_path) as path:
        assert path.read_text() == f"{os.getpid()}\n"
    assert not (tmp_path / ".lock").exists()


def test_a_lock_on_a_file_removed_meanwhile_is_taken_again(tmp_path, monkeypatch):
    """A lock file the previous holder removed after we opened it is not a lock: take it again.

    Our flock would be on a file nobody else finds, so the lock is taken on the file now there.
    """
    import numnet._lockfile as L

    real_open, calls = os.open, []

    def open_then_lose_the_race(path, flags, mode=0o777):
        fd = real_open(path, flags, mode)
        calls.append(path)
        if len(calls) == 1:
            os.unlink(path)  # the previous holder's release, between our open and our flock
        return fd

    monkeypatch.setattr(L.os, "open", open_then_lose_the_race)
    with folder_lock(tmp_path) as path:
        assert len(calls) == 2 and path.exists()
        monkeypatch.setattr(L.os, "open", real_open)
        with pytest.raises(FolderLockedError):
            with folder_lock(tmp_path):
                pass
