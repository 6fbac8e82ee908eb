"""The end of ``numnet train``: test accuracy of the best checkpoint, summary.json, plots."""

from __future__ import annotations

from pathlib import Path

from numnet.cli import metrics, rundir


def _best_model(solver, run_dir: Path):
    """The solver's model holding best.npz's params and batchnorm statistics (else as it is)."""
    best = run_dir / rundir.BEST
    if best.is_file():
        from numnet.checkpoint import load_model

        # params="last": best.npz was written at the best check, so its current params are the
        # best ones and its batchnorm statistics belong to them.
        return load_model(best, params="last", model=solver.model)
    return solver.model


def finish(solver, run_dir: Path, data, ds) -> dict:
    """Evaluate, write summary.json and the plots, print the result; return the summary."""
    model = _best_model(solver, run_dir)
    y_test = data["y_test"]
    pred = metrics.predict(model, data["X_test"])
    C = len(ds.class_names)
    cm = metrics.confusion_matrix(y_test, pred, C)
    per_class = metrics.per_class_accuracy(cm)
    test_acc = float((pred == y_test).mean()) if len(y_test) else float("nan")
    epochs = (
        rundir.read_metrics(run_dir / rundir.EPOCHS) if (run_dir / rundir.EPOCHS).exists() else []
    )
    best_row = max(epochs, key=lambda r: r["val_acc"], default=None)
    summary = {
        "test_acc": test_acc,
        "num_test": len(y_test),
        "best_val_acc": float(solver.best_val_acc),
        "best_epoch": int(best_row["epoch"]) if best_row else None,
        "epochs_completed": int(solver.epoch),
        "iterations": int(solver.iteration),
        "stop_reason": solver.stop_reason,
        "train_seconds": round(sum(r["seconds"] for r in epochs), 1),
        "checkpoint": rundir.BEST if (run_dir / rundir.BEST).is_file() else None,
        "class_names": list(ds.class_names),
        "per_class_acc": {n: float(a) for n, a in zip(ds.class_names, per_class)},
        "confusion_matrix": cm.tolist(),
    }
    rundir.write_json(run_dir / rundir.SUMMARY, summary)
    rundir.draw_plots(run_dir)
    minutes, seconds = divmod(round(summary["train_seconds"]), 60)
    best = f", best val {100 * summary['best_val_acc']:.2f}%"
    if summary["best_epoch"] is not None:
        best += f" at epoch {summary['best_epoch']}"
    n = summary["epochs_completed"]
    took = f"{n} epoch{'' if n == 1 else 's'}, {minutes}m{seconds:02d}s of training{best}"
    if solver.stop_reason == "early_stop":
        print(f"stopped early after epoch {n}: no better val accuracy for --patience epochs")
    print(f"test accuracy {100 * test_acc:.2f}% on {len(y_test)} images ({took})")
    print(f"run saved to {run_dir}")
    return summary
