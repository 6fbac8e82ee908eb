"""The command line's transfer-learning part: option values, the finetune and features parsers.

Standard library only (and ``numnet.param_groups``, which imports no NumPy): the parsers are built
before ``--threads`` is applied and NumPy loads. The option rows themselves are in
``numnet.cli.config.OPTIONS`` (group ``transfer``, and ``classes``/``per_class`` under data).
"""

from __future__ import annotations

import math

from numnet import param_groups

__all__ = ["add_parsers", "class_list", "factor", "multipliers", "selectors"]


def class_list(s) -> list[int]:
    """``"5,6,7"`` (or a list) as at least two distinct class labels >= 0."""
    items = s if isinstance(s, (list, tuple)) else str(s).replace(" ", "").split(",")
    out = []
    for t in items:
        if isinstance(t, (bool, float)) or not str(t).isdigit():
            raise ValueError(f"must be class labels (integers >= 0), got {s!r}")
        out.append(int(t))
    if len(out) < 2 or len(set(out)) != len(out):
        raise ValueError(f"must be at least two distinct class labels, got {s!r}")
    return out


def selectors(s) -> str:
    """A comma-separated list of parameter selectors (``numnet.param_groups``), syntax checked."""
    return ",".join(param_groups.parse_selectors(s))


def multipliers(s) -> str:
    """``SELECTOR=FACTOR,...`` learning-rate multipliers, checked and written back canonically."""
    return param_groups.format_multipliers(param_groups.parse_multipliers(s))


def factor(s) -> float:
    """A number in (0, 1]."""
    try:
        v = math.nan if isinstance(s, bool) else float(s)
    except (TypeError, ValueError):
        v = math.nan
    if not 0 < v <= 1:
        raise ValueError(f"must be a number in (0, 1], got {s!r}")
    return v


def add_parsers(cmd, add_train_options, argtype, suppress: bool = False) -> None:
    """Add ``numnet finetune`` and ``numnet features`` (``cmd`` makes a subparser).

    Args:
        cmd: ``cmd(name, help, description)`` -> a new subcommand parser.
        add_train_options: adds the ``numnet train`` flags to a parser.
        argtype: ``argtype(option)`` -> an argparse ``type`` for a training option.
        suppress: train flags without defaults (to learn which were given).
    """
    from numnet.cli import config as C

    f = cmd(
        "finetune",
        "train a new run starting from a checkpoint's weights (transfer learning)",
        "numnet train --init-from CHECKPOINT: copy what fits by name and shape (a report lists "
        "copied, re-initialised and skipped parameters), optionally freeze layers and train the "
        "head first, and write a normal run directory whose config.json records the source. "
        "Resume it with numnet train --resume RUN_DIR.",
    )
    f.add_argument("checkpoint", metavar="CHECKPOINT", help="a .npz checkpoint (best.npz, ...)")
    add_train_options(f, suppress)

    e = cmd(
        "features",
        "write a trained net's features of a data set to .npz",
        "Run a checkpoint's model in test mode up to --layer and write that layer's outputs for "
        "the train, val and test splits with their labels (X_train, y_train, ..., class_names, "
        "layer) to an .npz; numnet.classifiers.LinearClassifier (softmax or SVM) trains on it. "
        "Images are normalised as the checkpoint's run normalised them (its config.json).",
    )
    e.add_argument("checkpoint", metavar="CHECKPOINT", help="a .npz checkpoint (best.npz, ...)")
    e.add_argument("--out", metavar="FILE", required=True, help="the .npz file to write")
    e.add_argument(
        "--layer",
        type=argtype(C.BY_KEY["num_val"]),
        default=None,
        metavar="L",
        help="the layer whose output to write (default: the penultimate, the head's input)",
    )
    e.add_argument(
        "--data",
        choices=C.DATASETS,
        default=None,
        help="data set (default: the one the checkpoint's run trained on)",
    )
    for key in ("data_dir", "classes", "per_class", "num_val", "num_test", "seed", "device"):
        opt = C.BY_KEY[key]
        e.add_argument(opt.flag_name, type=argtype(opt), default=opt.default, metavar=opt.metavar,
                       help=opt.help)  # fmt: skip
    e.add_argument("--download", action="store_true", help="download the data set if missing")
    e.add_argument(
        "--batch-size",
        type=argtype(C.BY_KEY["batch_size"]),
        default=100,
        metavar="B",
        help="images per forward pass",
    )
    e.add_argument(
        "--threads",
        type=argtype(C.BY_KEY["threads"]),
        default=1,
        metavar="T",
        help="BLAS/OpenMP threads (0: the libraries' own choice); see numnet train --help",
    )
