"""One ``numnet search`` trial is one ``numnet train`` run without its run directory.

The same model, data split, update rule, schedule and seed, built from the trial's options.

:class:`TrialBuilder` is the ``build(params) -> (model, data, solver_kwargs)`` of
:mod:`numnet.search`. It loads the data set once per process and keeps each split it made.
"""

from __future__ import annotations

from collections.abc import Mapping

from numnet.cli import dataload, models
from numnet.cli.search_space import trial_options
from numnet.cli.setup import array_module, on_device, solver_kwargs


class TrialBuilder:
    """Builds each trial from the fixed options plus the sampled ones.

    Args:
        fixed: every train option the trials share (see ``search_space.fixed_options``).
    """

    def __init__(self, fixed: Mapping):
        self.fixed = dict(fixed)
        array_module(self.fixed.get("device", "cpu"))  # a missing GPU is no trial's fault
        self._dataset = None
        self._splits: dict = {}

    def dataset(self):
        """The data set (loaded on first use; a missing one is a one-line CLIError)."""
        if self._dataset is None:
            f = self.fixed
            self._dataset = dataload.load(f["data"], f["data_dir"], f["download"])
        return self._dataset

    def options(self, params: Mapping) -> dict:
        """A trial's complete train options."""
        return trial_options(self.fixed, params)

    def model(self, cfg: Mapping):
        """The model ``numnet train`` builds for ``cfg``."""
        from numnet.data import get_spec

        spec = get_spec(cfg["data"])
        model = models.build(models.model_kwargs(cfg, spec.image_shape, spec.num_classes))
        return on_device(model, cfg["device"])

    def data(self, cfg: Mapping):
        """The split ``numnet train`` makes for ``cfg`` (kept per split setting).

        Augmented as it augments (a fresh view each call: augmentation keeps per-run state).
        """
        key = (cfg["seed"], cfg["num_val"], cfg["num_train"], cfg["num_test"])
        if key not in self._splits:
            self._splits[key] = dataload.split(self.dataset(), cfg)
        data = dict(self._splits[key])
        if cfg["augment"]:
            data["X_train"] = dataload.augmented(data["X_train"], cfg["seed"])
        return data

    def check(self, cfg: Mapping) -> None:
        """Check everything about ``cfg`` that can fail before training (model, schedule).

        Raises a one-line UsageError; builds the model once.
        """
        from numnet.cli.setup import lr_schedule

        self.model(cfg)
        lr_schedule(cfg, 1)

    def __call__(self, params: Mapping):
        """``(model, data, solver_kwargs)`` of the trial with ``params``."""
        cfg = self.options(params)
        model = self.model(cfg)
        data = self.data(cfg)
        kwargs = solver_kwargs(cfg, data)
        from numnet.data import AugmentedImages

        if isinstance(data["X_train"], AugmentedImages):
            kwargs["callbacks"] = [data["X_train"]]
        return model, data, kwargs
