"""``numnet search``'s space file: the searched options, the fixed ones, the stages, and best.toml.

A space file names ``numnet train`` options as in their TOML configs (``lr``, ``reg``,
``weight_scale``, ``dropout_keep``, ``optimizer``, ``hidden_dims``...), one table each::

    [lr]
    low = 1e-5
    high = 1.0
    log = true
    [optimizer]
    choices = ["adam", "sgd_momentum"]

and optionally ``[fixed]`` (train options every trial uses, as in a ``--config`` file),
``[search]`` (``trials``, ``sampler``, ``pruner``, ``cv``, ``seed``: defaults of the flags) and
``[[stage]]`` tables (``trials``, ``epochs``, ``top_k``). Everything is checked here, before any
trial runs: unknown names, bad bounds, values an option does not take, and options that cannot
be searched, each as one line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from numnet.cli import config as C
from numnet.cli.errors import UsageError

#: Options that are not hyperparameters: where the data is, how many threads, the test subset.
NOT_SEARCHABLE = ("data", "data_dir", "download", "threads", "num_test")
#: Options that may differ between the workers and reruns of one search.
PER_MACHINE = ("data_dir", "download", "threads")
#: Keys of the [search] table and the flags they default.
SEARCH_KEYS = ("trials", "sampler", "pruner", "cv", "seed")


def read_toml(path: str | Path) -> dict:
    """The parsed file, or a one-line :class:`UsageError`."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise UsageError(f"space file {path} not found") from None
    except OSError as e:
        raise UsageError(f"cannot read space file {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"space file {path} is not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise UsageError(
            f"space file {path} is not UTF-8 (byte {e.start}), as TOML must be"
        ) from None


def kind_of(name: str) -> str:
    """``"float"``, ``"int"`` or ``"categorical"`` for a train option; ValueError otherwise."""
    opt = C.BY_KEY.get(name)
    if opt is None:
        raise ValueError(f"unknown option (numnet train options: {', '.join(C.BY_KEY)})")
    if name in NOT_SEARCHABLE:
        raise ValueError("is not a hyperparameter and cannot be searched; set it with --" +
                         name.replace("_", "-"))  # fmt: skip
    if opt.flag or opt.choices is not None:
        return "categorical"
    for probe, kind in ((0.5, "float"), (2, "int")):
        try:
            opt.convert(probe)
            return kind
        except (ValueError, TypeError):
            pass
    return "categorical"


def convert_value(name: str, value: Any) -> Any:
    """A bound or choice checked and converted as the train option ``name`` takes it."""
    opt = C.BY_KEY[name]
    if isinstance(value, tuple):
        value = list(value)
    v = opt.convert(value)
    if opt.choices is not None and v not in opt.choices:
        raise ValueError(f"choose from {', '.join(opt.choices)}")
    return v


def parse_space_file(path: str | Path):
    """``(space, fixed, search_defaults, stages or None)`` from a space file.

    Raises:
        UsageError: one line naming the file, the table and the problem.
    """
    from numnet.search import SpaceError, StageError, parse_space
    from numnet.search.stages import stages_from_tables

    raw = read_toml(path)
    try:
        space = parse_space(
            raw,
            where=f"space file {path}",
            kind_of=kind_of,
            convert=convert_value,
            reserved=("fixed", "search", "stage"),
        )
    except SpaceError as e:
        raise UsageError(str(e)) from None
    fixed = {}
    if "fixed" in raw:
        if not isinstance(raw["fixed"], Mapping):
            raise UsageError(f"space file {path}: [fixed] must be a table of train options")
        fixed = _fixed_table(raw["fixed"], path)
    search = raw.get("search", {})
    if not isinstance(search, Mapping):
        raise UsageError(f"space file {path}: [search] must be a table")
    unknown = set(search) - set(SEARCH_KEYS)
    if unknown:
        raise UsageError(f"space file {path}: [search]: unknown key {sorted(unknown)[0]!r} "
                         f"(allowed: {', '.join(SEARCH_KEYS)})")  # fmt: skip
    stages = None
    if "stage" in raw:
        try:
            stages = stages_from_tables(raw["stage"], where=f"space file {path}: [[stage]]")
        except StageError as e:
            raise UsageError(str(e)) from None
    return space, fixed, dict(search), stages


def _fixed_table(table: Mapping, path) -> dict:
    out = {}
    for k, v in table.items():
        key = str(k).replace("-", "_")
        opt = C.BY_KEY.get(key)
        if opt is None:
            raise UsageError(f"space file {path}: [fixed]: unknown option {k!r} (known: "
                             f"{', '.join(C.BY_KEY)})")  # fmt: skip
        out[key] = C.convert(opt, v, f"space file {path}: [fixed] {k}")
    return out


def fixed_options(explicit: Mapping, config: str | None, file_fixed: Mapping, space) -> dict:
    """Every train option of the trials: defaults < --config < [fixed] < flags.

    The architecture defaults per model are not filled in here (the model may be searched).

    Raises:
        UsageError: an option both searched and fixed by a flag or by [fixed].
    """
    for source, given in (("the command line", explicit), ("[fixed]", file_fixed)):
        both = [k for k in given if k in space]
        if both:
            raise UsageError(f"{both[0]} is searched (space file) and also fixed on {source}; "
                             "drop one")  # fmt: skip
    cfg = C.defaults()
    if config is not None:
        cfg.update(C.load_toml(config))
    cfg.update(file_fixed)
    cfg.update(explicit)
    return cfg


def trial_options(fixed: Mapping, params: Mapping) -> dict:
    """A trial's complete options: the fixed ones, the sampled ones, the model's defaults."""
    cfg = {**fixed, **params}
    cfg.update(C.architecture(cfg))
    return cfg


def plan_options(fixed: Mapping) -> dict:
    """The fixed options that define a search (what a rerun must repeat), JSON-ready."""
    return {k: v for k, v in json.loads(json.dumps(dict(fixed))).items() if k not in PER_MACHINE}


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"TOML cannot hold {v!r}")
        text = repr(v)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise ValueError(f"TOML cannot hold {v!r}")


def best_toml(options: Mapping, header: list[str]) -> str:
    """A ``numnet train --config`` file of ``options`` (None values left out).

    Grouped as the train options are, with ``header`` as comment lines.
    """
    lines = [f"# {h}" for h in header]
    group = None
    for opt in C.OPTIONS:
        v = options.get(opt.key)
        if v is None:
            continue
        if opt.group != group:
            group = opt.group
            lines += ["", f"[{group}]"]
        lines.append(f"{opt.key} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"
