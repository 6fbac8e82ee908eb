"""Atomic writes: all or nothing, and the permissions a plain open() would give."""

import os
import stat
from pathlib import Path

import pytest

from numnet._atomic import atomic_open, atomic_write_text


def test_replaces_the_file_whole(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_failure_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_open(path, "w") as f:
        f.write("half")
        raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_permissions_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "out.txt", "x")
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "out.txt").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o666 & ~umask


def test_rejects_unknown_mode(tmp_path):
    with pytest.raises(ValueError, match="mode must be"), atomic_open(tmp_path / "f", "a"):
        pass


def test_remove_stale_temps_takes_only_numnets_own_temp_names(tmp_path):
    from numnet._atomic import remove_stale_temps, temp_beside

    fd, ours = temp_beside(tmp_path / "last.npz")  # what a kill before the rename leaves
    os.close(fd)
    others = ["last.npz", ".last.npz.notes.tmp", ".best.npz.abcdefgh.tmp", "last.npz.abcdefgh.tmp",
              ".last.npz.abcdefgh.part", ".last.npz.ABCDEFGH.tmp"]  # fmt: skip
    for name in others:
        (tmp_path / name).write_text("a user's")
    assert remove_stale_temps(tmp_path, ["last.npz", "config.json"]) == [Path(ours)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(others)


def test_atomic_copy(tmp_path):
    from numnet._atomic import atomic_copy

    (tmp_path / "a").write_bytes(b"x" * 3_000_000)
    (tmp_path / "b").write_bytes(b"old")
    atomic_copy(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == b"x" * 3_000_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
