"""The Solver callback that keeps a run directory up to date while training.

At every accuracy check (after the first step and at each epoch end) it writes ``last.npz``,
``best.npz`` when validation accuracy improved, and rewrites ``iterations.csv`` and
``epochs.csv`` (atomically, so they always parse). On every exit path (``on_train_end``: normal
end, early stop, error, Ctrl-C) the CSVs are written once more. Columns: see
:mod:`numnet.cli.rundir`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from numnet.cli import rundir


class RunRecorder:
    """Writes metrics and checkpoints of a run into ``run_dir``.

    Args:
        run_dir: the run directory.
        iteration_rows, epoch_rows: rows already recorded (a resumed run's, cut at the checkpoint).
    """

    def __init__(self, run_dir: Path, iteration_rows=(), epoch_rows=()):
        self.run_dir = Path(run_dir)
        self.iteration_rows = list(iteration_rows)
        self.epoch_rows = list(epoch_rows)
        self.best = -math.inf
        self._losses: list[float] = []
        self._since = time.perf_counter()

    def on_train_begin(self, solver):
        self.best = float(solver.best_val_acc) if solver.iteration else -math.inf
        # A resumed run's epoch mean includes the steps taken before the interruption.
        checked = self.epoch_rows[-1]["iteration"] if self.epoch_rows else 0
        self._losses = [r["loss"] for r in self.iteration_rows if r["iteration"] > checked]
        self._since = time.perf_counter()

    def on_batch_end(self, solver, logs):
        self.iteration_rows.append(
            {
                "iteration": logs["iteration"],
                "epoch": logs["epoch"] + 1,
                "loss": logs["loss"],
                "lr": logs["lr"],
            }
        )
        self._losses.append(logs["loss"])

    def on_epoch_end(self, solver, logs):
        now = time.perf_counter()
        mean = sum(self._losses) / len(self._losses) if self._losses else math.nan
        self.epoch_rows.append(
            {
                "epoch": logs["epoch"],
                "iteration": logs["iteration"],
                "loss": mean,
                "train_acc": logs["train_acc"],
                "val_acc": logs["val_acc"],
                "lr": logs["lr"],
                "seconds": round(now - self._since, 3),
            }
        )
        self._losses = []
        self._since = now
        solver.save_checkpoint(self.run_dir / rundir.LAST)
        if logs["val_acc"] > self.best:
            self.best = logs["val_acc"]
            solver.save_checkpoint(self.run_dir / rundir.BEST)
        self.write()

    def on_train_end(self, solver):
        self.write()

    def last_summary(self) -> tuple[float, float]:
        """(mean loss, seconds) of the latest epoch row."""
        row = self.epoch_rows[-1]
        return row["loss"], row["seconds"]

    def write(self):
        """Rewrite both CSVs from the rows held in memory."""
        rundir.write_csv(
            self.run_dir / rundir.ITERATIONS, rundir.ITERATION_COLUMNS, self.iteration_rows
        )
        rundir.write_csv(self.run_dir / rundir.EPOCHS, rundir.EPOCH_COLUMNS, self.epoch_rows)


def rows_until(rows, iteration: int) -> list[dict]:
    """The CSV rows a checkpoint at ``iteration`` has seen (a resumed run drops the rest)."""
    out = []
    for r in rows:
        if r["iteration"] <= iteration:
            out.append({**r, "iteration": int(r["iteration"]), "epoch": int(r["epoch"])})
    return out
