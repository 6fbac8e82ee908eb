"""Freezing by selector, and head-first fine-tuning as Solver settings.

The lecture's recipe: with little new data, train only the head on top of a frozen base; with
more, then unfreeze and fine-tune everything at a lower learning rate. ``head_first`` sets a
model and returns the Solver keyword arguments for both phases in one run::

    report = load_pretrained(model, "runs/pre/best.npz", reinit="head")
    kwargs = head_first(model, head_epochs=2, iterations_per_epoch=ipe,
                        first=CosineDecay(2 * ipe), second=CosineDecay(3 * ipe))
    Solver(model, data, num_epochs=5, shuffle=True, seed=0, **kwargs).train()

During the first ``head_epochs`` epochs only the head trains (the base's batch norm layers use
their running statistics and keep them); at the first step of epoch ``head_epochs`` the base is
unfrozen (params frozen with ``freeze`` stay frozen) and trains with fresh optimizer state at
``lr_factor`` times the rate. The phase is part of the Solver's state, so a run interrupted in
either phase resumes exactly.
"""

from __future__ import annotations

from numnet import param_groups
from numnet.schedules import TwoPhase

__all__ = ["freeze", "head_first"]


def freeze(model, selectors) -> list[str]:
    """Freeze the params ``selectors`` pick (``"1-2"``, ``"base"``, ``"W1,b1"``...).

    Returns:
        The names frozen by this call, in the model's order.

    Raises:
        ValueError: a selector that picks nothing (see ``numnet.param_groups``).
    """
    names = param_groups.select_all(model.params, selectors)
    model.freeze(*names)
    return names


def head_first(
    model,
    head_epochs: int,
    iterations_per_epoch: int,
    *,
    first=None,
    second=None,
    lr_factor: float = 0.1,
) -> dict:
    """Freeze every param but the head's; return the Solver settings that unfreeze them later.

    Args:
        model: a model with numbered layers (``numnet.param_groups``); params already in
            ``model.frozen`` stay frozen in both phases.
        head_epochs: E >= 1, epochs of head-only training.
        iterations_per_epoch: the Solver's steps per epoch.
        first: the first phase's schedule (a Schedule, its config, or None for constant).
        second: the second phase's, run from that phase's first step.
        lr_factor: the second phase's learning rate relative to the first's, in (0, 1].

    Returns:
        ``{"unfreeze_epoch": E, "unfreeze": [names], "lr_schedule": TwoPhase(...)}``.

    Raises:
        ValueError: a model without a base (a single layer) or bad numbers.
    """
    base = param_groups.select(model.params, "base")
    unfreeze = [n for n in base if n not in model.frozen]
    if not unfreeze:
        raise ValueError("head_first needs trainable params below the head; all are frozen")
    schedule = TwoPhase(head_epochs, iterations_per_epoch, first, second, lr_factor)
    model.freeze(*unfreeze)
    return {"unfreeze_epoch": head_epochs, "unfreeze": unfreeze, "lr_schedule": schedule}
