"""The thread count a command applies: ``--threads`` when typed, else the user's env, else 1."""

import contextlib

import pytest

import numnet.cli.threads as T
from numnet.cli.main import main


@pytest.fixture
def applied(monkeypatch):
    """Run ``numnet ARGV`` with a clean thread environment; return what limit_threads got."""
    for var in T.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    seen = []

    @contextlib.contextmanager
    def record(n):
        seen.append(n)
        yield

    monkeypatch.setattr(T, "limit_threads", record)

    def run(argv, env=None):
        for var, value in (env or {}).items():
            monkeypatch.setenv(var, value)
        main(argv)  # the checkpoint does not exist: the command fails after the threads are set
        return seen[-1]

    return run


@pytest.mark.parametrize(
    ("argv", "env", "want"),
    [
        ([], None, 1),
        ([], {"OPENBLAS_NUM_THREADS": "2"}, None),
        ([], {"OMP_NUM_THREADS": "2"}, None),
        ([], {"OMP_NUM_THREADS": ""}, 1),
        (["--threads", "1"], {"OPENBLAS_NUM_THREADS": "2"}, 1),
        (["--threads=2"], None, 2),
        (["--threads", "0"], {"OMP_NUM_THREADS": "1"}, 0),
    ],
    ids=["default", "openblas-env", "omp-env", "empty-env", "flag-beats-env", "flag=", "flag-0"],
)
def test_typed_flag_then_user_env_then_default(applied, tmp_path, argv, env, want):
    assert applied(["eval", str(tmp_path / "missing.npz"), *argv], env) == want


def test_chosen_threads_reads_the_given_environment():
    assert T.chosen_threads(1, typed=False, environ={}) == 1
    assert T.chosen_threads(1, typed=False, environ={"MKL_NUM_THREADS": "4"}) is None
    assert T.chosen_threads(3, typed=True, environ={"MKL_NUM_THREADS": "4"}) == 3


@pytest.mark.parametrize(("env", "want"), [({}, 1), ({"OMP_NUM_THREADS": "2"}, 0)])
def test_the_run_records_who_chose_the_threads(monkeypatch, tiny_data, tmp_path, capsys, env, want):
    """A run whose thread count the user's environment set records 0 (the libraries' choice)."""
    from _cli_testlib import run_cli, train_argv

    from numnet.cli import rundir

    for var in T.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    code, _, err = run_cli(capsys, *train_argv(tiny_data, tmp_path / "run", "--epochs", "1"))
    assert code == 0, err
    assert rundir.read_json(tmp_path / "run" / rundir.CONFIG)["options"]["threads"] == want
