"""``numnet search`` processes sharing a real PostgreSQL 15 server on 127.0.0.1, as machines do.

The fixture makes a throwaway cluster: ``initdb`` and ``pg_ctl`` run as the ``postgres`` user
(PostgreSQL refuses root) in a temp dir that user owns, on a free port, listening on 127.0.0.1
only, with its socket in the temp dir; it is stopped and removed afterwards.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from _search_testlib import (
    check_exact,
    finish,
    load,
    needs_fashion_mnist,
    pid_of,
    start,
    wait_until,
    write_space,
)

PG_BIN = Path("/usr/lib/postgresql/15/bin")
pytestmark = [needs_fashion_mnist]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """A database URL of a fresh PostgreSQL 15 server."""
    if not (PG_BIN / "initdb").is_file():
        pytest.skip(f"PostgreSQL 15 is not installed ({PG_BIN}; apt-get install postgresql-15)")
    root = Path(tempfile.mkdtemp(prefix="numnet-pg-"))
    as_postgres = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()

    def pg(*cmd):
        return subprocess.run([*as_postgres, *map(str, cmd)], capture_output=True, text=True,
                              timeout=120)  # fmt: skip

    try:
        done = pg(PG_BIN / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync")  # fmt: skip
        assert done.returncode == 0, done.stderr
        opts = f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off"
        done = pg(PG_BIN / "pg_ctl", "-D", data, "-l", root / "server.log", "-o", opts, "-w",
                  "start")  # fmt: skip
        assert done.returncode == 0, done.stderr + (root / "server.log").read_text()
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        pg(PG_BIN / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def storage(url):
    return optuna.storages.RDBStorage(url)


def test_two_machines_join_one_study(postgres, tmp_path):
    write_space(tmp_path)
    common = ["--storage", postgres, "--study", "joined", "--trials", "10"]
    a = start(tmp_path, *common, "--out", "a")
    b = start(tmp_path, *common, "--out", "b")
    (code_a, log_a), (code_b, log_b) = finish(a), finish(b)
    assert code_a == 0 and code_b == 0, log_a + log_b
    study = load(storage(postgres), "joined")
    done = check_exact(study, 10)
    assert {pid_of(t) for t in done} == {a.pid, b.pid}  # both processes trained trials
    others = [t for t in study.get_trials() if t.state.name not in ("COMPLETE", "PRUNED")]
    assert all(t.user_attrs.get("stop_reason") == "surplus" for t in others)
    for folder in ("a", "b"):  # each machine's directory reports the whole study
        assert (tmp_path / folder / "best.toml").is_file()
        assert "joined: 10 trials" in (tmp_path / folder / "leaderboard.txt").read_text()
    assert "postgres@127.0.0.1" in log_a and "journal.log" not in log_a


def test_a_killed_worker_loses_its_trial_to_the_heartbeat(postgres, tmp_path):
    write_space(tmp_path)
    common = ["--storage", postgres, "--study", "killed", "--trials", "6", "--heartbeat", "1",
              "--grace", "4"]  # fmt: skip
    a = start(tmp_path, *common, "--out", "a")
    study = load(storage(postgres), "killed")

    def running_of_a():
        return [t for t in study.get_trials() if t.state.name == "RUNNING" and pid_of(t) == a.pid]

    def training_in_a():  # all its params drawn: the trial is training, not being set up
        return [t for t in running_of_a() if set(t.params) == {"lr", "reg"}]

    wait_until(training_in_a, what="a running trial of the first worker, its params drawn")
    b = start(tmp_path, *common, "--out", "b")
    os.kill(a.pid, signal.SIGKILL)
    a.wait()
    time.sleep(1)
    (lost,) = running_of_a()  # RUNNING until 4 s pass without a heartbeat (beats: every 1 s)
    code_b, log_b = finish(b)
    assert code_b == 0, log_b
    lost = study.get_trials()[lost.number]
    assert lost.state.name == "FAIL" and lost.datetime_complete is not None
    assert "stop_reason" not in lost.user_attrs  # failed by the heartbeat, not by its worker
    done = check_exact(study, 6)
    retry = [t for t in done if t.system_attrs.get("failed_trial") == lost.number]
    assert len(retry) == 1 and retry[0].params == lost.params  # queued again, run once
    assert all(pid_of(t) == b.pid for t in done if t.datetime_start > lost.datetime_start)


def test_workers_meeting_an_empty_database_all_open_it(postgres, tmp_path):
    import psycopg

    conninfo = postgres.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE DATABASE empty_race")
    url = postgres.rsplit("/", 1)[0] + "/empty_race"
    # Four processes create Optuna's tables at the same instant: all but one collide inside
    # the server ("duplicate key value violates unique constraint") and must try again.
    start_at = time.time() + 3
    code = (
        "import sys, time\n"
        "from numnet.search import open_storage\n"
        f"time.sleep(max(0, {start_at} - time.time()))\n"
        f"open_storage({url!r})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]  # fmt: skip
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
