"""Fault injection for run directories: stop ``numnet train`` at a chosen write, compare two runs.

A *write point* is one call that changes a file of the run directory: a metrics line appended
(``MetricsWriter._write_line``) or an atomic rename into place (``os.replace`` onto a file of the
run directory). :func:`install_faults` counts those calls and, at the chosen one, stops the
process: ``os._exit(137)`` (what SIGKILL leaves: no handler, no ``finally``, no flush) or
``KeyboardInterrupt`` (a Ctrl-C landing inside the writer). It also logs every write point.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from _resume_testlib import assert_state_equal

from numnet.checkpoint import read_checkpoint
from numnet.run_files import read_metrics


class Faults:
    """The write points seen so far (``log``: (file name, n-th write to it)) and the one to stop at.

    Args:
        run_dir: only writes into this folder count.
        at: ``(file name, n, mode)``: stop at the n-th (0-based) write to that file; mode
            ``"before"`` (the write does not happen), ``"after"`` (it does) or ``"torn"`` (half of
            the metrics line is written). None: only log.
        action: ``"exit"`` (os._exit(137)) or ``"interrupt"`` (raise KeyboardInterrupt).
    """

    def __init__(self, run_dir, at=None, action="exit"):
        self.run_dir = Path(run_dir).resolve()
        self.at, self.action = at, action
        self.log: list[tuple[str, int]] = []
        self.fired = False

    def _stop(self):
        self.fired = True
        if self.action == "exit":
            os._exit(137)
        raise KeyboardInterrupt

    def point(self, path, write, torn=None):
        """Run ``write()``, the write point for ``path``; stop there if it is the chosen one."""
        path = Path(path).resolve()
        if path.parent != self.run_dir:
            return write()
        n = sum(1 for name, _ in self.log if name == path.name)
        self.log.append((path.name, n))
        if self.fired or self.at is None or self.at[:2] != (path.name, n):
            return write()
        mode = self.at[2]
        if mode == "before":
            self._stop()
        if mode == "torn":
            torn()
            self._stop()
        out = write()
        self._stop()
        return out


def install_faults(faults: Faults, patch) -> None:
    """Route the run directory's writes through ``faults``.

    ``patch(target, name, value)`` sets an attribute (``monkeypatch.setattr``, or ``setattr`` in
    a throwaway process).
    """
    import numnet._atomic as atomic
    from numnet.metrics_log import MetricsWriter

    write_line = MetricsWriter._write_line

    def _write_line(self, values):
        def torn():
            before = self._file.tell()
            write_line(self, values)
            self._file.truncate(before + (self._file.tell() - before) // 2)
            self._file.flush()

        return faults.point(self.path, lambda: write_line(self, values), torn)

    replace = os.replace

    def _replace(src, dst, **kw):
        return faults.point(dst, lambda: replace(src, dst, **kw))

    patch(MetricsWriter, "_write_line", _write_line)
    patch(atomic.os, "replace", _replace)


#: A subprocess that trains with the tiny data set and is killed at one write point.
KILLED_RUN = """
import sys
sys.path.insert(0, {tests!r})
import numnet.cli.dataload
from _cli_testlib import load_tiny_dataset
from _crash_testlib import Faults, install_faults
numnet.cli.dataload.load_dataset = load_tiny_dataset
from _cli_testlib import pin_auto_threads
pin_auto_threads()
install_faults(Faults({run_dir!r}, {at!r}, "exit"), setattr)
from numnet.cli.main import main
sys.exit(main({argv!r}))
"""


# ------------------------------------------------------------------------ comparing two runs
#: What may differ between a run that was stopped and resumed and one that was not, and why:
#: - epochs.csv ``seconds`` and summary.json ``train_seconds``: wall time.
#: - config.json ``history``: one entry (start time, command line) per session; a resumed run
#:   has one more.
#: - in the checkpoints, ``settings/interrupt_checkpoint``: the path of the run directory itself;
#:   ``rng/global``: NumPy's global random state, which NumPy seeds from the OS in every process
#:   and which the command never draws from (it seeds its own Generators).
#: - the PNGs are compared as images (pixels), not as files.
CHECKPOINT_SKIP = ("/settings/interrupt_checkpoint", "/rng/global")


def _png_pixels(path):
    import matplotlib.image as mpimg

    return mpimg.imread(path)


def assert_same_run_dir(full: Path, part: Path) -> None:
    """``part`` (stopped, then resumed) holds the same files as ``full`` (never stopped)."""
    names = sorted(p.name for p in full.iterdir())
    assert sorted(p.name for p in part.iterdir()) == names  # no temp file, no lock left
    for name in ("iterations.csv", "epochs.csv"):
        a, b = read_metrics(full / name), read_metrics(part / name)
        assert [{**r, "seconds": 0} for r in a] == [{**r, "seconds": 0} for r in b], name
    for name, skip in (("config.json", "history"), ("summary.json", "train_seconds")):
        a, b = (json.loads((d / name).read_text()) for d in (full, part))
        a.pop(skip), b.pop(skip)
        assert a == b, name
    for name in ("last.npz", "best.npz"):
        a, b = read_checkpoint(full / name), read_checkpoint(part / name)
        assert a.meta["format_version"] == b.meta["format_version"]
        assert_state_equal(a.state, b.state, skip=CHECKPOINT_SKIP)
    for name in names:
        if name.endswith(".png"):
            assert np.array_equal(_png_pixels(full / name), _png_pixels(part / name)), name
