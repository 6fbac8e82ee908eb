"""``--device``: one-line errors without a GPU, and whole runs on a device (the guard stands in).

The command runs on a device through ``Model.to``; here ``--device cuda`` is pointed at the guard
module, so the train -> eval -> resume path is exercised end to end with device arrays on every
machine, and compared with the same run on the CPU (to float32 rounding: the guard takes CuPy's
code branches; an accuracy may differ by a prediction that rounding tips over).
"""

import re

import pytest
from _cli_testlib import run_cli, train_argv
from _guard_xp import guard_xp
from test_cli_errors import assert_one_line_error

from numnet import backend
from numnet.cli import rundir

COMPARED = ("loss", "train_acc", "val_acc", "lr")


@pytest.fixture
def no_cupy(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", lambda: None)


@pytest.fixture
def guard_cuda(monkeypatch):
    """``--device cuda`` puts the model on the guard module (as CuPy would put it on a GPU)."""
    real = backend.device_module
    pick = lambda d: guard_xp if d == "cuda" else real(d)  # noqa: E731
    monkeypatch.setattr(backend, "device_module", pick)


@pytest.mark.parametrize("command", ["train", "lr-find", "search"])
def test_cuda_without_cupy_is_one_line_and_writes_nothing(
    command, no_cupy, tiny_data, tmp_path, capsys
):
    out = tmp_path / "run"
    argv = train_argv(tiny_data, out, "--device", "cuda")
    argv[0] = command
    if command == "search":
        (tmp_path / "space.toml").write_text("[reg]\nlow = 1e-6\nhigh = 1e-2\nlog = true\n")
        argv += ["--trials", "1", "--space", tmp_path / "space.toml"]
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(err, code, 1, "--device cuda", "needs CuPy", "pip install 'numnet[gpu]'")
    assert not out.exists()


def test_eval_cuda_without_cupy_and_sanity_on_cuda(no_cupy, tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *train_argv(tiny_data, out, "--epochs", "1"))
    assert code == 0, err
    code, _, err = run_cli(capsys, "eval", out / "best.npz", "--device", "cuda")
    assert_one_line_error(err, code, 1, "--device cuda", "needs CuPy")
    code, _, err = run_cli(capsys, "sanity", "--data-dir", tiny_data, "--device", "cuda")
    assert_one_line_error(err, code, 2, "numnet sanity runs on the CPU", "drop --device cuda")
    code, _, err = run_cli(capsys, "train", "--device", "tpu")
    assert_one_line_error(err, code, 2, "argument --device: invalid choice: 'tpu'")


def _rows(run, name=rundir.EPOCHS):
    return [{k: r[k] for k in COMPARED if k in r} for r in rundir.read_metrics(run / name)]


def _assert_same_run(a, b):
    for name in (rundir.EPOCHS, rundir.ITERATIONS):
        ra, rb = _rows(a, name), _rows(b, name)
        assert len(ra) == len(rb) and ra
        for x, y in zip(ra, rb):
            assert x["loss"] == pytest.approx(y["loss"], rel=1e-4) and x["lr"] == y["lr"]
            for k in ("train_acc", "val_acc"):
                assert (k in x) == (k in y) and abs(x.get(k, 0) - y.get(k, 0)) <= 0.02, (k, x, y)


def _accuracy(text: str) -> float:
    return float(re.search(r"accuracy ([0-9.]+)%", text).group(1))


def test_a_run_on_the_device_equals_the_cpu_run_and_moves_between_them(
    guard_cuda, tiny_data, tmp_path, capsys
):
    cpu, dev = tmp_path / "cpu", tmp_path / "dev"
    for out, device in ((cpu, "cpu"), (dev, "cuda")):
        code, _, err = run_cli(capsys, *train_argv(tiny_data, out, "--epochs", "1",
                                                   "--device", device))  # fmt: skip
        assert code == 0, err
    assert rundir.read_json(dev / rundir.CONFIG)["options"]["device"] == "cuda"
    _assert_same_run(dev, cpu)
    summary = [rundir.read_json(r / rundir.SUMMARY) for r in (cpu, dev)]
    assert summary[0]["test_acc"] == pytest.approx(summary[1]["test_acc"], abs=0.02)
    # The device run's checkpoint evaluates on either device with the same predictions.
    evals = []
    for device in ("cpu", "cuda"):
        code, text, err = run_cli(capsys, "eval", dev / "best.npz", "--device", device)
        assert code == 0, err
        evals.append(text)
    assert evals[0] == evals[1]
    assert _accuracy(evals[0]) == pytest.approx(100 * summary[1]["test_acc"], abs=0.01)
    # --device may change on resume: the CPU run continues on the device and vice versa.
    before = len(_rows(cpu))
    for out, device in ((cpu, "cuda"), (dev, "cpu")):
        code, _, err = run_cli(capsys, "train", "--resume", out, "--epochs", "2",
                               "--device", device)  # fmt: skip
        assert code == 0, err
    _assert_same_run(dev, cpu)
    assert len(_rows(dev)) == before + 1


def test_lr_find_on_the_device_suggests_what_the_cpu_suggests(
    guard_cuda, tiny_data, tmp_path, capsys
):
    rows = {}
    for device in ("cpu", "cuda"):
        argv = train_argv(tiny_data, tmp_path / device, "--device", device, "--steps", "25")
        argv[0] = "lr-find"
        code, _, err = run_cli(capsys, *argv)
        assert code == 0, err
        rows[device] = (tmp_path / device / "lr_find.csv").read_text().splitlines()
    assert len(rows["cpu"]) == len(rows["cuda"]) > 2
    for a, b in zip(rows["cpu"][1:], rows["cuda"][1:]):
        assert [float(v) for v in a.split(",")] == pytest.approx(
            [float(v) for v in b.split(",")], rel=1e-4, nan_ok=True
        )


def test_features_and_finetune_on_the_device(guard_cuda, tiny_data, tmp_path, capsys):
    import numpy as np

    run = tmp_path / "run"
    code, _, err = run_cli(capsys, *train_argv(tiny_data, run, "--epochs", "1"))
    assert code == 0, err
    feats = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / f"{device}.npz"
        code, _, err = run_cli(capsys, "features", run / "best.npz", "--data-dir", tiny_data,
                               "--out", out, "--num-val", "40", "--device", device)  # fmt: skip
        assert code == 0, err
        with np.load(out, allow_pickle=False) as f:
            feats[device] = {k: f[k] for k in f.files}
    assert feats["cpu"].keys() == feats["cuda"].keys()
    for k, a in feats["cpu"].items():
        if a.dtype.kind == "f":
            np.testing.assert_allclose(feats["cuda"][k], a, rtol=1e-4, atol=1e-5, err_msg=k)
        else:
            np.testing.assert_array_equal(feats["cuda"][k], a, err_msg=k)
    argv = train_argv(tiny_data, tmp_path / "ft", "--epochs", "1", "--device", "cuda")
    code, _, err = run_cli(capsys, "finetune", run / "best.npz", *argv[1:])
    assert code == 0, err
    assert rundir.read_json(tmp_path / "ft" / rundir.CONFIG)["options"]["device"] == "cuda"
