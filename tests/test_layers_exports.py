"""Course import paths: ``from numnet.layers import *`` and ``from numnet.layer_utils import *``."""

import importlib

import pytest

# cs231n-api.md section 2.1: every function of the course's layers.py (2019-20 and 2021+).
COURSE_LAYERS = [
    "affine_forward",
    "affine_backward",
    "relu_forward",
    "relu_backward",
    "softmax_loss",
    "svm_loss",
    "batchnorm_forward",
    "batchnorm_backward",
    "batchnorm_backward_alt",
    "layernorm_forward",
    "layernorm_backward",
    "dropout_forward",
    "dropout_backward",
    "conv_forward_naive",
    "conv_backward_naive",
    "max_pool_forward_naive",
    "max_pool_backward_naive",
    "spatial_batchnorm_forward",
    "spatial_batchnorm_backward",
    "spatial_groupnorm_forward",
    "spatial_groupnorm_backward",
]
# Issue 2's extra activations.
EXTRA_LAYERS = [
    "leaky_relu_forward",
    "leaky_relu_backward",
    "sigmoid_forward",
    "sigmoid_backward",
    "tanh_forward",
    "tanh_backward",
]
# Section 2.2 sandwiches, plus the name for conv_bn_relu.
SANDWICHES = [
    "affine_relu_forward",
    "affine_relu_backward",
    "conv_relu_forward",
    "conv_relu_backward",
    "conv_bn_relu_forward",
    "conv_bn_relu_backward",
    "conv_relu_pool_forward",
    "conv_relu_pool_backward",
    "affine_batchnorm_relu_forward",
    "affine_batchnorm_relu_backward",
    "affine_layernorm_relu_forward",
    "affine_layernorm_relu_backward",
    "conv_batchnorm_relu_forward",
    "conv_batchnorm_relu_backward",
]
# Section 1: layer_utils star-imports fast_layers, so these come with it.
FAST = [
    "conv_forward_fast",
    "conv_backward_fast",
    "max_pool_forward_fast",
    "max_pool_backward_fast",
]


def _star(module):
    """The namespace ``from <module> import *`` creates."""
    namespace = {}
    exec(f"from {module} import *", namespace)  # the statement under test; a fixed string
    namespace.pop("__builtins__", None)
    return namespace


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("numnet.layers", COURSE_LAYERS + EXTRA_LAYERS),
        ("numnet.layer_utils", COURSE_LAYERS + EXTRA_LAYERS + SANDWICHES + FAST),
    ],
)
def test_star_import_exposes_the_course_functions(module, expected):
    namespace = _star(module)
    missing = sorted(set(expected) - set(namespace))
    assert not missing, f"from {module} import * lacks {missing}"
    for name in expected:
        assert callable(namespace[name]), name


@pytest.mark.parametrize("module", ["numnet.layers", "numnet.layer_utils"])
def test_all_is_exact_and_resolves(module):
    mod = importlib.import_module(module)
    assert len(mod.__all__) == len(set(mod.__all__)), "duplicate names in __all__"
    for name in mod.__all__:
        assert callable(getattr(mod, name)), name
    # Only functions: no modules or helpers leak through the star import.
    assert set(_star(module)) == set(mod.__all__)


def test_layers_all_lists_exactly_the_layer_functions():
    from numnet import layers

    assert set(layers.__all__) == set(COURSE_LAYERS + EXTRA_LAYERS)
