"""Taking back one training step, and the error that says why: a step that met a nan or inf.

A step changes the model's params (the update), each param's optimizer config (the rule's state:
velocity, moments, step count) and, already in the forward pass, batchnorm's running statistics.
``StepUndo`` is taken before the forward pass and puts all three back, so a step that met a nan
or inf leaves the model and the Solver exactly as the previous step left them.
"""

from __future__ import annotations

import math

from numnet import optim
from numnet._solver_settings import is_custom_rule
from numnet.backend import get_array_module
from numnet.callbacks import NonFiniteLossError


class StepUndo:
    """What one step of ``solver`` may change, remembered so that calling it puts it back.

    Params are remembered by reference (the update assigns new arrays), except where the update
    rule writes into its argument: ``writable`` then hands the rule a copy. Configs are shallow
    copies (``numnet.optim``'s rules replace their state arrays, never write into them). Running
    statistics: shallow copies of the model's ``bn_params`` dicts (the forward pass replaces
    their arrays), else copies from ``model.buffers()``, when the model has either.

    Args:
        solver: the Solver about to take a step.
    """

    def __init__(self, solver):
        self.solver = solver
        model = solver.model
        self.params = dict(model.params)
        self.configs = {p: dict(c) for p, c in solver.optim_configs.items()}
        # The course's models keep their running statistics in ``bn_params`` dicts, whose arrays
        # the forward pass replaces: shallow copies keep them, on the device they are on.
        bn_params = getattr(model, "bn_params", None)
        self.bn_params = [dict(bp) for bp in bn_params] if isinstance(bn_params, list) else None
        has_buffers = hasattr(model, "buffers") and hasattr(model, "load_buffers")
        self.buffers = model.buffers() if has_buffers and self.bn_params is None else None
        rule = solver.update_rule
        # sgd updates in place, as the course's does; a rule of one's own may too.
        self.in_place = rule is optim.sgd or is_custom_rule(rule, solver.update_rule_name)

    def writable(self, w):
        """``w`` as the update rule may receive it: a copy when the rule may write into it."""
        return w.copy() if self.in_place else w

    def __call__(self) -> None:
        """Put the params, the optimizer configs and the running statistics back."""
        self.solver.model.params.update(self.params)
        self.solver.optim_configs = self.configs
        if self.bn_params is not None:
            for bp, saved in zip(self.solver.model.bn_params, self.bn_params):
                bp.clear()
                bp.update(saved)
        if self.buffers is not None:
            self.solver.model.load_buffers(self.buffers)


def nonfinite_error(solver, t, loss, norm, grads, param=None) -> NonFiniteLossError:
    """The error for step ``t`` (0-based) of ``solver`` that met a nan or inf.

    Args:
    solver: the Solver whose step failed (its loss history and learning rate are quoted).
    t: the step.
    loss: the step's loss.
    norm: the global gradient norm.
    grads: the trainable params' gradients, by name.
    param: the param the update would have made non-finite, if that was the failure.
    """
    if param is not None:
        what = f"the update would make {param!r} non-finite"
    elif not math.isfinite(float(loss)):
        what = f"non-finite loss {float(loss)}"
    else:
        finite = lambda g: bool(get_array_module(g).isfinite(g).all())  # noqa: E731
        bad = next((k for k, g in grads.items() if not finite(g)), None)
        # All finite but the norm overflowed: gradients too large to square and sum.
        what = f"non-finite gradient {f'of {bad!r}' if bad is not None else f'norm {norm}'}"
    last = f"{float(solver.loss_history[-1]):g}" if solver.loss_history else "none yet"
    return NonFiniteLossError(
        f"{what} at epoch {solver.epoch}, iteration {t + 1} (last finite loss {last}, "
        f"learning rate {solver.learning_rate:g}); the step was not applied: params, "
        f"optimizer state and running statistics are those after iteration {t}"
    )
