"""Training callbacks: the small hook set the Solver calls, and the callbacks numnet ships.

A callback is any object with some of these methods (missing ones are skipped):

- ``on_train_begin(solver)`` / ``on_train_end(solver)``: around ``Solver.train()``.
  ``on_train_end`` runs on *every* exit path (normal end, early stop, exception, Ctrl-C);
  ``solver.stop_reason`` then says which: ``"completed"``, ``"early_stop"``, ``"interrupted"``,
  ``"error"``.
- ``on_epoch_begin(solver)``: before the first step of each epoch.
- ``on_batch_begin(solver)``: before each step.
- ``on_batch_end(solver, logs)``: after each step and its bookkeeping (epoch count, lr decay and,
  when due, the accuracy check). ``logs``: ``epoch`` (of the step, 0-based), ``iteration``
  (1-based), ``num_iterations``, ``loss``, ``lr``, ``grad_norm`` (before clipping), ``seconds``
  (since ``train()`` began).
- ``on_epoch_end(solver, logs)``: at every accuracy check, i.e. after the first step (the course's
  "(Epoch 0 / E)" line) and at each epoch end. ``logs``: ``epoch`` (epochs completed),
  ``num_epochs``, ``iteration``, ``train_acc``, ``val_acc``, ``best_val_acc``, ``lr``, ``seconds``.

Every hook runs at a consistent point (no step half done), so a callback may raise
``KeyboardInterrupt`` and the Solver's interrupt checkpoint resumes exactly. A callback stops
training early by setting ``solver.stop_training = True``.

Callback state is not part of a checkpoint: a resumed run starts its callbacks afresh, except
that ``EarlyStopping`` monitoring ``val_acc`` or ``train_acc`` counts its patience again from the
Solver's history, so a resumed run stops where the uninterrupted one does.
"""

from __future__ import annotations

import math
import sys

from numnet.metrics_log import MetricsWriter

__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "MetricsLogger",
    "NonFiniteLossError",
    "PrintProgress",
]


class NonFiniteLossError(FloatingPointError):
    """Training met a nan/inf loss or gradient.

    The message names the epoch, the iteration, the last finite loss and the learning rate. The
    Solver raises it before the update, so the params hold the last finite step.
    """


class Callback:
    """Base class with no-op hooks; subclass and override the ones you need."""

    def on_train_begin(self, solver):
        """Called once when ``Solver.train()`` starts, before the first step."""

    def on_train_end(self, solver):
        """Called once on every exit from ``Solver.train()``; ``solver.stop_reason`` says which."""

    def on_epoch_begin(self, solver):
        """Called before the first step of each epoch."""

    def on_epoch_end(self, solver, logs):
        """Called at every accuracy check with the epoch logs (see the module docstring)."""

    def on_batch_begin(self, solver):
        """Called before each step."""

    def on_batch_end(self, solver, logs):
        """Called after each step and its bookkeeping with the batch logs (see the module)."""


class CallbackList:
    """Calls a hook on every callback in order, skipping callbacks that lack it."""

    def __init__(self, callbacks=()):
        self.callbacks = list(callbacks)

    def _call(self, hook, *args):
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(*args)

    def on_train_begin(self, solver):
        """Call ``on_train_begin`` on every callback that has it."""
        self._call("on_train_begin", solver)

    def on_train_end(self, solver):
        """Call ``on_train_end`` on every callback that has it."""
        self._call("on_train_end", solver)

    def on_epoch_begin(self, solver):
        """Call ``on_epoch_begin`` on every callback that has it."""
        self._call("on_epoch_begin", solver)

    def on_epoch_end(self, solver, logs):
        """Call ``on_epoch_end`` on every callback that has it."""
        self._call("on_epoch_end", solver, logs)

    def on_batch_begin(self, solver):
        """Call ``on_batch_begin`` on every callback that has it."""
        self._call("on_batch_begin", solver)

    def on_batch_end(self, solver, logs):
        """Call ``on_batch_end`` on every callback that has it."""
        self._call("on_batch_end", solver, logs)


class PrintProgress(Callback):
    """The course's progress lines; this is what ``Solver(verbose=True)`` prints.

    ``"(Iteration %d / %d) loss: %f"`` on iterations 1, 1 + print_every, ... and
    ``"(Epoch %d / %d) train acc: %f; val_acc: %f"`` at every accuracy check.

    Args:
        print_every: iterations between loss lines (the Solver's ``print_every``).
        file: text stream (default: ``sys.stdout`` at print time, as ``print`` does).
    """

    def __init__(self, print_every: int = 10, file=None):
        self.print_every = print_every
        self.file = file

    def on_batch_end(self, solver, logs):
        """Print the loss line on iterations 1, 1 + print_every, ..."""
        t = logs["iteration"] - 1
        if t % self.print_every == 0:
            it, n, loss = int(logs["iteration"]), int(logs["num_iterations"]), logs["loss"]
            print(f"(Iteration {it:d} / {n:d}) loss: {loss:f}", file=self.file or sys.stdout)

    def on_epoch_end(self, solver, logs):
        """Print the train and validation accuracy line."""
        e, n = int(logs["epoch"]), int(logs["num_epochs"])
        tr, va = logs["train_acc"], logs["val_acc"]
        print(
            f"(Epoch {e:d} / {n:d}) train acc: {tr:f}; val_acc: {va:f}",
            file=self.file or sys.stdout,
        )


class History(Callback):
    """Keeps every batch's and every check's logs in memory, e.g. for plots after training.

    Attributes:
        batches: one dict of plain floats/ints per step (the batch logs).
        epochs: one dict per accuracy check (the epoch logs).
    """

    def __init__(self):
        self.batches: list[dict] = []
        self.epochs: list[dict] = []

    def on_batch_end(self, solver, logs):
        """Append a copy of the batch logs to ``batches``."""
        self.batches.append(dict(logs))

    def on_epoch_end(self, solver, logs):
        """Append a copy of the epoch logs to ``epochs``."""
        self.epochs.append(dict(logs))


class MetricsLogger(Callback):
    """Writes batch or epoch logs to a JSON Lines (``.jsonl``) or CSV (``.csv``) file.

    A :class:`numnet.metrics_log.MetricsWriter`: every record is one complete line, appended and
    flushed at once, so a crash or Ctrl-C loses at most the line being written and the file never
    has to be rewritten (long runs stay O(lines)). ``append=True`` continues an existing file, as
    a resumed run wants (cut it back to the checkpoint first with
    :func:`numnet.metrics_log.truncate_rows`); a CSV header is written only when the file is
    empty. CSV columns are those of the existing header, else the first record's keys.

    Args:
        path: the file; its suffix picks the format.
        level: ``"epoch"`` (one line per accuracy check) or ``"batch"`` (one line per step).
        append: keep existing lines instead of truncating at ``on_train_begin``.
    """

    def __init__(self, path, level: str = "epoch", append: bool = False):
        if level not in ("epoch", "batch"):
            raise ValueError(f'level must be "epoch" or "batch", got {level!r}')
        self.writer = MetricsWriter(path)
        self.path = self.writer.path
        self.level = level
        self.append = append

    def on_train_begin(self, solver):
        """Open the file: truncate it, or keep its lines when ``append``."""
        self.writer.open(append=self.append)

    def on_batch_end(self, solver, logs):
        """Write the batch logs as one line when ``level == "batch"``."""
        if self.level == "batch":
            self.writer.write(logs)

    def on_epoch_end(self, solver, logs):
        """Write the epoch logs as one line when ``level == "epoch"``."""
        if self.level == "epoch":
            self.writer.write(logs)

    def on_train_end(self, solver):
        """Close the file."""
        self.close()

    def close(self):
        """Flush to disk and close the file (also done at ``on_train_end``)."""
        self.writer.close()


class EarlyStopping(Callback):
    """Stops training when a monitored value stops improving, then restores the best weights.

    Training stops when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    checks; the best weights go back into the model on every exit path.

    Checks are the Solver's accuracy checks (after the first step and at each epoch end). The
    best weights are those at the best value seen (strictly better than every earlier one, as the
    Solver's own ``best_params``); ``min_delta`` only decides what resets the patience counter.
    They are restored in ``on_train_end``, which the Solver calls after a normal end, an early stop,
    an exception and a ``KeyboardInterrupt`` alike (after the interrupt checkpoint is written, so
    that checkpoint still holds the last step's params and resumes exactly).

    Args:
        monitor: a key of the epoch logs (``"val_acc"``, ``"train_acc"``, ...).
        patience: checks without improvement before stopping (int >= 1).
        min_delta: the improvement (>= 0) that counts as one.
        mode: ``"max"``, ``"min"`` or ``"auto"`` (max for names containing "acc", else min).
        restore_best_weights: put the best params back at the end (default True).

    Attributes:
        best: best monitored value seen, or None before the first check.
        best_epoch: the epoch count at ``best``.
        stopped_epoch: the epoch at which training was stopped, or None.
    """

    def __init__(
        self,
        monitor: str = "val_acc",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = True,
    ):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be an integer >= 1, got {patience!r}")
        min_delta = float(min_delta)
        if not math.isfinite(min_delta) or min_delta < 0:
            raise ValueError(f"min_delta must be a finite number >= 0, got {min_delta!r}")
        if mode not in ("auto", "max", "min"):
            raise ValueError(f'mode must be "auto", "max" or "min", got {mode!r}')
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.mode = mode
        self.restore_best_weights = restore_best_weights
        self._reset()

    def _reset(self):
        self.best = None
        self.best_epoch = None
        self.best_params = None
        self.stopped_epoch = None
        self.wait = 0
        self._reference = None

    def _better(self, value, than, delta):
        if than is None:
            return True
        return value > than + delta if self.mode == "max" else value < than - delta

    def on_train_begin(self, solver):
        """Forget the previous run: best value, best weights and patience counter."""
        self._reset()
        # A resumed run: count again from the Solver's history what the checks so far counted.
        history = getattr(solver, f"{self.monitor}_history", None)
        if not solver.iteration or self.monitor not in ("val_acc", "train_acc") or not history:
            return
        first = 0 if solver.iterations_per_epoch > 1 else 1  # the epoch count at check 0
        for i, value in enumerate(history):
            self._observe(solver, float(value), first + i, params=None)
        if self.restore_best_weights and self.monitor == "val_acc" and solver.best_params:
            self.best_params = {k: v.copy() for k, v in solver.best_params.items()}

    def on_epoch_end(self, solver, logs):
        """Track the best value and weights; set ``solver.stop_training`` when patience runs out.

        Raises:
            ValueError: ``monitor`` is not a key of the epoch logs.
        """
        if self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping monitor {self.monitor!r} is not in the epoch logs; "
                f"available: {sorted(logs)}"
            )
        self._observe(solver, float(logs[self.monitor]), logs["epoch"], solver.model.params)

    def _observe(self, solver, value: float, epoch: int, params) -> None:
        """One check's value: the best so far, the patience count, and the stop."""
        if self._better(value, self.best, 0.0):
            self.best = value
            self.best_epoch = epoch
            if self.restore_best_weights and params is not None:
                self.best_params = {k: v.copy() for k, v in params.items()}
        if self._better(value, self._reference, self.min_delta):
            self._reference = value
            self.wait = 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                solver.stop_training = True

    def on_train_end(self, solver):
        """Put copies of the best params back into ``solver.model`` (if restoring is on)."""
        if self.restore_best_weights and self.best_params is not None:
            solver.model.params = {k: v.copy() for k, v in self.best_params.items()}
