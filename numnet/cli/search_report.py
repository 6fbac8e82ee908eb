"""The files of a search directory, redrawn from the storage; the lines printed per trial.

trials.csv, leaderboard.txt, best.toml and the plots come from the storage alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from numnet.cli import search_dir as SD
from numnet.cli.search_space import best_toml, trial_options


def load_stages(storage, plan):
    """``[(study, space)]`` of the stages that exist in ``storage`` so far, in order."""
    import optuna

    from numnet.search.runner import stage_names
    from numnet.search.space import space_from_dict

    have = {s.study_name for s in storage.get_all_studies()}
    out = []
    for name in stage_names(plan):
        if name not in have:
            break
        study = optuna.load_study(study_name=name, storage=storage)
        stored = study.user_attrs.get("numnet_space")
        space = space_from_dict(stored) if stored else dict(plan.space)
        out.append((study, space))
    return out


def write_outputs(out: Path, storage, plan, fixed: Mapping, storage_shown: str) -> str:
    """Write every file of the search directory from the storage; return the text to print.

    The text: the leaderboard, the edge warnings, the best trial and how to rerun it.
    """
    from numnet.search import plots
    from numnet.search.report import best_row, leaderboard, trial_rows, write_trials_csv
    from numnet.search.space import decode

    stages = load_stages(storage, plan)
    studies = [s for s, _ in stages]
    spaces = [sp for _, sp in stages]
    rows = trial_rows(studies)
    write_trials_csv(out / SD.TRIALS_CSV, rows)
    lines = [leaderboard(rows)] if rows else ["no trial yet"]
    for study, _ in stages:
        for w in study.user_attrs.get("numnet_warnings", []):
            lines.append(f"warning: {study.study_name}: {w}")
    best = best_row(rows)
    if best is not None:
        space = spaces[best.stage_index]
        params = decode(space, best.params)
        options = trial_options(fixed, params)
        header = [
            f"numnet search {plan.name}: best trial {best.number} of {best.stage}, val accuracy "
            f"{100 * best.value:.2f}% after {best.epochs} epochs",
            f"its options with the full {options['epochs']} epochs; rerun with: numnet train "
            f"--config {out / SD.BEST_TOML}",
        ]
        SD.write_text(out / SD.BEST_TOML, best_toml(options, header))
        shown = ", ".join(f"{k}={_short(v)}" for k, v in params.items())
        lines += [
            f"best: trial {best.number} of {best.stage}, val {100 * best.value:.2f}% "
            f"({best.epochs} epochs): {shown}",
            f"train it in full: numnet train --config {out / SD.BEST_TOML}",
        ]
    if spaces:
        plots.draw_all(out, rows, spaces)
    lines.append(f"browse the trials: optuna-dashboard {storage_shown}")
    text = "\n".join(lines)
    SD.write_text(out / SD.LEADERBOARD, text + "\n")
    return text


def _short(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def trial_line(study, trial, prefix: str = "") -> str | None:
    """One line about a finished trial (None for a surplus trial, which trained nothing)."""
    ua = trial.user_attrs
    reason = ua.get("stop_reason", "")
    if reason == "surplus":
        return None
    params = ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
    epochs = ua.get("epochs", 0)
    secs = ua.get("seconds")
    took = f"{epochs} epoch{'' if epochs == 1 else 's'}" + (f", {secs:.1f}s" if secs else "")
    head = f"{prefix}{study.study_name} trial {trial.number}"
    state = trial.state.name
    if state == "COMPLETE":
        std = ua.get("cv_std")
        spread = f" ±{100 * std:.2f}" if std else ""
        return f"{head}: val {100 * trial.value:.2f}%{spread} ({took})  {params}"
    if state == "PRUNED":
        curve = list(trial.intermediate_values.values())
        best = f", best val {100 * max(curve):.2f}%" if curve and math.isfinite(max(curve)) else ""
        if reason == "diverged":
            return f"{head}: diverged ({took}): {ua.get('reason', '')}  {params}"
        return f"{head}: pruned ({took}{best})  {params}"
    return f"{head}: {state.lower()} ({reason or 'worker lost'})  {params}"
