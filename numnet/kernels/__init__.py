"""Fast kernels in pure array code (NumPy, or CuPy on a GPU): no compiled extensions, no Numba.

These functions take already-validated arguments; the validated, course-named entry points are in
``numnet.fast_layers`` (conv_forward_fast, conv_backward_fast, max_pool_forward_fast,
max_pool_backward_fast, and the fused conv_relu_pool_forward_fast / conv_relu_pool_backward_fast and
conv_bn_relu_pool_forward_fast / conv_bn_relu_pool_backward_fast).
"""

from numnet.kernels.conv import ConvCache, conv2d_backward, conv2d_forward
from numnet.kernels.conv_bn_relu import (
    ConvBNReluCache,
    conv_bn_relu_pool2d_backward,
    conv_bn_relu_pool2d_forward,
)
from numnet.kernels.conv_relu_pool import (
    ConvReluPoolCache,
    conv_relu_pool2d_backward,
    conv_relu_pool2d_forward,
)
from numnet.kernels.pool import PoolCache, max_pool2d_backward, max_pool2d_forward

__all__ = [
    "ConvBNReluCache",
    "ConvCache",
    "ConvReluPoolCache",
    "PoolCache",
    "conv2d_backward",
    "conv2d_forward",
    "conv_bn_relu_pool2d_backward",
    "conv_bn_relu_pool2d_forward",
    "conv_relu_pool2d_backward",
    "conv_relu_pool2d_forward",
    "max_pool2d_backward",
    "max_pool2d_forward",
]
