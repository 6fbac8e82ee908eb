"""The Solver callback that keeps a run directory up to date while training.

Every step appends its row to ``iterations.csv``; every accuracy check (after the first step and
at each epoch end) appends its row to ``epochs.csv``, then writes ``last.npz``, then ``best.npz``
when validation accuracy improved. The CSVs are :class:`numnet.metrics_log.MetricsWriter` files:
one flushed line per row, never rewritten. Since a check's rows are on disk before its
``last.npz``, a resumed run finds every row up to its checkpoint, and :meth:`RunRecorder.resume_at`
cuts off the rows written after it. Columns: see :mod:`numnet.run_files`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from numnet.cli import rundir
from numnet.cli.errors import CLIError
from numnet.metrics_log import MetricsFileError, MetricsWriter, truncate_rows


class RunRecorder:
    """Writes metrics and checkpoints of a run into ``run_dir``.

    Args:
        run_dir: the run directory.
    """

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.iterations = MetricsWriter(self.run_dir / rundir.ITERATIONS, rundir.ITERATION_COLUMNS)
        self.epochs = MetricsWriter(self.run_dir / rundir.EPOCHS, rundir.EPOCH_COLUMNS)
        self.best = -math.inf
        self.last_row: dict | None = None
        self._resumed = False
        self._losses: list[float] = []
        self._since = time.perf_counter()

    def resume_at(self, iteration: int) -> None:
        """Continue the run's CSVs after a checkpoint at ``iteration``: rows past it are cut off.

        The losses of the steps since the last check are kept for that epoch's mean, so a
        resumed epoch reports the same row as an uninterrupted one.

        Raises:
            CLIError: a CSV cannot be read, cut or continued.
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
        self.last_row = epoch_rows[-1] if epoch_rows else None
        checked = self.last_row["iteration"] if self.last_row else 0
        self._losses = [r["loss"] for r in kept[self.iterations] if r["iteration"] > checked]
        self._resumed = True

    def on_train_begin(self, solver):
        """Open both CSVs afresh (unless continuing a resumed run) and start the clock."""
        self.best = float(solver.best_val_acc) if solver.iteration else -math.inf
        if not self._resumed:
            self._losses = []
            self.iterations.open()
            self.epochs.open()
        self._since = time.perf_counter()

    def on_batch_end(self, solver, logs):
        """Append the step's row to the iterations CSV."""
        self.iterations.write(
            {
                "iteration": logs["iteration"],
                "epoch": logs["epoch"] + 1,
                "loss": logs["loss"],
                "lr": logs["lr"],
            }
        )
        self._losses.append(logs["loss"])

    def on_epoch_end(self, solver, logs):
        """Append the epoch row, then write last.npz, and best.npz when validation improved."""
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
        # The row first: when last.npz at this step exists, so do all rows up to it.
        self.epochs.write(self.last_row)
        solver.save_checkpoint(self.run_dir / rundir.LAST)
        if logs["val_acc"] > self.best:
            self.best = logs["val_acc"]
            solver.save_checkpoint(self.run_dir / rundir.BEST)

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
