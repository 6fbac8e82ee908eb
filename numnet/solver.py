"""The course's Solver: trains a classification model with minibatch updates, course-compatible.

``Solver(model, data, **kwargs)`` takes the course's keyword arguments with the course's defaults
and behaviour (see ``Solver``) plus a few numnet extras: ``seed``, ``shuffle``, ``lr_schedule``,
``grad_clip``, ``callbacks`` and ``interrupt_checkpoint``.

Example::

    data = {"X_train": ..., "y_train": ..., "X_val": ..., "y_val": ...}
    model = FullyConnectedNet([100, 100], input_dim=3 * 32 * 32, num_classes=10)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    lr_decay=0.95, num_epochs=10, batch_size=100, print_every=100)
    solver.train()

Departures from the course, on purpose:

- ``checkpoint_name`` writes numnet's checkpoint (one ``.npz`` of arrays plus JSON metadata,
  written atomically, loaded with ``allow_pickle=False``) to ``"%s_epoch_%d.npz"`` instead of a
  pickle to ``"%s_epoch_%d.pkl"``. It holds everything ``Solver.resume`` needs.
- ``verbose`` printing is done by a ``numnet.callbacks.PrintProgress`` callback (same lines).
- A nan/inf loss or gradient, or an update that would make a param nan/inf (a learning rate
  that overflows float32), raises ``NonFiniteLossError`` instead of training on garbage; that
  step is not applied, and a checkpoint of non-finite params is never written.
- When no check ever improved ``best_val_acc`` (``best_params`` stays empty), the model keeps its
  last params at the end instead of being given an empty dict.
- ``train()`` continues from ``solver.iteration`` (the steps already done), so a resumed solver
  finishes its run; a solver that has finished does nothing more unless ``num_epochs`` is raised.
"""

from __future__ import annotations

import math
import time

import numpy as np

from numnet import _random, _solver_settings, param_groups
from numnet._checks import check_train_val_data
from numnet._finite import finite_probe, first_nonfinite
from numnet._interrupts import deferred_sigint
from numnet._solver_persistence import SolverPersistence
from numnet._solver_settings import SETTINGS
from numnet._step_undo import StepUndo, nonfinite_error
from numnet.backend import host_floats, to_numpy
from numnet.callbacks import CallbackList, NonFiniteLossError, PrintProgress
from numnet.metrics import predict
from numnet.optim import DEFAULT_LEARNING_RATES, global_norm
from numnet.optim import clip_grads_by_global_norm as _clip

__all__ = ["SETTINGS", "NonFiniteLossError", "Solver"]


class Solver(SolverPersistence):
    """Trains a model with one of the update rules in ``numnet.optim``.

    The model must have ``params`` (dict name -> array, read on every ``loss`` call) and
    ``loss(X, y=None)``: scores ``(N, C)`` when ``y`` is None, else ``(loss, grads)`` with ``grads``
    keyed like ``params``. Optional: ``frozen`` (names not to update), ``rng``, ``get_config``,
    ``buffers``/``load_buffers`` (see ``numnet.checkpoint``).

    Args:
        model: the model to train.
        data: dict with ``X_train`` (N_train, ...), ``y_train`` (N_train,) integer labels,
            ``X_val`` (N_val, ...), ``y_val`` (N_val,); other keys are ignored.
        update_rule: name of a rule in ``numnet.optim`` (default ``"sgd"``) or a callable; an
            unknown name raises ``ValueError('Invalid update_rule "..."')``.
        optim_config: hyperparameters for the rule (each param gets its own shallow copy).
        lr_decay: every param's ``learning_rate`` is multiplied by this after each epoch.
        batch_size: minibatch size (default 100).
        num_epochs: epochs to train (default 10).
        num_train_samples: train accuracy is measured on this many samples (default 1000;
            None: all).
        num_val_samples: the same for validation (default None: all).
        checkpoint_name: if given, a checkpoint is saved to ``"%s_epoch_%d.npz"`` at every check.
        print_every: iterations between loss lines (default 10).
        verbose: print the course's progress lines (default True).
        seed: None (course: ``np.random.choice`` on NumPy's global state), an int or a Generator:
            batches and accuracy subsamples then come from ``np.random.default_rng(seed)`` and the
            global state is never touched.
        shuffle: False (course: minibatches drawn with replacement); True: each epoch is a
            random permutation cut into ``ceil(N_train / batch_size)`` batches, the last partial.
        lr_schedule: None, a ``numnet.schedules.Schedule`` or its config dict; each step sets
            ``learning_rate = base_lr * schedule(epoch, iteration)``. Not together with lr_decay.
        grad_clip: None or a max global L2 norm of the gradients (``clip_grads_by_global_norm``).
        callbacks: objects with hook methods (see ``numnet.callbacks``).
        interrupt_checkpoint: where Ctrl-C writes its checkpoint (default: with
            ``checkpoint_name``, ``"%s_interrupted.npz"``; else none is written).
        lr_mult: None or per-group learning-rate factors, ``"base=0.1,head=1"`` or a dict
            (grammar: ``numnet.param_groups``): each param's rate is the scheduled rate times its
            factor.
        unfreeze_epoch: None or E: at the first step of epoch E (0-based) the params of
            ``unfreeze`` leave ``model.frozen`` (head-first fine-tuning; see ``numnet.transfer``).
        unfreeze: selectors of the params to unfreeze then (default: every frozen param).

    Attributes (besides the arguments): ``epoch``, ``iteration`` (steps done), ``best_val_acc``,
    ``best_params``, ``loss_history``, ``train_acc_history``, ``val_acc_history``,
    ``optim_configs`` (one config dict per param), ``rng``, ``stop_training``, ``stop_reason``,
    ``last_grads`` (the last step's gradients as the model returned them, before clipping).

    Saving and continuing a run (``get_config``, ``state_dict``, ``load_state_dict``,
    ``from_state_dict``, ``save_checkpoint``, ``resume``) come from
    ``numnet._solver_persistence.SolverPersistence``.
    """

    def __init__(self, model, data, **kwargs):
        self.model = model
        num_classes = getattr(model, "num_classes", None)
        check_train_val_data(data, num_classes if isinstance(num_classes, int) else None)
        self.X_train = data["X_train"]
        self.y_train = data["y_train"]
        self.X_val = data["X_val"]
        self.y_val = data["y_val"]

        # Throw an error if there are extra keyword arguments; unpack the others.
        for name, value in _solver_settings.read(kwargs).items():
            setattr(self, name, value)
        self.rng = _random.as_generator(self.seed, "seed")
        self._reset()

    def _reset(self):
        """Set up some book-keeping variables for optimization. Don't call this manually."""
        self.epoch = 0
        self.best_val_acc = 0
        self.best_params = {}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        self.iteration = 0
        self.stop_training = False
        self.stop_reason = None
        self._epoch_order = None
        self._last_step_params = None
        self._consistent = True
        self.last_grads = None

        # Make a copy of the optim_config for each parameter
        self.optim_configs = {p: dict(self.optim_config) for p in self.model.params}
        # Each param's learning-rate factor (1 where lr_mult gives none), and what to unfreeze.
        self._lr_mults = param_groups.resolve_multipliers(self.model.params, self.lr_mult)
        if self.lr_mult is not None:
            for p, cfg in self.optim_configs.items():
                cfg["learning_rate"] = self.base_learning_rate * self._lr_mults[p]
        names = self.unfreeze
        self._unfreeze = (
            None if names is None else param_groups.select_all(self.model.params, names)
        )

    # ------------------------------------------------------------------ sizes
    @property
    def iterations_per_epoch(self) -> int:
        """Course: ``max(N_train // batch_size, 1)``; with ``shuffle``: ``ceil(N / batch_size)``."""
        n = self.X_train.shape[0]
        if self.shuffle:
            return -(-n // self.batch_size)
        return max(n // self.batch_size, 1)

    @property
    def num_iterations(self) -> int:
        """Steps of the whole run: ``num_epochs * iterations_per_epoch``."""
        return self.num_epochs * self.iterations_per_epoch

    @property
    def base_learning_rate(self) -> float:
        """The learning rate a schedule scales: ``optim_config``'s, else the rule's default."""
        lr = self.optim_config.get("learning_rate")
        return float(lr if lr is not None else DEFAULT_LEARNING_RATES[self.update_rule_name])

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step: the first trainable param's; nan if none has one.

        A param's ``lr_mult`` factor is divided out: this is the rate the schedule gives.
        """
        frozen = getattr(self.model, "frozen", ())
        for p, cfg in self.optim_configs.items():
            if p not in frozen and "learning_rate" in cfg:
                return float(cfg["learning_rate"]) / self._lr_mults.get(p, 1.0)
        return float("nan")

    # ------------------------------------------------------------------ steps
    def _batch_indices(self, t: int) -> np.ndarray:
        num_train = self.X_train.shape[0]
        if not self.shuffle:
            if self.rng is None:
                # Course fallback (no seed): NumPy's global state, with replacement.
                return np.random.choice(num_train, self.batch_size)  # noqa: NPY002
            return self.rng.integers(0, num_train, size=self.batch_size)
        ipe = self.iterations_per_epoch
        if t % ipe == 0 or self._epoch_order is None:
            rng = self.rng if self.rng is not None else np.random
            self._epoch_order = rng.permutation(num_train)
        i = t % ipe
        return self._epoch_order[i * self.batch_size : (i + 1) * self.batch_size]

    def _step(self, t: int = 0) -> float:
        """Make a single gradient update (called by ``train()``, not to be called manually).

        Returns:
            The global gradient norm, before clipping.
        """
        # Make a minibatch of training data
        batch_mask = self._batch_indices(t)
        X_batch = self.X_train[batch_mask]
        y_batch = self.y_train[batch_mask]

        # Compute loss and gradient (the forward pass also moves batchnorm's running statistics)
        undo = StepUndo(self)
        loss, grads = self.model.loss(X_batch, y_batch)
        self.last_grads = grads
        frozen = getattr(self.model, "frozen", ())
        trainable = {p: grads[p] for p in self.model.params if p not in frozen}
        if self.grad_clip is not None:
            trainable, norm = _clip(trainable, self.grad_clip)
        else:
            norm = global_norm(trainable)
        # Update first, then read the device once: the loss, the norm and a sum of the updated
        # params (finite iff every param is) in one transfer. A step that met a nan or inf is
        # taken back whole by undo(), so updating before the check changes no outcome.
        with np.errstate(all="ignore"):  # every non-finite outcome is checked right below
            for p, w in self.model.params.items():
                if p in frozen:
                    continue
                dw = trainable[p]
                config = self.optim_configs[p]
                next_w, next_config = self.update_rule(undo.writable(w), dw, config)
                self.model.params[p] = next_w
                self.optim_configs[p] = next_config
            params_sum = finite_probe([self.model.params[p] for p in trainable])
        loss, norm, params_sum = host_floats(loss, norm, params_sum)
        if not (math.isfinite(loss) and math.isfinite(norm)):
            undo()
            raise nonfinite_error(self, t, loss, norm, trainable)
        # A non-finite sum may still be an overflow of finite params: then look exactly.
        params = {p: self.model.params[p] for p in trainable}
        bad = None if math.isfinite(params_sum) else first_nonfinite(params)
        if bad is not None:  # never keep (or later save) a model that cannot predict
            undo()
            raise nonfinite_error(self, t, loss, norm, trainable, param=bad)
        self.loss_history.append(loss)
        return norm

    # --------------------------------------------------------------- checking
    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Check accuracy of the model on the provided data.

        ``numnet.metrics.predict`` reads the predictions off a GPU once per call.

        Args:
            X: array of data, shape (N, d_1, ..., d_k).
            y: array of labels, shape (N,).
            num_samples: if not None, subsample the data (with replacement, as the course) and
                only test the model on num_samples datapoints.
            batch_size: split X and y into batches of this size to avoid using too much memory.

        Returns:
            acc: the fraction of instances correctly classified by the model, as a float.
        """
        # Maybe subsample the data
        N = X.shape[0]
        if num_samples is not None and N > num_samples:
            if self.rng is None:
                mask = np.random.choice(N, num_samples)  # noqa: NPY002 (course fallback)
            else:
                mask = self.rng.integers(0, N, size=num_samples)
            X = X[mask]
            y = y[mask]

        y_pred = predict(self.model, X, batch_size)
        return float(np.mean(y_pred == to_numpy(y)))

    def _check(self, t: int, started: float) -> dict:
        train_acc = self.check_accuracy(
            self.X_train, self.y_train, num_samples=self.num_train_samples
        )
        val_acc = self.check_accuracy(self.X_val, self.y_val, num_samples=self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)

        # Keep track of the best model
        if val_acc > self.best_val_acc:
            self.best_val_acc = val_acc
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}

        self.iteration = t + 1  # the checkpoint below is a complete state after step t
        self._save_checkpoint()
        return {
            "epoch": self.epoch,
            "num_epochs": self.num_epochs,
            "iteration": t + 1,
            "train_acc": train_acc,
            "val_acc": val_acc,
            "best_val_acc": float(self.best_val_acc),
            "lr": self.learning_rate,
            "seconds": time.perf_counter() - started,
        }

    # ----------------------------------------------------------------- train
    def _iteration(self, t: int, started: float):
        """Step ``t`` and its bookkeeping; returns (batch logs, check logs or None)."""
        ipe, num_iterations = self.iterations_per_epoch, self.num_iterations
        step_epoch = self.epoch
        if self.lr_schedule is not None:
            lr = self.base_learning_rate * self.lr_schedule(self.epoch, t)
            for p, cfg in self.optim_configs.items():
                cfg["learning_rate"] = lr * self._lr_mults.get(p, 1.0)
        lr_used = self.learning_rate
        grad_norm = self._step(t)
        logs = {
            "epoch": step_epoch,
            "iteration": t + 1,
            "num_iterations": num_iterations,
            "loss": float(self.loss_history[-1]),
            "lr": lr_used,
            "grad_norm": grad_norm,
            "seconds": time.perf_counter() - started,
        }

        # At the end of every epoch, increment the epoch counter and decay the learning rate.
        epoch_end = (t + 1) % ipe == 0
        if epoch_end:
            self.epoch += 1
            if self.lr_schedule is None:
                for k in self.optim_configs:
                    if "learning_rate" in self.optim_configs[k]:  # absent for frozen params
                        self.optim_configs[k]["learning_rate"] *= self.lr_decay

        # Check train and val accuracy on the first iteration, the last iteration, and at the
        # end of each epoch.
        first_it = t == 0
        last_it = t == num_iterations - 1
        check_logs = self._check(t, started) if (first_it or last_it or epoch_end) else None
        self.iteration = t + 1
        return logs, check_logs

    def _unfreeze_at(self, t: int) -> None:
        """At step ``t`` = the first of ``unfreeze_epoch``, take ``unfreeze`` out of frozen."""
        if self.unfreeze_epoch is None or t != self.unfreeze_epoch * self.iterations_per_epoch:
            return
        frozen = self.model.frozen
        frozen.difference_update(set(frozen) if self._unfreeze is None else self._unfreeze)

    def train(self):
        """Run optimization to train the model, from ``self.iteration`` to ``num_iterations``.

        Ctrl-C: the first one is deferred until the current step, its bookkeeping and its
        callbacks are done; then a checkpoint of that state is written (see
        ``interrupt_checkpoint``) and ``KeyboardInterrupt`` is re-raised. A second Ctrl-C stops at
        once without a checkpoint. SIGTERM is handled the same way and raises
        ``numnet._interrupts.Terminated`` (a ``KeyboardInterrupt``). A ``KeyboardInterrupt``
        raised by a callback also writes the checkpoint (hooks run between steps); one raised
        from inside a step (only code can do that: signals are deferred) writes none, since that
        state may be half updated.
        """
        cbs = CallbackList(
            ([PrintProgress(self.print_every)] if self.verbose else []) + self.callbacks
        )
        self.stop_training = False
        self.stop_reason = None
        self._last_step_params = None
        self._consistent = True
        started = time.perf_counter()
        ipe = self.iterations_per_epoch
        try:
            cbs.on_train_begin(self)
            with deferred_sigint() as sigint:
                for t in range(self.iteration, self.num_iterations):
                    if self.stop_training:  # also when on_train_begin found nothing left to do
                        break
                    if t % ipe == 0:
                        self._unfreeze_at(t)
                        cbs.on_epoch_begin(self)
                    cbs.on_batch_begin(self)
                    self._consistent = False
                    logs, check_logs = self._iteration(t, started)
                    self._consistent = True
                    cbs.on_batch_end(self, logs)
                    if check_logs is not None:
                        cbs.on_epoch_end(self, check_logs)
                    if sigint.pending:
                        raise sigint.interrupt()
            self._last_step_params = self.model.params
            self.stop_reason = "early_stop" if self.stop_training else "completed"
            # At the end of training swap the best params into the model
            if self.best_params:
                self.model.params = {k: v.copy() for k, v in self.best_params.items()}
        except KeyboardInterrupt:
            self._last_step_params = self.model.params
            self.stop_reason = "interrupted"
            path = self._interrupt_path()
            if self._consistent and path is not None:
                self.save_checkpoint(path)
            raise
        except BaseException:
            self.stop_reason = "error"
            raise
        finally:
            cbs.on_train_end(self)
