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


REAL_IDLE_THREADS = T.idle_threads  # conftest pins T.idle_threads to 1 for every other test


@pytest.mark.parametrize(
    ("argv", "env", "config", "load", "want"),
    [
        ([], {}, None, 0.1, 2),
        ([], {}, None, 1.6, 1),
        ([], {"OMP_NUM_THREADS": "2"}, None, 0.1, 0),
        ([], {}, "threads = 1\n", 0.1, 1),
        ([], {}, "epochs = 1\n", 0.1, 2),
        (["--threads", "1"], {}, None, 0.1, 1),
    ],
    ids=["idle", "busy", "env", "config-file", "config-without-threads", "typed"],
)
def test_a_new_run_records_the_threads_it_used(
    monkeypatch, tiny_data, tmp_path, capsys, argv, env, config, load, want
):
    """Typed, then the user's env (recorded 0), then the config file, then the idle cores."""
    from _cli_testlib import run_cli, train_argv

    from numnet.cli import rundir

    for var in T.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setattr(T, "idle_threads", lambda: REAL_IDLE_THREADS(cpus=2, load=load))
    seen = []
    real_limit = T.limit_threads
    monkeypatch.setattr(T, "limit_threads", lambda n: seen.append(n) or real_limit(n))
    if config is not None:
        (tmp_path / "c.toml").write_text(config)
        argv = [*argv, "--config", tmp_path / "c.toml"]
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, *train_argv(tiny_data, run, "--epochs", "1", *argv))
    assert code == 0, err
    assert rundir.read_json(run / rundir.CONFIG)["options"]["threads"] == want
    assert seen == [want or None]


@pytest.mark.parametrize(
    ("cpus", "load", "want"),
    [(2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 3.0, 1), (1, 0.0, 1), (16, 0.0, T.AUTO_MAX)],
)
def test_idle_threads_counts_the_cores_no_job_uses(cpus, load, want):
    assert REAL_IDLE_THREADS(cpus=cpus, load=load) == want


@pytest.mark.parametrize(
    ("first", "second", "want"),
    [
        ("cpu  100 0 100 800 0 0 0 0 0 0\n", "cpu  100 0 100 1000 0 0 0 0 0 0\n", 0.0),
        ("cpu  100 0 100 800 0 0 0 0 0 0\n", "cpu  200 0 100 900 0 0 0 0 0 0\n", 0.5),
        ("cpu  100 0 100 800 0 0 0 0 0 0\n", "cpu  300 0 100 800 0 0 0 0 0 0\n", 1.0),
        ("cpu  100 0 100 800 0 0 0 0 0 0\n", "garbage\n", None),
        ("", "", None),
    ],
    ids=["idle", "half", "busy", "unreadable", "empty"],
)
def test_busy_cores_reads_the_cpu_time_now(monkeypatch, tmp_path, first, second, want):
    """Busy share of /proc/stat's first line over the sample, times the machine's cores."""
    stat = tmp_path / "stat"
    stat.write_text(first)
    monkeypatch.setattr(T.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(T.time, "sleep", lambda s: stat.write_text(second))
    got = T.busy_cores(stat_path=str(stat))
    assert got == (None if want is None else pytest.approx(want * 2))
