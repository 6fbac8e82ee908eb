"""First-order update rules, as in the course's ``optim.py``.

Every rule has the signature ``rule(w, dw, config=None) -> (next_w, config)``:

- ``w``: an array of the current weights (any shape).
- ``dw``: an array of the same shape with the gradient of the loss with respect to ``w``.
- ``config``: a dict of hyperparameters (learning rate, momentum, ...) and of the state the rule
  carries from one step to the next (velocity, cache, moments, step count). ``None`` starts a new
  dict; missing keys are filled with ``setdefault``, so the course's defaults and key names apply.

It returns ``next_w`` (same shape and dtype as ``w``) and the updated ``config`` dict, which the
caller passes back on the next step. The state arrays are created in ``w``'s dtype and array
library, and every hyperparameter is read as a Python float so a float32 model stays float32 (a
NumPy float64 scalar, as a JSON round-trip or a checkpoint may leave, would otherwise upcast).

``sgd`` updates ``w`` in place, as the course's provided ``sgd`` does; every other rule returns a
new array. No rule ever writes into ``dw``. The state arrays in ``config`` are replaced, not
updated in place (the documented exception to "never mutate an argument" is the config dict).
"""

from __future__ import annotations

import math

from numnet.backend import get_array_module

__all__ = [
    "DEFAULT_LEARNING_RATES",
    "UPDATE_RULES",
    "adagrad",
    "adam",
    "adamw",
    "clip_grads_by_global_norm",
    "get_update_rule",
    "nesterov_momentum",
    "rmsprop",
    "sgd",
    "sgd_momentum",
]


def _state(config: dict, key: str, w):
    """The state array ``config[key]`` in ``w``'s dtype, or zeros like ``w`` when absent."""
    xp = get_array_module(w)
    s = config.get(key)
    if s is None:
        return xp.zeros_like(w)
    return xp.asarray(s).astype(w.dtype, copy=False)


def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent: ``w -= learning_rate * dw`` (in place, as the course).

    config format:
    - learning_rate: Scalar learning rate (default 1e-2).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)

    w -= float(config["learning_rate"]) * dw
    return w, config


def sgd_momentum(w, dw, config=None):
    """Stochastic gradient descent with momentum: ``v = momentum * v - lr * dw; w += v``.

    This ``v`` is ``-lr`` times torch's momentum buffer, so with a constant learning rate the
    trajectory is the same as ``torch.optim.SGD(momentum=...)``.

    config format:
    - learning_rate: Scalar learning rate (default 1e-2).
    - momentum: Scalar between 0 and 1 giving the momentum value; 0 is plain sgd (default 0.9).
    - velocity: An array of the same shape as w and dw used to store a moving average of the
      gradients (default zeros).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = _state(config, "velocity", w)

    v = float(config["momentum"]) * v - float(config["learning_rate"]) * dw
    next_w = w + v

    config["velocity"] = v
    return next_w, config


def nesterov_momentum(w, dw, config=None):
    """Nesterov momentum in the lecture's form (gradient at the current ``w``, look-ahead folded).

    ``v_prev = v; v = momentum * v - lr * dw; w += -momentum * v_prev + (1 + momentum) * v``.
    With a constant learning rate this equals ``torch.optim.SGD(momentum=..., nesterov=True)``.

    config format:
    - learning_rate: Scalar learning rate (default 1e-2).
    - momentum: Scalar between 0 and 1 (default 0.9).
    - velocity: An array like w (default zeros).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    mu = float(config["momentum"])
    v_prev = _state(config, "velocity", w)

    v = mu * v_prev - float(config["learning_rate"]) * dw
    next_w = w - mu * v_prev + (1.0 + mu) * v

    config["velocity"] = v
    return next_w, config


def adagrad(w, dw, config=None):
    """Adagrad: per-weight step sizes shrink with the sum of squared gradients seen so far.

    ``cache += dw**2; w -= lr * dw / (sqrt(cache) + epsilon)`` (``torch.optim.Adagrad`` with
    ``lr_decay=0`` and ``initial_accumulator_value=0``; torch's default eps is 1e-10).

    config format:
    - learning_rate: Scalar learning rate (default 1e-2).
    - epsilon: Small scalar used for smoothing to avoid dividing by zero (default 1e-8).
    - cache: Sum of the squared gradients, an array like w (default zeros).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    xp = get_array_module(w)
    cache = _state(config, "cache", w)

    cache = cache + dw * dw
    next_w = w - float(config["learning_rate"]) * dw / (xp.sqrt(cache) + float(config["epsilon"]))

    config["cache"] = cache
    return next_w, config


def rmsprop(w, dw, config=None):
    """RMSProp: a moving average of squared gradients sets per-parameter learning rates.

    ``cache = decay_rate * cache + (1 - decay_rate) * dw**2``;
    ``w -= lr * dw / (sqrt(cache) + epsilon)`` (``torch.optim.RMSprop`` with ``alpha=decay_rate``).

    config format:
    - learning_rate: Scalar learning rate (default 1e-2).
    - decay_rate: Scalar between 0 and 1 giving the decay rate for the squared gradient cache
      (default 0.99).
    - epsilon: Small scalar used for smoothing to avoid dividing by zero (default 1e-8).
    - cache: Moving average of second moments of gradients (default zeros).
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    xp = get_array_module(w)
    dr = float(config["decay_rate"])
    cache = _state(config, "cache", w)

    cache = dr * cache + (1.0 - dr) * (dw * dw)
    next_w = w - float(config["learning_rate"]) * dw / (xp.sqrt(cache) + float(config["epsilon"]))

    config["cache"] = cache
    return next_w, config


def _adam_step(w, dw, config):
    """The bias-corrected Adam direction ``mhat / (sqrt(vhat) + eps)``; updates m, v, t in config.

    ``t`` is incremented *before* the bias correction, as the course's starter code requires.

    Returns:
        ``(step, fresh)``: the direction, and whether it is a new array of ``w``'s dtype and
        shape that the caller may overwrite.
    """
    xp = get_array_module(w)
    b1, b2 = float(config["beta1"]), float(config["beta2"])
    m = _state(config, "m", w)
    v = _state(config, "v", w)
    t = int(config["t"]) + 1
    eps = float(config["epsilon"])
    if not _same_array_kind(xp, w, dw):
        # Mixed dtypes (or a dw that is not an array like w): NumPy's promotion decides the
        # result dtypes, so keep the plain expressions.
        m = b1 * m + (1.0 - b1) * dw
        v = b2 * v + (1.0 - b2) * (dw * dw)
        # Python floats: the correction factors stay weak scalars and keep float32 arrays
        # float32.
        mhat = m / (1.0 - b1**t)
        vhat = v / (1.0 - b2**t)
        config["m"], config["v"], config["t"] = m, v, t
        return mhat / (xp.sqrt(vhat) + eps), False
    # The same operations on the same values, in the same order (so bitwise the same results),
    # written into three new arrays (m, v and the result) and one scratch array, instead of a
    # new array per operation (~11 weight-sized temporaries per update).
    m_new = xp.multiply(m, b1)
    step = xp.multiply(dw, 1.0 - b1)
    m_new += step
    v_new = xp.multiply(v, b2)
    xp.multiply(dw, dw, out=step)
    step *= 1.0 - b2
    v_new += step
    denom = xp.divide(v_new, 1.0 - b2**t)
    xp.sqrt(denom, out=denom)
    denom += eps
    xp.divide(m_new, 1.0 - b1**t, out=step)
    step /= denom
    config["m"], config["v"], config["t"] = m_new, v_new, t
    return step, True


def _same_array_kind(xp, w, dw) -> bool:
    """Whether w and dw are arrays (ndim >= 1) of one library, dtype and shape.

    The case of the in-place path (a 0-d operation would return scalars, not arrays).
    """
    return (
        isinstance(w, xp.ndarray)
        and isinstance(dw, type(w))
        and w.ndim > 0
        and dw.dtype == w.dtype
        and dw.shape == w.shape
    )


def _adam_defaults(config):
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", None)
    config.setdefault("v", None)
    config.setdefault("t", 0)


def adam(w, dw, config=None):
    """Adam: moving averages of the gradient and its square, with bias correction.

    config format:
    - learning_rate: Scalar learning rate (default 1e-3).
    - beta1: Decay rate for moving average of first moment of gradient (default 0.9).
    - beta2: Decay rate for moving average of second moment of gradient (default 0.999).
    - epsilon: Small scalar used for smoothing to avoid dividing by zero (default 1e-8).
    - m: Moving average of gradient (default zeros).
    - v: Moving average of squared gradient (default zeros).
    - t: Iteration number (default 0); incremented before the bias correction.
    """
    if config is None:
        config = {}
    _adam_defaults(config)
    lr = float(config["learning_rate"])
    step, fresh = _adam_step(w, dw, config)
    if fresh:
        # w - lr * step, the product made in step's own array.
        step *= lr
        return get_array_module(w).subtract(w, step), config
    return w - lr * step, config


def adamw(w, dw, config=None):
    """AdamW: Adam plus decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``.

    ``w -= lr * (mhat / (sqrt(vhat) + eps) + weight_decay * w)``: the decay acts on the weights
    directly instead of being added to the gradient, so Adam's scaling does not weaken it.

    config format: as ``adam``, plus
    - weight_decay: Scalar decoupled weight-decay coefficient (default 1e-2, torch's default).
    """
    if config is None:
        config = {}
    _adam_defaults(config)
    config.setdefault("weight_decay", 1e-2)
    lr = float(config["learning_rate"])
    decayed = w * (1.0 - lr * float(config["weight_decay"]))
    step, fresh = _adam_step(w, dw, config)
    if fresh:
        step *= lr
        decayed -= step
        return decayed, config
    return decayed - lr * step, config


#: Update rules by name, as the Solver's ``update_rule`` string selects them.
UPDATE_RULES = {
    "sgd": sgd,
    "sgd_momentum": sgd_momentum,
    "nesterov_momentum": nesterov_momentum,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
    "adamw": adamw,
}

#: Each rule's default ``learning_rate`` (what its ``setdefault`` fills in); learning-rate
#: schedules need it before the first step when ``optim_config`` names none.
DEFAULT_LEARNING_RATES = {
    "sgd": 1e-2,
    "sgd_momentum": 1e-2,
    "nesterov_momentum": 1e-2,
    "adagrad": 1e-2,
    "rmsprop": 1e-2,
    "adam": 1e-3,
    "adamw": 1e-3,
}


def get_update_rule(name):
    """The update rule called ``name`` (a callable is returned as it is).

    Raises:
        ValueError: ``'Invalid update_rule "<name>"'`` plus the allowed names.
    """
    if callable(name):
        return name
    if not isinstance(name, str) or name not in UPDATE_RULES:
        raise ValueError(
            f'Invalid update_rule "{name}"; expected one of {", ".join(sorted(UPDATE_RULES))} '
            "or a callable rule(w, dw, config) -> (next_w, config)"
        )
    return UPDATE_RULES[name]


def global_norm(grads):
    """The L2 norm of all arrays in ``grads`` taken together.

    The squares are summed with a float64 accumulator (no float64 copy of the arrays), so float32
    gradients do not lose the small terms. A non-finite entry gives ``nan`` or ``inf``.

    Returns:
        A float64 scalar of the gradients' array module: on NumPy a ``np.float64`` (a Python
        float), on a GPU a 0-d array, so that reading it is left to the caller (one wait for the
        device per step, together with the loss). ``0.0`` for no gradients.
    """
    total = None
    for g in grads.values():
        xp = get_array_module(g)
        s = xp.sum(g * g, dtype=xp.float64)
        total = s if total is None else total + s
    return 0.0 if total is None else xp.sqrt(total)


def clip_grads_by_global_norm(grads, max_norm):
    """Scale every gradient by one factor so that their global L2 norm is at most ``max_norm``.

    The factor is ``max_norm / (total_norm + 1e-6)`` when ``total_norm > max_norm`` (as
    ``torch.nn.utils.clip_grad_norm_``), else 1. A non-finite norm is returned unscaled so the
    caller can report it. On a GPU the factor is computed there: every gradient is multiplied by
    it (1 when nothing is clipped) instead of the host waiting to read the norm.

    Args:
        grads: dict name -> gradient array (any shapes). Not modified.
        max_norm: positive float.

    Returns:
        ``(clipped, total_norm)``: a new dict (on NumPy the same arrays where nothing was scaled,
        new arrays in the same dtype otherwise) and the global norm before clipping, as
        ``global_norm`` returns it.
    """
    max_norm_f = float(max_norm)
    if not math.isfinite(max_norm_f) or max_norm_f <= 0:
        raise ValueError(f"max_norm must be a finite number > 0, got {max_norm!r}")
    total = global_norm(grads)
    if isinstance(total, float):  # on the host: decide here (a Python float keeps float32)
        total = float(total)
        if not math.isfinite(total) or total <= max_norm_f:
            return dict(grads), total
        coef = max_norm_f / (total + 1e-6)
        return {k: g * coef for k, g in grads.items()}, total
    xp = get_array_module(total)
    clip = xp.isfinite(total) & (total > max_norm_f)
    coef = xp.where(clip, max_norm_f / (total + 1e-6), 1.0)
    return {k: g * coef.astype(g.dtype) for k, g in grads.items()}, total
