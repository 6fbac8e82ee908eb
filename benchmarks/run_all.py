"""Run every benchmarks/bench_*.py at 1 and 2 threads and write benchmarks/RESULTS.md.

Usage: ``.venv/bin/python benchmarks/run_all.py [--only conv,pool] [--threads 1,2] [--quick]``.
Each (module, thread count) runs in its own subprocess so the thread env vars are set before NumPy
and torch load (see the protocol in benchmarks/common.py). By default the subprocesses drop
``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` (together) so OpenBLAS picks its kernel for the CPU
it runs on; ``--keep-openblas-env`` keeps them. The kernel that ran is recorded in the results.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

from numnet._atomic import atomic_write_text  # noqa: E402

MARK = "@@NUMNET-BENCH-JSON@@"


def discover(only: list[str] | None) -> list[str]:
    """Module names of benchmarks/bench_*.py, sorted; ``only`` filters by the part after bench_."""
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if only:
        names = [n for n in names if n.removeprefix("bench_") in only]
    return names


def worker(module: str, threads: int) -> None:
    """Subprocess side: run one module at one thread count, print its rows as JSON."""
    import common

    common.set_threads(threads)
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    mod = importlib.import_module(module)
    rows = mod.run(threads)
    payload = {
        "title": mod.TITLE,
        "target": getattr(mod, "TARGET", None),
        "shared": list(getattr(mod, "SHARED", ())),
        "notes": getattr(mod, "NOTES", ""),
        "rows": rows,
        "env": common.environment(),
        "load_start": load_start,
    }
    print(MARK + json.dumps(payload))


def launch(module: str, threads: int, keep_openblas_env: bool, quick: bool) -> dict:
    """Run one benchmark module at one thread count in a fresh subprocess.

    Args:
        module: module name, e.g. ``"bench_conv"``.
        threads: value for OMP/OPENBLAS/MKL_NUM_THREADS, set before NumPy and torch load.
        keep_openblas_env: keep ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` instead of dropping.
        quick: 3 repeats and 1 warm-up instead of the defaults.

    Returns:
        The worker's payload: title, target, shared columns, notes, rows and environment.

    Raises:
        RuntimeError: the subprocess failed; the message holds the end of its stderr.
    """
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    if not keep_openblas_env:
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    if quick:
        env["NUMNET_BENCH_REPEATS"], env["NUMNET_BENCH_WARMUP"] = "3", "1"
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, str(Path(__file__)), "--worker", module, "--threads", str(threads)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{module} at {threads} thread(s) failed:\n{proc.stderr[-4000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(MARK))
    return json.loads(line[len(MARK) :])


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def table(results: dict[int, dict]) -> list[str]:
    """Markdown table of one module: shared columns once, the others per thread count."""
    counts = sorted(results)
    first = results[counts[0]]
    shared = set(first["shared"]) | {"case", "target"}
    per_thread = [k for k in first["rows"][0] if k not in shared]
    head = ["case"]
    head += [f"{k} ({t}T)" for t in counts for k in per_thread]
    head += [k for k in first["rows"][0] if k in shared and k != "case"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, row in enumerate(first["rows"]):
        cells = [row["case"]]
        for t in counts:
            r = results[t]["rows"][i]
            for k in per_thread:
                v = r.get(k)
                target = r.get("target", first["target"])
                flag = " ✗" if k == "ratio" and target is not None and v > target else ""
                cells.append(_fmt(v) + flag)
        cells += [_fmt(row.get(k)) for k in head[1 + len(counts) * len(per_thread) :]]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render(all_results: dict[str, dict[int, dict]], keep_openblas_env: bool) -> str:
    """The whole RESULTS.md text: the environment header, then one table per module."""
    any_run = next(iter(next(iter(all_results.values())).values()))
    env = any_run["env"]
    out = [
        "# numnet benchmarks",
        "",
        "Written by `.venv/bin/python benchmarks/run_all.py`; do not edit by hand. Times are",
        "medians in ms; ratio = numnet / torch (lower is better) of the medians, min ratio of the",
        "fastest repetitions (the least disturbed by other jobs); ✗: a ratio above its target.",
        "Each thread count (1T, 2T) pins both sides: OMP/OPENBLAS/MKL_NUM_THREADS and",
        "`torch.set_num_threads`.",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {env['machine']}",
        f"- python {env['python']}, numpy {env['numpy']}, torch {env['torch']}"
        f" (CPU capability {env['torch_config']})",
        f"- numpy BLAS (threadpoolctl): {json.dumps(env['numpy_blas'])}",
        f"- load average (1, 5, 15 min) at the first benchmark process: {env['loadavg']}"
        " (timings are only meaningful on an otherwise idle machine)",
        "- OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: "
        + (
            f"kept as set ({json.dumps(env['openblas_env'])})"
            if keep_openblas_env
            else "unset for the benchmark processes (OpenBLAS detects the CPU)"
        ),
        "",
    ]
    for results in all_results.values():
        first = results[min(results)]
        out += [f"## {first['title']}", ""]
        if first["target"] is not None:
            out += [f"Target: ratio <= {first['target']}.", ""]
        out += table(results)
        loads = [
            f"{t}T {_fmt(r.get('load_start'))} -> {_fmt(r['env']['loadavg'][0])}"
            for t, r in sorted(results.items())
            if r["env"].get("loadavg")
        ]
        if loads:
            out += ["", "1-minute load average, start -> end of each run: " + ", ".join(loads)]
        if first["notes"]:
            out += ["", first["notes"].strip()]
        out.append("")
    analysis = HERE / "ANALYSIS.md"
    if analysis.exists():
        # Hand-written, dated analysis of measured runs (kept in its own file: RESULTS.md is
        # regenerated by every run).
        out += [analysis.read_text().strip(), ""]
    gpu = HERE / "GPU.md"
    if gpu.exists():
        # benchmarks/gpu_check.py's section: measured on a GPU machine, kept across CPU runs.
        out += [gpu.read_text().strip(), ""]
    return "\n".join(out)


def main(argv=None) -> int:
    """Command-line entry: run the selected benchmarks and write the results file.

    Returns:
        The exit status: 0, or 2 when ``--only`` matched no benchmark.
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", help="comma-separated benchmark names, e.g. conv,pool")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--quick", action="store_true", help="3 repeats instead of 9 (a rough look)")
    p.add_argument("--keep-openblas-env", action="store_true")
    p.add_argument("--out", default=str(HERE / "RESULTS.md"))
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    counts = [int(t) for t in args.threads.split(",")]
    if args.worker:
        worker(args.worker, counts[0])
        return 0
    modules = discover(args.only.split(",") if args.only else None)
    if not modules:
        print("no benchmarks matched", file=sys.stderr)
        return 2
    all_results = {}
    for module in modules:
        all_results[module] = {}
        for t in counts:
            print(f"{module} at {t} thread(s) ...", file=sys.stderr, flush=True)
            all_results[module][t] = launch(module, t, args.keep_openblas_env, args.quick)
    text = render(all_results, args.keep_openblas_env)
    atomic_write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
