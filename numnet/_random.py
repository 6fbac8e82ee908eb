"""Randomness arguments: the one normaliser of seeds, and random states as plain data.

A randomness argument is ``None``, an int seed >= 0 or a ``np.random.Generator`` (used as it is,
so its draws continue where they were). What ``None`` means is the caller's choice, always a
fallback to NumPy's global state (the course's behaviour where the caller gave no seed):

- ``none="keep"`` (default): ``None`` stays ``None``. The caller then draws from the global state
  with the course's own calls (``np.random.randn``, ``np.random.choice``), so code that ran
  ``np.random.seed(0)`` gets the course's numbers bit for bit (model init, the Solver's batches).
- ``none="draw_seed"``: a new Generator seeded by one draw from the global state; reproducible
  under ``np.random.seed``, though not the course's numbers (minibatch iterators, the directional
  gradient check).
"""

from __future__ import annotations

import numbers

import numpy as np

NONE_MODES = ("keep", "draw_seed")


def as_generator(seed, name: str = "rng", *, none: str = "keep") -> np.random.Generator | None:
    """The Generator a randomness argument stands for.

    Args:
        seed: ``None``, an int >= 0 (a new ``np.random.default_rng(seed)``) or a Generator
            (returned as it is, not copied).
        name: the argument's name, for the error message.
        none: what ``None`` gives: ``"keep"`` -> ``None``; ``"draw_seed"`` -> a Generator
            seeded from NumPy's global state (see the module docstring).

    Returns:
        A Generator, or ``None`` for ``seed=None`` with ``none="keep"``.

    Raises:
        ValueError: ``seed`` is a bool, a negative or non-integer number, or another type.
    """
    if none not in NONE_MODES:
        raise ValueError(f"none must be one of {NONE_MODES}, got {none!r}")
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        if none == "keep":
            return None
        # The course fallback: the global state decides, so np.random.seed reproduces it.
        return np.random.default_rng(int(np.random.randint(0, 2**31 - 1)))  # noqa: NPY002
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise ValueError(
        f"{name} must be None, a non-negative int seed or a np.random.Generator, got {seed!r}"
    )


def generator_state(g: np.random.Generator | None) -> dict | None:
    """A copy of ``g.bit_generator.state`` (a dict of ints and arrays), or None without ``g``."""
    if g is None:
        return None
    return _copy(g.bit_generator.state)


def check_generator_state(state, g: np.random.Generator) -> None:
    """Raise ValueError unless ``state`` can be set on ``g``'s bit generator (``g`` untouched)."""
    want = type(g.bit_generator).__name__
    found = state.get("bit_generator") if isinstance(state, dict) else type(state).__name__
    if found != want:
        raise ValueError(f"expected a {want} bit generator state, found {found!r}")
    _try_set(lambda: setattr(type(g.bit_generator)(), "state", state), want)


def blank_generator(name) -> np.random.Generator:
    """A Generator on a new ``np.random.<name>`` bit generator (its state is set afterwards)."""
    bit_generator = getattr(np.random, str(name), None)
    if not (isinstance(bit_generator, type) and issubclass(bit_generator, np.random.BitGenerator)):
        raise ValueError(f"unknown bit generator {name!r}")
    return np.random.Generator(bit_generator())


def global_state() -> dict:
    """A copy of NumPy's global random state (``np.random.get_state(legacy=False)``)."""
    return _copy(np.random.get_state(legacy=False))  # noqa: NPY002 (reading leaves it as it is)


def check_global_state(state) -> None:
    """Raise ValueError unless ``state`` is a global state ``set_global_state`` accepts."""
    if not isinstance(state, dict) or state.get("bit_generator") != "MT19937":
        raise ValueError(f"expected an MT19937 state dict, found {type(state).__name__}")
    _try_set(lambda: np.random.RandomState().set_state(state), "MT19937")


def set_global_state(state: dict) -> None:
    """Set NumPy's global random state (the course fallback draws from it)."""
    np.random.set_state(state)  # noqa: NPY002


def _try_set(set_on_a_throwaway, what: str) -> None:
    # Setting the state on a fresh generator is the only complete check of its contents.
    try:
        set_on_a_throwaway()
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as e:
        raise ValueError(f"not a valid {what} state: {type(e).__name__}: {e}") from None


def _copy(obj):
    if isinstance(obj, dict):
        return {k: _copy(v) for k, v in obj.items()}
    return obj.copy() if isinstance(obj, np.ndarray) else obj
