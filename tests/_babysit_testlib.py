"""Helpers of the babysitting tests: the one-line error check, small models on the tiny images."""

from __future__ import annotations

import numpy as np
from _cli_testlib import tiny_images

#: ``numnet train`` options for a network small enough that every babysitting command on the
#: tiny data set takes about a second.
SMALL_NET = ["--filters", "4,8", "--hidden-dims", "16", "--num-val", "60", "--batch-size", "50",
             "--lr", "0.003"]  # fmt: skip


def assert_one_line_error(err: str, code: int, expected_code: int, *fragments: str) -> None:
    """Stderr is one ``numnet: error: ...`` line holding every fragment; the exit code fits."""
    lines = err.strip().splitlines()
    assert code == expected_code, err
    assert len(lines) == 1, err
    assert lines[0].startswith("numnet: error: "), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def tiny_set(n: int = 300, seed: int = 1):
    """(X float32 (n, 1, 28, 28) standardised, y int64 (n,)): the CLI tests' learnable blobs."""
    X, y = tiny_images(n, seed)
    X = (X - X.mean()) / X.std()
    return X.astype(np.float32)[:, None], y.astype(np.int64)
