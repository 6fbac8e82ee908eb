"""The Solver callback that keeps a run directory up to date while training.

Every step appends its row to ``iterations.csv``; every accuracy check (after the first step and
at each epoch end) appends its row to ``epochs.csv``, fsyncs both, writes ``last.npz`` (the
commit point) and, when validation accuracy improved, copies it to ``best.npz``. The CSVs are
:class:`numnet.metrics_log.MetricsWriter` files: one flushed line per row, never rewritten.
:meth:`RunRecorder.resume_at` cuts off the rows written after the checkpoint a run resumes from
and repairs ``best.npz``; see "Crash consistency" in :mod:`numnet.run_files` for why this order
makes any stop resumable to the same files. Columns: see :mod:`numnet.run_files`.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from pathlib import Path

from numnet._atomic import atomic_copy
from numnet.cli import rundir
from numnet.cli.config import warn
from numnet.cli.errors import CLIError
from numnet.metrics_log import MetricsFileError, MetricsWriter, truncate_rows


class RunRecorder:
    """Writes metrics and checkpoints of a run into ``run_dir``.

    When one of its writes fails or is interrupted, the directory's files lag behind the Solver:
    it then unsets the Solver's ``interrupt_checkpoint``, so no checkpoint is written that claims
    rows or a ``best.npz`` the directory does not have (the run resumes from the last one).

    Args:
        run_dir: the run directory.

    Attributes:
        committed: the step ``last.npz`` holds as far as this recorder knows (None: none yet).
    """

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.iterations = MetricsWriter(self.run_dir / rundir.ITERATIONS, rundir.ITERATION_COLUMNS)
        self.epochs = MetricsWriter(self.run_dir / rundir.EPOCHS, rundir.EPOCH_COLUMNS)
        self.best = -math.inf
        self.last_row: dict | None = None
        self.committed: int | None = None
        self._resumed = False
        self._losses: list[float] = []
        self._since = time.perf_counter()

    def resume_at(self, iteration: int) -> None:
        """Continue the run's files after its checkpoint at step ``iteration`` (0: none).

        Rows past the step are cut off. The losses of the steps since the last check are kept for
        that epoch's mean, so a resumed epoch reports the same row as an uninterrupted one. When
        the checkpoint's own check is the best one and ``best.npz`` does not hold it (the process
        died between the two writes), ``best.npz`` becomes a copy of ``last.npz`` again.

        Raises:
            CLIError: a CSV cannot be read, cut or continued, or best.npz cannot be repaired.
        """
        kept = {}
        try:
            for writer in (self.iterations, self.epochs):
                kept[writer] = truncate_rows(writer.path, iteration) if writer.path.exists() else []
                writer.open(append=True)
        except MetricsFileError as e:
            self.close()
            raise CLIError(f"cannot continue the run's metrics: {e}") from None
        epoch_rows = kept[self.epochs]
        steps = [r["iteration"] for r in kept[self.iterations]]
        if steps[-1:] != ([iteration] if iteration else []):
            warn(f"{self.iterations.path} ends at step {steps[-1] if steps else 0}, but the "
                 f"checkpoint is at step {iteration}: rows were lost (a power cut?)")  # fmt: skip
        self.last_row = epoch_rows[-1] if epoch_rows else None
        checked = self.last_row["iteration"] if self.last_row else 0
        self._losses = [r["loss"] for r in kept[self.iterations] if r["iteration"] > checked]
        self.best = max((r["val_acc"] for r in epoch_rows), default=-math.inf)
        self.committed = iteration or None
        self._resumed = True
        if epoch_rows and iteration:
            self._repair_best(epoch_rows, iteration)

    def _repair_best(self, epoch_rows: list[dict], iteration: int) -> None:
        best_row = max(epoch_rows, key=lambda r: r["val_acc"])  # the first of equals, as written
        if best_row["iteration"] != iteration:
            return  # an earlier check: its best.npz was complete before its last.npz moved on
        from numnet.checkpoint import CheckpointError, read_metadata

        best = self.run_dir / rundir.BEST
        try:
            if read_metadata(best)["state"]["iteration"] == iteration:
                return
        except (CheckpointError, KeyError, TypeError):
            pass  # missing or unreadable: written again below
        try:
            atomic_copy(self.run_dir / rundir.LAST, best)
        except OSError as e:
            raise CLIError(f"cannot repair {best}: {e.strerror or e}") from None

    def on_train_begin(self, solver):
        """Open both CSVs afresh (unless continuing a resumed run) and start the clock."""
        if not self._resumed:
            self._losses = []
            self.iterations.open()
            self.epochs.open()
        self._since = time.perf_counter()

    def on_batch_end(self, solver, logs):
        """Append the step's row to the iterations CSV."""
        row = {"iteration": logs["iteration"], "epoch": logs["epoch"] + 1}
        with self._writing(solver):
            self.iterations.write({**row, "loss": logs["loss"], "lr": logs["lr"]})
        self._losses.append(logs["loss"])

    def on_epoch_end(self, solver, logs):
        """Append the epoch row, fsync the CSVs, write last.npz, then best.npz if val improved."""
        now = time.perf_counter()
        mean = sum(self._losses) / len(self._losses) if self._losses else math.nan
        self.last_row = {
            "epoch": logs["epoch"],
            "iteration": logs["iteration"],
            "loss": mean,
            "train_acc": logs["train_acc"],
            "val_acc": logs["val_acc"],
            "lr": logs["lr"],
            "seconds": round(now - self._since, 3),
        }
        self._losses = []
        self._since = now
        with self._writing(solver):
            self.epochs.write(self.last_row)
            self.iterations.sync()
            self.epochs.sync()
            solver.save_checkpoint(self.run_dir / rundir.LAST)
            self.committed = logs["iteration"]
            if logs["val_acc"] > self.best:
                self.best = logs["val_acc"]
                atomic_copy(self.run_dir / rundir.LAST, self.run_dir / rundir.BEST)

    @staticmethod
    @contextlib.contextmanager
    def _writing(solver) -> Iterator[None]:
        """A write of the directory: if it fails, no interrupt checkpoint may claim it happened."""
        try:
            yield
        except BaseException:
            solver.interrupt_checkpoint = None
            raise

    def on_train_end(self, solver):
        """Close both CSVs."""
        self.close()

    def close(self) -> None:
        """Flush both CSVs to disk and close them."""
        self.iterations.close()
        self.epochs.close()

    def last_summary(self) -> tuple[float, float]:
        """(mean loss, seconds) of the latest epoch row."""
        return self.last_row["loss"], self.last_row["seconds"]
