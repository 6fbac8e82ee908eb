"""The course's ``layers.py``: every layer function of numnet, under the course's names.

This module only re-exports from ``numnet.ops.*``; ``from numnet.layers import *`` exposes every
layer (see ``__all__``). Forward passes return ``(out, cache)``; backward passes return the input
gradients in the forward's input order; losses return ``(loss, dx)``.
"""

from numnet.ops.activations import (
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from numnet.ops.affine import affine_backward, affine_forward
from numnet.ops.batchnorm import (
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
)
from numnet.ops.conv import conv_backward_naive, conv_forward_naive
from numnet.ops.dropout import dropout_backward, dropout_forward
from numnet.ops.groupnorm import spatial_groupnorm_backward, spatial_groupnorm_forward
from numnet.ops.layernorm import layernorm_backward, layernorm_forward
from numnet.ops.losses import softmax_loss, svm_loss
from numnet.ops.pool import max_pool_backward_naive, max_pool_forward_naive

# Course order (2021+ layers.py), then the 2019-20 losses, then numnet's extra activations.
__all__ = [
    "affine_forward",
    "affine_backward",
    "relu_forward",
    "relu_backward",
    "softmax_loss",
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
    "svm_loss",
    "leaky_relu_forward",
    "leaky_relu_backward",
    "sigmoid_forward",
    "sigmoid_backward",
    "tanh_forward",
    "tanh_backward",
]
