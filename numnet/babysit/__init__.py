"""Babysitting the learning process: the lecture's checks and tools around a training run.

- :mod:`numnet.babysit.sanity`: sanity checks before a run (initial loss, overfitting a tiny
  subset, an input-independent baseline, a float64 gradient check), ``numnet sanity``.
- :mod:`numnet.babysit.lr_find`: the learning-rate range test, ``numnet lr-find``;
  :mod:`numnet.babysit.lr_rules`: reading a suggested learning rate off its losses.
- :mod:`numnet.babysit.summary`: per-layer shapes, parameters, memory and FLOPs from a model
  config, ``numnet summary``.
- :mod:`numnet.babysit.inspect_init`: how an initialisation treats a deep net's activations,
  with a verdict per layer, ``numnet inspect init``.
- :mod:`numnet.babysit.monitor`: per-layer statistics while training (a Solver callback),
  ``numnet train --monitor``; :mod:`numnet.babysit.figures` draws them.
- :mod:`numnet.babysit.diagnose`: the usual problems a run's curves show, ``numnet diagnose``.
- :mod:`numnet.babysit.compare`: several runs on shared axes, ``numnet compare``.

The functions named like their modules (``diagnose.diagnose``, ``inspect_init.inspect_init``) are
not re-exported here: the package attribute would hide the module.
"""

from numnet.babysit.compare import load_runs
from numnet.babysit.diagnose import Diagnosis, diagnose_run
from numnet.babysit.inspect_init import LayerReport
from numnet.babysit.lr_find import LRFindResult, lr_range_test, plot_lr_find
from numnet.babysit.lr_rules import Rule, suggest_lr
from numnet.babysit.monitor import Monitor
from numnet.babysit.sanity import CheckResult, run_sanity_checks
from numnet.babysit.summary import LayerRow, ShapeError, Summary, format_summary, summarize

__all__ = [
    "CheckResult",
    "Diagnosis",
    "LRFindResult",
    "LayerReport",
    "LayerRow",
    "Monitor",
    "Rule",
    "ShapeError",
    "Summary",
    "diagnose_run",
    "format_summary",
    "load_runs",
    "lr_range_test",
    "plot_lr_find",
    "run_sanity_checks",
    "suggest_lr",
    "summarize",
]
