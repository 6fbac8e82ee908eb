"""Babysitting the learning process: the lecture's checks and tools around a training run.

- :mod:`numnet.babysit.sanity`: sanity checks before a run (initial loss, overfitting a tiny
  subset, an input-independent baseline, a float64 gradient check), ``numnet sanity``.
- :mod:`numnet.babysit.lr_find`: the learning-rate range test, ``numnet lr-find``;
  :mod:`numnet.babysit.lr_rules`: reading a suggested learning rate off its losses.
- :mod:`numnet.babysit.summary`: per-layer shapes, parameters, memory and FLOPs from a model
  config, ``numnet summary``.
"""

from numnet.babysit.lr_find import LRFindResult, lr_range_test, plot_lr_find
from numnet.babysit.lr_rules import Rule, suggest_lr
from numnet.babysit.sanity import CheckResult, run_sanity_checks
from numnet.babysit.summary import LayerRow, ShapeError, Summary, format_summary, summarize

__all__ = [
    "CheckResult",
    "LRFindResult",
    "LayerRow",
    "Rule",
    "ShapeError",
    "Summary",
    "format_summary",
    "lr_range_test",
    "plot_lr_find",
    "run_sanity_checks",
    "suggest_lr",
    "summarize",
]
