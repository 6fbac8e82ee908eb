"""``numnet search``: hyperparameter search over ``numnet train`` options with Optuna.

Every check (Optuna installed, space file, options, stages, storage URL, --out, data set, a model
for each range end and choice) runs before the search directory is created or a trial starts.
``--workers W`` runs W worker processes (single-threaded BLAS each); the parent drives the
stages. Ctrl-C stops cleanly; the same command run again continues.

Only the standard library is imported at module level: ``main`` builds the parser from here
before ``--threads`` takes effect.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import socket
import subprocess
import sys
import time
import zlib
from pathlib import Path

from numnet.cli.errors import EXIT_INTERRUPTED, CLIError, UsageError, one_line

HELP = "search hyperparameters of numnet train with Optuna (random search in log space)"
DESCRIPTION = (
    "Search numnet train options over the ranges of a space file (--space): random search by "
    "default, coarse to fine with --stages, pruning of hopeless trials, k-fold with --cv. "
    "Trials are kept in a journal file in --out (or a database, --storage), so the same command "
    "run again, or on more machines, continues the search. Writes trials.csv, leaderboard.txt, "
    "plots and best.toml (numnet train --config best.toml trains the best setting in full). "
    "Train options given here are fixed for every trial."
)
#: The environment variable that hands a database URL (with its password) to worker processes.
STORAGE_ENV = "NUMNET_SEARCH_STORAGE"


def add_arguments(p: argparse.ArgumentParser, add_train_options, suppress: bool) -> None:
    """The ``numnet search`` flags, then the train options (the fixed part of each trial)."""
    d = argparse.SUPPRESS if suppress else None
    s = p.add_argument_group("search options")
    s.add_argument(
        "--space",
        metavar="FILE",
        default=d,
        help="TOML file: one table per searched train option ([lr] low/high/log, "
        "[optimizer] choices), optional [fixed], [search] and [[stage]] tables; "
        "no default: required unless --report",
    )
    s.add_argument(
        "--trials",
        metavar="N",
        type=int,
        default=d,
        help="finished trials to reach, over all workers and reruns (default: 20; "
        "the grid's size with --sampler grid)",
    )
    s.add_argument(
        "--stages",
        metavar="SPEC",
        default=d,
        help="coarse to fine, e.g. 30x1,10x5: 30 trials of 1 epoch, then 10 of 5 "
        "epochs over ranges narrowed around the 5 best (default: one stage)",
    )
    s.add_argument(
        "--timeout",
        metavar="S",
        type=float,
        default=d,
        help="start no new trial after S seconds (default: none)",
    )
    s.add_argument(
        "--workers",
        metavar="W",
        type=int,
        default=argparse.SUPPRESS if suppress else 1,
        help="worker processes on this machine",
    )
    s.add_argument(
        "--storage",
        metavar="URL",
        default=d,
        help="Optuna storage: a database URL such as postgresql+psycopg://user@host/db "
        "that several machines share (default: journal.log in --out)",
    )
    s.add_argument(
        "--study", metavar="NAME", default=d, help="study name (default: the space file's name)"
    )
    s.add_argument(
        "--sampler",
        choices=("random", "tpe", "grid"),
        default=d,
        help="random (default), tpe, or grid (ranges need steps = N)",
    )
    s.add_argument(
        "--pruner",
        choices=("median", "hyperband", "none"),
        default=d,
        help="stop hopeless trials after an epoch: median (default), hyperband, none",
    )
    s.add_argument(
        "--cv",
        metavar="K",
        type=int,
        default=d,
        help="k-fold cross-validation over the training split (default: validate on "
        "the validation split)",
    )
    s.add_argument(
        "--search-seed",
        metavar="S",
        type=int,
        default=d,
        help="seed of the sampler and the folds (default: 0)",
    )
    s.add_argument(
        "--heartbeat",
        metavar="S",
        type=int,
        default=argparse.SUPPRESS if suppress else 30,
        help="seconds between a running trial's heartbeats (database "
        "storages); a trial silent for --grace seconds is marked FAIL and rerun once",
    )
    s.add_argument(
        "--grace",
        metavar="S",
        type=int,
        default=d,
        help="seconds without a heartbeat before a trial counts as lost (default: 2 x --heartbeat)",
    )
    s.add_argument(
        "--out",
        metavar="DIR",
        default=d,
        help="search directory (default: searches/<study>); a rerun continues in it",
    )
    s.add_argument(
        "--report",
        metavar="DIR",
        default=d,
        help="only redraw DIR's trials.csv, leaderboard, plots and best.toml from its storage",
    )
    for hidden in ("--worker-of", "--stage", "--worker-index"):
        s.add_argument(hidden, default=argparse.SUPPRESS if suppress else None,
                       help=argparse.SUPPRESS)  # fmt: skip
    add_train_options(p, suppress, run_options=False)


def run(args: argparse.Namespace, explicit: dict) -> int:
    """``numnet search``; returns the exit code."""
    optuna = _optuna()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    import warnings

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if args.report is not None:
        return _report(args)
    if args.worker_of is not None:
        return _worker(args)
    return _search(args, explicit)


def _optuna():
    from numnet.search import MissingOptunaError, require_optuna

    try:
        return require_optuna()
    except MissingOptunaError:
        from numnet.search import INSTALL_HINT

        raise CLIError(f"numnet search needs Optuna: {INSTALL_HINT}") from None


def _open(storage: str, args):
    from numnet.search import StorageError, open_storage

    try:
        return open_storage(storage, heartbeat=args.heartbeat, grace=args.grace)
    except StorageError as e:
        raise CLIError(one_line(e)) from None


def _search(args, explicit) -> int:
    from numnet.cli import search_dir as SD
    from numnet.cli import search_setup
    from numnet.search import PlanMismatchError, open_stage
    from numnet.search.storage import describe, is_url

    if args.space is None:
        raise UsageError("numnet search needs --space FILE (or --report DIR)")
    if args.workers is None or args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
        raise UsageError(f"--timeout must be a finite number of seconds > 0, got {args.timeout}")
    setup = search_setup.resolve(args, explicit)
    plan, out = setup.plan, setup.out
    storage_arg = args.storage or str(out / SD.JOURNAL)
    shown = describe(storage_arg) if args.storage else str(out / SD.JOURNAL)
    existing = SD.check_out(out, plan.name)
    if existing is not None:
        search_setup.check_rerun(existing, plan, shown if args.storage else SD.JOURNAL, out)
    storage = None
    if args.storage:
        if not is_url(args.storage):
            raise UsageError(f"--storage {args.storage} is not a database URL (scheme://...); "
                             "the default journal file needs no --storage")  # fmt: skip
        storage = _open(args.storage, args)  # a bad URL stops before --out is made
    if existing is None:
        kept = shown if args.storage else SD.JOURNAL  # a journal path relative to --out
        SD.create(out, SD.marker(plan.name, kept, plan.to_dict(), setup.fixed,
                                 search_setup.command_line(args)))  # fmt: skip
    if storage is None:
        storage = _open(storage_arg, args)
    try:
        open_stage(storage, plan, 0)
    except PlanMismatchError as e:
        raise CLIError(one_line(e)) from None
    print(f"search {plan.name}: {search_setup.describe_plan(plan)}; trials in {shown}; "
          f"files in {out}")  # fmt: skip
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    code = 0
    try:
        code = _stages(args, setup, storage, deadline)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    from numnet.cli.search_report import write_outputs

    text = write_outputs(out, storage, plan, setup.fixed, shown)
    print(text)
    if code == EXIT_INTERRUPTED:
        print(f"interrupted; finished trials are kept. Continue with: "
              f"{search_setup.command_line(args)}", file=sys.stderr)  # fmt: skip
    return code


def _stages(args, setup, storage, deadline) -> int:
    from numnet.search import open_stage
    from numnet.search.runner import finished_trials, stage_warnings

    plan = setup.plan
    for i, stage in enumerate(plan.stages):
        try:
            study, space = open_stage(storage, plan, i, worker=_sampler_stream(0, args.storage))
        except ValueError as e:
            raise CLIError(one_line(e)) from None
        done = len(finished_trials(study))
        from numnet.cli.search_setup import describe_space

        epochs = f"{stage.epochs} epoch" + ("" if stage.epochs == 1 else "s")
        print(f"{study.study_name}: {done}/{stage.trials} trials of {epochs} over "
              f"{describe_space(space)}")  # fmt: skip
        if done < stage.trials:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if args.workers == 1:
                _run_here(setup, storage, study, space, stage, left)
            else:
                code = _run_workers(args, setup, i, left)
                if code:
                    return code
        done = len(finished_trials(study))
        if done < stage.trials:
            print(f"{study.study_name}: stopped at {done}/{stage.trials} trials (--timeout); "
                  "run the same command again to continue")  # fmt: skip
            return 0
        for line in stage_warnings(study, space, plan.space):
            print(f"numnet: warning: {study.study_name}: {line}", file=sys.stderr)
    return 0


def _sampler_stream(index: int, url: str | None) -> int:
    """The sampler stream of worker ``index``.

    Processes on other machines may join a database storage at the same moment, so there it
    also depends on this process (a journal file's workers all start here, numbered, and a lone
    search stays reproducible).
    """
    if url is None:
        return index
    return index + 100 * zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode())


def _run_here(setup, storage, study, space, stage, timeout, prefix: str = ""):
    from numnet.cli.search_report import trial_line
    from numnet.search import make_objective, run_trials
    from numnet.search.runner import admit_within

    plan = setup.plan

    def show(study, trial):
        line = trial_line(study, trial, prefix)
        if line:
            print(line, flush=True)

    objective = make_objective(setup.builder, space, epochs=stage.epochs, cv=plan.cv,
                               cv_seed=plan.seed, admit=admit_within(stage.trials))  # fmt: skip
    try:
        run_trials(study, objective, stage.trials, storage=storage, timeout=timeout,
                   callbacks=[show])  # fmt: skip
    except CLIError:
        raise
    except Exception as e:  # a trial's own error (an impossible combination of options)
        raise CLIError(f"a trial failed, so the search stops: {one_line(e)}") from None


def _run_workers(args, setup, stage_index: int, timeout) -> int:
    """W worker processes on this stage; forwards one Ctrl-C to each, waits for all."""
    from numnet.cli.threads import ENV_VARS

    env = dict(os.environ)
    for var in ENV_VARS:
        env[var] = str(setup.fixed.get("threads") or 1)
    if args.storage:
        env[STORAGE_ENV] = args.storage
    cmd = [sys.executable, "-m", "numnet", "search", "--worker-of", str(setup.out),
           "--stage", str(stage_index), "--heartbeat", str(args.heartbeat)]  # fmt: skip
    if args.grace is not None:
        cmd += ["--grace", str(args.grace)]
    if timeout is not None:
        cmd += ["--timeout", str(timeout)]
    procs = [
        subprocess.Popen([*cmd, "--worker-index", str(k + 1)], env=env, start_new_session=True)
        for k in range(args.workers)
    ]
    interrupted = False
    while any(p.poll() is None for p in procs):
        try:
            for p in procs:
                p.wait()
        except KeyboardInterrupt:
            interrupted = True
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGINT)
    if interrupted:
        raise KeyboardInterrupt
    failed = [(k + 1, p.returncode) for k, p in enumerate(procs) if p.returncode not in (0,)]
    if failed:
        k, code = failed[0]
        raise CLIError(f"worker {k} stopped with exit code {code} (its error is above)")
    return 0


def _worker(args) -> int:
    """A worker process started by ``--workers``: runs one stage's trials, prints a line each."""
    from numnet.cli import search_setup
    from numnet.search import open_stage
    from numnet.search.storage import is_url

    out = Path(args.worker_of)
    setup = search_setup.from_marker(out)
    storage_arg = os.environ.get(STORAGE_ENV) or setup.storage
    storage = _open(storage_arg, args)
    index, k = int(args.stage), int(args.worker_index)
    worker = _sampler_stream(k, storage_arg if is_url(storage_arg) else None)
    try:
        study, space = open_stage(storage, setup.plan, index, worker=worker)
        _run_here(setup, storage, study, space, setup.plan.stages[index],
                  args.timeout, prefix=f"[w{k}] ")  # fmt: skip
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except ValueError as e:
        raise CLIError(one_line(e)) from None
    return 0


def _report(args) -> int:
    from numnet.cli import search_setup
    from numnet.cli.search_report import write_outputs
    from numnet.search.storage import describe

    out = Path(args.report)
    setup = search_setup.from_marker(out)
    storage_arg = args.storage or setup.storage
    if "***" in storage_arg:
        raise UsageError(f"{out}'s storage {storage_arg} needs its password: pass --storage URL")
    storage = _open(storage_arg, args)
    shown = describe(storage_arg)
    print(write_outputs(out, storage, setup.plan, setup.fixed, shown))
    return 0
