"""Training options: one table drives the ``numnet train`` flags, TOML config files and config.json.

Precedence: built-in defaults < ``--config FILE`` (TOML) < flags given on the command line. A
config file uses the option names with ``_`` or ``-`` (``lr_schedule = "cosine"``,
``hidden-dims = [512, 256]``), flat or grouped in tables (``[optim] lr = 1e-3``: the table name is
ignored). Unknown keys and ill-typed values are errors naming the file and key. A renamed option
(``RENAMED``) is still accepted under its old name, flag or key, with a warning on stderr.

The choice lists come from the library (``numnet._names`` holds the names of the modules that load
NumPy, which must not load before ``--threads`` is applied).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from numnet import _names
from numnet import schedules as _schedules
from numnet.cli import values as V
from numnet.cli.errors import UsageError
from numnet.cli.transfer_args import class_list as _class_list
from numnet.cli.transfer_args import factor as _factor
from numnet.cli.transfer_args import multipliers as _multipliers
from numnet.cli.transfer_args import selectors as _selectors

#: ``--model`` value -> the ``numnet.classifiers`` model it builds (TwoLayerNet is ``fc`` with
#: one hidden layer).
MODEL_NAMES = {"convnet": "ConvNet", "fc": "FullyConnectedNet", "threelayer": "ThreeLayerConvNet"}
MODELS = tuple(MODEL_NAMES)
DATASETS = ("fashion-mnist", "mnist", "cifar10")
OPTIMIZERS = _names.UPDATE_RULES
#: The command's names for two ``numnet.schedules`` schedules: the course's ``lr_decay`` and
#: ``none``. Warm-up is not a choice of its own; ``--warmup-epochs`` wraps the chosen schedule.
_SCHEDULE_ALIASES = {"constant": "none", "exponential": "lr_decay"}
SCHEDULES = tuple(
    _SCHEDULE_ALIASES.get(s, s) for s in _schedules.SCHEDULES if s not in ("warmup", "two_phase")
)
NORMS = tuple("none" if n is None else n for n in _names.CONV_NORMALIZATIONS)
INITS = _names.INIT_SCHEMES
DEVICES = _names.DEVICES

#: Old option name -> (its new name, why it changed); the old flag and config key still work.
RENAMED = {"dropout": ("dropout_keep", "it is a keep probability")}

#: Architecture defaults per model, used where --hidden-dims / --filters are not given.
MODEL_DEFAULTS = {
    "convnet": {"filters": [32, 64], "hidden_dims": [128]},
    "fc": {"filters": [], "hidden_dims": [512, 256]},
    "threelayer": {"filters": [32], "hidden_dims": [100]},
}


#: ``--monitor`` without a value: ``numnet.babysit.monitor.DEFAULT_EVERY`` (a test checks they
#: agree; that module loads NumPy, which must wait for ``--threads``).
MONITOR_EVERY = 20

THREADS_HELP = (
    "BLAS/OpenMP threads; 0 = the libraries' own choice (all cores). Default: what "
    "OMP_NUM_THREADS / OPENBLAS_NUM_THREADS say when set, else a config file's threads, else the "
    "cores idle when a new run starts (1 to 2; a resumed run keeps its count). NumPy's BLAS "
    "threads busy-wait: on a 2-core machine running other work, 2 threads made an epoch 2-6x "
    "slower (benchmarks/THREADS.md)"
)


@dataclass(frozen=True)
class Option:
    """One training option.

    Attributes:
        key: config key (``lr_schedule``); the flag is ``--lr-schedule``.
        default: built-in default (``None``: not set).
        convert: turns a command-line string or a TOML value into the option's value; raises
            ValueError with the reason.
        help: the --help text (argparse appends the default).
        choices: allowed values, if a fixed set.
        flag: a boolean switch (``--augment`` / ``--no-augment``).
        metavar: placeholder in --help.
        resumable: may be changed by ``--resume`` (e.g. more --epochs); others are locked.
        const: the value of the flag given without one (``--monitor`` alone); None: the flag
            needs its value.
    """

    key: str
    default: Any
    convert: Callable[[Any], Any]
    help: str
    choices: tuple | None = None
    flag: bool = False
    metavar: str | None = None
    resumable: bool = False
    group: str = "training"
    const: Any = None

    @property
    def flag_name(self) -> str:
        """The command-line flag, e.g. ``--batch-size`` for the key ``batch_size``."""
        return "--" + self.key.replace("_", "-")


def _O(key, default, convert, help, group, **kw) -> Option:
    return Option(key, default, convert, help, group=group, **kw)


# fmt: off
OPTIONS: tuple[Option, ...] = (
    _O("model", "convnet", V.string, "architecture", "model", choices=MODELS),
    _O("hidden_dims", None, V.int_list, "hidden affine sizes, comma separated "
       "(default per model: convnet 128; fc 512,256; threelayer 100)", "model", metavar="N,N"),
    _O("filters", None, V.int_list, "conv channels per stage, comma separated; threelayer takes "
       "one number (default per model: convnet 32,64; threelayer 32)", "model", metavar="F,F"),
    _O("filter_size", None, V.pos_int, "conv kernel size (default per model: convnet 3; "
       "threelayer 7)", "model", metavar="K"),
    _O("convs_per_stage", 1, V.pos_int, "conv layers per convnet stage (each stage ends in a 2x2 "
       "max pool)", "model", metavar="N"),
    _O("norm", "batchnorm", V.string, "normalisation after each conv/affine layer (threelayer "
       "ignores it)", "model", choices=NORMS),
    _O("dropout_keep", 1.0, V.keep_ratio, "dropout keep probability after hidden affine layers; "
       "1 = off (threelayer has no dropout; formerly --dropout)", "model", metavar="P"),
    _O("init", "kaiming", V.string, "weight initialisation", "model", choices=INITS),
    _O("weight_scale", 1e-3, V.pos_number, "std of the 'gaussian' init", "model", metavar="S"),
    _O("data", "fashion-mnist", V.string, "data set", "data", choices=DATASETS),
    _O("data_dir", None, V.path, "directory holding the data set's files (default: search "
       "$NUMNET_DATA, the cache dir, then the system copy)", "data", metavar="DIR",
       resumable=True),
    _O("download", False, V.boolean, "download the data set if it is not found", "data", flag=True,
       resumable=True),
    _O("num_train", None, V.pos_int, "train on only N of the training images (drawn with the "
       "validation split), for quick runs (default: all the split leaves)", "data", metavar="N"),
    _O("num_val", 5000, V.pos_int, "images held out of the training set for validation", "data",
       metavar="N"),
    _O("num_test", None, V.pos_int, "evaluate on only the first N test images, for quick runs "
       "(default: all)", "data", metavar="N"),
    _O("classes", None, _class_list, "use only these classes, relabelled 0..K-1 in the order "
       "given, in training and test (default: all)", "data", metavar="C,C"),
    _O("per_class", None, V.pos_int, "train on exactly N images of each class, drawn with --seed "
       "from the training split (not with --num-train; default: all)", "data", metavar="N"),
    _O("augment", False, V.boolean, "random crop (zero pad 2 on 28x28 images, 4 on 32x32) and "
       "horizontal flip of each training batch",
       "data", flag=True),
    _O("optimizer", "adam", V.string, "update rule", "optimizer", choices=OPTIMIZERS),
    _O("lr", 2e-3, V.pos_number, "learning rate (peak, after warm-up)", "optimizer", metavar="LR"),
    _O("momentum", 0.9, V.momentum, "momentum of sgd_momentum / nesterov_momentum",
       "optimizer", metavar="M"),
    _O("weight_decay", 1e-2, V.nonneg_number, "decoupled weight decay of adamw", "optimizer",
       metavar="WD"),
    _O("lr_schedule", "cosine", V.string, "learning-rate schedule over the epochs: lr_decay = "
       "multiply by --lr-decay every epoch (the course's), step = multiply by --lr-decay every "
       "--lr-step epochs, cosine = anneal to 0", "optimizer", choices=SCHEDULES),
    _O("lr_decay", 0.1, V.pos_number, "factor of the lr_decay and step schedules", "optimizer",
       metavar="G"),
    _O("lr_step", 5, V.pos_int, "epochs between step-schedule decays", "optimizer", metavar="E"),
    _O("warmup_epochs", 0.0, V.nonneg_number, "linear learning-rate warm-up (epochs, may be "
       "fractional)", "optimizer", metavar="E"),
    _O("reg", 0.0, V.nonneg_number, "L2 regularisation strength (0.5 * reg * sum W^2)",
       "optimizer", metavar="R"),
    _O("grad_clip", None, V.pos_number, "clip gradients to this global L2 norm (default: no "
       "clipping)", "optimizer", metavar="NORM"),
    _O("epochs", 5, V.pos_int, "training epochs", "training", metavar="E", resumable=True),
    _O("batch_size", 64, V.pos_int, "minibatch size", "training", metavar="B"),
    _O("patience", None, V.pos_int, "stop after this many epochs without a better val accuracy "
       "(default: never)", "training", metavar="E", resumable=True),
    _O("seed", 0, V.nonneg_int, "seed of every random choice (init, split, batches, dropout, "
       "augmentation)", "training", metavar="S"),
    _O("threads", 1, V.nonneg_int, THREADS_HELP, "training", metavar="T", resumable=True),
    _O("monitor", None, V.pos_int, "record per-layer activation statistics and histograms, "
       f"weight and gradient norms and update ratios every EVERY steps ({MONITOR_EVERY} when "
       "EVERY is left out) into monitor.csv and monitor_histograms.npz (default: off)",
       "training", metavar="EVERY", resumable=True, const=MONITOR_EVERY),
    _O("device", "cpu", V.string, "where the model computes: cpu (NumPy) or cuda (CuPy on an "
       "NVIDIA GPU; pip install 'numnet[gpu]'). The data stays on the host and moves a batch at "
       "a time; checkpoints are the same either way", "training", choices=DEVICES,
       resumable=True),
    _O("init_from", None, V.string, "start from this checkpoint's weights: what fits by name and "
       "shape is copied, the rest initialised, and a report lists both (numnet finetune "
       "CHECKPOINT is the same); the architecture is the checkpoint's, model options given here "
       "change it", "transfer", metavar="CHECKPOINT"),
    _O("new_classes", None, V.pos_int, "a new task of K classes: the head is re-initialised even "
       "where the checkpoint's fits (K must be the data's class count)", "transfer", metavar="K"),
    _O("freeze_upto", None, V.pos_int, "freeze layers 1..L (weights, batch norm scale, shift and "
       "statistics: frozen batch norm uses its running statistics and keeps them)", "transfer",
       metavar="L"),
    _O("freeze", None, _selectors, "freeze these params: comma-separated selectors base, head, "
       "a layer N, a range N-M, names or patterns such as W*", "transfer", metavar="SEL,SEL"),
    _O("head_epochs", 0, V.nonneg_int, "train only the head for the first E epochs, then "
       "everything not frozen at --finetune-lr-factor times the rate; each phase runs "
       "--lr-schedule from its own start", "transfer", metavar="E"),
    _O("finetune_lr_factor", 0.1, _factor, "learning rate after --head-epochs, relative to --lr",
       "transfer", metavar="F"),
    _O("lr_mult", None, _multipliers, "learning-rate multipliers per group, SELECTOR=FACTOR "
       "comma separated, e.g. base=0.1,head=1 (later entries win; selectors as --freeze)",
       "transfer", metavar="SPEC"),
)
# fmt: on

BY_KEY: dict[str, Option] = {o.key: o for o in OPTIONS}


def defaults() -> dict[str, Any]:
    """Every option's built-in default."""
    return {o.key: o.default for o in OPTIONS}


def convert(opt: Option, value: Any, where: str) -> Any:
    """Check and convert one value, raising :class:`UsageError` that names ``where``."""
    try:
        v = opt.convert(value)
    except (ValueError, TypeError) as e:
        raise UsageError(f"{where}: {e}") from None
    if opt.choices is not None and v not in opt.choices:
        allowed = ", ".join(opt.choices)
        raise UsageError(f"{where}: invalid choice {v!r} (choose from {allowed})")
    return v


def _flatten(table: Mapping, prefix: str = "") -> list[tuple[str, Any, str]]:
    """``(key, value, dotted name)`` of every value in ``table`` and its sub-tables."""
    out = []
    for k, v in table.items():
        if isinstance(v, Mapping):
            out += _flatten(v, prefix=f"{prefix}{k}.")
        else:
            out.append((k, v, f"{prefix}{k}"))
    return out


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file into ``{key: value}`` (converted and checked).

    Raises:
        UsageError: the file is missing or not TOML, a key is unknown, or a value is invalid.
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise UsageError(f"config file {path} not found") from None
    except OSError as e:
        raise UsageError(f"cannot read config file {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"config file {path} is not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise UsageError(
            f"config file {path} is not UTF-8 (byte {e.start}), as TOML must be"
        ) from None
    out: dict[str, Any] = {}
    for name, value, shown in _flatten(raw):
        key = name.replace("-", "_")
        if key in RENAMED:
            new, why = RENAMED[key]
            warn(f"{path}: key {shown!r} is deprecated ({why}); use {new}")
            key = new
        if key in out:
            raise UsageError(f"config file {path} sets {key} twice (the second time as {shown!r})")
        opt = BY_KEY.get(key)
        if opt is None:
            raise UsageError(
                f"unknown key {shown!r} in config file {path} (known keys: {', '.join(BY_KEY)})"
            )
        out[key] = convert(opt, value, f"{path}: {shown}")
    return out


def warn(message: str) -> None:
    """One ``numnet: warning: ...`` line on stderr."""
    print(f"numnet: warning: {message}", file=sys.stderr)


def renamed_flags(values: Mapping[str, Any]) -> dict[str, Any]:
    """Parsed flags with any old flag (``RENAMED``) moved to its new key, warning once for each.

    Raises:
        UsageError: an old flag and its new one were both given.
    """
    out = dict(values)
    for old, (new, why) in RENAMED.items():
        if old not in out:
            continue
        old_flag, new_flag = "--" + old.replace("_", "-"), BY_KEY[new].flag_name
        if new in out:
            raise UsageError(f"give {new_flag} or its old name {old_flag}, not both")
        warn(f"{old_flag} is deprecated ({why}); use {new_flag}")
        out[new] = out.pop(old)
    return out


def renamed_keys(options: Mapping[str, Any]) -> dict[str, Any]:
    """Saved options (a run's config.json) with renamed keys under their current names.

    Silent, unlike the command line's warning: the saved run used the name of its day, the user
    typed nothing.
    """
    out = dict(options)
    for old, (new, _) in RENAMED.items():
        if old in out and new not in out:
            out[new] = out.pop(old)
    return out


def saved_options(options: Any, where: str) -> dict[str, Any]:
    """A run's saved options (its config.json ``options``), each checked as a config file's.

    Args:
        options: the saved mapping; old names are moved to their new keys (``renamed_keys``).
        where: the file, for the messages (``RUN/config.json``).

    Raises:
        UsageError: not a mapping, an unknown key, or a value the option does not take (the
            message names ``where`` and ``options.<key>``); ``None`` passes where it is the
            option's default.
    """
    if not isinstance(options, Mapping):
        raise UsageError(f"{where}: options must be a table of options, got {options!r}")
    out = renamed_keys(options)
    for key, value in out.items():
        opt = BY_KEY.get(key)
        if opt is None:
            raise UsageError(f"{where}: unknown option {key!r} in options")
        if not (value is None and opt.default is None):
            out[key] = convert(opt, value, f"{where}: options.{key}")
    return out


def resolve(explicit: Mapping[str, Any], config_file: str | None = None) -> dict[str, Any]:
    """Defaults, then the config file, then the explicitly given flags."""
    cfg = defaults()
    if config_file is not None:
        cfg.update(load_toml(config_file))
    cfg.update(explicit)
    cfg.update(architecture(cfg))
    return cfg


def architecture(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The per-model defaults for ``filters``, ``hidden_dims``, ``filter_size`` filled in."""
    model = cfg["model"]
    out = dict(MODEL_DEFAULTS[model])
    out["filter_size"] = {"convnet": 3, "threelayer": 7, "fc": None}[model]
    for k in ("filters", "hidden_dims", "filter_size"):
        if cfg.get(k) is not None:
            out[k] = cfg[k]
    return out
