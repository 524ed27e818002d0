"""Speed of ``hetsim sweep`` (issue 13): this checkout beside an earlier commit, measured in the same run.

The earlier commit (default: 3e563f0, main before per-axis-value validation, memoised memories and units,
the counted closed form and the per-variant default operating point) is checked out as a ``git worktree`` under ``--old-tree`` and run with the same
Python, so both sides see the same machine and the same load. Every figure is measured in its own
subprocess (``run_sweep`` into a fresh folder, stored); printed per figure: this checkout, the earlier
commit and the ratio new / old.

1. 10,000 platform points of the default workload (backbone technology × backbone capacity × banks ×
   staging-buffer size × default operating point), ``--workers`` (2) processes, stored: target < 10 s wall
   on 2 cores. Also the CPU seconds of all processes (what the machine's load does not inflate as much).
2. 1,000 points that vary the workload (adapter size × tasks × request rate × technology × staging
   buffer) with warm traces: target < 60 s wall.
3. Store size per 10,000 points.
4. Agreement: the same points (axis values) on both sides, compared metric by metric, with the metrics
   that moved most (the earlier commit evaluated a variant whose default operating point differs from its
   group's first variant at the first one's: those rows differ; so do rows whose figures the model has
   changed since, e.g. a DRAM's power-down inside requests).

Traces are warmed on both sides first (not timed). Run:
``python benchmarks/bench_sweep.py [--workers N] [--skip-workload] [--skip-old] [--old-commit C]``.
On a shared machine wall times include waiting for other processes: the load average is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import ROOT, ensure_old_tree, measure, row  # noqa: E402  (the same worktree and subprocess helpers)

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
        "study.scenario.rate": {"from": "0.25 Hz", "to": "32 Hz", "steps": 10, "scale": "log"},
        "platform.memories.backbone.technology": ["rram", "stt-mram", "pcm", "fefet", "sram-lstp"],
        "platform.memories.buffer.capacity": {"from": "32 KiB", "to": "1 MiB", "steps": 5, "scale": "log"}},
}                                                                    # 2 × 2 × 10 × 5 × 5 = 1,000 points

#: Warms the trace cache for a sweep (argv[1]: the sweep as JSON).
_WARM = """
import json, sys
from simulator.sweep.points import Keys, generate, load_base
from simulator.sweep.runner import _trace_once, as_spec
spec = as_spec(json.loads(sys.argv[1]))
base = load_base(spec)
keys = Keys(spec, base)
_trace_once(spec, base, keys, [(i, p, keys.point_id(p)) for i, p in enumerate(generate(spec, base))])
print(json.dumps({"ok": True}))
"""

#: Runs a sweep into argv[2] with argv[3] workers; prints wall, CPU (this process and its workers), rows,
#: store bytes, and the rows' figures for the agreement check (written to argv[2]/rows.parquet).
_RUN = """
import json, resource, sys, time
from pathlib import Path
from simulator.sweep import run_sweep

def cpu():
    return sum(getattr(resource.getrusage(w), f) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))

out = Path(sys.argv[2])
c0, t0 = cpu(), time.perf_counter()
frame = run_sweep(json.loads(sys.argv[1]), out / "sweep", workers=int(sys.argv[3]), outputs=False)
wall, used = time.perf_counter() - t0, cpu() - c0
store = sum(p.stat().st_size for p in (out / "sweep" / "points.parquet").rglob("*") if p.is_file())
frame.to_parquet(out / "rows.parquet")
print(json.dumps({"wall": wall, "cpu": used, "rows": len(frame), "store": store,
                  "feasible": int(frame["feasible"].sum()), "overloaded": int(frame["overloaded"].sum())}))
"""


def agreement(new_rows: Path, old_rows: Path, split: str | None = None) -> None:
    """Compare the metrics of the points both sides stored (by their axis values: a point's id also hashes
    the hetsim version and the data files, which may differ between the two)."""
    import numpy as np
    import pandas as pd

    from simulator.sweep.metrics import SUMMARY_METRICS

    a, b = pd.read_parquet(new_rows), pd.read_parquet(old_rows)       # the same point: the same axis values
    a, b = (f[f["evaluator"] == "analytic"].set_index("point_json") for f in (a, b))
    common = a.index.intersection(b.index)
    metrics = [m for m in SUMMARY_METRICS if m in a and m in b]
    x, y = a.loc[common, metrics].to_numpy(float), b.loc[common, metrics].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where((x == y) | (np.isnan(x) & np.isnan(y)), 0.0, np.abs(x - y) / np.maximum(np.abs(y), 1e-300))
    worst = np.nanmax(rel, axis=1) if len(common) else np.zeros(0)
    print(f"  agreement: {len(common):,} points on both sides; {int((worst <= 1e-9).sum()):,} equal to 1e-9 in "
          "every metric")
    if len(common):      # which metrics moved (the model may have changed since the earlier commit)
        per_metric = sorted(((float(np.nanmax(rel[:, j])), m) for j, m in enumerate(metrics)), reverse=True)
        moved = [f"{m} {v:.2g}" for v, m in per_metric if v > 1e-9]
        print(f"    largest relative difference per metric: {', '.join(moved[:6]) or 'none'}"
              + (f" (+{len(moved) - 6} more metrics)" if len(moved) > 6 else ""))
    if split and len(common):
        groups = a.loc[common, split].to_numpy()
        for g in pd.unique(groups):
            sel = groups == g
            print(f"    {split} = {g}: {int(sel.sum()):,} points, largest relative difference "
                  f"{float(worst[sel].max()):.2g}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--old-commit", default="3e563f0", help="the earlier commit to compare with")
    parser.add_argument("--old-tree", type=Path, default=None,
                        help="where its git worktree is (created if missing; default: hetsim-bench-sweep-<commit> "
                             "in the temporary folder)")
    parser.add_argument("--skip-old", action="store_true", help="this checkout only")
    parser.add_argument("--skip-workload", action="store_true", help="only the 10,000 platform points")
    args = parser.parse_args()

    sides = {"new": ROOT}
    if not args.skip_old:
        tree = args.old_tree or Path(tempfile.gettempdir()) / f"hetsim-bench-sweep-{args.old_commit}"
        sides["old"] = ensure_old_tree(args.old_commit, tree)
    sweeps = [("platform", PLATFORM_SWEEP)] + ([] if args.skip_workload else [("workload", WORKLOAD_SWEEP)])
    for tree in sides.values():                                      # warm traces (not timed)
        for _, doc in sweeps:
            warm = measure(tree, _WARM, json.dumps(doc))
            if "error" in warm:
                print(f"warming traces in {tree}: {warm['error']}")
    print(f"load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; new = {ROOT}"
          + (f", old = {args.old_commit} at {sides['old']}" if "old" in sides else ""))
    work = Path(tempfile.mkdtemp(prefix="hetsim-bench-sweep-"))
    try:
        for kind, doc in sweeps:
            got = {side: measure(tree, _RUN, json.dumps(doc), str(work / f"{kind}-{side}"), str(args.workers))
                   for side, tree in sides.items()}
            new, old = got["new"], got.get("old", {})
            n = new.get("rows") or 0
            print(f"\n{kind} sweep: {n:,} points, {args.workers} workers, stored "
                  f"(load average now {os.getloadavg()[0]:.1f}):")
            target = "target < 10 s for 10,000" if kind == "platform" else "target < 60 s (warm traces)"
            row("wall", new.get("wall"), old.get("wall"), "s", target)
            row("CPU, all processes", new.get("cpu"), old.get("cpu"), "s")
            row("points per second (wall)", n / new["wall"] if n else None,
                old["rows"] / old["wall"] if old.get("rows") else None, "pt/s")
            row("CPU per point", new["cpu"] / n * 1e3 if n else None,
                old["cpu"] / old["rows"] * 1e3 if old.get("rows") else None, "ms")
            if kind == "platform":
                row("store per 10,000 points", new["store"] / n * 1e4 / 2**20 if n else None,
                    old["store"] / old["rows"] * 1e4 / 2**20 if old.get("rows") else None, "MiB")
            print(f"  feasible {new.get('feasible')}, overloaded {new.get('overloaded')} (new)")
            for side, figures in got.items():
                if "error" in figures:
                    print(f"  {side}: {figures['error']}")
            if "old" in got and "error" not in new and "error" not in old:
                agreement(work / f"{kind}-new" / "rows.parquet", work / f"{kind}-old" / "rows.parquet",
                          "platform.default_operating_point" if kind == "platform" else None)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
