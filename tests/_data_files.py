"""Small data files in the exact formats numnet reads, and a local HTTP server for downloads.

Used by tests/test_data_*.py. Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from numnet.data import DatasetSpec, FileSpec, encode_idx
from numnet.data.registry import (
    IDX_TEST_IMAGES,
    IDX_TEST_LABELS,
    IDX_TRAIN_IMAGES,
    IDX_TRAIN_LABELS,
)

CLASSES = tuple(f"class{i}" for i in range(10))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def gz(data: bytes, level: int = 9, mtime: int = 0) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=mtime)


def images(rng, n: int, shape=(1, 28, 28)) -> np.ndarray:
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)


def labels(n: int) -> np.ndarray:
    return (np.arange(n) % 10).astype(np.uint8)


# ----------------------------------------------------------------------------- IDX
def idx_files(rng, n_train: int = 30, n_test: int = 10):
    """(arrays, {name: gz bytes}) of a tiny IDX data set, images (N, 28, 28)."""
    arrays = {
        "X_train": images(rng, n_train)[:, 0],
        "y_train": labels(n_train),
        "X_test": images(rng, n_test)[:, 0],
        "y_test": labels(n_test)[::-1].copy(),
    }
    files = {
        IDX_TRAIN_IMAGES: gz(encode_idx(arrays["X_train"])),
        IDX_TRAIN_LABELS: gz(encode_idx(arrays["y_train"])),
        IDX_TEST_IMAGES: gz(encode_idx(arrays["X_test"])),
        IDX_TEST_LABELS: gz(encode_idx(arrays["y_test"])),
    }
    return arrays, files


def idx_spec(files: dict, mirrors=(), name: str = "tiny-idx", n_train=30, n_test=10):
    return DatasetSpec(
        name=name,
        format="idx",
        files=tuple(FileSpec(k, sha256=(sha256(v),)) for k, v in files.items()),
        mirrors=tuple(mirrors),
        class_names=CLASSES,
        image_shape=(1, 28, 28),
        num_train=n_train,
        num_test=n_test,
    )


# ----------------------------------------------------------------------------- CIFAR
def _op_str(s: bytes) -> bytes:
    """A Python-2 ``str`` in a pickle: SHORT_BINSTRING or BINSTRING."""
    if len(s) < 256:
        return b"U" + bytes([len(s)]) + s
    return b"T" + struct.pack("<I", len(s)) + s


def _op_int(i: int) -> bytes:
    return b"K" + bytes([i]) if 0 <= i < 256 else b"J" + struct.pack("<i", i)


def py2_cifar_pickle(data: np.ndarray, labels_: list[int], batch_label: bytes = b"batch") -> bytes:
    """The bytes Python 2's cPickle (protocol 2) writes for a CIFAR batch dict.

    Opcode for opcode what the real files hold: str keys as BINSTRING, ``data`` rebuilt by
    ``numpy.core.multiarray._reconstruct`` with a uint8 ``numpy.dtype`` and the raw bytes as a
    Python-2 str, ``labels`` a list of ints.
    """
    n, d = data.shape
    dtype = (
        b"cnumpy\ndtype\n" + _op_str(b"u1") + b"K\x00K\x01\x87R"
        + b"(K\x03" + _op_str(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    )  # fmt: skip
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\n"
        + b"cnumpy\nndarray\n" + b"K\x00\x85" + _op_str(b"b") + b"\x87R"
        + b"(K\x01" + _op_int(n) + _op_int(d) + b"\x86" + dtype + b"\x89"
        + _op_str(data.tobytes()) + b"tb"
    )  # fmt: skip
    label_list = b"](" + b"".join(_op_int(int(v)) for v in labels_) + b"e"
    filenames = b"](" + b"".join(_op_str(b"img_%d.png" % i) for i in range(n)) + b"e"
    body = (
        b"}("
        + _op_str(b"batch_label") + _op_str(batch_label)
        + _op_str(b"labels") + label_list
        + _op_str(b"data") + array
        + _op_str(b"filenames") + filenames
        + b"u"
    )  # fmt: skip
    return b"\x80\x02" + body + b"."


def cifar_binary_batch(X: np.ndarray, y: np.ndarray) -> bytes:
    rec = np.concatenate([y.astype(np.uint8)[:, None], X.reshape(len(X), -1)], axis=1)
    return rec.tobytes()


def tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def cifar_dataset(rng, fmt: str, per_batch: int = 8, n_train_batches: int = 2):
    """(arrays, member bytes {name: bytes}, spec-ready tuple) of a tiny CIFAR-10 set.

    arrays: X_train (n, 3, 32, 32) uint8, y_train, X_test, y_test (int64).
    """
    suffix = ".bin" if fmt == "cifar-binary" else ""
    names = [f"data_batch_{i}{suffix}" for i in range(1, n_train_batches + 1)]
    names.append(f"test_batch{suffix}")
    members, xs, ys = {}, [], []
    for k, name in enumerate(names):
        X = images(rng, per_batch, (3, 32, 32))
        y = ((np.arange(per_batch) + k) % 10).astype(np.int64)
        xs.append(X)
        ys.append(y)
        if fmt == "cifar-binary":
            members[name] = cifar_binary_batch(X, y)
        else:
            members[name] = py2_cifar_pickle(X.reshape(per_batch, -1), y.tolist())
    arrays = {
        "X_train": np.concatenate(xs[:-1]),
        "y_train": np.concatenate(ys[:-1]),
        "X_test": xs[-1],
        "y_test": ys[-1],
    }
    return arrays, members


def cifar_spec(
    fmt: str, members: dict, archive: bytes, arrays: dict, mirrors=(), name="tiny-cifar"
):
    """A DatasetSpec for a tiny CIFAR set: archive sha256 and member md5s pinned."""
    binary = fmt == "cifar-binary"
    return DatasetSpec(
        name=name,
        format=fmt,
        files=(
            FileSpec(
                "cifar-10-binary.tar.gz" if binary else "cifar-10-python.tar.gz",
                sha256=(sha256(archive),),
            ),
        ),
        mirrors=tuple(mirrors),
        class_names=CLASSES,
        image_shape=(3, 32, 32),
        num_train=len(arrays["X_train"]),
        num_test=len(arrays["X_test"]),
        extract_dir="cifar-10-batches-bin" if binary else "cifar-10-batches-py",
        members=tuple(FileSpec(k, md5=(hashlib.md5(v).hexdigest(),)) for k, v in members.items()),
    )


# ----------------------------------------------------------------------------- HTTP server
class FileServer:
    """A threaded HTTP server on 127.0.0.1 serving ``files`` under three mirror prefixes.

    ``/good/<name>`` serves the bytes, ``/bad/<name>`` the bytes with one byte changed,
    ``/cut/<name>`` sends the full Content-Length then closes after half the body, ``/junk/<name>``
    sends no Content-Length and the bytes followed by up to 64 MiB of junk; anything else is a 404.
    ``requests`` counts every GET path; ``sent`` the bytes each junk response got out.
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.sent: list[int] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                server.requests.append(self.path)
                _, mode, name = [*self.path.split("/", 2), "", ""][:3]
                body = server.files.get(name)
                if body is None or mode not in ("good", "bad", "cut", "junk"):
                    self.send_error(404)
                    return
                if mode == "junk":
                    self._junk(body)
                    return
                if mode == "bad":
                    body = body[:-1] + bytes([body[-1] ^ 0xFF])
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if mode == "cut" else body)
                self.wfile.flush()
                self.close_connection = True

            def _junk(self, body):
                self.send_response(200)
                self.end_headers()
                sent = 0
                try:
                    for chunk in [body] + [b"\x00" * 2**16] * 1024:
                        self.wfile.write(chunk)
                        sent += len(chunk)
                except OSError:  # the client stopped reading
                    pass
                server.sent.append(sent)
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def mirror(self, mode: str) -> str:
        return f"{self.base}/{mode}/"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
