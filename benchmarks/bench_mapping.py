"""Speed of the mapping search: map every op of one adapter-ALBERT forward (issue 6).

Targets: cold cache (every distinct GEMM searched) < 0.5 s; warm cache (every op a cache hit) < 5 ms.
Also prints the distinct shapes, candidates evaluated and re-fetch factors, on each buffered platform.

    python benchmarks/bench_mapping.py [--platform edge-rram] [--seq-len 128] [--repeats 5]
"""
from __future__ import annotations

import argparse
import sys
import time

from hw_models import load_platform
from simulator.prepare.mapping import clear_cache
from simulator.prepare.placement import place
from simulator.prepare.streams import fixed
from simulator.prepare.traffic import op_traffic
from simulator.prepare.served_workload import Workload
from workloads.multitask import trace_tasks

TARGET_COLD_S, TARGET_WARM_S = 0.5, 5e-3


def map_all(trace, homes, platform) -> list:
    """op_traffic of every op of ``trace``, in order."""
    return [op_traffic(op, trace, homes, platform) for op in trace.ops]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--platform", default="edge-rram", help="platform name or YAML path (needs a buffer)")
    ap.add_argument("--seq-len", type=int, default=128, help="tokens per sequence")
    ap.add_argument("--repeats", type=int, default=5, help="timed repetitions (the best is reported)")
    args = ap.parse_args(argv)

    platform = load_platform(args.platform)
    trace = trace_tasks("albert-base-v2", ["sst2"], adapter="houlsby:64", seq_len=args.seq_len)["sst2"]
    workload = Workload("bench", {"sst2": trace}, fixed(["sst2"], 1e-3))
    homes = place(workload, platform).homes(trace)

    cold, warm = [], []
    for _ in range(args.repeats):
        clear_cache()
        t0 = time.perf_counter()
        results = map_all(trace, homes, platform)
        cold.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        map_all(trace, homes, platform)
        warm.append(time.perf_counter() - t0)

    mapped = [(op, r) for op, r in zip(trace.ops, results) if r.mapping is not None]
    shapes = {}
    for op, r in mapped:
        shapes.setdefault(r.mapping.gemm, (op, r))
    print(f"adapter-ALBERT (houlsby:64, {args.seq_len} tokens) on {platform.name}: {len(trace.ops)} ops, "
          f"{len(mapped)} mapped through buffer '{platform.buffers[0]}' "
          f"({platform.memories[platform.buffers[0]].capacity_bytes / 1024:.0f} KiB), "
          f"{len(shapes)} distinct GEMMs")
    print(f"{'gemm (batch,m,k,n)':>24} {'order':>5} {'tiles (m,k,n)':>18} {'cands':>5}  re-fetch per memory")
    for gemm, (op, r) in sorted(shapes.items()):
        refetch = ", ".join(f"{m} {f:.2f}x" for m, f in r.refetch.items())
        print(f"{str(gemm):>24} {r.loop_order:>5} {str(r.tiles):>18} {r.mapping.candidates_evaluated:>5}  {refetch}")
    for label, times, target in (("cold", cold, TARGET_COLD_S), ("warm", warm, TARGET_WARM_S)):
        verdict = "OK" if min(times) < target else "MISSED"
        print(f"{label} cache: {min(times) * 1e3:8.2f} ms (target < {target * 1e3:.0f} ms)  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
