"""What every numnet model shares: the model contract the Solver and checkpoints rely on.

A model holds ``params`` (name -> array, read on every ``loss`` call), ``reg``, ``dtype``, ``rng``
(its own ``np.random.Generator`` or ``None`` for the course's global-NumPy behaviour) and ``frozen``
(names the Solver must not update). ``get_config()`` returns the JSON-able constructor arguments
plus ``"name"``; ``numnet.classifiers.build_model`` is its inverse. ``buffers()`` / ``load_buffers``
carry the non-parameter state (batchnorm running statistics) that a checkpoint must also hold.

Per-layer activations (what ``numnet.babysit.monitor`` watches): set ``keep_activations = True``
and the next training forward (``loss(X, y)``) keeps its layer caches; ``activations()`` then names
each hidden layer's output, ``{"layer<i>": (nonlinearity, array)}`` with ``i`` the layer of
``W<i>``, and ``release_activations()`` lets the caches go. Nothing is kept while the flag is off
(the default), so the normal training step pays one attribute test. A model written outside numnet
takes part by offering the same two methods.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
import warnings
from collections.abc import Iterator, Mapping

import numpy as np

from numnet import param_groups
from numnet._checks import check_positive_int
from numnet._random import as_generator
from numnet.backend import to_device, to_numpy
from numnet.classifiers._device import OnDevice
from numnet.metrics import predict


class Model(OnDevice):
    """Base class: subclasses set ``params``, ``bn_params`` and ``_config`` in ``__init__``.

    Attributes:
        params: dict name -> array (``W1``, ``b1``, ``gamma1``, ...).
        reg: L2 strength; the loss adds ``0.5 * reg * sum(W**2)`` over the weights only.
        dtype: numpy dtype of the params and of the computation.
        rng: the model's Generator (init and dropout masks) or ``None``.
        frozen: set of param names the Solver leaves unchanged (fine-tuning).
        bn_params: one dict per normalisation layer (``mode``, running statistics), or ``[]``.
    """

    #: The norm layers' numbers, parallel to ``bn_params``: ``bn_params[i]`` belongs to layer
    #: ``_bn_layers[i]`` (its ``gamma{n}``), so buffers are keyed ``"bn{n}.running_mean"``.
    _bn_layers: tuple[int, ...] = ()

    #: ``(old, new)`` renamed constructor arguments: ``build_model`` passes an old config key (a
    #: checkpoint written before the rename) under its new name, without a deprecation warning.
    renamed_config_keys: tuple[tuple[str, str], ...] = ()

    #: Keep the next training forward's caches for :meth:`activations` (see the module docstring).
    keep_activations: bool = False
    _kept_forward = None

    def __init__(self, reg: float, dtype, rng: np.random.Generator | None):
        reg = float(reg)
        if not np.isfinite(reg) or reg < 0:
            raise ValueError(f"reg must be a finite number >= 0, got {reg!r}")
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
        self.reg = reg
        self.dtype = dtype
        self.rng = rng
        self.params: dict[str, np.ndarray] = {}
        self.bn_params: list[dict] = []
        self.frozen: set[str] = set()
        self._config: dict = {}

    # ----------------------------------------------------------------------- config
    def get_config(self) -> dict:
        """JSON-able ``{"name": <class name>, **constructor kwargs}``; see ``build_model``."""
        return {"name": type(self).__name__, **self._config}

    # ---------------------------------------------------------------------- buffers
    def _buffer_slots(self) -> dict[str, tuple[dict, str, tuple]]:
        """``"bn{n}.running_mean"`` -> (its bn_param dict, key, expected shape)."""
        slots = {}
        for n, bp in zip(self._bn_layers, self.bn_params):
            if "running_mean" not in bp:
                continue  # layer/group norm: no running statistics
            shape = np.shape(bp["running_mean"])
            for key in ("running_mean", "running_var"):
                slots[f"bn{n}.{key}"] = (bp, key, shape)
        return slots

    def buffers(self) -> dict[str, np.ndarray]:
        """Host copies of the non-parameter state: the norms' running mean and variance.

        Returns:
            ``{"bn{n}.running_mean": ..., "bn{n}.running_var": ...}`` for every batchnorm layer
            ``n``, as NumPy arrays (copied off the GPU when the model lives there).
        """
        slots = self._buffer_slots().items()
        return {k: np.array(to_numpy(bp[key]), copy=True) for k, (bp, key, _) in slots}

    def load_buffers(self, buffers: Mapping[str, np.ndarray]) -> None:
        """Replace the running statistics with copies of ``buffers`` (as ``buffers()`` returns).

        Raises:
            ValueError: a key is missing or unexpected, or a shape or dtype does not match; in
                that case nothing is loaded.
        """
        slots = self._buffer_slots()
        if not isinstance(buffers, Mapping):
            raise ValueError(f"buffers must be a dict, got {type(buffers).__name__}")
        missing = sorted(set(slots) - set(buffers))
        extra = sorted(set(buffers) - set(slots))
        if missing or extra:
            raise ValueError(
                f"buffers keys do not match the model: missing {missing}, unexpected {extra}"
            )
        for k, (_, _, shape) in slots.items():
            a = buffers[k]
            if np.shape(a) != shape:
                raise ValueError(f"buffer {k!r} must have shape {shape}, got {np.shape(a)}")
            if np.asarray(a).dtype != self.dtype:
                got = np.asarray(a).dtype
                raise ValueError(f"buffer {k!r} must have dtype {self.dtype}, got {got}")
        for k, (bp, key, _) in slots.items():
            bp[key] = to_device(np.array(buffers[k], copy=True), self.xp)

    # -------------------------------------------------------------- params / tuning
    def _check_names(self, names) -> list[str]:
        names = [names] if isinstance(names, str) else list(names)
        unknown = [n for n in names if n not in self.params]
        if unknown:
            raise ValueError(
                f"unknown param name(s) {unknown}; the model has {sorted(self.params)}"
            )
        return names

    def freeze(self, *names: str) -> None:
        """Add ``names`` (e.g. ``"W1", "b1"``) to ``frozen``: the Solver will not update them.

        Frozen params keep their values bit for bit and get no optimizer state. A normalisation
        layer whose ``gamma{n}`` and ``beta{n}`` are both frozen also runs in test mode while
        training: batch norm then normalises with its running statistics and leaves them
        unchanged (the frozen part of the net computes what it computed when it was trained).
        The layers below the lowest layer with a trainable param need no gradient; ``ConvNet``
        skips the backward of those conv layers (its frozen affine layers still get gradients,
        which the Solver ignores). ``numnet.param_groups.select_all`` turns selectors such as
        ``"base"`` or ``"1-2"`` into names.
        """
        self.frozen.update(self._check_names(names))

    def set_norm_modes(self, mode: str) -> None:
        """Set every normalisation layer's ``mode`` for a forward pass in ``mode``.

        A layer whose ``gamma{n}`` and ``beta{n}`` are both in ``frozen`` gets ``"test"`` even
        when ``mode`` is ``"train"``: it normalises with its running statistics and leaves them
        unchanged (see ``freeze``).
        """
        for n, bp in zip(self._bn_layers, self.bn_params):
            frozen = f"gamma{n}" in self.frozen and f"beta{n}" in self.frozen
            bp["mode"] = "test" if frozen else mode

    def first_trainable_layer(self) -> int:
        """The lowest layer number with a param not in ``frozen`` (1 when nothing is frozen).

        The layers below it need no gradient, so a model may skip their backward; with every
        param frozen this is one past the last layer.
        """
        if not self.frozen:
            return 1
        trainable = [n for n in self.params if n not in self.frozen]
        nums = param_groups.layers(trainable)
        if not nums:
            return 1 if trainable else max(param_groups.layers(self.params), default=0) + 1
        return nums[0]

    def unfreeze(self, *names: str) -> None:
        """Remove ``names`` from ``frozen``; with no names, unfreeze everything."""
        if not names:
            self.frozen.clear()
            return
        self.frozen.difference_update(self._check_names(names))

    def load_params(self, src, names=None, strict: bool = True) -> list[str]:
        """Copy trained weights into this model (transfer learning, warm starts).

        Args:
            src: a dict name -> array, or another model (its ``params`` are used).
            names: the params to copy; ``None`` copies every name of ``src`` (with ``strict``,
                ``src`` must then hold exactly this model's names; without, names only one side
                has are skipped).
            strict: see ``names``.

        Returns:
            The names copied, sorted. Arrays are copied and cast to the model's dtype.

        Raises:
            ValueError: a name is missing on either side, or a shape differs; nothing is copied.
        """
        src = getattr(src, "params", src)
        if not isinstance(src, Mapping):
            raise ValueError(f"src must be a params dict or a model, got {type(src).__name__}")
        if names is None:
            if strict:
                missing = sorted(set(self.params) - set(src))
                extra = sorted(set(src) - set(self.params))
                if missing or extra:
                    raise ValueError(
                        f"src params do not match the model: missing {missing}, unexpected {extra}"
                    )
            names = [n for n in src if n in self.params]
        else:
            names = self._check_names(names)
            absent = [n for n in names if n not in src]
            if absent:
                raise ValueError(f"src has no param(s) {absent}; it has {sorted(src)}")
        for n in names:
            want, got = self.params[n].shape, np.shape(src[n])
            if want != got:
                raise ValueError(f"param {n!r} must have shape {want}, got {got} in src")
        for n in names:
            host = np.array(to_numpy(src[n]), dtype=self.dtype, copy=True)
            self.params[n] = to_device(host, self.xp)
        return sorted(names)

    def num_params(self) -> int:
        """Total number of scalars in ``params``."""
        return int(sum(p.size for p in self.params.values()))

    # ----------------------------------------------------------------- computation
    def _l2(self, grads: dict, weight_names):
        """Return ``0.5 * reg * sum(W**2)`` over ``weight_names`` and add ``reg * W`` to ``grads``.

        ``grads`` entries are replaced (not updated in place) so no layer's array is written into;
        a weight without an entry (a frozen layer whose backward was skipped) gets none. The sum
        stays a scalar of the params' array module (no wait for a GPU).
        """
        if self.reg == 0.0:
            return 0.0
        total = 0.0
        for n in weight_names:
            w = self.params[n]
            total = total + (w * w).sum()
            if n in grads:
                grads[n] = grads[n] + self.reg * w
        return 0.5 * self.reg * total

    def _with_l2(self, loss, grads: dict, weight_names):
        """The data ``loss`` plus ``_l2`` (which adds ``reg * W`` to ``grads``).

        Returns:
            A Python float on the host; on a GPU a 0-d array, left for the caller to read (the
            Solver reads it once per step, together with the gradient norm).
        """
        total = loss + self._l2(grads, weight_names)
        return float(total) if self.xp is np else total

    def activations(self) -> dict[str, tuple[str, np.ndarray]]:
        """Each hidden layer's output in the last training forward made with ``keep_activations``.

        Returns:
            ``{"layer<i>": (nonlinearity, a)}`` in layer order: ``nonlinearity`` is ``"relu"``,
            ``"tanh"`` or ``"sigmoid"``; ``a`` is the layer's output after its nonlinearity (and
            after its pool, where one follows; before dropout), ``(N, M)`` for an affine layer or
            ``(N, C, H, W)`` for a conv layer. Empty when nothing was kept.
        """
        kept = self._kept_forward
        return {} if kept is None else self._activations_from(kept)

    def _activations_from(self, kept) -> dict[str, tuple[str, np.ndarray]]:
        """Decode what ``loss`` kept into :meth:`activations`' dict (each model its own caches)."""
        return {}

    def release_activations(self) -> None:
        """Drop the kept forward, so its caches can be freed."""
        self._kept_forward = None

    def predict(self, X, batch_size: int = 100) -> np.ndarray:
        """Class predictions ``(N,)``: argmax of test-mode scores, ``batch_size`` rows per call."""
        return predict(self, X, batch_size)


_BUDGET: contextvars.ContextVar[int | None] = contextvars.ContextVar("param_budget", default=None)


@contextlib.contextmanager
def param_budget(max_params: int | None) -> Iterator[None]:
    """Models built inside may have at most ``max_params`` weights (None: any number).

    Each model's constructor calls :func:`check_param_budget` with its weight shapes before it
    allocates them, so an oversized config fails before any memory is taken.
    """
    token = _BUDGET.set(max_params)
    try:
        yield
    finally:
        _BUDGET.reset(token)


def check_param_budget(shapes) -> None:
    """Raise ValueError if the weight ``shapes`` hold more scalars than the current budget."""
    limit = _BUDGET.get()
    if limit is None:
        return
    n = sum(math.prod(int(d) for d in s) for s in shapes)
    if n > limit:
        raise ValueError(f"the config implies {n:,} weights, more than the {limit:,} allowed here")


def int_list(name: str, values) -> list[int]:
    """``values`` as a list of positive ints (JSON-able), else ValueError naming ``name``."""
    try:
        values = list(values)
    except TypeError:
        raise ValueError(f"{name} must be a list of positive ints, got {values!r}") from None
    for v in values:
        check_positive_int(f"{name} entry", v)
    return [int(v) for v in values]


def check_feature_layer(layer, num_layers: int) -> int:
    """The layer whose output a model's ``features`` returns, checked.

    Args:
        layer: a layer number in ``[1, num_layers - 1]`` (the head's own output is the scores),
            or None for ``num_layers - 1``, the penultimate layer.
        num_layers: L, the model's number of layers.

    Raises:
        ValueError: not an int in range, naming the model's hidden layers.
    """
    if num_layers < 2:
        raise ValueError("the model has no hidden layer: its only layer is the head")
    if layer is None:
        return num_layers - 1
    if (
        isinstance(layer, bool)
        or not isinstance(layer, numbers.Integral)
        or not (1 <= layer <= num_layers - 1)
    ):
        raise ValueError(
            f"layer must be an int in [1, {num_layers - 1}] (the layers below the head), "
            f"got {layer!r}"
        )
    return int(layer)


def check_keep_ratio(value) -> float:
    """A dropout keep probability in (0, 1] as a float (1 means no dropout)."""
    try:
        keep = float(value)
    except (TypeError, ValueError):
        keep = float("nan")
    if isinstance(value, bool) or not 0.0 < keep <= 1.0:
        raise ValueError(f"dropout_keep_ratio must be in (0, 1], got {value!r}")
    return keep


def dtype_name(dtype) -> str:
    """JSON-able name of a dtype (``"float32"``)."""
    return np.dtype(dtype).name


def rng_arg(rng, seed, model: str) -> tuple[np.random.Generator | None, int | None]:
    """A model's ``rng`` argument, also taken under its deprecated name ``seed``.

    Args:
        rng: None (NumPy's global state, as the course), an int seed or a ``np.random.Generator``.
        seed: the old name of ``rng``; giving it warns (``DeprecationWarning``).
        model: the class name, for the messages.

    Returns:
        ``(generator, config_value)``: the Generator (or None) and what ``get_config`` stores
        under ``"rng"`` (the int seed; None for None or a Generator, which JSON cannot hold).

    Raises:
        ValueError: both names given, or a value that is not None, a non-negative int or a
            Generator.
    """
    name = "rng"
    if seed is not None:
        if rng is not None:
            raise ValueError(
                f"give rng or its deprecated name seed, not both (got rng={rng!r}, seed={seed!r})"
            )
        warnings.warn(
            f"{model}(seed=...) is deprecated; use rng=... (the same int seed or a Generator)",
            DeprecationWarning,
            stacklevel=3,
        )
        rng, name = seed, "seed"
    gen = as_generator(rng, name)
    return gen, (int(rng) if isinstance(rng, (int, np.integer)) else None)
