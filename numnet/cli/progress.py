"""What ``numnet train`` shows while it runs: a tqdm bar per epoch on a terminal, else plain lines.

Both are Solver callbacks (see :mod:`numnet.callbacks` for the hooks and their ``logs``). The plain
form prints one line per accuracy check, e.g.::

    epoch   3/10  loss 0.3121  train 89.20%  val 90.10%  lr 8.54e-04  41.3s
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def epoch_line(logs: dict, mean_loss: float, seconds: float) -> str:
    """One epoch summary line (the same text in both display modes)."""
    width = len(str(logs["num_epochs"]))
    return (
        f"epoch {logs['epoch']:>{width}}/{logs['num_epochs']}  loss {mean_loss:.4f}  "
        f"train {100 * logs['train_acc']:.2f}%  val {100 * logs['val_acc']:.2f}%  "
        f"lr {logs['lr']:.2e}  {seconds:.1f}s"
    )


class _EpochMeter:
    """Mean loss and wall time since the previous accuracy check."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.loss_sum = 0.0
        self.count = 0
        self.start = time.perf_counter()

    def add(self, loss: float):
        self.loss_sum += loss
        self.count += 1

    @property
    def mean(self) -> float:
        return self.loss_sum / self.count if self.count else float("nan")

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


class PlainProgress:
    """One line per accuracy check on ``file`` (default stdout), nothing per batch.

    Args:
        file: text stream (default: ``sys.stdout`` at print time).
        summary: optional callable returning (mean loss, seconds) of the check just made, e.g.
            from the run's recorder, whose mean also covers steps taken before a resume.
    """

    def __init__(self, file: TextIO | None = None, summary=None):
        self.file = file
        self.summary = summary
        self.meter = _EpochMeter()

    def on_train_begin(self, solver):
        """Start the loss mean and the clock afresh."""
        self.meter.reset()

    def on_batch_end(self, solver, logs):
        """Add the step's loss to the mean since the last check."""
        self.meter.add(logs["loss"])

    def on_epoch_end(self, solver, logs):
        """Print the epoch line, then start the mean and the clock afresh."""
        out = self.file or sys.stdout
        print(epoch_line(logs, *self._summary()), file=out, flush=True)
        self.meter.reset()

    def _summary(self) -> tuple[float, float]:
        return self.summary() if self.summary else (self.meter.mean, self.meter.seconds)


class BarProgress(PlainProgress):
    """A tqdm bar per epoch (loss and lr in its postfix), then the epoch line above it.

    Args:
        iterations_per_epoch: the bar's length.
        file: the bar's stream (default ``sys.stderr``); epoch lines go to stdout.
        summary: as for :class:`PlainProgress`.
    """

    def __init__(self, iterations_per_epoch: int, file: TextIO | None = None, summary=None):
        super().__init__(file, summary)
        self.ipe = iterations_per_epoch
        self.bar = None

    def _open(self, epoch: int, num_epochs: int, done: int):
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=self.ipe,
            initial=done,
            desc=f"epoch {epoch}/{num_epochs}",
            unit="it",
            leave=False,
            dynamic_ncols=True,
            file=self.file or sys.stderr,
        )

    def on_batch_end(self, solver, logs):
        """Advance the bar by one step (opening it at an epoch's first step), with loss and lr."""
        self.meter.add(logs["loss"])
        if self.bar is None:
            num_epochs = max(1, round(logs["num_iterations"] / self.ipe))
            done = (logs["iteration"] - 1) % self.ipe
            self._open(logs["epoch"] + 1, num_epochs, done)
        # The postfix first, so the frame that shows step n also shows step n's loss and lr.
        self.bar.set_postfix(loss=f"{logs['loss']:.4f}", lr=f"{logs['lr']:.2e}", refresh=False)
        self.bar.update(1)
        if logs["iteration"] % self.ipe == 0:
            self.close()

    def on_epoch_end(self, solver, logs):
        """Write the epoch line above the bar, then start the mean and the clock afresh."""
        from tqdm.auto import tqdm

        tqdm.write(epoch_line(logs, *self._summary()), file=sys.stdout)
        self.meter.reset()

    def on_train_end(self, solver):
        """Close the bar, whatever ended training."""
        self.close()

    def close(self):
        """Close the open bar, if any (also at each epoch's last step)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def make_progress(iterations_per_epoch: int, tty: bool | None = None, summary=None):
    """``BarProgress`` when stdout is a terminal (or ``tty=True``), else ``PlainProgress``."""
    if tty is None:
        tty = sys.stdout.isatty()
    if tty:
        return BarProgress(iterations_per_epoch, summary=summary)
    return PlainProgress(summary=summary)
