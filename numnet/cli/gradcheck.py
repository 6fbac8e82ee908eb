"""``numnet gradcheck``: numeric gradient checks of every layer and model, as a table."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from numnet.cli.errors import CLIError, one_line
from numnet.gradcheck_cases import all_cases


def run(args: argparse.Namespace, explicit: dict) -> int:
    """Run the checks; exit code 0 if all pass, 1 otherwise.

    A check whose code raises (a backward that returns the wrong number of arrays, say) is a
    failed check, shown with its error, and the others still run.
    """
    cases = all_cases()
    if args.only:
        cases = [c for c in cases if args.only in c.name]
        if not cases:
            raise CLIError(f"--only {args.only!r} matches no check")
    width = max(len(c.name) for c in cases)
    print(f"{'check':<{width}}  {'max rel error':>13}  {'tolerance':>9}  result")
    failed = 0
    t0 = time.perf_counter()
    for i, case in enumerate(cases):
        rng = np.random.default_rng([args.seed, i])
        try:
            with np.errstate(all="ignore"):
                err = case.run(rng)
        except Exception as e:  # a bug in the code under check, reported as its row
            row = f"{'raised':>13}  {case.tol:9.0e}  FAIL ({type(e).__name__}: {one_line(e)})"
            ok = False
        else:
            ok = bool(np.isfinite(err) and err <= case.tol)
            row = f"{err:13.2e}  {case.tol:9.0e}  {'pass' if ok else 'FAIL'}"
        failed += not ok
        print(f"{case.name:<{width}}  {row}")
        sys.stdout.flush()
    seconds = time.perf_counter() - t0
    print(f"{len(cases) - failed} of {len(cases)} checks passed ({seconds:.1f} s)")
    return 1 if failed else 0
