"""`hetsim reproduce all` with warm traces: seconds per recipe and in all, against the target.

Target: every figure set of `hetsim reproduce all` in under 5 minutes on the 2-core development machine
with warm traces (the trace cache filled by a first run and the full-size traces the recipes read, which
this script does first and does not time).
Also prints the CPU time of the process and its finished children (the pareto sweep's pool workers) per
recipe and in all, so a loaded machine (wall >> CPU) shows itself.

    python benchmarks/bench_reproduce.py [--quick] [-o DIR]
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 300.0


def cpu_s() -> float:
    """User + system CPU seconds of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def warm_full_traces() -> None:
    """Fill the trace cache with the full-size traces the recipes read (the --quick warm-up traces small
    ones): footprint's designs, the generation workloads, the pareto sweep's base study."""
    from simulator.reproduce import core
    from simulator.reproduce.recipes import footprint, generation
    from simulator.study.runner import DEFAULT_STUDY, build_traces, load_study

    spec = core.load_spec(core.RECIPES["footprint"].config_path, footprint.FootprintSpec)
    for design in spec.designs:
        footprint.traced_design(design, spec.seq_len)
    path = core.RECIPES["generation"].config_path
    gen = core.load_spec(path, generation.GenerationSpec)
    for w in gen.workloads:
        config = generation.study_of(gen, w, path)
        model, mode, adapter = config.platforms[0].serves(config)
        build_traces(config, mode, model=model, adapter=adapter)
    build_traces(load_study(DEFAULT_STUDY), "adapters")


def main() -> int:
    from simulator.reproduce import core

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced size (what the tests run)")
    parser.add_argument("-o", "--out", help="output folder (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "reproduce"
        print("warming the trace cache (not timed) ...", flush=True)
        t0 = time.perf_counter()
        core.run(["all"], Path(tmp) / "warm", quick=True)
        if not args.quick:
            warm_full_traces()
        print(f"  warm-up {time.perf_counter() - t0:.1f} s", flush=True)
        cpu0, wall0 = cpu_s(), time.perf_counter()
        rows = []
        last_cpu = [cpu0]

        def done(r):
            now = cpu_s()
            rows.append((r.recipe.name, r.seconds, len(r.figures)))
            print(f"  {r.recipe.name:<12} {r.seconds:7.1f} s wall {now - last_cpu[0]:7.1f} s CPU  "
                  f"({len(r.figures)} figures)", flush=True)
            last_cpu[0] = now

        core.run(["all"], out, quick=args.quick, on_done=done)
        wall, cpu = time.perf_counter() - wall0, cpu_s() - cpu0
    total = sum(s for _, s, _ in rows)
    print(f"hetsim reproduce all{' --quick' if args.quick else ''}: {wall:.1f} s wall in all "
          f"(recipes {total:.1f} s, writing the markdown and folder the rest), {cpu:.1f} s CPU; "
          f"target < {TARGET_S:.0f} s: {'met' if wall < TARGET_S else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
