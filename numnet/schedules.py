"""Learning-rate schedules: small objects mapping ``(epoch, iteration)`` to a learning-rate factor.

A schedule is called as ``schedule(epoch, iteration) -> factor`` where ``epoch`` is the 0-based
epoch the step belongs to and ``iteration`` the 0-based global step number. The Solver sets every
parameter's ``learning_rate`` to ``base_lr * factor`` before each step, where ``base_lr`` is the
``optim_config`` learning rate (or the update rule's default). Factors, not absolute rates, so one
schedule serves per-parameter learning rates and the rate itself stays in ``optim_config``.

The course's ``lr_decay`` (multiply each ``learning_rate`` by ``lr_decay`` at every epoch end)
is the Solver's ``lr_decay`` keyword; ``ExponentialDecay`` is the same rule as a schedule.

Every schedule has ``get_config()`` (JSON-able, stored in checkpoints) and ``from_config`` /
``schedule_from_config`` rebuild it. Names: ``"constant"``, ``"exponential"``, ``"step"``,
``"cosine"``, ``"warmup"`` (linear warm-up wrapped around any other schedule), ``"two_phase"``
(two schedules in turn, for head-first fine-tuning).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

__all__ = [
    "SCHEDULES",
    "Constant",
    "CosineDecay",
    "ExponentialDecay",
    "LinearWarmup",
    "Schedule",
    "StepDecay",
    "TwoPhase",
    "get_schedule",
    "schedule_from_config",
]


def _number(name: str, value, lo: float, hi: float = math.inf, lo_open=False) -> float:
    """``value`` as a float in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    bad = not math.isfinite(v) or v > hi or (v <= lo if lo_open else v < lo)
    if bad:
        left = "(" if lo_open else "["
        raise ValueError(f"{name} must be in {left}{lo}, {hi}], got {value!r}")
    return v


def _count(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class Schedule:
    """Base class: subclasses set ``name`` and implement ``__call__`` and ``get_config``."""

    name = ""

    def __call__(self, epoch: int, iteration: int) -> float:
        """The learning-rate factor for a step.

        Args:
            epoch: the 0-based epoch the step belongs to.
            iteration: the 0-based global step number.

        Returns:
            The factor the base learning rate is multiplied by.
        """
        raise NotImplementedError

    def get_config(self) -> dict:
        """The schedule as a JSON-able dict: ``name`` plus the constructor's arguments."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: Mapping) -> Schedule:
        """Build this class from ``get_config()`` output (the ``name`` key is ignored).

        Raises:
            ValueError: an unknown or missing keyword, or a bad value.
        """
        kwargs = {k: v for k, v in config.items() if k != "name"}
        try:
            return cls(**kwargs)
        except TypeError as e:  # unknown or missing keyword: report it as a config error
            raise ValueError(f"bad {cls.name!r} schedule config {dict(config)!r}: {e}") from None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Schedule) and self.get_config() == other.get_config()

    __hash__ = None


class Constant(Schedule):
    """Factor 1 throughout (the course's behaviour with ``lr_decay=1``)."""

    name = "constant"

    def __call__(self, epoch, iteration):
        """Return 1.0 for every step."""
        return 1.0

    def get_config(self):
        """Return ``{"name": "constant"}``."""
        return {"name": self.name}


class ExponentialDecay(Schedule):
    """``gamma ** epoch``: the course's ``lr_decay`` as a schedule.

    Args:
        gamma: factor per epoch, in (0, 1] for a decay (values above 1 are allowed, up to 10).
    """

    name = "exponential"

    def __init__(self, gamma: float):
        self.gamma = _number("gamma", gamma, 0.0, 10.0, lo_open=True)

    def __call__(self, epoch, iteration):
        """Return ``gamma ** epoch``."""
        return self.gamma**epoch

    def get_config(self):
        """Return ``{"name": "exponential", "gamma": ...}``."""
        return {"name": self.name, "gamma": self.gamma}


class StepDecay(Schedule):
    """``gamma ** (epoch // step_size)``: drop by ``gamma`` every ``step_size`` epochs.

    Args:
        step_size: epochs between drops (int >= 1).
        gamma: factor at each drop, in (0, 1] (default 0.1).
    """

    name = "step"

    def __init__(self, step_size: int, gamma: float = 0.1):
        self.step_size = _count("step_size", step_size)
        self.gamma = _number("gamma", gamma, 0.0, 1.0, lo_open=True)

    def __call__(self, epoch, iteration):
        """Return ``gamma ** (epoch // step_size)``."""
        return self.gamma ** (epoch // self.step_size)

    def get_config(self):
        """Return ``{"name": "step", "step_size": ..., "gamma": ...}``."""
        return {"name": self.name, "step_size": self.step_size, "gamma": self.gamma}


class CosineDecay(Schedule):
    """Half a cosine from 1 down to ``min_factor`` over ``total_iterations`` steps, then flat.

    ``min_factor + (1 - min_factor) * 0.5 * (1 + cos(pi * min(iteration, T) / T))``.

    Args:
        total_iterations: T, the number of steps of the decay (e.g. num_epochs *
            iterations_per_epoch).
        min_factor: the floor, in [0, 1] (default 0).
    """

    name = "cosine"

    def __init__(self, total_iterations: int, min_factor: float = 0.0):
        self.total_iterations = _count("total_iterations", total_iterations)
        self.min_factor = _number("min_factor", min_factor, 0.0, 1.0)

    def __call__(self, epoch, iteration):
        """Return the cosine factor at ``iteration`` (``min_factor`` from step T on)."""
        progress = min(iteration, self.total_iterations) / self.total_iterations
        cos = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.min_factor + (1.0 - self.min_factor) * cos

    def get_config(self):
        """Return ``{"name": "cosine", "total_iterations": ..., "min_factor": ...}``."""
        return {
            "name": self.name,
            "total_iterations": self.total_iterations,
            "min_factor": self.min_factor,
        }


class LinearWarmup(Schedule):
    """Linear warm-up over the first ``warmup_iterations`` steps, times another schedule.

    The factor is ``after(epoch, iteration) * min(1, (iteration + 1) / warmup_iterations)``: the
    first step already moves (factor ``1 / warmup_iterations``, as nanoGPT) and the wrapped
    schedule runs on the global iteration count, so a cosine still ends where it would alone.

    Args:
        warmup_iterations: steps of the ramp (int >= 1).
        after: the schedule to multiply (a Schedule, its config dict, or None for constant).
    """

    name = "warmup"

    def __init__(self, warmup_iterations: int, after=None):
        self.warmup_iterations = _count("warmup_iterations", warmup_iterations)
        self.after = get_schedule(after) or Constant()
        if isinstance(self.after, LinearWarmup):
            raise ValueError("a warmup schedule cannot wrap another warmup schedule")

    def __call__(self, epoch, iteration):
        """Return the ramp factor times the wrapped schedule's factor."""
        ramp = min(1.0, (iteration + 1) / self.warmup_iterations)
        return ramp * self.after(epoch, iteration)

    def get_config(self):
        """Return ``{"name": "warmup", "warmup_iterations": ..., "after": <its config>}``."""
        return {
            "name": self.name,
            "warmup_iterations": self.warmup_iterations,
            "after": self.after.get_config(),
        }


class TwoPhase(Schedule):
    """Two schedules in turn: head-first fine-tuning's two phases, each run from its own start.

    Epochs ``[0, switch_epoch)`` follow ``first``; from ``switch_epoch`` on the factor is
    ``second_factor * second(epoch - switch_epoch, iteration - switch_epoch * ipe)``, so the
    second phase runs its schedule afresh (a cosine over the remaining steps, a warm-up again) at
    a lower rate. The Solver's ``unfreeze_epoch`` is the other half of the recipe.

    Args:
        switch_epoch: E >= 1, the first epoch of the second phase.
        iterations_per_epoch: the Solver's steps per epoch (to restart ``iteration``).
        first, second: Schedules, their config dicts, or None (constant).
        second_factor: the second phase's rate relative to the first's, in (0, 1] (default 0.1).
    """

    name = "two_phase"

    def __init__(
        self,
        switch_epoch: int,
        iterations_per_epoch: int,
        first=None,
        second=None,
        second_factor: float = 0.1,
    ):
        self.switch_epoch = _count("switch_epoch", switch_epoch)
        self.iterations_per_epoch = _count("iterations_per_epoch", iterations_per_epoch)
        self.first = get_schedule(first) or Constant()
        self.second = get_schedule(second) or Constant()
        self.second_factor = _number("second_factor", second_factor, 0.0, 1.0, lo_open=True)

    def __call__(self, epoch, iteration):
        """Return ``first``'s factor in the first phase, else the scaled, restarted ``second``'s."""
        if epoch < self.switch_epoch:
            return self.first(epoch, iteration)
        start = self.switch_epoch * self.iterations_per_epoch
        return self.second_factor * self.second(epoch - self.switch_epoch, iteration - start)

    def get_config(self):
        """Return the name, the switch, and both schedules' configs."""
        return {
            "name": self.name,
            "switch_epoch": self.switch_epoch,
            "iterations_per_epoch": self.iterations_per_epoch,
            "first": self.first.get_config(),
            "second": self.second.get_config(),
            "second_factor": self.second_factor,
        }


#: Schedule classes by config name.
SCHEDULES = {
    cls.name: cls
    for cls in (Constant, ExponentialDecay, StepDecay, CosineDecay, LinearWarmup, TwoPhase)
}


def schedule_from_config(config: Mapping) -> Schedule:
    """Rebuild a schedule from ``get_config()`` output, e.g. ``{"name": "step", "step_size": 5}``.

    Raises:
        ValueError: not a dict, no or unknown ``name``, or a bad value.
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"schedule config must be a dict, got {type(config).__name__}")
    name = config.get("name")
    if name not in SCHEDULES:
        raise ValueError(
            f"schedule name must be one of {', '.join(repr(n) for n in SCHEDULES)}; got {name!r}"
        )
    return SCHEDULES[name].from_config(config)


def get_schedule(spec) -> Schedule | None:
    """Normalise ``spec``: None, a Schedule, a config dict or a bare name such as ``"constant"``.

    A plain callable ``f(epoch, iteration) -> factor`` is not accepted: it could not be stored in
    a checkpoint, so a resumed run could not continue with it.
    """
    if spec is None or isinstance(spec, Schedule):
        return spec
    if isinstance(spec, str):
        return schedule_from_config({"name": spec})
    if isinstance(spec, Mapping):
        return schedule_from_config(spec)
    raise ValueError(
        f"lr_schedule must be None, a numnet.schedules.Schedule or a config dict, "
        f"got {type(spec).__name__}"
    )
