"""Transfer learning: start a model from another's weights, freeze, fine-tune, extract features.

- ``load_pretrained`` (``load``): copy what fits by name and shape from a checkpoint, a state
  dict or a model, with a report of copied / re-initialised / skipped names and shapes;
  ``TransferError`` names the parameter and both shapes where a kept layer does not fit.
- ``freeze`` and ``head_first`` (``recipe``): freezing by selector (``numnet.param_groups``) and
  the two-phase schedule (head only, then everything at a lower rate) as Solver settings.
- ``extract_features`` / ``feature_data`` (``features``): a layer's test-mode activations, to
  train a ``numnet.classifiers.LinearClassifier`` (softmax or SVM) on.

Frozen parameters stay bit-identical and get no optimizer state; batch norm layers whose gamma
and beta are frozen run in test mode while training (running statistics used and unchanged).
Per-group learning-rate multipliers are the Solver's ``lr_mult``.
"""

from numnet.transfer.features import extract_features, feature_data
from numnet.transfer.load import LoadReport, ReportEntry, TransferError, load_pretrained
from numnet.transfer.recipe import freeze, head_first

__all__ = [
    "LoadReport",
    "ReportEntry",
    "TransferError",
    "extract_features",
    "feature_data",
    "freeze",
    "head_first",
    "load_pretrained",
]
