"""``--threads``: cap the BLAS/OpenMP thread pools NumPy uses.

Before NumPy is loaded, the libraries read their thread count from environment variables once, at
load time; after that only threadpoolctl (optional) can change them. ``limit_threads`` does
whichever of the two still works.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator

ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def chosen_threads(threads: int | None, typed: bool, environ=os.environ) -> int | None:
    """The thread count a command applies: ``threads``, unless the user's environment decides.

    A ``--threads`` typed on the command line always wins. Otherwise (the default, 1) a thread
    variable the user set before starting numnet (``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
    ...) is left as it is: None, the libraries read it themselves.

    Args:
        threads: the parsed ``--threads`` value (its default when not typed), or None.
        typed: whether ``--threads`` was given on the command line.
        environ: the environment to look in.

    Returns:
        The count for ``limit_threads``, or None to leave the thread pools alone.
    """
    if typed or not any(environ.get(var) for var in ENV_VARS):
        return threads
    return None


AUTO_MAX = 2  # the most threads `numnet train` picks by itself: more were never measured


def _cpu_times(stat_path: str) -> tuple[int, int] | None:
    """(idle, total) jiffies of all CPUs from a ``/proc/stat`` file, or None where unreadable."""
    try:
        with open(stat_path, encoding="ascii") as f:
            fields = f.readline().split()
        ticks = [int(t) for t in fields[1:9]]  # user nice system idle iowait irq softirq steal
    except (OSError, ValueError):
        return None
    if fields[:1] != ["cpu"] or len(ticks) < 5:
        return None
    return ticks[3] + ticks[4], sum(ticks)


def busy_cores(sample_s: float = 0.25, stat_path: str = "/proc/stat") -> float | None:
    """How many of the machine's cores other work keeps busy now (Linux), else None.

    The share of non-idle CPU time over ``sample_s`` seconds, times the machine's core count: the
    load right now, where the load average still counts jobs that ended a minute ago.
    """
    first = _cpu_times(stat_path)
    if first is None:
        return None
    time.sleep(sample_s)
    second = _cpu_times(stat_path)
    if second is None or second[1] <= first[1]:
        return None
    idle, total = second[0] - first[0], second[1] - first[1]
    return (1.0 - idle / total) * (os.cpu_count() or 1)


def idle_threads(cpus: int | None = None, load: float | None = None) -> int:
    """Threads for a new training run: the cores no other job is using now, 1 to ``AUTO_MAX``.

    NumPy's BLAS threads busy-wait for each other: on an idle 2-core machine a second thread made
    an epoch of the default recipe about 12% faster, on one where another job held a core 3-6x
    slower (benchmarks/THREADS.md). So: the usable cores minus the busy ones, rounded.

    Args:
        cpus: usable cores (default: this process's CPU affinity, else ``os.cpu_count()``).
        load: cores busy with other work (default: :func:`busy_cores`, else the 1-minute load
            average; 1 thread where neither is known).

    Returns:
        The thread count, at least 1 and at most ``AUTO_MAX``.
    """
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if load is None:
        load = busy_cores()
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            return 1
    return max(1, min(AUTO_MAX, int(cpus or 1), int(cpus - load + 0.5)))


@contextlib.contextmanager
def limit_threads(n: int | None) -> Iterator[None]:
    """Within the block, BLAS/OpenMP use at most ``n`` threads (``None`` or 0: leave them alone)."""
    if not n:
        yield
        return
    if "numpy" not in sys.modules:
        # NumPy's BLAS reads these when it loads; set them for the rest of this process (and its
        # children) since the libraries cannot be re-limited later without threadpoolctl.
        for var in ENV_VARS:
            os.environ[var] = str(n)
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print(
            "numnet: warning: --threads has no effect here: NumPy is already loaded and "
            "threadpoolctl is not installed",
            file=sys.stderr,
        )
        yield
        return
    with threadpool_limits(limits=n):
        yield
