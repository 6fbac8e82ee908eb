"""``numnet`` command: argument parsing and dispatch to the subcommands.

This module imports only the standard library, so ``--threads`` can still take effect through the
BLAS environment variables before NumPy is loaded by a subcommand.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from numnet import __version__
from numnet._interrupts import signal_number
from numnet.cli import config as C
from numnet.cli import transfer_args
from numnet.cli.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CLIError,
    UsageError,
    one_line,
    os_error,
)

#: subcommand -> "module:function" run as function(args, explicit) -> exit code.
HANDLERS = {
    "train": "numnet.cli.train:run",
    "eval": "numnet.cli.evaluate:run",
    "plot": "numnet.cli.plot:run",
    "gradcheck": "numnet.cli.gradcheck:run",
    "data": "numnet.cli.data:run",
    "lr-find": "numnet.cli.lr_find:run",
    "sanity": "numnet.cli.sanity:run",
    "summary": "numnet.cli.summary:run",
    "search": "numnet.cli.search:run",
    "finetune": "numnet.cli.finetune:run",
    "features": "numnet.cli.features:run",
    "inspect": "numnet.cli.inspect_init:run",
    "diagnose": "numnet.cli.diagnose:run",
    "compare": "numnet.cli.compare:run",
}


class _Parser(argparse.ArgumentParser):
    """Usage errors become one line (``numnet: error: ...``, exit 2) instead of usage + message."""

    def error(self, message):
        raise UsageError(f"{message} (see: {self.prog} --help)")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every default, except ``None`` where the help text already explains the default."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None and "default" in text:
            return text
        return super()._get_help_string(action)


def _argtype(opt: C.Option):
    def conv(s):
        try:
            return opt.convert(s)
        except (ValueError, TypeError) as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    conv.__name__ = opt.key
    return conv


def _path(s: str) -> str:
    """A path argument: '' would silently mean the current folder, so it is refused."""
    if s == "":
        raise argparse.ArgumentTypeError("must name a path, got ''")
    return s


def add_train_options(
    p: argparse.ArgumentParser, suppress: bool = False, run_options: bool = True
) -> None:
    """The ``numnet train`` flags; ``suppress``: no defaults (to learn which flags were given).

    ``run_options=False`` leaves out ``--out`` and ``--resume`` (commands that build what
    ``train`` would, without making a run directory).
    """
    groups = {}
    for opt in C.OPTIONS:
        g = groups.get(opt.group)
        if g is None:
            g = groups[opt.group] = p.add_argument_group(f"{opt.group} options")
        default = argparse.SUPPRESS if suppress else opt.default
        if opt.flag:
            g.add_argument(
                opt.flag_name, action=argparse.BooleanOptionalAction, default=default, help=opt.help
            )
        else:
            optional = {} if opt.const is None else {"nargs": "?", "const": opt.const}
            g.add_argument(
                opt.flag_name,
                type=_argtype(opt),
                choices=opt.choices,
                default=default,
                metavar=opt.metavar,
                help=opt.help,
                **optional,
            )
    for old, (new, _) in C.RENAMED.items():  # hidden; explicit_train_options warns
        opt = C.BY_KEY[new]
        groups[opt.group].add_argument(
            "--" + old.replace("_", "-"), type=_argtype(opt), default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )  # fmt: skip
    run = p.add_argument_group("run options")
    run.add_argument(
        "--config",
        metavar="FILE",
        type=_path,
        default=argparse.SUPPRESS if suppress else None,
        help="TOML file of options (keys as the long flags; flags given here override it; "
        "default: none)",
    )
    if not run_options:
        return
    run.add_argument(
        "--out",
        metavar="DIR",
        type=_path,
        default=argparse.SUPPRESS if suppress else None,
        help="new run directory (default: runs/<date>-<time>-<model>); never overwritten",
    )
    run.add_argument(
        "--resume",
        metavar="RUN_DIR",
        type=_path,
        default=argparse.SUPPRESS if suppress else None,
        help="continue the run in RUN_DIR from its last.npz with its saved config (default: "
        "start a new run); --epochs, --patience, --threads, --data-dir, --download may change",
    )


def build_parser(suppress: bool = False) -> argparse.ArgumentParser:
    """The full ``numnet`` parser (``suppress``: train flags without defaults)."""
    p = _Parser(
        prog="numnet",
        description="Neural networks from scratch in NumPy: train, evaluate, plot, check.",
        formatter_class=_Formatter,
    )
    p.add_argument("--version", action="version", version=f"numnet {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def cmd(name, help, description=None):
        return sub.add_parser(
            name, help=help, description=description or help, formatter_class=_Formatter
        )

    t = cmd(
        "train",
        "train a model and write a run directory",
        "Train a model; writes config.json, iterations.csv, epochs.csv, best.npz, last.npz, "
        "summary.json and PNG plots into a new run directory. Ctrl-C saves a checkpoint and "
        "prints the command that resumes.",
    )
    add_train_options(t, suppress)

    e = cmd("eval", "accuracy, per-class accuracy and confusion matrix of a checkpoint")
    e.add_argument("checkpoint", metavar="CHECKPOINT", help="a .npz checkpoint (best.npz, ...)")
    e.add_argument(
        "--data",
        choices=C.DATASETS,
        default=None,
        help="data set (default: the one the checkpoint's run trained on)",
    )
    e.add_argument(
        "--data-dir",
        metavar="DIR",
        type=_path,
        default=None,
        help="directory holding the data set's files (default: the run's, else the usual search)",
    )
    e.add_argument("--download", action="store_true", help="download the data set if missing")
    e.add_argument("--split", choices=("test", "val"), default="test", help="which images")
    e.add_argument(
        "--num",
        type=_argtype(C.BY_KEY["num_val"]),
        default=None,
        metavar="N",
        help="evaluate only the first N images (default: all)",
    )
    e.add_argument(
        "--batch-size",
        type=_argtype(C.BY_KEY["batch_size"]),
        default=100,
        metavar="B",
        help="images per forward pass",
    )
    e.add_argument(
        "--out",
        metavar="DIR",
        type=_path,
        default=None,
        help="also write eval-<checkpoint>-<split>.json and confusion-<checkpoint>-<split>.png "
        "into DIR, never over a run's own files (default: print only)",
    )
    e.add_argument(
        "--threads",
        type=_argtype(C.BY_KEY["threads"]),
        default=1,
        metavar="T",
        help="BLAS/OpenMP threads (0: the libraries' own choice); see numnet train --help",
    )
    e.add_argument(
        "--device",
        type=_argtype(C.BY_KEY["device"]),
        choices=C.DEVICES,
        default="cpu",
        help="cpu (NumPy) or cuda (CuPy on an NVIDIA GPU); see numnet train --help",
    )

    pl = cmd("plot", "redraw the plots of a run directory from its saved metrics")
    pl.add_argument("run_dir", metavar="RUN_DIR", type=_path)

    g = cmd(
        "gradcheck",
        "check every layer's backward and every model's gradients numerically",
        "Compare analytic gradients with central differences in float64 on small shapes; "
        "exit code 1 if any check fails.",
    )
    g.add_argument(
        "--seed",
        type=_argtype(C.BY_KEY["seed"]),
        default=0,
        metavar="S",
        help="seed of the random inputs",
    )
    g.add_argument(
        "--only",
        metavar="TEXT",
        default=None,
        help="run only the checks whose name contains TEXT (default: all)",
    )

    from numnet.cli import search

    s = cmd("search", search.HELP, search.DESCRIPTION)
    search.add_arguments(s, add_train_options, suppress)

    d = cmd("data", "list the data sets and where they were found, or fetch one")
    dsub = d.add_subparsers(dest="data_command", metavar="ACTION", parser_class=_Parser)
    dl = dsub.add_parser("list", help="where each data set was found", formatter_class=_Formatter)
    dl.add_argument("--data-dir", metavar="DIR", type=_path, default=None, help="also look in DIR")
    df = dsub.add_parser("fetch", help="download and verify a data set", formatter_class=_Formatter)
    df.add_argument("name", choices=(*C.DATASETS, "cifar10-binary"))
    df.add_argument(
        "--data-dir",
        metavar="DIR",
        type=_path,
        default=None,
        help="put the files in DIR (default: numnet's cache directory)",
    )

    from numnet.cli import lr_find, sanity, summary  # their parsers; they load no NumPy

    for command in (lr_find, sanity, summary):
        command.add_parser(cmd, add_train_options, suppress)
    transfer_args.add_parsers(cmd, add_train_options, _argtype, suppress)
    from numnet.cli import compare, diagnose, inspect_init  # neither do these

    for command in (inspect_init, diagnose, compare):
        command.add_parser(cmd)
    return p


def explicit_train_options(argv: Sequence[str]) -> dict:
    """The ``numnet train`` options actually typed on the command line (not defaults)."""
    ns = build_parser(suppress=True).parse_args(list(argv))
    return C.renamed_flags({k: v for k, v in vars(ns).items() if k in C.BY_KEY or k in C.RENAMED})


def _saved_threads(run_dir: str) -> int | None:
    try:
        conf = json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8"))
        threads = conf["options"]["threads"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # the train command reports a bad run directory itself
    ok = isinstance(threads, int) and not isinstance(threads, bool) and threads >= 0
    return threads if ok else None


def _new_run_threads(threads: int | None, config_file: str | None) -> int | None:
    """A new run's threads: the env's (None), else the config file's, else the cores idle now."""
    if threads is None:
        return None
    if config_file is not None:
        try:
            file_threads = C.load_toml(config_file).get("threads")
        except CLIError:
            return threads  # the train command reports the bad file itself
        if file_threads is not None:
            return file_threads
    from numnet.cli.threads import idle_threads

    return idle_threads()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``numnet`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args.argv = argv  # recorded in a run's config.json
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        if args.command == "data" and args.data_command is None:
            raise UsageError("numnet data needs an action: list or fetch (see: numnet data --help)")
        explicit = explicit_train_options(argv) if args.command in ("train", "search") else {}
        threads = getattr(args, "threads", None)
        if args.command == "train" and "threads" not in explicit and args.resume:
            threads = _saved_threads(args.resume)
        from numnet.cli.threads import chosen_threads, limit_threads

        typed = "threads" in explicit or any(a.split("=")[0] == "--threads" for a in argv)
        threads = chosen_threads(threads, typed)
        if args.command == "train" and not typed and not args.resume:
            threads = _new_run_threads(threads, args.config)
            explicit["threads"] = 0 if threads is None else threads  # what the run records

        module, func = HANDLERS[args.command].split(":")
        with limit_threads(threads):
            handler = getattr(importlib.import_module(module), func)
            return int(handler(args, explicit))
    except CLIError as e:
        print(f"numnet: error: {one_line(e)}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt as e:
        print("numnet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED - signal.SIGINT + signal_number(e)
    except BrokenPipeError:
        # The reader went away (numnet eval ... | head): nothing more to say, and Python must
        # not complain again while flushing stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except OSError as e:  # a full disk, a read-only folder, a file that vanished: no traceback
        print(f"numnet: error: {os_error(e)}", file=sys.stderr)
        return EXIT_ERROR
    except MemoryError as e:  # a model or array too large for this machine (numnet inspect init)
        print(f"numnet: error: not enough memory: {one_line(e)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
