"""``numnet eval``, ``plot``, ``gradcheck``, ``data``, ``--help`` and ``--threads``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _cli_testlib import run_cli, train_argv
from _gradcheck_testlib import (
    batchnorm_backward_without_the_variance_path,
    broken_loss,
    conv_backward_transposed_kernel,
    nudge_grad_entry,
    scale_grad,
    sigmoid_backward_times_1_01,
    softmax_loss_without_the_label_term,
)

from numnet import layer_utils, layers
from numnet.gradcheck_cases import all_cases

# Listing the checks imports every module they use (layer_utils, the classifiers), and those bind
# numnet.layers' functions by name: done here, before any test patches one, they bind the real
# ones (a first import under a patch would keep the broken function for the whole session).
ALL_CHECKS = [c.name for c in all_cases()]

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
    result = json.loads((out / "eval-best-test.json").read_text())
    assert result["confusion_matrix"] == summary["confusion_matrix"]
    assert (out / "confusion-best-test.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_into_the_run_directory_never_overwrites_its_files(run_dir, tiny_data, capsys):
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    code, stdout, err = run_cli(capsys, "eval", run_dir / "best.npz", "--data-dir", tiny_data,
                                "--split", "val", "--out", run_dir)  # fmt: skip
    assert code == 0, err
    after = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    assert {k: after[k] for k in before} == before
    assert sorted(set(after) - set(before)) == ["confusion-best-val.png", "eval-best-val.json"]
    assert f"wrote {run_dir / 'eval-best-val.json'}" in stdout


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


def gradcheck_rows(stdout):
    """{check name: (error column, result column)} of the table."""
    rows = {}
    for ln in stdout.splitlines()[1:-1]:
        name, rest = ln.split("  ", 1)
        fields = rest.split()
        rows[name] = (fields[0], fields[2])
    return rows


@pytest.mark.slow
def test_gradcheck_runs_every_check_and_every_layer_backward(capsys, monkeypatch):
    # Every backward of the course's layer files must be exercised by some check.
    called, required = set(), set()
    for module in (layers, layer_utils):
        for name in dir(module):
            fn = getattr(module, name)
            if "_backward" in name and (module is layers or fn.__module__ == module.__name__):
                required.add(fn)

                def recording(*args, _fn=fn, **kwargs):
                    called.add(_fn)
                    return _fn(*args, **kwargs)

                monkeypatch.setattr(module, name, recording)
    code, stdout, _ = run_cli(capsys, "gradcheck")
    assert code == 0, stdout
    rows = gradcheck_rows(stdout)
    assert list(rows) == ALL_CHECKS
    assert len(rows) >= 36 and all(result == "pass" for _, result in rows.values())
    assert stdout.splitlines()[-1].startswith(f"{len(rows)} of {len(rows)} checks passed")
    assert sorted(f.__name__ for f in required - called) == []


def _fc_net_class():
    from numnet.classifiers.fc_net import FullyConnectedNet

    return FullyConnectedNet


def _convnet_class():
    from numnet.classifiers.convnet import ConvNet

    return ConvNet


# (target to break, broken version, --only, the rows that must fail)
BUGS = {
    "sigmoid x1.01": ("numnet.layers.sigmoid_backward", sigmoid_backward_times_1_01,
                      "layer sigmoid", ["layer sigmoid"]),
    "softmax dx without the label term": ("numnet.layers.softmax_loss",
                                          softmax_loss_without_the_label_term,
                                          "layer softmax", ["layer softmax_loss"]),
    "batchnorm variance path dropped": ("numnet.layers.batchnorm_backward",
                                        batchnorm_backward_without_the_variance_path,
                                        "layer batchnorm", ["layer batchnorm"]),
    "conv kernel gradient transposed": ("numnet.layers.conv_backward_naive",
                                        conv_backward_transposed_kernel, "layer conv_naive",
                                        ["layer conv_naive"]),
}  # fmt: skip


@pytest.mark.parametrize(("target", "broken", "only", "failing"), BUGS.values(), ids=BUGS)
def test_gradcheck_fails_a_broken_layer(target, broken, only, failing, capsys, monkeypatch):
    code, stdout, _ = run_cli(capsys, "gradcheck", "--only", only)
    assert code == 0 and set(gradcheck_rows(stdout)) >= set(failing)
    monkeypatch.setattr(target, broken)
    code, stdout, _ = run_cli(capsys, "gradcheck", "--only", only)
    assert code == 1
    rows = gradcheck_rows(stdout)
    # Only the broken function's rows fail (batchnorm_alt does not call batchnorm_backward).
    assert sorted(n for n, (_, result) in rows.items() if result == "FAIL") == failing
    assert f"{len(rows) - len(failing)} of {len(rows)} checks passed" in stdout


@pytest.mark.parametrize(
    ("model_class", "corrupt", "only"),
    [
        (_fc_net_class, scale_grad("W2", 1.01), "model FullyConnectedNet(norm=None"),
        (_fc_net_class, nudge_grad_entry("b1", 0, 1e-6), "model FullyConnectedNet(norm=batch"),
        (_convnet_class, scale_grad("W1", 1.01), "model ConvNet(norm=None"),
        (_convnet_class, nudge_grad_entry("W1", (0, 0, 1, 2), 1e-4), "model ConvNet(norm=group"),
    ],
    ids=["fc W2 x1.01", "fc b1[0] nonzero behind batchnorm", "convnet W1 x1.01",
         "convnet one W1 entry off by 1e-4 of the largest gradient"],
)  # fmt: skip
def test_gradcheck_fails_a_model_with_one_wrong_gradient(
    model_class, corrupt, only, capsys, monkeypatch
):
    cls = model_class()
    monkeypatch.setattr(cls, "loss", broken_loss(cls.loss, corrupt))
    code, stdout, _ = run_cli(capsys, "gradcheck", "--only", only)
    rows = gradcheck_rows(stdout)
    assert code == 1 and rows and all(result == "FAIL" for _, result in rows.values()), stdout


def test_gradcheck_reports_a_raising_backward_as_a_failed_row(capsys, monkeypatch):
    def dx_without_the_transpose(dout, cache):
        x, w, _ = cache
        return (dout @ w).reshape(x.shape), x.reshape(len(x), -1).T @ dout, dout.sum(axis=0)

    monkeypatch.setattr("numnet.layers.affine_backward", dx_without_the_transpose)
    code, stdout, err = run_cli(capsys, "gradcheck", "--only", "layer affine")
    assert code == 1 and err == ""
    lines = stdout.splitlines()
    assert lines[1].startswith("layer affine ") and " raised " in lines[1]
    assert "FAIL (ValueError: matmul: Input operand 1 has a mismatch" in lines[1]
    # The sandwiches hold the real affine_backward (layer_utils was imported before the patch).
    assert lines[-1].startswith("3 of 4 checks passed")


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
