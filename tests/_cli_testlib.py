"""Helpers for the CLI tests: a tiny learnable data set in IDX files, and running ``main``."""

from __future__ import annotations

import dataclasses
import gzip

import numpy as np

from numnet.cli.main import main
from numnet.data import FileSpec, encode_idx, get_spec
from numnet.data import load_dataset as real_load_dataset
from numnet.data.registry import (
    IDX_TEST_IMAGES,
    IDX_TEST_LABELS,
    IDX_TRAIN_IMAGES,
    IDX_TRAIN_LABELS,
)

N_TRAIN, N_TEST = 360, 120

#: A network small enough that one epoch on the tiny data set takes well under a second.
SMALL = [
    "--filters",
    "4,8",
    "--hidden-dims",
    "16",
    "--num-val",
    "60",
    "--batch-size",
    "50",
    "--lr",
    "0.003",
]


def tiny_images(n: int, seed: int):
    """(X uint8 (n, 28, 28), y uint8 (n,)): each class a fixed blob pattern plus noise."""
    rng = np.random.default_rng(seed)
    templates = np.random.default_rng(99).random((10, 28, 28)) > 0.7
    y = (np.arange(n) % 10).astype(np.uint8)
    rng.shuffle(y)
    X = templates[y] * 200.0 + rng.random((n, 28, 28)) * 55.0
    return X.astype(np.uint8), y


def write_tiny_idx(folder) -> None:
    """The four Fashion-MNIST file names, holding the tiny data set, gzipped IDX."""
    folder.mkdir(parents=True, exist_ok=True)
    X, y = tiny_images(N_TRAIN, 1)
    Xt, yt = tiny_images(N_TEST, 2)
    for name, a in ((IDX_TRAIN_IMAGES, X), (IDX_TRAIN_LABELS, y), (IDX_TEST_IMAGES, Xt),
                    (IDX_TEST_LABELS, yt)):  # fmt: skip
        (folder / name).write_bytes(gzip.compress(encode_idx(a), mtime=0))


def load_tiny_dataset(name, root=None, download=False, **kw):
    """``load_dataset`` that reads the tiny set in Fashion-MNIST's files through the real loader.

    The registry pins the real files' checksums and sizes, so the loader is given the same spec
    without them (everything else, parsing included, is the real code path).
    """
    spec = get_spec("fashion-mnist")
    spec = dataclasses.replace(
        spec, files=tuple(FileSpec(f.name) for f in spec.files), num_train=None, num_test=None
    )
    return real_load_dataset(name, root, download, spec=spec, **kw)


def run_cli(capsys, *argv):
    """``main(argv)`` in this process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def train_argv(data_dir, out, *extra):
    return ["train", *SMALL, "--data-dir", data_dir, "--out", out, *extra]


def pin_auto_threads(setattr=setattr) -> None:
    """Make a new ``numnet train`` run pick 1 thread whatever the machine's load.

    The tests' runs must not depend on what else the machine is doing: conftest pins the test
    process, the subprocess templates call this.
    """
    import numnet.cli.threads

    setattr(numnet.cli.threads, "idle_threads", lambda: 1)
