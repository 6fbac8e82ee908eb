"""numnet.plots: EMA smoothing and valid PNGs for every plot, written atomically."""

import json

import numpy as np
import pytest

from numnet import plots
from numnet.run_files import RunFilesError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    import matplotlib.image as mpimg

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50 and img.shape[2] in (3, 4)
    # No temp files left beside the PNG.
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.99])
def test_ema_of_constant_is_constant(beta):
    np.testing.assert_allclose(plots.ema(np.full(30, 2.5), beta), 2.5, rtol=1e-12)


def test_ema_matches_definition():
    x = np.array([4.0, 2.0, 1.0, 3.0])
    beta = 0.5
    s, want = 0.0, []
    for t, v in enumerate(x, 1):
        s = beta * s + (1 - beta) * v
        want.append(s / (1 - beta**t))
    np.testing.assert_allclose(plots.ema(x, beta), want, rtol=1e-12)
    np.testing.assert_array_equal(plots.ema(x, 0.0), x)


@pytest.mark.parametrize("beta", [-0.1, 1.0])
def test_ema_rejects_bad_beta(beta):
    with pytest.raises(ValueError, match="beta must be in"):
        plots.ema([1.0, 2.0], beta)


@pytest.fixture
def figures(monkeypatch):
    """Every figure plots saves, for a look at what was drawn."""
    drawn, save = [], plots._save

    def keep(fig, path):
        drawn.append(fig)
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return drawn


def test_plot_loss_leaves_out_nonpositive_and_nonfinite_points(tmp_path, rng, figures):
    it = np.arange(1, 201)
    loss = 2.3 * np.exp(-it / 80) + 0.05 * rng.random(200)
    loss[5], loss[6], loss[7], loss[8] = np.nan, 0.0, -0.5, np.inf
    path = plots.plot_loss(tmp_path / "loss.png", it, loss, iterations_per_epoch=50)
    assert path == tmp_path / "loss.png"
    assert_png(path)
    ax = figures[0].axes[0]
    assert ax.get_yscale() == "log"
    raw, smooth = ax.lines
    kept = np.delete(np.arange(200), [5, 6, 7, 8])
    np.testing.assert_array_equal(raw.get_xdata(), it[kept])
    np.testing.assert_array_equal(raw.get_ydata(), loss[kept])
    np.testing.assert_array_equal(smooth.get_xdata(), it[kept])
    # The smoothed line is the EMA of the kept points only: one NaN would poison all after it.
    np.testing.assert_allclose(smooth.get_ydata(), plots.ema(loss[kept]), rtol=1e-12)


def test_plot_loss_with_no_finite_values_still_draws(tmp_path):
    assert_png(plots.plot_loss(tmp_path / "l.png", [1, 2], [np.nan, np.inf]))


def test_plot_accuracy_writes_png(tmp_path):
    assert_png(
        plots.plot_accuracy(tmp_path / "a.png", [1, 2, 3], [0.5, 0.7, 0.8], [0.4, 0.6, 0.65])
    )


def test_plot_accuracy_rejects_mismatched_lengths(tmp_path):
    with pytest.raises(ValueError, match="val_acc must have shape"):
        plots.plot_accuracy(tmp_path / "a.png", [1, 2], [0.5, 0.7], [0.4])


@pytest.mark.parametrize(
    ("shape", "grid_ndim"), [((8, 1, 3, 3), 2), ((6, 3, 5, 5), 3), ((4, 2, 3, 3), 2)]
)
def test_filter_grid_and_plot(shape, grid_ndim, tmp_path, rng):
    W = rng.standard_normal(shape).astype(np.float32)
    grid = plots.filter_grid(W)
    assert grid.ndim == grid_ndim
    assert 0.0 <= grid.min() and grid.max() <= 1.0
    assert_png(plots.plot_filters(tmp_path / "f.png", W))


def test_filter_grid_rejects_affine_weights():
    with pytest.raises(ValueError, match="W must be a 4-D array"):
        plots.filter_grid(np.zeros((10, 5)))


def test_plot_confusion_writes_png(tmp_path, rng):
    cm = rng.integers(0, 50, (10, 10))
    cm[3] = 0  # a class with no examples must not divide by zero
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
             "Sneaker", "Bag", "Ankle boot"]  # fmt: skip
    assert_png(plots.plot_confusion(tmp_path / "c.png", cm, names))


@pytest.mark.parametrize(
    ("cm", "names", "match"),
    [
        (np.zeros((3, 2)), ["a", "b", "c"], "cm must have shape"),
        (np.zeros((2, 2)), ["a"], "class_names must hold 2 names"),
    ],
)
def test_plot_confusion_rejects_bad_input(cm, names, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        plots.plot_confusion(tmp_path / "c.png", cm, names)


def test_redraw_from_saved_metrics(tmp_path):
    (tmp_path / "iterations.csv").write_text(
        "iteration,epoch,loss,lr\n" + "".join(f"{i},1,{2.0 / i},0.001\n" for i in range(1, 30))
    )
    (tmp_path / "epochs.csv").write_text(
        "epoch,iteration,loss,train_acc,val_acc,lr,seconds\n1,29,0.5,0.8,0.75,0.001,1.0\n"
    )
    (tmp_path / "summary.json").write_text(
        json.dumps({"confusion_matrix": [[5, 1], [2, 7]], "class_names": ["a", "b"]})
    )
    written = plots.redraw(tmp_path)
    assert sorted(p.name for p in written) == ["accuracy.png", "confusion.png", "loss.png"]
    for p in written:
        assert_png(p)


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ({}, "holds none of iterations.csv, epochs.csv, best.npz, summary.json"),
        ({"epochs.csv": "epoch,iteration\n1,29\n"}, "lacks the columns ['train_acc', 'val_acc']"),
        ({"iterations.csv": "iteration,loss\n1,x\n"}, "column 'loss' holds 'x', not a number"),
        ({"summary.json": "[1, 2]"}, "must hold a JSON object, got list"),
        ({"summary.json": '{"confusion_matrix": [[1, 2], [3, 4]]}'}, "no confusion matrix to draw"),
        ({"best.npz": "not a zip"}, "best.npz"),
    ],
    ids=["empty", "missing-columns", "not-a-number", "json-list", "no-class-names", "bad-npz"],
)
def test_redraw_raises_run_files_error_naming_the_problem(tmp_path, files, words):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(RunFilesError) as info:
        plots.redraw(tmp_path)
    assert words in str(info.value)
    with pytest.raises(RunFilesError, match="not found"):
        plots.redraw(tmp_path / "nope")


def test_import_is_light():
    import subprocess
    import sys

    code = "import numnet.plots, sys; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
