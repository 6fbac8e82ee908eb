"""From ``numnet search``'s flags and space file to a checked :class:`numnet.search.Plan`.

Everything that can be wrong is found here, before the search directory exists: the space file,
the fixed options, the stages, the [search] settings, and every range end and choice built
into a model once (so an option the model cannot take fails now, not in trial 17).
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from numnet.cli import search_dir as SD
from numnet.cli.errors import CLIError, UsageError, one_line
from numnet.cli.search_space import fixed_options, parse_space_file, plan_options, trial_options
from numnet.cli.search_trial import TrialBuilder

DEFAULT_TRIALS = 20
DEFAULT_ROOT = "searches"


@dataclass
class Setup:
    """A resolved search: the plan, where its files go, the fixed options, the trial builder."""

    plan: object
    out: Path
    fixed: dict
    builder: TrialBuilder
    storage: str = ""


def _setting(args, name: str, file_value, check, default):
    flag = getattr(args, name if name != "seed" else "search_seed")
    if flag is not None:
        return flag
    if file_value is None:
        return default
    return check(file_value)


def _int_at_least(low: int, what: str):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise UsageError(f"{what} must be an integer >= {low}, got {v!r}")
        return v

    return check


def _one_of(choices, what: str):
    def check(v):
        if v not in choices:
            raise UsageError(f"{what} must be one of {', '.join(choices)}, got {v!r}")
        return v

    return check


def resolve(args, explicit: Mapping) -> Setup:
    """The checked plan of a new search or a rerun (nothing is written).

    Raises:
        UsageError / CLIError: one line for the first problem found.
    """
    from numnet.search import SAMPLERS, Plan, Stage
    from numnet.search.space import grid_values

    space, file_fixed, file_search, file_stages = parse_space_file(args.space)
    where = f"space file {args.space}: [search]"
    sampler = _setting(args, "sampler", file_search.get("sampler"),
                       _one_of(SAMPLERS, f"{where} sampler"), "random")  # fmt: skip
    pruners = ("median", "hyperband", "none")
    pruner = _setting(args, "pruner", file_search.get("pruner"),
                      _one_of(pruners, f"{where} pruner"), "median")  # fmt: skip
    cv = _setting(args, "cv", file_search.get("cv"), _int_at_least(2, f"{where} cv"), None)
    if cv is not None and cv < 2:
        raise UsageError(f"--cv must be >= 2 folds, got {cv}")
    seed = _setting(args, "seed", file_search.get("seed"), _int_at_least(0, f"{where} seed"), 0)
    if seed < 0:
        raise UsageError(f"--search-seed must be >= 0, got {seed}")
    fixed = fixed_options(explicit, args.config, file_fixed, space)
    stages = _stages(args, file_search, file_stages, space, sampler)
    if "epochs" in space and any(s.epochs for s in stages):
        raise UsageError("epochs is searched, so the stages cannot set epochs")
    stages = [Stage(s.trials, s.epochs or fixed["epochs"], s.top_k) for s in stages]
    if sampler == "grid":
        size = _grid_size(grid_values(space))
        if stages[0].trials > size:
            raise UsageError(f"--trials {stages[0].trials} is more than the grid's {size} points")
    name = args.study or Path(args.space).stem
    try:
        plan = Plan(name, space, stages, sampler, pruner, seed, cv,
                    extra={"fixed": plan_options(fixed)}).check()  # fmt: skip
    except ValueError as e:
        raise UsageError(one_line(e)) from None
    builder = TrialBuilder(fixed)
    _check_options(builder, fixed, plan)
    out = Path(args.out) if args.out else Path(DEFAULT_ROOT) / name
    return Setup(plan, out, fixed, builder)


def _stages(args, file_search, file_stages, space, sampler) -> list:
    """Flags over the file: --stages, else --trials, else [[stage]], else [search] trials."""
    from numnet.search import Stage, StageError, parse_stages
    from numnet.search.space import grid_values

    if args.stages is not None:
        if args.trials is not None:
            raise UsageError("give --trials or --stages, not both")
        try:
            return parse_stages(args.stages)
        except StageError as e:
            raise UsageError(one_line(e)) from None
    if args.trials is not None:
        if args.trials < 1:
            raise UsageError(f"--trials must be >= 1, got {args.trials}")
        return [Stage(args.trials)]
    file_trials = file_search.get("trials")
    if file_stages is not None:
        if file_trials is not None:
            raise UsageError(f"space file {args.space}: give [search] trials or [[stage]] "
                             "tables, not both")  # fmt: skip
        return file_stages
    if file_trials is not None:
        return [Stage(_int_at_least(1, f"space file {args.space}: [search] trials")(file_trials))]
    if sampler == "grid":
        try:
            return [Stage(_grid_size(grid_values(space)))]
        except ValueError as e:
            raise UsageError(one_line(e)) from None
    return [Stage(DEFAULT_TRIALS)]


def _grid_size(grid: Mapping) -> int:
    size = 1
    for values in grid.values():
        size *= len(values)
    return size


def _check_options(builder: TrialBuilder, fixed: Mapping, plan) -> None:
    """Build each range end and choice into a model, and split the data once."""
    from numnet.search import Choice

    base = trial_options(fixed, {"epochs": plan.stages[0].epochs})
    for name, p in plan.space.items():
        values = p.choices if isinstance(p, Choice) else (p.low, p.high)
        for v in values:
            v = list(v) if isinstance(v, tuple) else v
            try:
                builder.check(trial_options(fixed, {name: v, "epochs": plan.stages[0].epochs}))
            except CLIError as e:
                raise UsageError(f"{name} = {v!r} cannot be trained: {one_line(e)}") from None
    data = builder.data(base)
    n = data["y_train"].shape[0]
    if plan.cv is not None and plan.cv > n:
        raise UsageError(f"--cv {plan.cv} needs at least {plan.cv} training images, got {n}")


def check_rerun(existing: Mapping, plan, storage_shown: str, out: Path) -> None:
    """A rerun in ``out`` must be the same search on the same storage."""
    from numnet.search.runner import plan_difference

    diff = plan_difference(existing["plan"], plan.to_dict())
    if diff:
        raise CLIError(
            f"{out} holds the search {plan.name!r} with other settings ({diff}); rerun it with "
            "the same settings, or pick another --out and --study"
        )
    if existing.get("storage") != storage_shown:
        raise CLIError(f"{out}'s search keeps its trials in {existing.get('storage')}, not "
                       f"{storage_shown}; pass the same --storage")  # fmt: skip


def from_marker(out: Path) -> Setup:
    """The setup of the search in ``out`` (for workers and --report), from its search.json."""
    from numnet.search import Plan, Stage
    from numnet.search.space import space_from_dict
    from numnet.search.storage import is_url

    m = SD.read_marker(out)
    if m is None:
        raise CLIError(f"{out} is not a numnet search directory (no {SD.MARKER})")
    try:
        p = m["plan"]
        plan = Plan(m["study"], space_from_dict(p["space"]), [Stage(**s) for s in p["stages"]],
                    p["sampler"], p["pruner"], p["seed"], p["cv"], p["extra"]).check()  # fmt: skip
        fixed = dict(m["fixed"])
    except (KeyError, TypeError, ValueError) as e:
        raise CLIError(
            f"{out / SD.MARKER} is not a valid numnet search file: {one_line(e)}"
        ) from None
    storage = m["storage"]
    if not is_url(storage):
        storage = str(out / storage)
    return Setup(plan, out, fixed, TrialBuilder(fixed), storage)


def command_line(args) -> str:
    """The command as typed (for messages that say how to continue)."""
    argv = getattr(args, "argv", sys.argv[1:])
    return "numnet " + " ".join(shlex.quote(str(a)) for a in argv)


def describe_space(space: Mapping) -> str:
    """One line: each parameter's range or choices."""
    from numnet.search import Choice

    parts = []
    for name, p in space.items():
        if isinstance(p, Choice):
            choices = [list(c) if isinstance(c, tuple) else c for c in p.choices]
            parts.append(f"{name} in {json.dumps(choices)}")
        else:
            parts.append(f"{name} [{p.low:.3g}, {p.high:.3g}]{' log' if p.log else ''}")
    return ", ".join(parts)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def describe_plan(plan) -> str:
    """One line: the stages, sampler, pruner and folds."""
    stages = " then ".join(f"{s.trials} trials x {_n(s.epochs, 'epoch')}" for s in plan.stages)
    cv = f", {plan.cv}-fold" if plan.cv else ""
    return f"{stages}, {plan.sampler} sampler, {plan.pruner} pruner{cv}"
