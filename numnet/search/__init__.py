"""Hyperparameter search: random search in log space, coarse to fine, on one core or many machines.

The course's advice made a tool: sample learning rate and regularisation on a log scale, prefer
random search to a grid, search coarse (short trials, wide ranges) then fine (longer trials,
ranges narrowed around the best), check that the best value is not at a range border, and judge
each setting on held-out data (the validation split, or k-fold cross-validation). Optuna runs the
trials (``pip install 'numnet[search]'``); this package imports it only when a search runs.

In a notebook the course's loop becomes one call::

    from numnet.search import FloatRange, Stage, search

    def build(params):
        model = FullyConnectedNet([100], reg=params["reg"], dtype=np.float32, rng=0)
        return model, data, dict(update_rule="adam", num_epochs=params["epochs"], seed=0,
                                 optim_config={"learning_rate": params["lr"]}, batch_size=100)

    space = {"lr": FloatRange(1e-5, 1.0, log=True), "reg": FloatRange(1e-6, 1e-1, log=True)}
    study = search(build, space, stages=[Stage(30, epochs=1), Stage(10, epochs=5)])
    study.best_params

Modules: ``space`` (ranges, choices, parsing), ``stages`` (narrowing, border warnings),
``kfold`` (fixed folds as views), ``objective`` (a trial trains with the Solver and reports each
epoch), ``storage`` (journal file or database, dead workers), ``runner`` (studies per stage,
workers, :func:`search`), ``report`` and ``plots`` (trials.csv, leaderboard, PNGs).
"""

from numnet.search._optuna import INSTALL_HINT, MissingOptunaError, require_optuna
from numnet.search.kfold import Rows, fold_data, kfold_indices
from numnet.search.objective import TrialReporter, make_objective
from numnet.search.runner import (
    PRUNERS,
    SAMPLERS,
    Plan,
    PlanMismatchError,
    RangeEdgeWarning,
    open_stage,
    run_trials,
    search,
    stage_names,
)
from numnet.search.space import Choice, FloatRange, IntRange, SpaceError, parse_space, suggest
from numnet.search.stages import Stage, StageError, edge_warnings, narrow, parse_stages
from numnet.search.storage import StorageError, open_storage

__all__ = [
    "INSTALL_HINT",
    "PRUNERS",
    "SAMPLERS",
    "Choice",
    "FloatRange",
    "IntRange",
    "MissingOptunaError",
    "Plan",
    "PlanMismatchError",
    "RangeEdgeWarning",
    "Rows",
    "SpaceError",
    "Stage",
    "StageError",
    "StorageError",
    "TrialReporter",
    "edge_warnings",
    "fold_data",
    "kfold_indices",
    "make_objective",
    "narrow",
    "open_stage",
    "open_storage",
    "parse_space",
    "parse_stages",
    "require_optuna",
    "run_trials",
    "search",
    "stage_names",
    "suggest",
]
