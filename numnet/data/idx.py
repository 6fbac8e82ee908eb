"""IDX files (MNIST, Fashion-MNIST), raw or gzip-compressed.

Layout (big-endian): magic ``0x00 0x00 <type> <ndim>``, then ``ndim`` uint32 sizes, then the data.
The header is validated (magic, number of dims, each expected dim) and the data must be exactly
``prod(dims) * itemsize`` bytes: a short or over-long file is an error, never a silent reshape.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError

# IDX type byte -> big-endian dtype.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(v).newbyteorder("="): k for k, v in IDX_TYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_DEFLATE_RATIO = 1032  # deflate expands at most ~1032:1


def _magic_str(type_code: int, ndim: int) -> str:
    dtype = IDX_TYPES.get(type_code, "?").lstrip(">")
    return f"0x0000{type_code:02X}{ndim:02X} ({(type_code << 8) | ndim}: {dtype}, {ndim}-D)"


def _read_exact(f, n: int) -> bytearray:
    """Read up to ``n`` bytes into a new bytearray (shorter only at end of stream)."""
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = f.readinto(view[got:])
        if not k:
            break
        got += k
    return buf if got == n else buf[:got]


def read_idx(
    path: str | os.PathLike, *, ndim: int | None = None, dims: tuple | None = None
) -> np.ndarray:
    """Read one IDX file (gzip-compressed or not, detected from its first bytes).

    Args:
        path: the file.
        ndim: required number of dimensions (3 for images, 1 for labels), or None for any.
        dims: required sizes, ``None`` entries match any size, e.g. ``(None, 28, 28)``.

    Returns:
        A writable native-endian array of shape ``dims`` as stored in the header, e.g.
        (N, 28, 28) uint8 images or (N,) uint8 labels.

    Raises:
        DataError: naming ``path`` and what was wrong: magic, dims, byte count, or a corrupt or
            truncated gzip stream.
    """
    path = Path(path)
    with open(path, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        f = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        # A header promising more bytes than the file can hold is corrupt; checked before the
        # data buffer is allocated, so a bad header cannot exhaust memory.
        size = os.fstat(raw.fileno()).st_size
        try:
            return _parse(f, path, ndim, dims, size, _MAX_DEFLATE_RATIO if compressed else 1)
        except (EOFError, gzip.BadGzipFile, zlib.error) as e:
            raise DataError(f"{path}: corrupt or truncated gzip stream ({e})") from e


def _parse(f, path: Path, ndim, dims, size: int, ratio: int) -> np.ndarray:
    head = _read_exact(f, 4)
    if len(head) < 4:
        raise DataError(f"{path}: truncated IDX header: expected 4 magic bytes, got {len(head)}")
    zero, type_code, nd = head[:2], head[2], head[3]
    if bytes(zero) != b"\0\0" or type_code not in IDX_TYPES:
        want = _magic_str(0x08, ndim) if ndim is not None else "0x0000TTNN (TT an IDX type)"
        raise DataError(f"{path}: not an IDX file: expected magic {want}, got 0x{head.hex()}")
    if ndim is not None and nd != ndim:
        raise DataError(
            f"{path}: wrong IDX magic: expected {_magic_str(type_code, ndim)}, "
            f"got {_magic_str(type_code, nd)}"
        )
    dim_bytes = _read_exact(f, 4 * nd)
    if len(dim_bytes) < 4 * nd:
        raise DataError(
            f"{path}: truncated IDX header: expected {4 * nd} bytes of sizes, got {len(dim_bytes)}"
        )
    shape = struct.unpack(f">{nd}I", dim_bytes)
    if dims is not None and (
        len(dims) != nd or any(d is not None and d != s for d, s in zip(dims, shape))
    ):
        want = "(" + ", ".join("*" if d is None else str(d) for d in dims) + ")"
        raise DataError(f"{path}: wrong IDX dims: expected {want}, got {shape}")
    dtype = np.dtype(IDX_TYPES[type_code])
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > size * ratio:
        raise DataError(
            f"{path}: truncated or corrupt: header says {shape} = {nbytes} bytes, "
            f"more than a {size}-byte file can hold"
        )
    data = _read_exact(f, nbytes)
    if len(data) < nbytes:
        raise DataError(
            f"{path}: truncated IDX data: header says {shape} = {nbytes} bytes, got {len(data)}"
        )
    if f.read(1):
        raise DataError(
            f"{path}: trailing bytes: header says {shape} = {nbytes} bytes but the file is longer"
        )
    arr = np.frombuffer(data, dtype=dtype).reshape(shape)
    # Multi-byte types arrive big-endian; hand back native order so arithmetic is not slowed.
    return arr if dtype.itemsize == 1 else arr.astype(dtype.newbyteorder("="))


def encode_idx(array: np.ndarray) -> bytes:
    """The uncompressed IDX bytes of ``array`` (the inverse of :func:`read_idx`).

    Args:
        array: any shape, dtype uint8, int8, int16, int32, float32 or float64.
    """
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(
            f"array dtype must be one of {sorted(map(str, _CODES))}; got {array.dtype}"
        )
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
