"""Saving and continuing a Solver: its state dict, its checkpoints and rebuilding it from either.

``Solver`` gets these methods from ``SolverPersistence``, so a reader looking for how a run is
saved, resumed or rebuilt finds them here, and ``numnet/solver.py`` keeps the training itself.
The state dict's layout and checks are in ``numnet._solver_state``; the checkpoint file format is in
``numnet.checkpoint``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from numnet import _solver_settings, _solver_state
from numnet import checkpoint as _ckpt
from numnet._state import StateDictError, check_finite

if TYPE_CHECKING:
    from numnet.solver import Solver


class SolverPersistence:
    """The Solver's save-and-continue methods: ``state_dict`` and its inverses, checkpoints.

    A base class of ``numnet.solver.Solver`` only; it uses the Solver's settings
    (``checkpoint_name``, ``interrupt_checkpoint``, ...), its progress attributes, and the two
    values only the Solver holds: ``_last_step_params`` (the params after the last step, set when
    ``train()`` returns) and ``_epoch_order`` (the current epoch's permutation).
    """

    def get_config(self) -> dict:
        """The settings as plain data: ``Solver(model, data, **solver.get_config())`` rebuilds it.

        All of ``SETTINGS`` but ``callbacks``, with ``update_rule`` by name, ``lr_schedule`` as
        its config, paths as strings and a Generator ``seed`` as ``"generator"``.
        """
        return _solver_settings.config(self)

    def state_dict(self) -> dict:
        """Everything this run needs to continue exactly, as plain data (NumPy copies).

        During training this is the live state; after ``train()`` returned it is the state
        after the last step (what a resumed run continues from), although ``model.params`` then
        holds the best params. Layout: ``numnet._solver_state``.
        """
        last = self._last_step_params if self._last_step_params is not None else self.model.params
        return _solver_state.state_dict(self, last, self._epoch_order)

    def load_state_dict(self, state: Mapping) -> None:
        """Continue from ``state`` (a ``state_dict()``); all or nothing.

        Loads the progress (epoch, iteration, best, histories), the optimizer configs, the epoch
        order, and into the model its params, buffers and Generator state. This Solver keeps its
        own settings (``from_state_dict`` builds one with the stored ones); other settings make a
        valid but different run. The Solver's Generator is set only when its ``seed`` setting is
        the stored one; NumPy's global state where the run draws from it.

        Raises:
            numnet._state.StateDictError: (a ValueError) an entry is missing, of the wrong kind or
                does not fit the model (names, shapes, dtypes); its ``key`` names the entry.
                Everything is checked first: nothing has changed then.
        """
        self._epoch_order = _solver_state.load_state_dict(self, state)
        self._last_step_params = None  # the loaded params are the last step's: nothing to keep

    @classmethod
    def from_state_dict(cls, state: Mapping, data, model=None, **overrides) -> Solver:
        """A Solver built with ``state``'s settings (``overrides`` on top), then loaded with it.

        Args:
            state: a ``state_dict()``.
            data: the same data dict the run used (a state dict does not hold the data).
            model: the model to load into; None builds it from the stored config
                (``numnet.classifiers.build_model``).
            **overrides: Solver kwargs replacing stored settings, e.g. ``num_epochs`` to train
                longer, ``callbacks``, ``verbose``. A custom update rule must be passed again.
                Another batch_size, seed or shuffle gives a valid but different run.

        Raises:
            numnet._state.StateDictError: see ``load_state_dict``; also a custom update rule not
                passed again, or a model that cannot be built from the stored config.
        """
        model, kwargs = _solver_state.rebuild(state, model, overrides)
        solver = cls(model, data, **kwargs)
        solver.load_state_dict(state)
        return solver

    # ------------------------------------------------------------ checkpoints
    def _save_checkpoint(self):
        if self.checkpoint_name is None:
            return
        self.save_checkpoint(f"{self.checkpoint_name}_epoch_{self.epoch:d}.npz")

    def save_checkpoint(self, path) -> None:
        """Write ``state_dict()`` to ``path`` atomically (see ``numnet.checkpoint``).

        Raises:
            ValueError: a param or best param is not finite; nothing is written (a file of a
                broken model would only be evaluated or resumed by mistake).
        """
        state = self.state_dict()
        try:
            check_finite("model/params", state["model"]["params"])
            check_finite("best_params", state["best_params"])
        except StateDictError as e:
            raise ValueError(f"not writing {path}: {e.key!r} {e.reason}") from None
        _ckpt.write_state(path, state)

    @classmethod
    def resume(cls, path, model=None, data=None, **overrides) -> Solver:
        """A Solver in the exact state saved at ``path``; ``train()`` continues the run.

        Args:
            path: a checkpoint written by ``save_checkpoint``, ``checkpoint_name`` or Ctrl-C.
            model: the model to load into; None builds it from the stored config
                (``numnet.classifiers.build_model``).
            data: the same data dict the run used (it is not stored in the checkpoint).
            **overrides: as ``from_state_dict``.

        Raises:
            numnet.checkpoint.CheckpointError: unreadable file, or keys/shapes/dtypes not matching
                the model; nothing is loaded into the model then.
        """
        return _ckpt.resume_solver(cls, path, model=model, data=data, **overrides)

    def _interrupt_path(self):
        if self.interrupt_checkpoint is not None:
            return self.interrupt_checkpoint
        if self.checkpoint_name is not None:
            return f"{self.checkpoint_name}_interrupted.npz"
        return None
