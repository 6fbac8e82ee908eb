"""Models: the course's two-layer, fully connected and three-layer conv nets, and ``ConvNet``.

The classes are ``TwoLayerNet``, ``FullyConnectedNet``, ``ThreeLayerConvNet`` (the course's),
numnet's configurable ``ConvNet``, and ``LinearClassifier`` (softmax or SVM) for extracted
features.

``build_model(model.get_config())`` rebuilds a model of the same architecture and hyper-parameters
(its weights come from a checkpoint, not from the config); a config that uses an argument's
deprecated name (``seed`` for ``rng``, see ``Model.renamed_config_keys``) builds too. The course's
import paths (``numnet.classifiers.fc_net``, ``numnet.classifiers.cnn``) work as they are.
"""

from __future__ import annotations

from collections.abc import Mapping

from numnet.classifiers.base import Model, param_budget
from numnet.classifiers.cnn import ThreeLayerConvNet
from numnet.classifiers.convnet import ConvNet
from numnet.classifiers.fc_net import FullyConnectedNet, TwoLayerNet
from numnet.classifiers.linear import LinearClassifier

#: Class name -> class; the ``"name"`` values that ``build_model`` accepts.
MODEL_REGISTRY: dict[str, type[Model]] = {
    cls.__name__: cls
    for cls in (TwoLayerNet, FullyConnectedNet, ThreeLayerConvNet, ConvNet, LinearClassifier)
}


def build_model(config: Mapping, max_params: int | None = None) -> Model:
    """Build a model from ``{"name": <class name>, **kwargs}``, the form ``get_config()`` returns.

    Args:
        config: the model's class name and constructor arguments.
        max_params: refuse a config whose weights would number more than this, before they are
            allocated (a config read from an untrusted file); None: no limit.

    Raises:
        ValueError: ``config`` is not a dict, lacks ``"name"``, names an unknown model, holds
            an argument the model's constructor does not take (the model's own checks name bad
            values), or implies more than ``max_params`` weights.
    """
    if not isinstance(config, Mapping) or "name" not in config:
        raise ValueError(f'config must be a dict with a "name" key, got {config!r}')
    kwargs = dict(config)
    name = kwargs.pop("name")
    if name not in MODEL_REGISTRY:
        allowed = ", ".join(repr(n) for n in MODEL_REGISTRY)
        raise ValueError(f"config name must be one of {allowed}; got {name!r}")
    cls = MODEL_REGISTRY[name]
    for old, new in cls.renamed_config_keys:
        if old in kwargs and new not in kwargs:
            kwargs[new] = kwargs.pop(old)
    try:
        with param_budget(max_params):
            return cls(**kwargs)
    except TypeError as err:  # an unknown or missing keyword: say which model and why
        raise ValueError(f"config does not fit {name}: {err}") from None


__all__ = [
    "MODEL_REGISTRY",
    "ConvNet",
    "FullyConnectedNet",
    "LinearClassifier",
    "Model",
    "ThreeLayerConvNet",
    "TwoLayerNet",
    "build_model",
]
