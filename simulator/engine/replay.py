"""Exact replay: with one request in flight, simulate each request shape once and replay it.

With ``max_in_flight == 1`` no two requests are ever in service together: request k starts at
``max(arrival_k, end_{k-1})`` with every memory and unit idle, and its timeline depends only on its
*shape*: its task (and early exit), operating point (and DVFS transition), which memories and compute
units it first wakes (those that slept in the idle gap before it: past their break-even time,
:mod:`simulator.cost.power_states`) and whether it loads its task's adapters (the previous request was of another task). So the engine
(:mod:`simulator.engine.discrete_event`, the same SimPy processes) simulates one request of each shape, starting at
t = 0 with idle resources, and every request of that shape is that timeline shifted to its start. A
stream of a million requests has a few dozen shapes: the run costs a few dozen simulated requests plus a
Python loop over the stream, and its ledger is a :class:`simulator.results.ledger.CompactLedger` (each shape's
rows once, one (shape, start) per request), whose size does not grow with the ledger rows.

The results equal the full event simulation's (:func:`simulator.engine.discrete_event.simulate` with
``replay=False``) to rounding: tests/test_replay.py checks every table and the summary to 1e-9 relative
on random platforms, workloads and streams (switches, wake-ups, operating points, prefetch).
Times in s, energies in J.
"""
from __future__ import annotations

from bisect import bisect_left

import numpy as np
import pandas as pd

from simulator.cost import power_states
from simulator.cost.schedule import idle_gap, needs_switch
from simulator.cost.tables import Prepared, gap_energy, leakage, lower_bound, prepare
from simulator.prepare.early_exit import request_keys
from simulator.results.build import program_writes, tensor_writes
from simulator.results.ledger import LEDGER_COLUMNS, REQUEST_COLUMNS, CompactLedger, Shape, categorical
from simulator.results.result import Result

def _reset(eng, task: str) -> None:
    """A fresh SimPy world for one request of ``task`` (cost tables, plans and row templates kept)."""
    eng.env = eng.environment()   # the engine's own (its lighter loop and processes)
    eng.mem = [eng.resource(eng.env, 1) for _ in eng.prepared.memories]
    eng.units = eng.make_units()
    eng.builder.blocks = []
    eng.records, eng.intervals, eng.op_points = [], [], []
    eng.dynamic = 0.0
    eng.in_flight = {0: task}
    eng.changed = eng.env.event()


def simulate_shape(eng, request, op_point: int, gap: float, switch: bool) -> tuple[Shape, float]:
    """One request like ``request`` (its task, early exit and DVFS transition) at operating point index
    ``op_point`` after an idle ``gap`` (s; what slept in it wakes first), through the engine's own
    processes (``eng``: a
    :class:`simulator.engine.discrete_event._Engine`), alone, from t = 0. Returns its :class:`Shape`
    (rows with its leakage while served) and the dynamic energy the engine accumulated (J)."""
    from dataclasses import replace

    task = request.task
    _reset(eng, task)
    request = replace(request, id=0, arrival_s=0.0, operating_point=eng.pp.op_points[op_point])
    eng.env.process(eng.serve(request, gap, switch))
    eng.env.run()
    duration = float(eng.records[0]["end_s"])
    timeline = leakage(eng.pp, 0, np.array([0.0]), np.array([duration]), np.array([op_point]), 0.0,
                       power_states.run_transfers(eng.builder, eng.pp, eng.prepared.memories))
    eng.builder.leakage(timeline, [(0, task, 0.0, duration)])
    cols = eng.builder.columns()
    rows = {c: cols[c] for c in LEDGER_COLUMNS if c != "request"}
    wakes = np.flatnonzero(power_states.wake_cost(eng.pp, gap)[0][0]) if gap > 0 else ()
    key = (request.key, op_point, tuple(int(c) for c in wakes), switch, request.transition_s,
           request.transition_J)
    return Shape(key, rows, duration), float(eng.dynamic)


def _memory_writes(prepared, ledger: CompactLedger, tensors: list[dict]) -> dict[str, dict[str, float]]:
    """:func:`simulator.results.build._memory_writes` from the shapes: per memory the bytes written
    (op writes and switch loads) and the writes its most-written cells see, the same rule: the largest of
    any tensor's own cell writes (``tensors``: :func:`simulator.results.build.tensor_writes`) and the
    run-time tensors' bytes over the region they cycle through."""
    counts = ledger.counts
    out = {}
    for m in prepared.memories:
        op_bytes = load_bytes = 0.0
        for k, s in enumerate(ledger.shapes):
            here = s.rows["component"] == m
            op_bytes += counts[k] * float(s.rows["bytes"][here & (s.rows["category"] == "write")].sum())
            load_bytes += counts[k] * float(s.rows["bytes"][here & (s.rows["category"] == "switch_load")].sum())
        mem = prepared.platform.memories[m]
        mine = [t for t in tensors if t["memory"] == m]
        runtime_bytes = op_bytes if mem.is_buffer else sum(t["write_bytes"] for t in mine if t["task"])
        region = prepared.placement.runtime_peak.get(m, 0.0) or (mem.capacity_bytes if mem.is_buffer else 0.0)
        cycled = runtime_bytes / region if region > 0 else 0.0
        out[m] = {"bytes": op_bytes + load_bytes, "cell_writes": max([cycled] + [t["cell_writes"] for t in mine]),
                  **program_writes(prepared, m)}
    return out


def replay(workload, platform, *, placement=None, prepared: Prepared | None = None, seed: int = 0,
           prefetch_depth: int | None = None) -> Result:
    """Run ``workload`` on ``platform`` with one request in flight by replaying each request shape
    (module docstring). Same arguments and same numbers as :func:`simulator.engine.discrete_event.simulate`
    with ``max_in_flight=1``; the returned :class:`Result` holds a :class:`CompactLedger`
    (``run.ledger`` materialises the ordinary one on first use)."""
    from simulator.engine.discrete_event import _Engine, check_options

    depth = check_options(platform, 1, prefetch_depth)
    prepared = prepared if prepared is not None else prepare(workload, platform, placement)
    eng = _Engine(workload, prepared, platform, 1, depth)
    pp = eng.pp
    stream = workload.stream
    n = len(stream)
    loads = {t: bool(ta.switch_loads) for t, ta in prepared.tasks.items()}
    point_of = {}
    # a gap wakes exactly the sleeping components whose break-even time it exceeds: the number of
    # distinct break-even times below the gap names the set (bisect instead of numpy per request)
    be = pp.break_even_s[0][pp.sleeps[0] & np.isfinite(pp.break_even_s[0])]
    levels = sorted(set(be.tolist()))
    shapes: list[Shape] = []
    dynamic: list[float] = []
    index: dict[tuple, int] = {}
    shape_of = np.empty(n, dtype=np.int32)
    start = np.empty(n)
    end = np.empty(n)
    arrival = np.empty(n)
    switch = np.empty(n, dtype=bool)
    tasks = [""] * n
    points = np.empty(n, dtype=np.int32)
    durations: list[float] = []
    prev_end, prev_task = None, None
    for k, r in enumerate(stream):
        a, task = r.arrival_s, r.task
        p = point_of.get(r.operating_point)
        if p is None:
            p = point_of[r.operating_point] = pp.op_index(r.operating_point)
        s = a if prev_end is None else max(a, prev_end)       # the FCFS rules of simulator.cost.schedule
        gap = idle_gap(prev_end, a)
        level = bisect_left(levels, gap) if gap > 0 else 0    # the first request wakes nothing
        sw = needs_switch(task, prev_task)
        key = (r.key, p, level, sw and loads[task], r.transition_s, r.transition_J)
        i = index.get(key)
        if i is None:
            shape, dyn = simulate_shape(eng, r, p, gap, key[3])
            i = index[key] = len(shapes)
            shapes.append(shape)
            dynamic.append(dyn)
            durations.append(shape.duration_s)
        prev_end = s + durations[i]
        prev_task = task
        shape_of[k], start[k], end[k], arrival[k], switch[k], tasks[k], points[k] = i, s, prev_end, a, sw, task, p
    # idle gaps between requests (as simulator.cost.tables.leakage finds them with one request in flight)
    gap = np.flatnonzero(start[1:] > end[:-1])
    idle = np.stack([end[:-1][gap], start[1:][gap]], axis=1) if len(gap) else np.zeros((0, 2))
    idle_J = gap_energy(pp, 0, idle[:, 1] - idle[:, 0])
    M = len(prepared.memories)
    comps = list(prepared.memories) + list(pp.units)
    idle_cat = ["refresh" if (k < M and pp.gated[0, k] and pp.is_dram[0, k]) else "leakage"
                for k in range(len(comps))]
    ledger = CompactLedger(shapes, np.array([r.id for r in stream], dtype=np.int64),
                           shape_of, start, idle, idle_J, comps, idle_cat)
    energy, _ = ledger.request_sums()
    counts = ledger.counts
    # each shape's leakage while served (its ledger rows: DRAM power-down inside it included)
    busy_leak = sum(counts[k] * float(s.rows["energy_J"][np.isin(s.rows["category"], ("leakage", "refresh"))].sum())
                    for k, s in enumerate(shapes))
    leak_total = float(idle_J.sum()) + busy_leak
    dynamic_J = float(np.dot(counts, dynamic))
    ids = ledger.request
    req = pd.DataFrame({"request": ids, "task": categorical(tasks), "arrival_s": arrival, "start_s": start,
                        "end_s": end, "latency_s": end - arrival, "switch": switch,
                        "operating_point": categorical(np.asarray(pp.op_points, dtype=object)[points]),
                        "service_s": end - start, "energy_J": energy}, columns=list(REQUEST_COLUMNS))
    first = float(arrival.min()) if n else 0.0
    tensors = tensor_writes(prepared, [{"task": t, "switch": bool(w)} for t, w in zip(tasks, switch)])
    meta = {"evaluator": "engine", "total_energy_J": dynamic_J + leak_total, "leakage_energy_J": leak_total,
            "makespan_s": float(end.max()) - first if n else 0.0, "start_s": first,
            "memory_writes": _memory_writes(prepared, ledger, tensors), "tensor_writes": tensors,
            "tasks": list(prepared.tasks),
            "prefetch_depth": depth, "max_in_flight": 1, "seed": seed, "replay": True,
            "shapes": len(shapes),
            "lower_bound_J": {t: float(v[0]) for t, v in lower_bound(prepared, pp).items()},
            **request_keys(workload.stream)}
    return Result(ledger=ledger, requests=req, placement=prepared.placement, platform=eng.tables.platform,
                  workload=workload, meta=meta)
