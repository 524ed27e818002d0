"""Speed of the per-token table (``per_token.csv``, the report's "Per generated token") of a generation
run: the vectorised :func:`simulator.results.report._token_table` beside the per-row loop it replaced
(``tests/test_token_table.py``'s reference), on the same run, figures and their ratio printed.

Default: the ``generation`` recipe's RWKV-169M + ProSG study (``hetsim reproduce generation``), the analytic
evaluator; traces come from the trace cache (the first run traces RWKV: about a minute more).
Run: ``python benchmarks/bench_token_table.py [--study PATH] [--requests N] [--repeats N]``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _timed(fn, repeats: int) -> tuple[float, float, object]:
    """(median wall s, median CPU s of this process, last value) of ``fn()`` over ``repeats`` calls."""
    wall, cpu, value = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        value = fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu), value


def main() -> int:
    from simulator.reproduce.core import RECIPES_DIR

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default=str(RECIPES_DIR / "generation-prosg.yaml"), help="a generation study")
    parser.add_argument("--requests", type=int, default=None, help="override the study's number of requests")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls of the vectorised table (median; "
                        "the loop runs once)")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "tests"))
    from test_token_table import loop_token_table

    import pandas as pd

    from simulator.results.report import _token_table
    from simulator.study.runner import load_study, run_study

    config = load_study(args.study)
    if args.requests:
        config = config.with_overrides(requests=args.requests)
    t0 = time.perf_counter()
    results = run_study(config, progress=False)
    print(f"{config.name}: {config.scenario.requests} requests run in {time.perf_counter() - t0:.1f} s wall")
    for key, result in results.items():
        rows = len(result.ledger)
        vec_wall, vec_cpu, fast = _timed(lambda: _token_table(result), args.repeats)
        loop_wall, loop_cpu, slow = _timed(lambda: loop_token_table(result), 1)
        pd.testing.assert_frame_equal(fast, slow, check_dtype=False, rtol=1e-12)
        print(f"{key}: ledger {rows:,} rows, {len(fast)} steps; token table vectorised {vec_wall:.3f} s wall "
              f"({vec_cpu:.3f} s CPU), per-row loop {loop_wall:.3f} s wall ({loop_cpu:.3f} s CPU): "
              f"{loop_cpu / vec_cpu:.1f}x less CPU, {1e9 * vec_cpu / rows:.0f} ns per ledger row "
              f"(loop {1e9 * loop_cpu / rows:.0f} ns)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
