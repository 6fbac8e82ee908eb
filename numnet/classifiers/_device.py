"""Where a model's arrays live: ``Model.to(device)``, ``Model.xp``, batches moved to the model.

A model computes where its params are. ``to`` moves the params and the running statistics;
``loss`` then moves each batch it is given (``check_X`` / ``check_images`` with ``xp=self.xp``,
labels through ``_labels``), so a data set can stay on the host and travel a batch at a time.
"""

from __future__ import annotations

from numnet._checks import check_labels
from numnet.backend import device_module, get_array_module, to_device


class OnDevice:
    """The device half of ``numnet.classifiers.base.Model`` (needs ``params``, ``bn_params``)."""

    @property
    def xp(self):
        """The array module the params live in (``numpy``, or ``cupy`` on a GPU)."""
        return get_array_module(*self.params.values())

    def to(self, device):
        """Move the params and running statistics to ``device``; return the model itself.

        ``loss`` and ``predict`` then move each batch they are given to the same device, so the
        data set can stay on the host. Checkpoints always hold host copies, so a model trained
        on one device loads on the other.

        Args:
            device: ``"cpu"``, ``"cuda"`` or an array module (``numpy``, ``cupy``).

        Raises:
            ValueError: an unknown device name.
            RuntimeError: ``"cuda"`` without CuPy or without a usable GPU (one line).
        """
        xp = device_module(device)
        self.params = {k: to_device(v, xp) for k, v in self.params.items()}
        for bp in self.bn_params:
            for key in ("running_mean", "running_var"):
                if key in bp:
                    bp[key] = to_device(bp[key], xp)
        return self

    def _labels(self, y, N: int):
        """``y`` checked as N labels in ``[0, num_classes)`` and moved to the params' device.

        The check runs before the move: on the host it costs no wait for the device.
        """
        check_labels("y", y, N, self.num_classes)
        return to_device(y, self.xp)
