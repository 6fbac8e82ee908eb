"""``numnet eval``, ``plot``, ``gradcheck``, ``data``, ``--help`` and ``--threads``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _cli_testlib import run_cli, train_argv

from numnet.cli.gradcheck_cases import Case

ROOT = Path(__file__).resolve().parents[1]


def run_python(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )


@pytest.fixture
def run_dir(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *train_argv(tiny_data, out, "--epochs", "1"))
    assert code == 0, err
    return out


def test_eval_prints_accuracy_table_and_confusion_matrix(run_dir, tiny_data, tmp_path, capsys):
    out = tmp_path / "eval"
    code, stdout, err = run_cli(capsys, "eval", run_dir / "best.npz", "--data-dir", tiny_data,
                                "--out", out)  # fmt: skip
    assert code == 0, err
    summary = json.loads((run_dir / "summary.json").read_text())
    # The same test accuracy as the training run reported, from the same checkpoint and data.
    assert f"test accuracy {100 * summary['test_acc']:.2f}% on 120" in stdout
    for name in ("T-shirt/top", "Ankle boot", "confusion matrix"):
        assert name in stdout
    result = json.loads((out / "eval.json").read_text())
    assert result["confusion_matrix"] == summary["confusion_matrix"]
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_validation_split_subset(run_dir, tiny_data, capsys):
    code, stdout, _ = run_cli(capsys, "eval", run_dir / "last.npz", "--data-dir", tiny_data,
                              "--split", "val", "--num", "25")  # fmt: skip
    assert code == 0
    assert "val accuracy" in stdout and "on 25 fashion-mnist images" in stdout


def test_plot_redraws_every_plot(run_dir, capsys):
    pngs = sorted(p.name for p in run_dir.glob("*.png"))
    assert pngs == ["accuracy.png", "confusion.png", "filters.png", "loss.png"]
    for p in run_dir.glob("*.png"):
        p.unlink()
    code, stdout, _ = run_cli(capsys, "plot", run_dir)
    assert code == 0
    assert sorted(p.name for p in run_dir.glob("*.png")) == pngs
    assert len(stdout.splitlines()) == 4


def test_gradcheck_table(capsys):
    code, stdout, _ = run_cli(capsys, "gradcheck", "--only", "layer a")
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0].split() == ["check", "max", "rel", "error", "tolerance", "result"]
    names = [ln.split("  ")[0] for ln in lines[1:-1]]
    assert names == ["layer affine", "layer affine_relu", "layer affine_batchnorm_relu",
                     "layer affine_layernorm_relu"]  # fmt: skip
    assert all(ln.endswith("pass") for ln in lines[1:-1])
    assert lines[-1].startswith("4 of 4 checks passed")


def test_gradcheck_model_case(capsys):
    code, stdout, _ = run_cli(capsys, "gradcheck", "--only", "ConvNet(norm=batchnorm")
    assert code == 0 and "1 of 1 checks passed" in stdout


def test_gradcheck_fails_with_exit_code_1(capsys, monkeypatch):
    def broken(rng):
        return 0.5

    cases = [Case("good", lambda rng: 0.0, 1e-7), Case("broken", broken, 1e-7)]
    monkeypatch.setattr("numnet.cli.gradcheck.all_cases", lambda: cases)
    code, stdout, _ = run_cli(capsys, "gradcheck")
    assert code == 1
    assert "FAIL" in stdout.splitlines()[2] and "1 of 2 checks passed" in stdout


def test_data_list(tiny_data, capsys):
    code, stdout, _ = run_cli(capsys, "data", "list", "--data-dir", tiny_data)
    assert code == 0
    names = [ln.split()[0] for ln in stdout.splitlines()[1:]]
    assert {"fashion-mnist", "mnist", "cifar10"} <= set(names)


def test_data_fetch_reports_download_failure_in_one_line(tmp_path, capsys, monkeypatch):
    from numnet.data import DownloadError

    def no_network(name, root=None, **kw):
        raise DownloadError(
            f"{name}: every mirror failed:\n  http://a: refused\n  http://b: refused"
        )

    monkeypatch.setattr("numnet.data.fetch", no_network)
    code, _, err = run_cli(capsys, "data", "fetch", "mnist", "--data-dir", tmp_path)
    assert code == 1
    assert err.strip() == (
        "numnet: error: cannot fetch mnist: mnist: every mirror failed: http://a: refused "
        "http://b: refused"
    )


def test_python_m_numnet_help():
    res = run_python("-m", "numnet", "--help")
    assert res.returncode == 0, res.stderr
    for cmd in ("train", "eval", "plot", "gradcheck", "data"):
        assert cmd in res.stdout
    res = run_python("-m", "numnet", "train", "--help")
    assert res.returncode == 0
    text = " ".join(res.stdout.split())
    for shown in ("(default: convnet)", "(default: fashion-mnist)", "(default: adam)",
                  "(default: 0.002)", "(default: 64)", "(default: cosine)"):  # fmt: skip
        assert shown in text


def test_cli_import_leaves_numpy_unloaded_until_a_command_runs():
    code = "import sys, numnet.cli.main; print('numpy' in sys.modules)"
    res = run_python("-c", code)
    assert res.stdout.strip() == "False", res.stderr


def test_threads_before_numpy_loads_sets_blas_env():
    code = (
        "import os\n"
        "from numnet.cli.threads import limit_threads\n"
        "with limit_threads(1):\n"
        "    import numpy\n"
        "print(os.environ['OMP_NUM_THREADS'], os.environ['OPENBLAS_NUM_THREADS'])\n"
    )
    res = run_python("-c", code)
    assert res.stdout.split() == ["1", "1"], res.stderr


def test_threads_after_numpy_loaded_uses_threadpoolctl():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from numnet.cli.threads import limit_threads

    with limit_threads(1):
        info = threadpoolctl.threadpool_info()
        assert all(i["num_threads"] == 1 for i in info if i["user_api"] == "blas")
    assert np.ones(3).sum() == 3.0


@pytest.mark.parametrize("name", ["default", "long", "fc"])
def test_recipe_files_parse(name):
    from numnet.cli import config

    cfg = config.resolve({}, ROOT / "configs" / f"{name}.toml")
    assert cfg["data"] == "fashion-mnist"
    if name == "default":  # the file spells out what a bare `numnet train` does
        assert cfg == config.resolve({})
