"""Shape arithmetic and edge validation shared by the naive and fast conv / max-pool layers.

Both implementations call these once per public call, so every error message is the same whichever
path the caller takes, and the kernels themselves never re-check.
"""

from __future__ import annotations

import numpy as np

from numnet._checks import check_floating, check_keys, check_ndim, check_shape


def _int_param(param_name: str, key: str, value, minimum: int) -> int:
    """``value`` as a Python int, or ValueError naming ``param_name[key]``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{param_name}['{key}'] must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _out_size(axis: str, size: int, window: int, pad: int, stride: int, what: str) -> int:
    """Output length along one spatial axis: (W - F + 2P)/S + 1, which must be a whole number >= 1.

    Args:
        axis: "height" or "width" (for the message).
        size: input length W (before padding).
        window: filter length F.
        pad: zero padding P on each side.
        stride: step S.
        what: the parameter dict's name (for the message).
    """
    span = size + 2 * pad - window
    if span < 0:
        raise ValueError(
            f"{what}: the {axis} window ({window}) is larger than the padded input "
            f"({size} + 2*{pad} = {size + 2 * pad}); the output {axis} "
            f"(W - F + 2P)/S + 1 would be < 1"
        )
    if span % stride != 0:
        raise ValueError(
            f"{what}: the output {axis} (W - F + 2P)/S + 1 must be an integer, got "
            f"({size} - {window} + 2*{pad})/{stride} + 1 = {span / stride + 1:g} "
            f"(W={size}, F={window}, P={pad}, S={stride})"
        )
    return span // stride + 1


def conv_geometry(x, w, b, conv_param) -> tuple[int, int, int, int]:
    """Validate a conv call and return ``(stride, pad, H_out, W_out)``.

    Args:
        x: input of shape (N, C, H, W), floating.
        w: filters of shape (F, C, HH, WW), floating.
        b: biases of shape (F,).
        conv_param: dict with int ``'stride'`` (>= 1) and int ``'pad'`` (>= 0).

    Returns:
        ``(stride, pad, H_out, W_out)`` with ``H_out = 1 + (H + 2*pad - HH) / stride`` (likewise W).

    Raises:
        ValueError: a wrong ndim or shape, mismatched channels, a missing or bad ``conv_param``
            entry, or an output size that is not a whole number >= 1.
    """
    check_ndim("x", x, 4, "of shape (N, C, H, W)")
    check_ndim("w", w, 4, "of shape (F, C, HH, WW)")
    check_floating("x", x)
    check_floating("w", w)
    if w.shape[1] != x.shape[1]:
        raise ValueError(
            f"w must have as many channels as x: w has {w.shape[1]} (w.shape={tuple(w.shape)}), "
            f"x has {x.shape[1]} (x.shape={tuple(x.shape)})"
        )
    check_shape("b", b, (w.shape[0],))
    check_keys("conv_param", conv_param, ("stride", "pad"))
    stride = _int_param("conv_param", "stride", conv_param["stride"], 1)
    pad = _int_param("conv_param", "pad", conv_param["pad"], 0)
    _, _, H, W = x.shape
    _, _, HH, WW = w.shape
    H_out = _out_size("height", H, HH, pad, stride, "conv_param")
    W_out = _out_size("width", W, WW, pad, stride, "conv_param")
    return stride, pad, H_out, W_out


def pool_geometry(x, pool_param) -> tuple[int, int, int, int, int]:
    """Validate a max-pool call and return ``(pool_height, pool_width, stride, H_out, W_out)``.

    Windows that do not tile the input follow floor semantics (as ``torch.nn.functional.max_pool2d``
    with ``ceil_mode=False``): ``H_out = 1 + (H - pool_height) // stride`` and the rows / columns
    past the last whole window take no part.

    Args:
        x: input of shape (N, C, H, W), floating.
        pool_param: dict with int ``'pool_height'``, ``'pool_width'`` and ``'stride'`` (all >= 1).

    Raises:
        ValueError: a wrong ndim, a missing or bad ``pool_param`` entry, or a window larger than x.
    """
    check_ndim("x", x, 4, "of shape (N, C, H, W)")
    check_floating("x", x)
    return pool_dims(x.shape[2], x.shape[3], pool_param)


def pool_dims(H: int, W: int, pool_param) -> tuple[int, int, int, int, int]:
    """``pool_geometry`` for an input of height H and width W (no array needed)."""
    check_keys("pool_param", pool_param, ("pool_height", "pool_width", "stride"))
    ph = _int_param("pool_param", "pool_height", pool_param["pool_height"], 1)
    pw = _int_param("pool_param", "pool_width", pool_param["pool_width"], 1)
    stride = _int_param("pool_param", "stride", pool_param["stride"], 1)
    for axis, size, window in (("height", H, ph), ("width", W, pw)):
        if window > size:
            raise ValueError(
                f"pool_param: pool_{axis} ({window}) is larger than the input {axis} ({size}); "
                f"the output {axis} 1 + (H - pool_{axis}) // stride would be < 1"
            )
    return ph, pw, stride, (H - ph) // stride + 1, (W - pw) // stride + 1


def check_dout(dout, expected: tuple) -> None:
    """Raise ValueError unless the upstream gradient has the forward output's shape."""
    check_shape("dout", dout, tuple(expected))
