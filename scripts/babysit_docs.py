"""Make the README's "Babysitting a run" pictures and diagnosis examples from real runs.

Usage: ``.venv/bin/python scripts/babysit_docs.py [--runs DIR] [--skip-monitor]``

Everything goes through the ``numnet`` command, on Fashion-MNIST, with fixed seeds:

* ``numnet inspect init`` for the lecture's four inits -> ``docs/init-*.png``;
* one ``numnet train`` per problem that ``numnet diagnose`` names (fully connected nets on a
  10,000-image subset, a few minutes in all), their diagnoses -> ``docs/diagnose-examples.md``,
  and five of them side by side (``numnet compare``) -> ``docs/compare.png``;
* the default recipe with ``--monitor`` (``numnet train --monitor``, 5 epochs: the longest part;
  ``--skip-monitor`` leaves it out) -> ``docs/monitor.png``, ``docs/monitor_histograms.png``.

The runs stay in ``--runs`` (default ``runs/babysit-docs-<date>-<time>``).
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
NUMNET = [sys.executable, "-m", "numnet"]

INITS = [
    ("tanh", "gaussian", "0.01"),
    ("tanh", "gaussian", "1.0"),
    ("tanh", "xavier", "0.01"),
    ("relu", "kaiming", "0.01"),
]

FC = ["--model", "fc", "--num-train", "10000", "--num-val", "2000", "--num-test", "2000"]
PLAIN_SGD = ["--lr-schedule", "none", "--norm", "none"]
#: (name, what the run shows, flags after FC); each is one ``numnet train``.
EXAMPLES = [
    ("healthy", "the fc recipe's net, 10 epochs", ["--epochs", "10"]),
    ("lr-nan", "plain SGD at lr 2", ["--optimizer", "sgd", "--lr", "2", *PLAIN_SGD]),
    ("lr-high", "Adam at lr 0.05", ["--optimizer", "adam", "--lr", "0.05", *PLAIN_SGD,
                                    "--epochs", "10"]),
    ("lr-low", "plain SGD at lr 1e-4", ["--optimizer", "sgd", "--lr", "1e-4", *PLAIN_SGD,
                                        "--epochs", "10"]),
    ("bad-init", "three hidden layers, gaussian 0.01 init, SGD momentum",
     ["--num-train", "5000", "--hidden-dims", "100,100,100", "--init", "gaussian",
      "--weight-scale", "0.01", "--optimizer", "sgd_momentum", "--lr", "0.05", *PLAIN_SGD,
      "--epochs", "10"]),
    ("overfit", "300 training images, no regularisation, 100 epochs",
     ["--num-train", "300", "--norm", "none", "--batch-size", "50", "--epochs", "100"]),
    ("underfit", "a hidden layer of 2 units", ["--hidden-dims", "2", "--norm", "none",
                                               "--epochs", "10"]),
    ("noisy", "batches of 2, plain SGD", ["--batch-size", "2", "--optimizer", "sgd", "--lr",
                                          "0.02", *PLAIN_SGD, "--epochs", "3"]),
]  # fmt: skip
COMPARED = ["healthy", "lr-high", "lr-low", "bad-init", "underfit"]


def numnet(*argv: str) -> subprocess.CompletedProcess:
    """Run the command; its output is echoed and returned."""
    print("$ numnet " + " ".join(argv), flush=True)
    proc = subprocess.run([*NUMNET, *argv], capture_output=True, text=True, cwd=ROOT, check=False)
    print(proc.stdout + proc.stderr, flush=True)
    return proc


def copy(src: Path, name: str) -> None:
    """Copy a figure into docs/ as ``name``, a 128-colour palette PNG (a few times smaller)."""
    from PIL import Image

    with Image.open(src) as img:
        small = img.convert("RGB").quantize(colors=128)
    small.save(DOCS / name, optimize=True)
    print(f"-> docs/{name}")


def inits(runs: Path) -> None:
    """The lecture's init figures."""
    for act, init, scale in INITS:
        out = runs / f"init-{act}-{init}-{scale}"
        flags = ["--activation", act, "--init", init, "--weight-scale", scale]
        if numnet("inspect", "init", *flags, "--out", str(out)).returncode:
            raise SystemExit("inspect init failed")
        tag = f"{act}-{init}" + (f"-{scale}" if init == "gaussian" else "")
        copy(out / "init_histograms.png", f"init-{tag}.png")
        if (act, init, scale) == INITS[0]:
            copy(out / "init_stats.png", f"init-{tag}-stats.png")


def examples(runs: Path) -> list[str]:
    """The diagnosis examples; returns the markdown lines."""
    lines = [
        "# numnet diagnose on real runs",
        "",
        "Written by `.venv/bin/python scripts/babysit_docs.py`; do not edit by hand. Each run is",
        "`numnet train` on Fashion-MNIST (" + " ".join(FC) + ", seed 0, unless the flags say",
        "otherwise); the diagnosis is what the command printed at its end.",
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}.",
        "",
    ]
    for name, what, flags in EXAMPLES:
        out = runs / name
        proc = numnet("train", *FC, *flags, "--out", str(out))
        text = proc.stdout.replace(f"{ROOT}/", "").splitlines()
        at = next(k for k, ln in enumerate(text) if ln.startswith("diagnosis of"))
        result = [ln for ln in text if ln.startswith("test accuracy")]
        err = proc.stderr.replace(f"{ROOT}/", "").splitlines()
        err = [ln for ln in err if ln.startswith("numnet: error")]
        lines += [f"## {name}: {what}", "", "```", "numnet train " + " ".join(FC + flags),
                  *(result or err), *text[at:], "```", ""]  # fmt: skip
    return lines


def main(argv=None) -> int:
    """Make every picture and the examples file."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    p.add_argument("--runs", default=str(ROOT / "runs" / f"babysit-docs-{stamp}"))
    p.add_argument("--skip-monitor", action="store_true", help="no monitored default run")
    p.add_argument("--monitored-run", metavar="RUN_DIR", default=None,
                   help="take the monitor figures from this finished `numnet train --monitor` "
                   "run instead of training one")  # fmt: skip
    args = p.parse_args(argv)
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MPLBACKEND", "Agg")
    inits(runs)
    lines = examples(runs)
    (DOCS / "diagnose-examples.md").write_text("\n".join(lines), encoding="utf-8")
    print("-> docs/diagnose-examples.md")
    if numnet("compare", *(str(runs / n) for n in COMPARED), "--out", str(runs)).returncode:
        raise SystemExit("compare failed")
    copy(runs / "compare.png", "compare.png")
    if args.monitored_run:
        out = Path(args.monitored_run)
        if numnet("plot", str(out)).returncode:
            raise SystemExit(f"cannot draw {out}")
    elif not args.skip_monitor:
        out = runs / "default-monitor"
        if numnet("train", "--monitor", "--out", str(out)).returncode:
            raise SystemExit("the monitored run failed")
    if args.monitored_run or not args.skip_monitor:
        copy(out / "monitor.png", "monitor.png")
        copy(out / "monitor_histograms.png", "monitor_histograms.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
