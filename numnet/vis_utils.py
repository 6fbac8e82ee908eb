"""Image grids for looking at weights and images (the course's ``vis_utils``, NumPy only).

The ConvolutionalNetworks notebook calls
``visualize_grid(model.params['W1'].transpose(0, 2, 3, 1))``; these functions keep the course's
signatures, shapes and scaling. Where the course divides by zero
(a constant tile or a constant grid), numnet writes zeros instead of NaNs.
"""

from __future__ import annotations

import math

import numpy as np

from numnet._checks import check_ndim


def _grid_side(n: int) -> int:
    return math.ceil(math.sqrt(n))


def _rescale(a: np.ndarray, ubound: float) -> np.ndarray:
    # A constant image has no range to stretch: show it as all zeros rather than NaN.
    low, high = a.min(), a.max()
    if high == low:
        return np.zeros_like(a)
    return ubound * (a - low) / (high - low)


def visualize_grid(Xs: np.ndarray, ubound: float = 255.0, padding: int = 1) -> np.ndarray:
    """Tile N images into a roughly square grid, each tile min-max scaled to ``[0, ubound]``.

    Args:
        Xs: images, shape (N, H, W, C).
        ubound: the value the brightest pixel of every tile is mapped to.
        padding: zero pixels between neighbouring tiles.

    Returns:
        float64 grid of shape (H*g + padding*(g-1), W*g + padding*(g-1), C), g = ceil(sqrt(N));
        cells past the N-th image stay zero.
    """
    Xs = np.asarray(Xs)
    check_ndim("Xs", Xs, 4)
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    N, H, W, C = Xs.shape
    g = _grid_side(N)
    grid = np.zeros((H * g + padding * (g - 1), W * g + padding * (g - 1), C))
    for i in range(N):
        y0 = (i // g) * (H + padding)
        x0 = (i % g) * (W + padding)
        grid[y0 : y0 + H, x0 : x0 + W] = _rescale(Xs[i].astype(np.float64), ubound)
    return grid


def vis_grid(Xs: np.ndarray) -> np.ndarray:
    """Tile N images with one-pixel separators, the whole grid normalised to ``[0, 1]``.

    Args:
        Xs: images, shape (N, H, W, C).

    Returns:
        grid of shape (A*H + A, A*W + A, C), A = ceil(sqrt(N)), in Xs's floating dtype (float64
        for integer input). Separators and empty cells take the smallest value of Xs before scaling.
    """
    Xs = np.asarray(Xs)
    check_ndim("Xs", Xs, 4)
    N, H, W, C = Xs.shape
    A = _grid_side(N)
    dtype = Xs.dtype if np.issubdtype(Xs.dtype, np.floating) else np.float64
    G = np.full((A * H + A, A * W + A, C), Xs.min(), dtype=dtype)
    for n in range(N):
        y, x = divmod(n, A)
        G[y * H + y : (y + 1) * H + y, x * W + x : (x + 1) * W + x] = Xs[n]
    return _rescale(G, 1.0).astype(dtype, copy=False)


def vis_nn(rows: list[list[np.ndarray]]) -> np.ndarray:
    """Lay out a list of rows of images as one grid normalised to ``[0, 1]``.

    Args:
        rows: N rows of D images each; every image has shape (H, W, C).

    Returns:
        grid of shape (N*H + N, D*W + D, C), in the images' floating dtype (float64 for integer
        images). Separators are ones before scaling, as in the course.
    """
    if not rows or not rows[0]:
        raise ValueError("rows must be a non-empty list of non-empty lists of (H, W, C) images")
    N, D = len(rows), len(rows[0])
    first = np.asarray(rows[0][0])
    check_ndim("rows[0][0]", first, 3)
    H, W, C = first.shape
    dtype = first.dtype if np.issubdtype(first.dtype, np.floating) else np.float64
    G = np.ones((N * H + N, D * W + D, C), dtype=dtype)
    for y, row in enumerate(rows):
        if len(row) != D:
            raise ValueError(f"rows[{y}] must hold {D} images like rows[0], got {len(row)}")
        for x, img in enumerate(row):
            img = np.asarray(img)
            if img.shape != (H, W, C):
                raise ValueError(
                    f"rows[{y}][{x}] must have shape {(H, W, C)} like rows[0][0], got {img.shape}"
                )
            G[y * H + y : (y + 1) * H + y, x * W + x : (x + 1) * W + x] = img
    return _rescale(G, 1.0).astype(dtype, copy=False)
