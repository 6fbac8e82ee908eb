"""numnet.vis_utils: the course's image grids (shapes, scaling, layout)."""

import math

import numpy as np
import pytest

from numnet.vis_utils import vis_grid, vis_nn, visualize_grid


@pytest.mark.parametrize(
    ("N", "H", "W", "C", "padding"),
    [(1, 3, 3, 1, 1), (4, 2, 3, 3, 1), (5, 4, 4, 3, 2), (10, 3, 2, 1, 1), (9, 5, 5, 3, 0)],
)
def test_visualize_grid_shape(N, H, W, C, padding, rng):
    g = math.ceil(math.sqrt(N))
    out = visualize_grid(rng.standard_normal((N, H, W, C)), padding=padding)
    assert out.shape == (H * g + padding * (g - 1), W * g + padding * (g - 1), C)
    assert out.dtype == np.float64


@pytest.mark.parametrize("padding", [0, 1, 3])
def test_visualize_grid_tiles_scaled_and_placed(padding, rng):
    Xs = rng.standard_normal((3, 2, 3, 1))
    out = visualize_grid(Xs, ubound=10.0, padding=padding)
    # 3 images -> a 2x2 grid; image i sits at row i // 2, column i % 2.
    for i in range(3):
        y0, x0 = (i // 2) * (2 + padding), (i % 2) * (3 + padding)
        tile = out[y0 : y0 + 2, x0 : x0 + 3]
        expected = 10.0 * (Xs[i] - Xs[i].min()) / (Xs[i].max() - Xs[i].min())
        np.testing.assert_allclose(tile, expected, rtol=0, atol=1e-12)
    # The fourth cell and the padding stay zero.
    np.testing.assert_array_equal(out[2 + padding :, 3 + padding :], 0.0)
    if padding:
        np.testing.assert_array_equal(out[2 : 2 + padding, :], 0.0)


def test_visualize_grid_constant_tile_is_zero_not_nan():
    out = visualize_grid(np.ones((2, 2, 2, 1)))
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out, 0.0)


def test_visualize_grid_course_call_on_conv_weights(rng):
    W1 = rng.standard_normal((32, 3, 7, 7)).astype(np.float32)
    out = visualize_grid(W1.transpose(0, 2, 3, 1))
    assert out.shape == (6 * 7 + 5, 6 * 7 + 5, 3)
    assert out.min() == 0.0
    assert out.max() == pytest.approx(255.0)


@pytest.mark.parametrize("bad", [np.zeros((2, 3, 3)), np.zeros((2, 3))])
def test_visualize_grid_rejects_wrong_ndim(bad):
    with pytest.raises(ValueError, match="Xs must be a 4-D array"):
        visualize_grid(bad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vis_grid_layout_and_range(dtype, rng):
    Xs = rng.standard_normal((5, 2, 2, 3)).astype(dtype)
    G = vis_grid(Xs)
    assert G.shape == (3 * 2 + 3, 3 * 2 + 3, 3)
    assert G.dtype == dtype
    assert G.min() == 0.0 and G.max() == pytest.approx(1.0)
    lo, hi = Xs.min(), Xs.max()
    np.testing.assert_allclose(G[0:2, 3:5], (Xs[1] - lo) / (hi - lo), rtol=1e-6)
    # Separators and empty cells hold the minimum, i.e. 0 after scaling.
    np.testing.assert_array_equal(G[2, :], 0.0)
    np.testing.assert_array_equal(G[6:8, 6:8], 0.0)


def test_vis_nn_layout_and_range(rng):
    rows = [[rng.standard_normal((2, 3, 1)) for _ in range(3)] for _ in range(2)]
    G = vis_nn(rows)
    assert G.shape == (2 * 2 + 2, 3 * 3 + 3, 1)
    assert 0.0 <= G.min() and G.max() <= 1.0
    all_vals = np.concatenate([np.ravel(im) for row in rows for im in row] + [np.ones(1)])
    lo, hi = all_vals.min(), all_vals.max()
    np.testing.assert_allclose(G[3:5, 4:7], (rows[1][1] - lo) / (hi - lo), rtol=1e-12)


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([], "non-empty"),
        ([[np.zeros((2, 2, 1))], [np.zeros((2, 2, 1)), np.zeros((2, 2, 1))]], r"rows\[1\]"),
        ([[np.zeros((2, 2, 1)), np.zeros((3, 2, 1))]], r"rows\[0\]\[1\]"),
    ],
)
def test_vis_nn_rejects_ragged_input(rows, match):
    with pytest.raises(ValueError, match=match):
        vis_nn(rows)
