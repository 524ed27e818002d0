"""Speed of the simulator core on adapter-ALBERT (the default study's workload), figures printed.

Targets (issue 5): one adapter-ALBERT request (~600 ops) through the SimPy engine in <= 20 ms median;
the analytic evaluator >= 1000 platform variants per second; the default study in < 60 s with cached
traces. Run: ``python benchmarks/bench_engine.py [--variants N] [--repeats N] [--no-study]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace


def _timed(fn, repeats: int) -> tuple[float, float]:
    """(median wall time, median CPU time of this process) of ``fn()`` in seconds over ``repeats`` calls.
    On a shared machine the CPU time is the figure that does not depend on the other processes."""
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", type=int, default=2000, help="platform variants for the sweep figure")
    parser.add_argument("--repeats", type=int, default=21, help="engine runs for the median")
    parser.add_argument("--no-study", action="store_true", help="skip timing the default study")
    args = parser.parse_args()

    from hw_models import load_platform
    from simulator.prepare import streams
    from simulator.analytic.closed_form import evaluate, evaluate_variants
    from simulator.cost.tables import prepare
    from simulator.engine.discrete_event import simulate
    from simulator.study.runner import build_traces, default_study, run_study
    from simulator.prepare.served_workload import Workload

    print(f"load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: wall times include waiting "
          "for other processes; CPU times do not")
    config = default_study()
    t0 = time.perf_counter()
    traces = build_traces(config, "adapters")
    print(f"traces ({', '.join(traces)}): {time.perf_counter() - t0:.2f} s (cached after the first run)")
    task = next(iter(traces))
    n_ops = len(traces[task].ops)
    platform = load_platform("edge-rram")
    one = Workload("adapter-albert", traces, streams.fixed([task], 0.0))

    t0 = time.perf_counter()
    prepared = prepare(one, platform)
    print(f"prepare (placement + per-op traffic, 4 tasks x {n_ops} ops): {time.perf_counter() - t0:.3f} s")

    for depth in (0, platform.prefetch_depth or 2):
        med, cpu = _timed(lambda: simulate(one, platform, prepared=prepared, prefetch_depth=depth), args.repeats)
        print(f"engine, one request ({n_ops} ops), prefetch {depth}: median {med * 1e3:.1f} ms wall, "
              f"{cpu * 1e3:.1f} ms CPU  (target <= 20 ms median)")
    med, cpu = _timed(lambda: evaluate(one, platform, prepared=prepared), args.repeats)
    print(f"analytic evaluate, one request with full ledger: median {med * 1e3:.1f} ms wall, {cpu * 1e3:.1f} ms CPU")

    stream = streams.poisson({t: 1.0 for t in traces}, 100, 10.0, 0.3, seed=0)
    hundred = Workload("adapter-albert", traces, stream)
    prepared100 = prepare(hundred, platform)
    med, cpu = _timed(lambda: simulate(hundred, platform, prepared=prepared100), 3)
    print(f"engine, 100 requests with task switches: median {med:.2f} s wall, {cpu:.2f} s CPU "
          f"({cpu / 100 * 1e3:.1f} ms CPU per request)")

    variants = []
    for i in range(args.variants):
        f = 0.5 + i / args.variants
        mems = dict(platform.memories)
        for name, m in platform.memories.items():
            mems[name] = replace(m, read_energy_per_access_J=m.read_energy_per_access_J * f,
                                 read_latency_s=m.read_latency_s * (2 - f), leakage_W=m.leakage_W * f)
        variants.append(replace(platform, memories=mems, name=f"{platform.name}-{i}"))
    t0, c0 = time.perf_counter(), time.process_time()
    table = evaluate_variants(prepared100, variants)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    print(f"evaluate_variants: {len(variants)} variants x 100 requests in {dt:.2f} s wall ({dc:.2f} s CPU) = "
          f"{len(variants) / dt:,.0f} variants/s wall, {len(variants) / dc:,.0f} per CPU second  (target >= 1000/s)")
    print(f"  energy per inference across variants: {table['energy_per_inference_J'].min() * 1e6:.1f} .. "
          f"{table['energy_per_inference_J'].max() * 1e6:.1f} uJ")

    if not args.no_study:
        t0 = time.perf_counter()
        results = run_study(config, progress=False)
        print(f"default study ({len(results)} platforms, {config.scenario.requests} requests, "
              f"{config.evaluator}): {time.perf_counter() - t0:.1f} s  (target < 60 s with cached traces)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
