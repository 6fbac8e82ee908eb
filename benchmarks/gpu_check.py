"""GPU proof: numnet on CuPy, checked against its NumPy path and timed against PyTorch CUDA.

Usage, from the source tree on a machine with an NVIDIA GPU, CuPy and PyTorch with CUDA (nothing
is installed, nothing downloaded)::

    PYTHONPATH=. python benchmarks/gpu_check.py [--sections suite,parity,epoch,timing]

Sections, in order (about 3 minutes in all on one GPU; each has a time limit):

- ``suite``: the test suite's CuPy cases (``pytest --xp cupy -k cupy`` over the files whose tests
  take ``xp``), a fresh process.
- ``parity``: every layer (naive and fast, ``gpu_cases.py``) forward and backward in float32 on
  CuPy against NumPy (rtol 1e-4), and a float64 directional gradient check on CuPy (1e-6).
- ``epoch``: one epoch of the default recipe, ``numnet train --device cuda --epochs 1``, in this
  process. Fashion-MNIST is taken from ``data/fashion-mnist`` in the source tree, else from
  numnet's usual places; when it is nowhere, a stand-in of the same shape (60,000 + 10,000 random
  28x28 images, 10 classes) is written and the results say so. Beside it, the same net's training
  step on 2 CPU cores (a subprocess pinned to 2 cores, 2 BLAS threads), to compare with the
  target: an epoch at least 10x faster than on 2 cores.
- ``timing``: a training step (host batch uploaded, forward, backward, Adam, one read of the
  loss) of ThreeLayerConvNet and both recipe nets at batch 64 and 256, numnet on CuPy against the
  same net in PyTorch on the same GPU; target: the recipe nets within 3x of PyTorch.

Writes ``benchmarks/GPU.md`` (kept; ``run_all.py`` appends it to RESULTS.md) and the same section
into ``benchmarks/RESULTS.md``. Exit status: 0 when every check passed, 1 when one failed, 2 when
there is no GPU to run on (never a silent skip).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

import numpy as np  # noqa: E402

from numnet._atomic import atomic_write_text  # noqa: E402

GPU_MD = HERE / "GPU.md"
RESULTS_MD = HERE / "RESULTS.md"
BEGIN, END = "<!-- gpu_check:begin -->", "<!-- gpu_check:end -->"
SECTIONS = ("suite", "parity", "epoch", "timing")
SUITE_TIMEOUT, EPOCH_TIMEOUT, CPU_TIMEOUT = 150, 120, 90
NOT_MEASURED = (
    "GPU results not yet measured: needs a GPU run (`PYTHONPATH=. python benchmarks/gpu_check.py` "
    "on a machine with an NVIDIA GPU, CuPy and PyTorch with CUDA)."
)


class NoGPU(RuntimeError):
    """There is no GPU (or no CuPy, or no PyTorch CUDA) to run the check on."""


def gpu_modules():
    """``(cupy, torch)`` on a usable GPU.

    Raises:
        NoGPU: CuPy missing or without a GPU, or PyTorch without CUDA.
    """
    from numnet.backend import device_module

    try:
        cp = device_module("cuda")
    except RuntimeError as e:
        raise NoGPU(str(e)) from None
    try:
        import torch
    except ImportError:
        raise NoGPU("PyTorch is not installed (the timing compares with PyTorch CUDA)") from None
    if not torch.cuda.is_available():
        raise NoGPU(f"PyTorch {torch.__version__} sees no CUDA device") from None
    return cp, torch


# --------------------------------------------------------------------------------- suite
def xp_test_files() -> list[str]:
    """The test files with a test that takes the ``xp`` fixture."""
    pattern = re.compile(r"def test_\w+\([^)]*\bxp\b", re.S)
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py")
                  if pattern.search(p.read_text()))  # fmt: skip


def run_suite() -> dict:
    """The suite's CuPy cases in a pytest subprocess: counts, and the failures' names."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", "--xp", "cupy",
           "-k", "cupy", *xp_test_files()]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=SUITE_TIMEOUT)  # fmt: skip
        text, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as e:
        text, code = (e.stdout or b"").decode(errors="replace"), None
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|error)", text)}
    return {
        "ok": code == 0 and counts.get("passed", 0) > 0 and not counts.get("failed"),
        "exit_code": code,
        "counts": counts,
        "failed": re.findall(r"^FAILED (\S+)", text, re.M)[:20],
        "seconds": round(time.perf_counter() - t0, 1),
        "tail": text.strip().splitlines()[-1:] if code is not None else ["timed out"],
    }


# -------------------------------------------------------------------------------- parity
def run_parity(cp) -> dict:
    """Per-layer float32 parity with NumPy and float64 gradient checks, all on CuPy."""
    import gpu_cases

    rows = []
    for case in gpu_cases.CASES:
        row = {"layer": case.name}
        for key, check, tol in (("parity", gpu_cases.parity, gpu_cases.PARITY_RTOL),
                                ("grad", gpu_cases.gradcheck, gpu_cases.GRAD_TOL)):  # fmt: skip
            try:
                row[key] = check(case, cp)
                row[f"{key}_ok"] = bool(row[key] <= tol)
            except Exception as e:  # one broken layer must not hide the others
                row[key], row[f"{key}_ok"] = f"{type(e).__name__}: {e}"[:160], False
        rows.append(row)
    return {"ok": all(r["parity_ok"] and r["grad_ok"] for r in rows), "rows": rows}


# --------------------------------------------------------------------------------- epoch
def fashion_mnist() -> tuple[Path | None, str]:
    """Where Fashion-MNIST is (source tree first), and a note on what was found."""
    from numnet.data import locations

    for root in (ROOT / "data", None):
        found = locations.locate("fashion-mnist", root)
        if found is not None:
            return found.path, f"Fashion-MNIST from {found.path}"
    return None, "no Fashion-MNIST here: a random stand-in of the same shape (60,000 + 10,000)"


def write_standin(folder: Path) -> None:
    """Random images and labels in Fashion-MNIST's four files (IDX, gzipped)."""
    import gzip

    from numnet.data import encode_idx
    from numnet.data.registry import (
        IDX_TEST_IMAGES,
        IDX_TEST_LABELS,
        IDX_TRAIN_IMAGES,
        IDX_TRAIN_LABELS,
    )

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    files = ((IDX_TRAIN_IMAGES, 60000, True), (IDX_TRAIN_LABELS, 60000, False),
             (IDX_TEST_IMAGES, 10000, True), (IDX_TEST_LABELS, 10000, False))  # fmt: skip
    for name, n, images in files:
        a = rng.integers(0, 256, (n, 28, 28)) if images else rng.integers(0, 10, n)
        (folder / name).write_bytes(gzip.compress(encode_idx(a.astype(np.uint8)), mtime=0))


def train_command(argv: list[str], standin: bool) -> int:
    """``numnet <argv>`` in this process; a stand-in data set is read without its checksums."""
    import dataclasses

    from numnet.cli import dataload
    from numnet.cli.main import main

    if standin:
        from numnet.data import FileSpec, get_spec
        from numnet.data import load_dataset as real

        spec = get_spec("fashion-mnist")
        spec = dataclasses.replace(spec, files=tuple(FileSpec(f.name) for f in spec.files))
        dataload.load_dataset = lambda name, root=None, download=False, **kw: real(
            name, root, download, spec=spec, **kw
        )
    return main(argv)


def cpu_step_worker() -> None:
    """Subprocess side: the default recipe's training step on this process's CPUs, as JSON."""
    from numnet.cli import config, setup
    from numnet.optim import adam, global_norm

    cfg = config.resolve({})
    model = setup.build_model({**cfg, "device": "cpu"})
    rng = np.random.default_rng(0)
    X = rng.standard_normal((cfg["batch_size"], 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, cfg["batch_size"])
    configs = {k: {"learning_rate": cfg["lr"]} for k in model.params}
    times = []
    for i in range(13):
        t0 = time.perf_counter()
        loss, grads = model.loss(X, y)
        float(loss), float(global_norm(grads))
        for k, w in model.params.items():
            model.params[k], configs[k] = adam(w, grads[k], configs[k])
        if i >= 3:
            times.append(time.perf_counter() - t0)
    print(json.dumps({"step_ms": 1000 * float(np.median(times))}))


def cpu_step_ms() -> float | None:
    """The default recipe's training step on 2 CPU cores with 2 BLAS threads, in ms."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.update({v: "2" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    cores = sorted(os.sched_getaffinity(0))[:2] if hasattr(os, "sched_getaffinity") else None
    pin = (lambda: os.sched_setaffinity(0, cores)) if cores else None
    proc = subprocess.run([sys.executable, __file__, "--cpu-step-worker"], env=env,
                          capture_output=True, text=True, timeout=CPU_TIMEOUT,
                          preexec_fn=pin)  # fmt: skip
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])["step_ms"]


def run_epoch(extra_argv=()) -> dict:
    """One epoch of the default recipe on the GPU through the command; the CPU step beside it.

    ``extra_argv``: more ``numnet train`` flags (a shorter dry run: ``--num-train``).
    """
    import contextlib

    from numnet.cli import rundir

    data, note = fashion_mnist()
    with tempfile.TemporaryDirectory() as tmp:
        if data is None:
            data = Path(tmp) / "standin"
            write_standin(data)
        out = Path(tmp) / "run"
        t0 = time.perf_counter()
        argv = ["train", "--device", "cuda", "--epochs", "1", "--data-dir", str(data), "--out",
                str(out), *extra_argv]  # fmt: skip
        with contextlib.redirect_stdout(sys.stderr):  # the command's lines are progress here
            code = train_command(argv, standin=note.startswith("no "))
        wall = time.perf_counter() - t0
        rows = rundir.read_metrics(out / rundir.EPOCHS) if code == 0 else []
        summary = rundir.read_json(out / rundir.SUMMARY) if code == 0 else {}
    epoch_s = sum(r["seconds"] for r in rows)
    steps = int(rows[-1]["iteration"]) if rows else 0
    cpu = cpu_step_ms()
    result = {
        "ok": code == 0 and steps > 0,
        "data": note,
        "exit_code": code,
        "steps": steps,
        "epoch_seconds": round(epoch_s, 2),
        "command_seconds": round(wall, 1),
        "gpu_ms_per_step": round(1000 * epoch_s / steps, 2) if steps else None,
        "test_acc": summary.get("test_acc"),
        "val_acc": rows[-1]["val_acc"] if rows else None,
        "cpu_step_ms": None if cpu is None else round(cpu, 1),
    }
    if cpu is not None and steps:
        # The CPU epoch is estimated from its step alone (no accuracy checks, no checkpoints),
        # so the speed-up is understated, never overstated.
        result["cpu_epoch_seconds_est"] = round(cpu * steps / 1000, 1)
        result["speedup"] = round(result["cpu_epoch_seconds_est"] / epoch_s, 1)
    return result


# -------------------------------------------------------------------------------- timing
def _threelayer(torch):
    from numnet.classifiers import ThreeLayerConvNet

    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 7, padding=3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 16 * 16, 100), torch.nn.ReLU(),
        torch.nn.Linear(100, 10),
    )  # fmt: skip
    return ThreeLayerConvNet(weight_scale=1e-2, dtype=np.float32, rng=0), net, (3, 32, 32)


def _recipe(stem: str):
    import recipes

    cfg = recipes.recipe(stem)
    cfg.setdefault("dropout", cfg.get("dropout_keep", 1.0))  # the recipes' key is dropout_keep
    return lambda torch: (recipes.numnet_convnet(cfg, (1, 28, 28)),
                          recipes.torch_convnet(cfg, (1, 28, 28)), (1, 28, 28))  # fmt: skip


NETS = [("ThreeLayerConvNet 3x32x32", _threelayer, False),
        ("default recipe 1x28x28", _recipe("default"), True),
        ("long recipe 1x28x28", _recipe("long"), True)]  # fmt: skip


def _median_ms(step, sync, warmup=3, blocks=3, per_block=10) -> float:
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(per_block):
            step()
        sync()
        times.append((time.perf_counter() - t0) / per_block)
    return 1000 * float(np.median(times))


def time_step(cp, torch, model, net, X, y) -> tuple[float, float]:
    """Median ms of one training step: numnet on CuPy, then the torch net on CUDA."""
    from numnet.backend import host_floats
    from numnet.optim import adam, global_norm

    model.to(cp)
    net = net.cuda().train()
    configs = {k: {"learning_rate": 1e-3} for k in model.params}
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def numnet_step():
        loss, grads = model.loss(X, y)  # the host batch is uploaded here
        host_floats(loss, global_norm(grads))  # the Solver's one read per step
        for k, w in model.params.items():
            model.params[k], configs[k] = adam(w, grads[k], configs[k])

    def torch_step():
        tX, ty = torch.from_numpy(X).cuda(), torch.from_numpy(y).cuda()
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(tX), ty)
        loss.backward()
        opt.step()
        loss.item()

    return (_median_ms(numnet_step, cp.cuda.Device().synchronize),
            _median_ms(torch_step, torch.cuda.synchronize))  # fmt: skip


def run_timing(cp, torch) -> dict:
    """Numnet on CuPy vs PyTorch CUDA, one training step each, batch 64 and 256."""
    rows = []
    for name, build, recipe in NETS:
        for n in (64, 256):
            model, net, shape = build(torch)
            rng = np.random.default_rng(0)
            X = rng.standard_normal((n, *shape), dtype=np.float32)
            y = rng.integers(0, 10, n)
            nn_ms, th_ms = time_step(cp, torch, model, net, X, y)
            rows.append({"net": name, "batch": n, "numnet_ms": round(nn_ms, 2),
                         "torch_ms": round(th_ms, 2), "ratio": round(nn_ms / th_ms, 2),
                         "target": 3.0 if recipe else None})  # fmt: skip
    return {"ok": True, "rows": rows}


# ------------------------------------------------------------------------------- results
def environment(cp, torch) -> dict:
    """GPU, driver and library versions."""
    props = cp.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return {
        "date": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        "gpu": name,
        "cupy": cp.__version__,
        "cuda_runtime": cp.cuda.runtime.runtimeGetVersion(),
        "driver": cp.cuda.runtime.driverGetVersion(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "loadavg": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.2e}" if v and abs(v) < 1e-2 else f"{v:g}"
    return "" if v is None else str(v)


def render(env: dict | None, results: dict) -> str:
    """The markdown section (``NOT_MEASURED`` when there are no results)."""
    out = [BEGIN, "## GPU: numnet on CuPy (`benchmarks/gpu_check.py`)", ""]
    if env is None:
        return "\n".join([*out, NOT_MEASURED, END, ""])
    out += [f"- {k}: {v}" for k, v in env.items()] + [""]
    if "suite" in results:
        s = results["suite"]
        out += [f"**Suite, CuPy cases** ({'PASS' if s['ok'] else 'FAIL'}): {s['counts']} in "
                f"{s['seconds']} s; exit code {s['exit_code']}."]  # fmt: skip
        out += [f"- failed: {f}" for f in s["failed"]] + [""]
    if "parity" in results:
        out += [f"**Layers on CuPy** ({'PASS' if results['parity']['ok'] else 'FAIL'}): float32 "
                "max relative difference to NumPy (limit 1e-4), float64 directional gradient "
                "check (limit 1e-6).", "", "| layer | float32 vs NumPy | float64 gradient |",
                "|---|---|---|"]  # fmt: skip
        for r in results["parity"]["rows"]:
            marks = ["" if r[f"{k}_ok"] else " ✗" for k in ("parity", "grad")]
            out.append(f"| {r['layer']} | {_fmt(r['parity'])}{marks[0]} | "
                       f"{_fmt(r['grad'])}{marks[1]} |")  # fmt: skip
        out.append("")
    if "epoch" in results:
        e = results["epoch"]
        out += [f"**One epoch of the default recipe** ({'PASS' if e['ok'] else 'FAIL'}), "
                f"`numnet train --device cuda --epochs 1`; data: {e['data']}.", ""]  # fmt: skip
        out += [f"- {k}: {_fmt(v)}" for k, v in e.items() if k not in ("ok", "data")]
        out += ["- target: an epoch at least 10x faster than on 2 CPU cores (the CPU epoch is "
                "estimated as steps x the CPU step, without checks, which understates the "
                "speed-up)", ""]  # fmt: skip
    if "timing" in results:
        out += ["**Training step, numnet on CuPy vs PyTorch CUDA** (host batch uploaded, forward, "
                "backward, Adam, one read of the loss; median ms; target: the recipe nets within "
                "3x):", "", "| net | batch | numnet ms | torch ms | ratio | target |",
                "|---|---|---|---|---|---|"]  # fmt: skip
        for r in results["timing"]["rows"]:
            bad = r["target"] is not None and r["ratio"] > r["target"]
            out.append(f"| {r['net']} | {r['batch']} | {r['numnet_ms']} | {r['torch_ms']} | "
                       f"{r['ratio']}{' ✗' if bad else ''} | {_fmt(r['target'])} |")  # fmt: skip
        out.append("")
    return "\n".join([*out, END, ""])


def write_section(text: str, results_md: Path = RESULTS_MD, gpu_md: Path = GPU_MD) -> None:
    """``text`` into GPU.md and in place of RESULTS.md's section (appended if it has none)."""
    atomic_write_text(gpu_md, text)
    old = results_md.read_text() if results_md.exists() else ""
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN)] + text.rstrip("\n") + old[old.index(END) + len(END) :]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    atomic_write_text(results_md, new)


def main(argv=None) -> int:
    """Run the sections; return the exit status (0 pass, 1 a check failed, 2 no GPU)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sections", default=",".join(SECTIONS), help="comma separated: "
                   + ", ".join(SECTIONS))  # fmt: skip
    p.add_argument("--no-write", action="store_true", help="print only; leave the results files")
    p.add_argument("--cpu-step-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.cpu_step_worker:
        cpu_step_worker()
        return 0
    sections = [s for s in args.sections.split(",") if s]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        print(f"gpu_check: unknown section(s) {unknown}; choose from {SECTIONS}", file=sys.stderr)
        return 2
    try:
        cp, torch = gpu_modules()
    except NoGPU as e:
        print(f"gpu_check: FAILED, no GPU to check on: {e}", file=sys.stderr)
        return 2
    results = {}
    for name in sections:
        print(f"gpu_check: {name} ...", file=sys.stderr, flush=True)
        if name == "suite":
            results[name] = run_suite()
        elif name == "parity":
            results[name] = run_parity(cp)
        elif name == "epoch":
            results[name] = run_epoch()
        else:
            results[name] = run_timing(cp, torch)
        print(json.dumps(results[name], default=str), file=sys.stderr, flush=True)
    text = render(environment(cp, torch), results)
    print(text)
    if not args.no_write:
        write_section(text)
    failed = [k for k, r in results.items() if not r["ok"]]
    if failed:
        print(f"gpu_check: FAILED sections: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
