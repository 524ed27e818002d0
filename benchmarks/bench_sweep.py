"""Speed of ``hetsim sweep`` (issue 13), figures printed next to their targets.

1. 10,000 platform points of the default workload (backbone technology × backbone capacity × banks ×
   staging-buffer size × operating point) with 2 workers, stored: target < 10 s wall on 2 cores.
2. 1,000 points that vary the workload (adapter size × tasks × request rate × staging buffer) with warm
   traces: target < 60 s wall.
3. Store size per 10,000 points.
Also: the points per second of today's ``evaluate_variants`` (one preparation, every variant through
(variants × ops × memories) arrays) measured in the same run, as the ratio the sweep path is compared with.

Run: ``python benchmarks/bench_sweep.py [--workers N] [--skip-workload]``. Traces are warmed first (not timed).
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

PLATFORM_SWEEP = {
    "name": "bench-platform", "study": "default", "platform": "edge-rram", "chunk_rows": 5000,
    "axes": {
        "platform.memories.backbone.technology": ["rram", "stt-mram", "pcm", "fefet", "sram-lstp", "sram-hp"],
        "platform.memories.backbone.capacity": {"from": "16 MiB", "to": "64 MiB", "steps": 8},
        "platform.memories.backbone.banks": [1, 2, 4, 8, 16, 32, 64],
        "platform.memories.buffer.capacity": {"from": "32 KiB", "to": "1 MiB", "steps": 10, "scale": "log"},
        "platform.default_operating_point": ["nominal", "mid", "low"]},
}                                                                    # 6 × 8 × 7 × 10 × 3 = 10,080 points
WORKLOAD_SWEEP = {
    "name": "bench-workload", "study": "default", "platform": "edge-rram",
    "axes": {
        "study.adapter": ["houlsby:8", "houlsby:64"],
        "study.tasks": [["sst2", "mnli"], ["sst2", "mnli", "qqp", "qnli"]],
        "study.scenario.rate": ["0.5 Hz", "1 Hz", "2 Hz", "4 Hz", "8 Hz"],
        "platform.memories.backbone.technology": ["rram", "stt-mram", "pcm", "fefet", "sram-lstp"],
        "platform.memories.buffer.capacity": {"from": "32 KiB", "to": "1 MiB", "steps": 5, "scale": "log"}},
}                                                                    # 2 × 2 × 5 × 5 × 5 = 1,000 points


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-workload", action="store_true", help="only the 10,000 platform points")
    args = parser.parse_args()

    from simulator.sweep import run_sweep
    from simulator.sweep.points import Keys, generate, load_base
    from simulator.sweep.runner import _trace_once, as_spec

    tmp = Path(tempfile.mkdtemp(prefix="hetsim-bench-sweep-"))
    try:
        for doc in (PLATFORM_SWEEP, WORKLOAD_SWEEP):          # warm the trace cache (not timed)
            spec = as_spec(doc)
            base = load_base(spec)
            keys = Keys(spec, base)
            _trace_once(spec, base, keys, [(i, p, keys.point_id(p)) for i, p in enumerate(generate(spec, base))])

        # today's path: evaluate_variants over one preparation (the default platform), for the ratio
        from hw_models import load_platform
        from simulator.analytic.closed_form import evaluate_variants
        from simulator.cost.tables import prepare
        from simulator.prepare.served_workload import Workload
        from simulator.study.runner import build_stream, build_traces, default_study

        study = default_study()
        workload = Workload("bench", build_traces(study), build_stream(study))
        load = os.getloadavg()[0]
        platform = load_platform("edge-rram")
        prepared = prepare(workload, platform)
        t0 = time.perf_counter()
        evaluate_variants(prepared, [platform] * 1000)
        old_rate = 1000 / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        frame = run_sweep(PLATFORM_SWEEP, tmp / "platform", workers=args.workers, outputs=False)
        wall = time.perf_counter() - t0
        n = len(frame)
        store = _size(tmp / "platform" / "points.parquet")
        print(f"load average before: {load:.1f} on {os.cpu_count()} cores (other work on the machine slows every "
              "figure here)")
        print(f"platform sweep: {n} points, {args.workers} workers, stored: {wall:.1f} s wall "
              f"({n / wall:,.0f} points/s; target < 10 s for 10,000)")
        print(f"  evaluate_variants in this run, one process: {old_rate:,.0f} variants/s "
              f"(the sweep path: {n / wall / old_rate:.1f}× that, including building, preparing, mapping checks "
              f"and storing)")
        print(f"  feasible {int(frame['feasible'].sum())}, overloaded {int(frame['overloaded'].sum())}")
        print(f"store: {store / 2**20:.2f} MiB for {n} points = {store / n * 10_000 / 2**20:.2f} MiB per 10,000 points")
        if not args.skip_workload:
            t0 = time.perf_counter()
            frame = run_sweep(WORKLOAD_SWEEP, tmp / "workload", workers=args.workers, outputs=False)
            wall = time.perf_counter() - t0
            print(f"workload sweep (adapter × tasks × rate × technology × buffer): {len(frame)} points, warm "
                  f"traces: {wall:.1f} s wall (target < 60 s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
