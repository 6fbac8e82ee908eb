"""Checksums: hash a file once (SHA-256 and MD5 together) and compare with the pinned values."""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path

from .errors import ChecksumError, DataError
from .registry import DatasetSpec, FileSpec

_CHUNK = 1 << 20


def file_digests(path: str | os.PathLike) -> tuple[str, str]:
    """(sha256, md5) hex digests of the file's bytes, in one pass."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


def content_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of the gunzipped bytes of ``path``; DataError if it is not valid gzip."""
    sha = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                sha.update(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DataError(f"{path}: corrupt or truncated gzip stream ({e})") from e
    return sha.hexdigest()


def verify_file(path: str | os.PathLike, spec: FileSpec, label: str | None = None) -> None:
    """Raise ChecksumError unless ``path`` matches one of ``spec``'s pinned hashes.

    A file passes on a pinned SHA-256 or MD5 of its bytes, or (gzip files with
    ``spec.content_sha256``) on the SHA-256 of its decompressed bytes, which accepts a
    recompressed copy such as Debian's. A spec with nothing pinned passes.

    Args:
        path: the file to check.
        spec: its registry entry.
        label: how to name the file in the error (default: ``path``), e.g. for a temp file.

    Raises:
        ChecksumError: naming the file, the expected hash(es) and the actual one(s).
    """
    if not spec.pinned:
        return
    sha, md5 = file_digests(path)
    if sha in spec.sha256 or md5 in spec.md5:
        return
    expected, actual = [], []
    if spec.sha256:
        expected.append("sha256 " + " or ".join(spec.sha256))
        actual.append(f"sha256 {sha}")
    if spec.md5:
        expected.append("md5 " + " or ".join(spec.md5))
        actual.append(f"md5 {md5}")
    if spec.content_sha256:
        try:
            content = content_sha256(path)
        except DataError as e:
            content = f"unreadable ({e})"
        if content == spec.content_sha256:
            return
        expected.append(f"decompressed sha256 {spec.content_sha256}")
        actual.append(f"decompressed sha256 {content}")
    raise ChecksumError(
        f"{label or path}: checksum mismatch: expected {'; '.join(expected)}; "
        f"got {'; '.join(actual)}"
    )


def verify_dataset(directory: str | os.PathLike, spec: DatasetSpec) -> None:
    """Verify every file the loader reads from ``directory`` (see ``DatasetSpec.local_files``)."""
    for f in spec.local_files:
        verify_file(Path(directory) / f.name, f)
