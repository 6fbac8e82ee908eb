"""Private helpers of the Solver: data checks, Ctrl-C deferral, kwarg validation, messages."""

from __future__ import annotations

import contextlib
import math
import numbers
import signal
import threading

import numpy as np

from numnet._checks import check_keys
from numnet.callbacks import NonFiniteLossError
from numnet.optim import UPDATE_RULES

DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")


def check_data(data) -> None:
    """Raise ValueError unless ``data`` holds X/y train and val with matching lengths and int y."""
    check_keys("data", data, DATA_KEYS)
    for split in ("train", "val"):
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        for name, a in ((f"X_{split}", X), (f"y_{split}", y)):
            if not hasattr(a, "shape") or not hasattr(a, "dtype") or len(a.shape) == 0:
                got = type(a).__name__ if not hasattr(a, "shape") else f"shape {a.shape}"
                raise ValueError(f"data[{name!r}] must be an array with a batch axis, got {got}")
        if X.shape[0] != y.shape[0]:
            raise ValueError(
                f"data['X_{split}'] and data['y_{split}'] must have the same length, "
                f"got {X.shape[0]} and {y.shape[0]}"
            )
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(
                f"data['y_{split}'] must be a 1-D array of integer labels, "
                f"got shape {y.shape} dtype {y.dtype}"
            )
    if data["X_train"].shape[0] == 0:
        raise ValueError("data['X_train'] must hold at least one sample, got 0")


def positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def optional_positive_int(name: str, value):
    return None if value is None else positive_int(name, value)


def positive_float(name: str, value, allow_none: bool = False):
    if value is None and allow_none:
        return None
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real)
    if not ok or not math.isfinite(float(value)) or float(value) <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def make_rng(seed) -> np.random.Generator | None:
    """``None`` (course: global NumPy state), or the Generator for an int seed or a Generator."""
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be None, an integer >= 0 or a Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


class _SigintState:
    pending = False


@contextlib.contextmanager
def deferred_sigint():
    """Turn the first Ctrl-C into a flag (``state.pending``) so the current step can finish.

    Installed only in the main thread and only over Python's default handler (a handler someone
    else set is left alone). A second Ctrl-C raises ``KeyboardInterrupt`` at once. The old handler
    is restored on exit; a Ctrl-C that arrived after the last check is raised on a clean exit.
    """
    state = _SigintState()
    install = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if not install:
        yield state
        return

    def handler(signum, frame):
        if state.pending:
            raise KeyboardInterrupt
        state.pending = True

    signal.signal(signal.SIGINT, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if state.pending:
        raise KeyboardInterrupt


def first_nonfinite(arrays: dict) -> str | None:
    """Name of the first array holding a nan or inf, or None."""
    for k, a in arrays.items():
        if not bool(np.all(np.isfinite(a))):
            return k
    return None


def check_settings(s) -> None:
    """Validate a Solver's keyword arguments (after the update rule was resolved)."""
    positive_int("batch_size", s.batch_size)
    positive_int("num_epochs", s.num_epochs)
    positive_int("print_every", s.print_every)
    optional_positive_int("num_train_samples", s.num_train_samples)
    optional_positive_int("num_val_samples", s.num_val_samples)
    positive_float("lr_decay", s.lr_decay)
    positive_float("grad_clip", s.grad_clip, allow_none=True)
    if not isinstance(s.optim_config, dict):
        raise ValueError(f"optim_config must be a dict, got {type(s.optim_config).__name__}")
    if s.lr_schedule is not None:
        if s.lr_decay != 1.0:
            raise ValueError(
                f"pass lr_decay or lr_schedule, not both (got lr_decay={s.lr_decay}); "
                "numnet.schedules.ExponentialDecay is lr_decay as a schedule"
            )
        known = UPDATE_RULES.get(s.update_rule_name) is s.update_rule
        if "learning_rate" not in s.optim_config and not known:
            raise ValueError(
                "lr_schedule with a custom update rule needs optim_config['learning_rate']"
            )


def nonfinite_error(s, t: int, loss, grads) -> NonFiniteLossError:
    """The error for a nan/inf loss or gradient at step ``t`` (0-based) of Solver ``s``."""
    what = f"loss {float(loss)}"
    if math.isfinite(float(loss)):
        what = f"gradient of {first_nonfinite(grads)!r}"
    last = f"{float(s.loss_history[-1]):g}" if s.loss_history else "none yet"
    return NonFiniteLossError(
        f"non-finite {what} at epoch {s.epoch}, iteration {t + 1} "
        f"(last finite loss {last}, learning rate {s._lr():g}); nothing was updated"
    )
