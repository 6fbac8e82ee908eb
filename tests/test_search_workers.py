"""Real ``numnet search`` processes on one machine: a journal file, two workers, Ctrl-C.

The same command after Ctrl-C continues without losing or repeating a trial.
"""

import signal

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
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

pytestmark = [needs_fashion_mnist]


def journal(folder):
    wait_until(lambda: (folder / "s" / "journal.log").exists(), what="the journal file")
    return JournalStorage(JournalFileBackend(str(folder / "s" / "journal.log")))


def test_two_workers_share_the_journal_file(tmp_path):
    write_space(tmp_path)
    code, log = finish(start(tmp_path, "--trials", "8", "--workers", "2", "--out", "s"))
    assert code == 0, log
    study = load(journal(tmp_path), "space")
    done = check_exact(study, 8)
    assert len({pid_of(t) for t in done}) == 2  # both workers trained trials
    assert "[w1] space trial" in log and "[w2] space trial" in log
    assert not [t for t in study.get_trials() if t.state.name not in ("COMPLETE", "PRUNED")
                and t.user_attrs.get("stop_reason") != "surplus"]  # fmt: skip


def test_ctrl_c_stops_cleanly_and_the_same_command_continues(tmp_path):
    write_space(tmp_path)
    argv = ["--trials", "10", "--workers", "2", "--out", "s"]
    proc = start(tmp_path, *argv)
    study = load(journal(tmp_path), "space")
    wait_until(lambda: len([t for t in study.get_trials() if t.state.name == "COMPLETE"]) >= 3,
               what="3 finished trials")  # fmt: skip
    proc.send_signal(signal.SIGINT)
    code, log = finish(proc)
    assert code == 130, log
    assert "interrupted; finished trials are kept. Continue with: numnet search" in log
    assert "Traceback" not in log
    trials = study.get_trials()
    before = {t.number: (t.value, t.params) for t in trials if t.state.name == "COMPLETE"}
    assert 3 <= len(before) < 10
    stopped = [t for t in trials if t.state.name not in ("COMPLETE", "PRUNED")]
    assert all(t.state.name == "FAIL" for t in stopped)
    assert {t.user_attrs.get("stop_reason") for t in stopped} <= {"interrupted", "surplus"}
    code, log = finish(start(tmp_path, *argv))
    assert code == 0, log
    assert f"space: {len(before)}/10 trials" in log
    done = check_exact(study, 10)
    assert {t.number: (t.value, t.params) for t in done if t.number in before} == before
