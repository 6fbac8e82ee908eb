"""Reading an untrusted ``.npz`` archive: nothing is inflated before the whole file was checked.

A checkpoint is a zip of ``.npy`` members. ``np.load`` trusts it: a member's header may declare
2e12 elements (``MemoryError``), a small deflated member may inflate to gigabytes, and zip entries
may point at the same bytes. :class:`NpzArchive` reads the zip's directory and every member's
``.npy`` header first, and refuses the file unless:

- every member is an uncompressed or deflated ``<key>.npy``, not encrypted, each key once;
- the members' data lie in the file one after another, never overlapping;
- a deflated member inflates to at most ``MAX_DEFLATE_RATIO`` times its compressed size;
- every header is a version 1 or 2 ``.npy`` header of a numeric dtype (bool, int, uint, float,
  complex: no objects, so no pickle; no strings, records or sub-arrays) whose shape accounts
  for exactly the member's bytes;
- all arrays together declare at most ``MAX_ARRAY_BYTES``.

Only then are arrays read, each into an array of its declared size (so a read never takes more
memory than the checked declaration), and each member to its end, where the zip's CRC is checked.
Every refusal is an :class:`NpzError` naming the member (``key``) and the reason.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
from numpy.lib import format as npy_format

#: Largest total of array bytes one archive may declare (4 GiB).
MAX_ARRAY_BYTES = 4 * 2**30
#: Most members one archive may hold.
MAX_MEMBERS = 10_000
#: Largest inflated / compressed size ratio of a deflated member.
MAX_DEFLATE_RATIO = 64
#: Largest ``.npy`` header, in characters (NumPy's own default limit).
MAX_HEADER_SIZE = 10_000
#: Bytes read at a time.
_CHUNK = 1 << 20
#: Bytes of a local file header before the name (the zip format's fixed part).
_LOCAL_HEADER = 30
#: Errors the zip and ``.npy`` readers raise on damaged input.
READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    OSError,
    EOFError,
    ValueError,
    KeyError,
    NotImplementedError,
    OverflowError,
    UnicodeDecodeError,
)


class NpzError(ValueError):
    """An archive that cannot be read safely.

    Attributes:
        key: the member's name without ``.npy`` (None: the archive as a whole).
        reason: what is wrong.
    """

    def __init__(self, key: str | None, reason: str):
        self.key, self.reason = key, reason
        super().__init__(f"{key}: {reason}" if key else reason)


@dataclass(frozen=True)
class Member:
    """One checked member: where it is and what its header declares."""

    key: str
    info: zipfile.ZipInfo
    shape: tuple
    dtype: np.dtype
    fortran: bool
    start: int  # the data's offset in the member (the header's length)

    @property
    def nbytes(self) -> int:
        """Bytes of array data the header declares."""
        return math.prod(self.shape) * self.dtype.itemsize


def _unreadable(key, e: BaseException) -> NpzError:
    return NpzError(key, f"cannot be read (truncated or corrupt?): {type(e).__name__}: {e}")


def _starts_with(path, magic: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(magic)) == magic
    except OSError:
        return False


class NpzArchive:
    """An ``.npz`` file opened for checked reading (see the module docstring); a context manager.

    Args:
        path: the file.

    Raises:
        NpzError: the file is not a zip archive, or its directory breaks a rule above.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
        except READ_ERRORS as e:
            if _starts_with(path, b"\x93NUMPY"):
                raise NpzError(None, "not an .npz archive (a single .npy array)") from e
            raise _unreadable(None, e) from e
        try:
            self.infos = self._check_directory()
        except BaseException:
            self._zip.close()
            raise
        self._checked: dict[str, Member] = {}

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._zip.close()

    @property
    def keys(self) -> list[str]:
        """The members' names without ``.npy``, in archive order."""
        return list(self.infos)

    def _check_directory(self) -> dict[str, zipfile.ZipInfo]:
        infos = self._zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise NpzError(None, f"{len(infos)} members, more than the {MAX_MEMBERS} allowed")
        out: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename
            if not name.endswith(".npy"):
                raise NpzError(name, "not an .npy member")
            key = name[: -len(".npy")]
            if key in out:
                raise NpzError(key, "appears twice in the archive")
            if info.flag_bits & 0x1:
                raise NpzError(key, "is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise NpzError(key, f"zip compression method {info.compress_type} not supported")
            if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
                raise NpzError(key, "stored uncompressed, but its two sizes differ")
            out[key] = info
        end = 0
        for key, info in sorted(out.items(), key=lambda kv: kv[1].header_offset):
            if info.header_offset < end:
                raise NpzError(key, "its data overlaps another member's")
            end = info.header_offset + _LOCAL_HEADER + len(info.filename) + info.compress_size
        if end > self._zip.start_dir:
            raise NpzError(None, "member data runs into the zip directory (truncated?)")
        return out

    def member(self, key: str) -> Member:
        """Read and check ``key``'s ``.npy`` header (its data is not read).

        Raises:
            NpzError: no such member, an unreadable header, a dtype other than a plain number,
                or a shape that does not account for exactly the member's bytes.
        """
        if key in self._checked:
            return self._checked[key]
        info = self.infos.get(key)
        if info is None:
            raise NpzError(key, "missing from the archive")
        if info.file_size > MAX_DEFLATE_RATIO * info.compress_size + 4096:
            raise NpzError(
                key,
                f"compressed {info.compress_size} bytes inflate to {info.file_size}, more than "
                f"the {MAX_DEFLATE_RATIO}:1 allowed",
            )
        try:
            with self._zip.open(info) as f:
                version = npy_format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = npy_format.read_array_header_1_0(f, MAX_HEADER_SIZE)
                elif version == (2, 0):
                    shape, fortran, dtype = npy_format.read_array_header_2_0(f, MAX_HEADER_SIZE)
                else:
                    raise ValueError(f".npy format version {version} not supported")
                start = f.tell()
        except READ_ERRORS as e:
            raise _unreadable(key, e) from e
        ok = dtype.kind in "biufc" and dtype.names is None and dtype.subdtype is None
        if not ok or dtype.hasobject:
            raise NpzError(
                key, f"holds dtype {dtype}; only numeric arrays are read (no pickled objects)"
            )
        if any(d < 0 for d in shape):
            raise NpzError(key, f"declares the negative shape {shape}")
        m = Member(key, info, tuple(shape), dtype, fortran, start)
        if start + m.nbytes != info.file_size:
            raise NpzError(
                key,
                f"declares shape {m.shape} of {dtype} ({m.nbytes} bytes), but the member holds "
                f"{info.file_size - start} bytes of data",
            )
        total = m.nbytes + sum(c.nbytes for c in self._checked.values())
        if total > MAX_ARRAY_BYTES:
            raise NpzError(key, f"the arrays declare more than {MAX_ARRAY_BYTES} bytes together")
        self._checked[key] = m
        return m

    def read(self, key: str) -> np.ndarray:
        """The array of member ``key`` (checked with :meth:`member` first), CRC verified.

        Raises:
            NpzError: see :meth:`member`; or the data is short or fails the zip's CRC check.
        """
        m = self.member(key)
        flat = np.empty(math.prod(m.shape), dtype=m.dtype)
        view = memoryview(flat).cast("B")
        try:
            with self._zip.open(m.info) as f:
                f.read(m.start)
                done = 0
                while done < m.nbytes:
                    chunk = f.read(min(_CHUNK, m.nbytes - done))
                    if not chunk:
                        raise EOFError(f"data ends after {done} of {m.nbytes} bytes")
                    view[done : done + len(chunk)] = chunk
                    done += len(chunk)
                if f.read(1):  # also reaches the member's end, where zipfile checks the CRC
                    raise ValueError("data past the declared array")
        except READ_ERRORS as e:
            raise _unreadable(key, e) from e
        return flat.reshape(m.shape, order="F" if m.fortran else "C")
