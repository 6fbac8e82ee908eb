"""Optuna is optional (``pip install 'numnet[search]'``): it is imported here, when first needed."""

from __future__ import annotations

INSTALL_HINT = "pip install 'numnet[search]'"


class MissingOptunaError(ImportError):
    """Optuna is not installed; the message says how to install it."""


def require_optuna():
    """The ``optuna`` module, or :class:`MissingOptunaError` naming the extra to install."""
    try:
        import optuna
    except ImportError as e:
        raise MissingOptunaError(
            f"numnet's hyperparameter search needs Optuna 5.x ({e}); install it with: "
            f"{INSTALL_HINT}"
        ) from None
    return optuna
