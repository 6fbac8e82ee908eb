"""Shared helpers of the core-layer tests (tests/test_layers_*.py, tests/test_layer_utils.py)."""

from __future__ import annotations

import numpy as np
import torch

from numnet.backend import to_numpy
from numnet.gradient_check import eval_numerical_gradient_array


def on(xp, args):
    """``args`` (a list, or a dict) with every NumPy array moved to the module ``xp``.

    Arrays inside dict arguments (batchnorm's running statistics in ``bn_param``) move too.
    """

    def move(a):
        if isinstance(a, np.ndarray):
            return xp.asarray(a)
        return {k: move(v) for k, v in a.items()} if isinstance(a, dict) else a

    if isinstance(args, dict):
        return move(args)
    return [move(a) for a in args]


def numeric_grads(forward, args, argnums, dout, h=1e-5):
    """Numeric gradients of ``sum(forward(*args)[0] * dout)`` w.r.t. ``args[i]``, ``i in argnums``.

    Works on private float64 copies, so the caller's arrays are never perturbed.
    """
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    grads = []
    for i in argnums:

        def f(v, i=i):
            a = list(args)
            a[i] = v
            return forward(*a)[0]

        grads.append(eval_numerical_gradient_array(f, args[i], dout, h))
    return grads


def off_kink(x, margin=0.1):
    """``x`` with entries closer than ``margin`` to 0 pushed to +-margin (away from the kink)."""
    return np.where(np.abs(x) < margin, np.where(x < 0, -margin, margin), x)


def tt(a):
    """A float64 leaf tensor (requires grad) holding ``a`` (host or GPU array)."""
    return torch.tensor(np.asarray(to_numpy(a), dtype=np.float64), requires_grad=True)


def tn(t):
    """A torch tensor (or its .grad) as a NumPy array."""
    return t.detach().numpy()


def snapshot(obj):
    """Deep copy of the arrays inside (nested) tuples/lists/dicts, for no-mutation checks."""
    if isinstance(obj, (tuple, list)):
        return type(obj)(snapshot(o) for o in obj)
    if isinstance(obj, dict):
        return {k: snapshot(v) for k, v in obj.items()}
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):
        return np.array(to_numpy(obj), copy=True)
    return obj


def assert_same(before, after, what="value"):
    """Assert ``after`` equals the ``snapshot`` ``before`` (same structure, bitwise-equal)."""
    if isinstance(before, (tuple, list)):
        assert len(before) == len(after), what
        for i, (b, a) in enumerate(zip(before, after)):
            assert_same(b, a, f"{what}[{i}]")
    elif isinstance(before, dict):
        assert before.keys() == after.keys(), what
        for k in before:
            assert_same(before[k], after[k], f"{what}[{k!r}]")
    elif isinstance(before, np.ndarray):
        np.testing.assert_array_equal(to_numpy(after), before, err_msg=f"{what} was mutated")
    else:
        assert before is after or before == after, f"{what} changed"
