"""File formats: IDX parsing and validation, CIFAR batches, the restricted unpickler, checksums."""

import io
import os
import pickle

import numpy as np
import pytest
from _data_files import cifar_binary_batch, gz, images, py2_cifar_pickle, sha256, tar_gz

from numnet.data import (
    ChecksumError,
    DataError,
    FileSpec,
    UnsafePickleError,
    encode_idx,
    extract_members,
    load_cifar_binary_batch,
    load_cifar_python_batch,
    read_idx,
    verify_file,
)
from numnet.data.cifar import restricted_load
from numnet.data.registry import DatasetSpec


# ----------------------------------------------------------------------------- IDX
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_idx_round_trip(tmp_path, rng, dtype, compress):
    a = (rng.standard_normal((5, 3, 4)) * 50).astype(dtype)
    data = encode_idx(a)
    path = tmp_path / "a.idx"
    path.write_bytes(gz(data) if compress else data)
    got = read_idx(path, ndim=3, dims=(None, 3, 4))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, a)
    assert got.flags.writeable


def _images_idx(n=4, h=28, w=28):
    return encode_idx(np.zeros((n, h, w), np.uint8))


# (case id, raw bytes of the file, read_idx kwargs, words the message must contain)
_BAD_IDX = [
    ("bad-magic", b"\x12\x34" + _images_idx()[2:], {"ndim": 3}, ["magic", "0x1234"]),
    ("unknown-type", b"\x00\x00\x07\x03" + _images_idx()[4:], {"ndim": 3}, ["magic"]),
    ("labels-as-images", encode_idx(np.zeros(4, np.uint8)), {"ndim": 3},
     ["2051", "2049", "3-D", "1-D"]),
    ("wrong-dims", _images_idx(4, 28, 29), {"ndim": 3, "dims": (None, 28, 28)},
     ["dims", "(*, 28, 28)", "(4, 28, 29)"]),
    ("truncated-data", _images_idx()[:-10], {"ndim": 3}, ["truncated", "3136", "3126"]),
    ("trailing-bytes", _images_idx() + b"\0", {"ndim": 3}, ["trailing", "3136"]),
    ("truncated-header", _images_idx()[:10], {"ndim": 3}, ["truncated", "header", "12", "6"]),
    ("short-magic", b"\x00\x00", {}, ["truncated", "4", "2"]),
    ("huge-dims", b"\x00\x00\x08\x03" + b"\xff\xff\xff\xff" * 3, {"ndim": 3},
     ["(4294967295, 4294967295, 4294967295)", "more than a"]),
]  # fmt: skip


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
@pytest.mark.parametrize(
    ("case", "data", "kwargs", "words"), _BAD_IDX, ids=[c[0] for c in _BAD_IDX]
)
def test_idx_errors_name_file_expected_and_actual(tmp_path, case, data, kwargs, words, compress):
    path = tmp_path / f"{case}-idx3-ubyte.gz"
    path.write_bytes(gz(data) if compress else data)
    with pytest.raises(DataError) as err:
        read_idx(path, **kwargs)
    msg = str(err.value)
    assert str(path) in msg
    for w in words:
        assert w in msg, (w, msg)


@pytest.mark.parametrize("cut", [20, 200], ids=["in-header", "in-data"])
def test_idx_truncated_gzip_stream(tmp_path, rng, cut):
    path = tmp_path / "t.gz"
    path.write_bytes(gz(encode_idx(images(rng, 50)[:, 0]), level=0)[:cut])
    with pytest.raises(DataError, match=r"truncated|corrupt") as err:
        read_idx(path, ndim=3)
    assert str(path) in str(err.value)


def test_idx_corrupt_gzip_crc(tmp_path, rng):
    data = bytearray(gz(encode_idx(images(rng, 5)[:, 0]), level=0))
    data[-6] ^= 0xFF  # inside the CRC32 trailer: the data decompress, the check fails
    path = tmp_path / "c.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt") as err:
        read_idx(path, ndim=3)
    assert str(path) in str(err.value)


# ----------------------------------------------------------------------------- CIFAR python
def _cifar_arrays(rng, n=6):
    X = images(rng, n, (3, 32, 32))
    return X, (np.arange(n) % 10).astype(np.int64)


def test_cifar_python_batch_py2_pickle(tmp_path, rng):
    X, y = _cifar_arrays(rng)
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_cifar_pickle(X.reshape(len(X), -1), y.tolist()))
    Xg, yg = load_cifar_python_batch(path)
    assert Xg.shape == (6, 3, 32, 32) and Xg.dtype == np.uint8
    assert yg.dtype == np.int64
    np.testing.assert_array_equal(Xg, X)
    np.testing.assert_array_equal(yg, y)


@pytest.mark.parametrize("encoding", ["latin1", "bytes"])
def test_restricted_load_accepts_py2_batch(rng, encoding):
    X, y = _cifar_arrays(rng, 3)
    d = restricted_load(io.BytesIO(py2_cifar_pickle(X.reshape(3, -1), y.tolist())), encoding)
    key = "data" if encoding == "latin1" else b"data"
    np.testing.assert_array_equal(d[key], X.reshape(3, -1))


class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


def _evil_pickles(marker):
    cmd = f"touch {marker}"
    return {
        "os.system-proto0": f"cos\nsystem\n(S'{cmd}'\ntR.".encode(),
        "os.system-proto2": pickle.dumps(_Evil(os.system, cmd), protocol=2),
        "builtins.eval": pickle.dumps(_Evil(eval, f"__import__('os').system('{cmd}')"), 2),
        "builtins.exec": pickle.dumps(_Evil(exec, f"__import__('os').system('{cmd}')"), 4),
        "py2-builtin-eval": b"c__builtin__\neval\n(S'1'\ntR.",
        "subprocess.call": b"csubprocess\ncall\n(S'true'\ntR.",
        "in-a-dict": b"\x80\x02}(U\x04datacposix\nsystem\n(U\x04truetRu.",
    }


@pytest.mark.parametrize(
    ("case", "global_name"),
    [
        ("os.system-proto0", "os.system"),
        ("os.system-proto2", "posix.system"),
        ("builtins.eval", "__builtin__.eval"),  # protocol 2 spells it the Py2 way
        ("builtins.exec", "builtins.exec"),
        ("py2-builtin-eval", "__builtin__.eval"),
        ("subprocess.call", "subprocess.call"),
        ("in-a-dict", "posix.system"),
    ],
)
def test_restricted_unpickler_refuses_code(tmp_path, case, global_name):
    marker = tmp_path / "pwned"
    payload = _evil_pickles(marker)[case]
    with pytest.raises(UnsafePickleError, match="refused global") as err:
        restricted_load(io.BytesIO(payload))
    assert global_name in str(err.value)
    assert isinstance(err.value, pickle.UnpicklingError)
    # And through the batch loader, with the file named in the message.
    path = tmp_path / "data_batch_1"
    path.write_bytes(payload)
    with pytest.raises(UnsafePickleError) as err:
        load_cifar_python_batch(path)
    assert str(path) in str(err.value) and global_name in str(err.value)
    assert not marker.exists()


def test_restricted_unpickler_refuses_object_arrays():
    payload = pickle.dumps(np.array([1, "a"], dtype=object), protocol=2)
    with pytest.raises(UnsafePickleError, match="refused"):
        restricted_load(io.BytesIO(payload))


_BAD_BATCHES = {
    "not-a-dict": (pickle.dumps([1, 2], protocol=2), "expected a pickled dict, got list"),
    "missing-labels": (pickle.dumps({"data": 1}, protocol=2), "missing key 'labels'"),
    "garbage": (b"\x00\x01garbage", "not a CIFAR-10 python batch"),
    "empty": (b"", "not a CIFAR-10 python batch"),
}


@pytest.mark.parametrize("case", sorted(_BAD_BATCHES))
def test_cifar_python_batch_errors(tmp_path, case):
    data, words = _BAD_BATCHES[case]
    path = tmp_path / "data_batch_1"
    path.write_bytes(data)
    with pytest.raises(DataError) as err:
        load_cifar_python_batch(path)
    assert str(path) in str(err.value) and words in str(err.value)


@pytest.mark.parametrize(
    ("columns", "labels", "words"),
    [(3000, 4, "3072 columns"), (3072, 3, "expected 4 labels"), (3072, [0, 1, 2, 10], "[0, 10)")],
)
def test_cifar_python_batch_shape_errors(tmp_path, columns, labels, words):
    data = np.zeros((4, columns), np.uint8)
    labels = list(range(labels)) if isinstance(labels, int) else labels
    path = tmp_path / "data_batch_2"
    path.write_bytes(py2_cifar_pickle(data, labels))
    with pytest.raises(DataError) as err:
        load_cifar_python_batch(path)
    assert str(path) in str(err.value) and words in str(err.value)


# ----------------------------------------------------------------------------- CIFAR binary
def test_cifar_binary_batch(tmp_path, rng):
    X, y = _cifar_arrays(rng, 7)
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(cifar_binary_batch(X, y))
    Xg, yg = load_cifar_binary_batch(path)
    assert Xg.shape == (7, 3, 32, 32) and Xg.dtype == np.uint8 and Xg.flags.c_contiguous
    np.testing.assert_array_equal(Xg, X)
    np.testing.assert_array_equal(yg, y)


@pytest.mark.parametrize(("cut", "words"), [(1, "multiple of 3073"), (3073 * 2, "got 0 bytes")])
def test_cifar_binary_size_errors(tmp_path, rng, cut, words):
    X, y = _cifar_arrays(rng, 2)
    path = tmp_path / "test_batch.bin"
    path.write_bytes(cifar_binary_batch(X, y)[:-cut])
    with pytest.raises(DataError) as err:
        load_cifar_binary_batch(path)
    assert str(path) in str(err.value) and words in str(err.value)


def test_cifar_binary_bad_label(tmp_path, rng):
    X, _ = _cifar_arrays(rng, 2)
    path = tmp_path / "test_batch.bin"
    path.write_bytes(cifar_binary_batch(X, np.array([3, 12])))
    with pytest.raises(DataError, match=r"\[0, 10\)"):
        load_cifar_binary_batch(path)


# ----------------------------------------------------------------------------- archives
def _archive_spec(members, extract_dir="cifar-10-batches-py"):
    return DatasetSpec(
        "x",
        "cifar-python",
        (FileSpec("a.tar.gz"),),
        (),
        ("c",),
        (3, 32, 32),
        extract_dir=extract_dir,
        members=tuple(FileSpec(m) for m in members),
    )


def test_extract_writes_only_named_members(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(
        tar_gz(
            {
                "cifar-10-batches-py/data_batch_1": b"one",
                "cifar-10-batches-py/../../escaped": b"evil",
                "/tmp/absolute-escape": b"evil",
                "cifar-10-batches-py/readme.html": b"skip",
            }
        )
    )
    out = extract_members(archive, tmp_path / "dest", _archive_spec(["data_batch_1"]))
    assert sorted(p.name for p in out.iterdir()) == ["data_batch_1"]
    assert (out / "data_batch_1").read_bytes() == b"one"
    assert not (tmp_path / "escaped").exists()


def test_extract_missing_member_and_corrupt_archive(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(tar_gz({"cifar-10-batches-py/data_batch_1": b"one"}))
    with pytest.raises(DataError, match="missing members") as err:
        extract_members(archive, tmp_path, _archive_spec(["data_batch_1", "test_batch"]))
    assert str(archive) in str(err.value)
    archive.write_bytes(archive.read_bytes()[:30])
    with pytest.raises(DataError, match="corrupt or truncated archive"):
        extract_members(archive, tmp_path, _archive_spec(["data_batch_1"]))


# ----------------------------------------------------------------------------- checksums
def test_verify_accepts_recompressed_gzip_by_content(tmp_path, rng):
    raw = encode_idx(images(rng, 20)[:, 0])
    upstream, debian = gz(raw, level=9, mtime=1), gz(raw, level=1, mtime=2)
    assert sha256(upstream) != sha256(debian)
    spec = FileSpec("f.gz", sha256=(sha256(upstream),), content_sha256=sha256(raw))
    path = tmp_path / "f.gz"
    path.write_bytes(debian)
    verify_file(path, spec)  # passes on the decompressed bytes
    path.write_bytes(gz(raw[:-1] + b"\x01"))
    with pytest.raises(ChecksumError) as err:
        verify_file(path, spec)
    msg = str(err.value)
    assert str(path) in msg and sha256(upstream) in msg and sha256(raw) in msg
    assert sha256(path.read_bytes()) in msg


def test_verify_md5_only_and_unpinned(tmp_path):
    path = tmp_path / "m"
    path.write_bytes(b"abc")
    verify_file(path, FileSpec("m", md5=("900150983cd24fb0d6963f7d28e17f72",)))
    verify_file(path, FileSpec("m"))  # nothing pinned: nothing to check
    with pytest.raises(ChecksumError, match=r"expected md5 0{32}; got md5 900150983cd24fb0d6963f7"):
        verify_file(path, FileSpec("m", md5=("0" * 32,)))


def test_encode_idx_rejects_unknown_dtype():
    with pytest.raises(ValueError, match="dtype must be one of"):
        encode_idx(np.zeros(3, np.uint16))
