"""``numnet train``: a new run, or ``--resume RUN_DIR`` to continue one.

Every check that can fail (options, --out, model, data set) runs before the run directory is
created or touched, so a mistake never leaves a half-made or modified run behind.
"""

from __future__ import annotations

import argparse
import math
import shlex
import signal
import sys
import time
from pathlib import Path

from numnet import __version__
from numnet.cli import config as C
from numnet.cli import dataload, models, rundir
from numnet.cli.diagnose import print_report
from numnet.cli.errors import CLIError, UsageError, one_line, os_error
from numnet.cli.progress import make_progress
from numnet.cli.record import RunRecorder
from numnet.cli.setup import lr_schedule, on_device, optim_config, prepared_data, solver_kwargs
from numnet.data import AugmentedImages

__all__ = ["lr_schedule", "optim_config", "run", "solver_kwargs"]  # from numnet.cli.setup


def _callbacks(cfg, data, recorder) -> list:
    ipe = math.ceil(data["X_train"].shape[0] / cfg["batch_size"])
    # The recorder runs first, so the progress line can show its epoch row (whose mean loss
    # also covers the steps a resumed run took before it was interrupted).
    cbs = [recorder, make_progress(ipe, summary=recorder.last_summary)]
    if cfg.get("monitor"):
        from numnet.babysit.monitor import Monitor

        # Before the recorder: a check's histograms are on disk before its last.npz.
        cbs.insert(0, Monitor(recorder.run_dir, every=cfg["monitor"]))
    if isinstance(data["X_train"], AugmentedImages):
        cbs.insert(0, data["X_train"])
    if cfg["patience"] is not None:
        from numnet.callbacks import EarlyStopping

        cbs.append(EarlyStopping("val_acc", patience=cfg["patience"]))
    return cbs


def _config_json(cfg, model, ds, data, ipe, history) -> dict:
    return {
        "numnet_version": __version__,
        "options": cfg,
        "model_config": model.get_config(),
        "iterations_per_epoch": ipe,
        "data_info": {
            "name": ds.name,
            "source": str(ds.source) if ds.source else None,
            "class_names": list(ds.class_names),
            "image_shape": list(ds.image_shape),
            "num_train": int(data["X_train"].shape[0]),
            "num_val": int(data["X_val"].shape[0]),
            "num_test": int(data["X_test"].shape[0]),
            "normalization": data.normalization.to_dict(),
        },
        "history": history,
    }


def _session(argv_note: str) -> dict:
    return {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": argv_note}


def _command_line(args) -> str:
    return "numnet " + " ".join(shlex.quote(str(a)) for a in getattr(args, "argv", sys.argv[1:]))


def run(args: argparse.Namespace, explicit: dict) -> int:
    """Train (or resume); return the exit code."""
    if args.resume is not None:
        return _resume(args, explicit)
    return _new(args, explicit)


def _new(args, explicit) -> int:
    from numnet.cli.finetune import Source
    from numnet.data import get_spec

    cfg = C.resolve(explicit, args.config)
    out = Path(args.out) if args.out is not None else rundir.default_run_dir(cfg["model"])
    rundir.check_new_run_dir(out)
    spec = get_spec(cfg["data"])
    source = Source.read(cfg)  # --init-from: the weights to start from
    k = dataload.num_classes(spec, cfg)
    if source is None:
        model = models.build(models.model_kwargs(cfg, spec.image_shape, k))
    else:
        model = models.build(source.model_config(cfg, explicit, spec.image_shape, k))
    model = on_device(model, cfg["device"])  # before any weights are loaded into it
    ds = dataload.subset(dataload.load(cfg["data"], cfg["data_dir"], cfg["download"]), cfg)
    norm = source.normalization(cfg["data"]) if source is not None else None
    data = prepared_data(ds, cfg, norm)
    # The Solver is set up (and checks its settings) before the run directory exists.
    recorder = RunRecorder(out)
    solver, init = _new_solver(cfg, model, data, recorder, out, source, norm is not None)
    run_dir = rundir.create_run_dir(out)
    with rundir.locked(run_dir):
        ipe = solver.iterations_per_epoch
        conf = _config_json(cfg, model, ds, data, ipe, [_session(_command_line(args))])
        if init is not None:
            conf["init_from"] = init
        rundir.write_json(run_dir / rundir.CONFIG, conf)
        print(f"training {model.get_config()['name']} ({model.num_params():,} params) on "
              f"{ds.name}: {data['X_train'].shape[0]} train / {data['X_val'].shape[0]} val images, "
              f"{cfg['epochs']} epochs of {ipe} steps; run directory {run_dir}")  # fmt: skip
        return _train(solver, run_dir, data, ds)


def _new_solver(cfg, model, data, recorder, out: Path, source=None, normalized=False):
    """``(solver, load report)`` of a run from step 0 with the options ``cfg``.

    With a ``source`` (``--init-from``) its weights are loaded into ``model`` first and the
    fine-tuning phases set up; the load report is None without one.
    """
    from numnet.solver import Solver

    ipe = math.ceil(data["X_train"].shape[0] / cfg["batch_size"])
    phases, init = {}, None
    if source is not None:
        phases, init = source.load_into(model, cfg, ipe, normalized=normalized)
    try:
        solver = Solver(
            model,
            data,
            **solver_kwargs(cfg, data),
            callbacks=_callbacks(cfg, data, recorder),
            interrupt_checkpoint=str(out / rundir.LAST),
            **phases,
        )
    except ValueError as e:
        raise UsageError(f"cannot set up training: {one_line(e)}") from None
    return solver, init


def _resume(args, explicit) -> int:
    if args.config is not None or args.out is not None:
        raise UsageError("--resume continues a run with its saved config; drop --config/--out")
    run_dir = Path(args.resume)
    if run_dir.exists() and not run_dir.is_dir():
        raise CLIError(f"--resume {run_dir}: is a file, not a run directory")
    if not run_dir.is_dir():
        raise CLIError(f"--resume {run_dir}: no such run directory")
    with rundir.locked(run_dir):
        return _resume_locked(args, explicit, run_dir)


def _saved_config(run_dir: Path):
    """``(config.json, options, model_config, history)`` of a run, every option checked."""
    path = run_dir / rundir.CONFIG
    saved = rundir.read_json(path)
    options, model_config = saved.get("options"), saved.get("model_config")
    if not isinstance(options, dict) or not isinstance(model_config, dict):
        raise CLIError(f"{path} is not a numnet run config (no options or model_config)")
    options = C.saved_options(options, str(path))
    history = saved.get("history", [])
    return saved, options, model_config, history if isinstance(history, list) else []


def _resume_locked(args, explicit, run_dir: Path) -> int:
    saved, options, model_config, history = _saved_config(run_dir)
    for key, value in explicit.items():
        if not C.BY_KEY[key].resumable and value != options.get(key):
            raise UsageError(
                f"{C.BY_KEY[key].flag_name} cannot change when resuming (the run used "
                f"{options.get(key)!r}); start a new run instead"
            )
    cfg = {**C.defaults(), **options, **explicit}
    rundir.remove_stale_temps(run_dir)
    last = run_dir / rundir.LAST
    model = on_device(models.build(model_config), cfg["device"])  # before its state is loaded
    ds = dataload.subset(dataload.load(cfg["data"], cfg["data_dir"], cfg["download"]), cfg)
    # A run from a checkpoint used that checkpoint's normalisation: the one it recorded.
    norm = dataload.saved_normalization(saved, cfg["data"]) if cfg.get("init_from") else None
    data = prepared_data(ds, cfg, norm)

    from numnet.checkpoint import CheckpointError
    from numnet.solver import Solver

    recorder = RunRecorder(run_dir)
    ipe = math.ceil(data["X_train"].shape[0] / cfg["batch_size"])
    if not last.is_file():  # stopped before its first checkpoint: the run starts again
        from numnet.cli.finetune import Source

        source = Source.read(cfg)  # a fine-tuning run starts again from its checkpoint
        solver, _ = _new_solver(cfg, model, data, recorder, run_dir, source, norm is not None)
    else:
        try:
            solver = Solver.resume(
                last,
                model=model,
                data=data,
                num_epochs=cfg["epochs"],
                lr_schedule=lr_schedule(cfg, ipe),
                verbose=False,
                callbacks=_callbacks(cfg, data, recorder),
                interrupt_checkpoint=str(last),
            )
        except CheckpointError as e:
            raise CLIError(f"cannot resume {run_dir}: {one_line(e)}") from None
    if cfg.get("monitor") and solver.iteration:
        _check_monitor_files(run_dir, model.params)
    recorder.resume_at(solver.iteration)
    history = [*history, _session(_command_line(args))]
    conf = _config_json(cfg, model, ds, data, ipe, history)
    if "init_from" in saved:
        conf["init_from"] = saved["init_from"]
    rundir.write_json(run_dir / rundir.CONFIG, conf)
    if solver.iteration >= solver.num_iterations:
        print(f"{run_dir} already finished its {cfg['epochs']} epochs; pass a larger --epochs "
              "to train longer. Evaluating it again.")  # fmt: skip
    elif solver.iteration == 0:
        print(f"{run_dir} has no checkpoint yet: training it from the start")
    else:
        print(f"resuming {run_dir} at epoch {solver.epoch + 1}, iteration {solver.iteration} "
              f"of {solver.num_iterations}")  # fmt: skip
    return _train(solver, run_dir, data, ds)


def _check_monitor_files(run_dir: Path, params) -> None:
    """Refuse, before any file is touched, monitor files the resumed run cannot continue."""
    from numnet.babysit.monitor import check_files

    try:
        check_files(run_dir, params)
    except ValueError as e:
        raise CLIError(
            f"cannot resume {run_dir}: {one_line(e)}; move the monitor files aside to resume "
            "without their earlier samples"
        ) from None


def _checkpoint_note(run_dir: Path) -> str:
    """What the run's last.npz holds now, in words (read from its metadata only)."""
    from numnet.checkpoint import CheckpointError, read_metadata

    last = run_dir / rundir.LAST
    try:
        return f"checkpoint of step {read_metadata(last)['state']['iteration']} in {last}"
    except (CheckpointError, KeyError, TypeError):
        return "no checkpoint yet (--resume trains the run from the start)"


def _train(solver, run_dir: Path, data, ds) -> int:
    import numpy as np

    from numnet._interrupts import signal_number
    from numnet.callbacks import NonFiniteLossError

    resume = f"numnet train --resume {shlex.quote(str(run_dir))}"
    try:
        # Overflow warnings would only precede the Solver's own message, which says more: the
        # epoch, iteration, last finite loss and learning rate of a diverging run.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            solver.train()
    except KeyboardInterrupt as e:
        signum = signal_number(e)
        what = "terminated" if signum == signal.SIGTERM else "interrupted"
        print(
            f"\n{what} at epoch {solver.epoch + 1}, iteration {solver.iteration}; "
            f"{_checkpoint_note(run_dir)}\nresume with: {resume}",
            file=sys.stderr,
        )
        return 128 + signum
    except NonFiniteLossError as e:
        print_report(run_dir, nonfinite_at=solver.iteration + 1)
        raise CLIError(
            f"training stopped: {one_line(e)} (run so far in {run_dir}: "
            f"{_checkpoint_note(run_dir)})"
        ) from None
    except OSError as e:
        raise CLIError(
            f"cannot write the run: {os_error(e)}; {_checkpoint_note(run_dir)}; resume with: "
            f"{resume}"
        ) from None
    from numnet.cli.finish import finish

    finish(solver, run_dir, data, ds)
    print_report(run_dir)
    return 0
