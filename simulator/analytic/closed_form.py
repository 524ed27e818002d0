"""The analytic evaluator: the engine's costs in closed form, without contention or prefetch overlap.

Requests are served one at a time in arrival order (first come, first served, the one rule of
:func:`simulator.cost.schedule.fcfs`): ``start_k = max(arrival_k, end_{k-1})``; a request's service time is
its wake-up (after a gated idle period), its task-switch copies, and the sum over its ops of fetch +
compute + store, all from :mod:`simulator.cost.tables`. Energy is the same per-op, per-switch and
per-wake-up figures plus leakage over the service intervals and the idle gaps.

With prefetch off and one request in flight, :func:`simulator.engine.simulate` must agree with
:func:`evaluate` to 1e-9 (tests/test_analytic.py); with contention the engine can only be slower.
:func:`evaluate_variants` evaluates many variants of one platform structure at once (numpy over the
variant axis) for sweeps.
"""
from __future__ import annotations

from dataclasses import fields, replace
from typing import Sequence

import numpy as np
import pandas as pd

from simulator.cost import power_states
from simulator.cost.schedule import fcfs
from simulator.cost.tables import CostTables, Prepared, busy_power, leakage, lower_bound, op_costs, \
    platform_params, prepare, switch_costs
from simulator.prepare.early_exit import request_keys
from simulator.results.build import LedgerBuilder, finish
from simulator.results.result import Result


def evaluate(workload, platform, *, placement=None, prepared: Prepared | None = None) -> Result:
    """Closed-form run of ``workload`` on ``platform`` (prefetch is ignored: no overlap). Returns a
    :class:`~simulator.results.result.Result` with the same ledger and requests columns as the engine."""
    prepared = prepared if prepared is not None else prepare(workload, platform, placement)
    tables = CostTables(prepared, platform, workload=workload)
    pp = tables.pp
    builder = LedgerBuilder(prepared, pp)
    stream = list(workload.stream)
    points = [pp.op_index(r.operating_point) for r in stream]
    switch_s = {t: tables.switch(t).time for t, ta in prepared.tasks.items()
                if ta.switch_loads and t in {r.task for r in stream}}
    op_start: dict[int, np.ndarray] = {}

    def serve(k: int, t: np.ndarray) -> np.ndarray:
        """The ops of request k one after another from t: fetch + compute phase + store each."""
        t_op = tables.ops(stream[k].key, points[k]).t_op[0]
        op_start[k] = float(t[0]) + np.concatenate([[0.0], np.cumsum(t_op)[:-1]])
        return np.array([float(op_start[k][-1] + t_op[-1]) if len(t_op) else float(t[0])])

    sched = fcfs([r.arrival_s for r in stream], [r.task for r in stream], pp, switch_s, serve,
                 [r.transition_s for r in stream])
    records, intervals, dynamic = [], [], 0.0
    for k, (r, p) in enumerate(zip(stream, points)):
        start, t, end = float(sched.start[k, 0]), float(sched.start[k, 0]), float(sched.end[k, 0])
        if sched.wake[k, 0]:
            mask, wake_J, wake_s = power_states.wake_cost(pp, float(sched.gap[k, 0]))
            builder.wakeup(r.id, r.task, t, t + wake_s[0], mask[0])
            t += wake_s[0]
            dynamic += wake_J[0]
        if r.transition_s or r.transition_J:  # DVFS transition (simulator.study.dvfs)
            builder.transition(r.id, r.task, t, t + r.transition_s, r.transition_J)
            t += r.transition_s
            dynamic += r.transition_J
        if sched.switch[k] and r.task in switch_s:
            sc = tables.switch(r.task)
            builder.switch(r.id, r.task, sc, t + np.concatenate([[0.0], np.cumsum(sc.t[0])[:-1]]))
            dynamic += sc.energy[0]
        oc = tables.ops(r.key, p)
        comp_start = op_start[k] + oc.t_fetch[0]
        phases = np.stack([op_start[k], comp_start, comp_start + oc.t_stream[0], op_start[k]])
        builder.ops(r.id, r.task, p, oc, phases, prefetch=False, key=r.key)
        dynamic += float(oc.energy()[0])
        records.append(dict(request=r.id, task=r.task, arrival_s=r.arrival_s, start_s=start, end_s=end,
                            switch=bool(sched.switch[k]), operating_point=pp.op_points[p]))
        intervals.append((r.id, r.task, start, end))
    op_points = points
    starts = np.array([iv[2] for iv in intervals])
    ends = np.array([iv[3] for iv in intervals])
    timeline = leakage(pp, 0, starts, ends, np.array(op_points), float(starts.min()),
                       power_states.run_transfers(builder, pp, prepared.memories))
    builder.leakage(timeline, intervals)
    return finish("analytic", workload, prepared, tables, builder, records, timeline, dynamic,
                  {"prefetch_depth": 0, "max_in_flight": 1, **request_keys(workload.stream),
                   "lower_bound_J": {t: float(v[0]) for t, v in lower_bound(prepared, pp).items()}})


#: Columns of :func:`evaluate_variants`' table. Energies J, times s, area m².
VARIANT_COLUMNS = ("variant", "platform", "feasible", "energy_J", "energy_per_inference_J", "dynamic_J",
                   "leakage_J", "latency_mean_s", "latency_p50_s", "latency_p99_s", "makespan_s",
                   "area_m2", "lower_bound_per_inference_J")


def evaluate_variants(prepared: Prepared, platforms: Sequence, *, chunk: int = 256) -> pd.DataFrame:
    """Evaluate the prepared workload on every platform of ``platforms`` (variants of
    ``prepared.platform``'s structure: the same memory names, links and operating points; any figure may
    differ) with the closed form of :func:`evaluate`, vectorised over variants. Returns one row per
    variant (:data:`VARIANT_COLUMNS`); ``feasible`` is False when the placement's peak occupancy exceeds a
    memory's capacity in that variant (its numbers are still given). Per-op traffic (placement and the
    buffer mapping, chosen for the prepared platform's per-byte costs) and cycles come from the prepared
    platform: prepare again to vary the compute units' geometry or a buffer's capacity, or to re-map
    for other memory costs. A request that names no operating point runs at its variant's
    ``default_operating_point`` (variants may differ there)."""
    platforms = list(platforms)
    pp = platform_params(platforms, prepared.memories)
    defaults = np.array([pp.op_points.index(pl.default_operating_point) for pl in platforms], dtype=int)
    parts = []
    for d in np.unique(defaults):            # one batch per default operating point, each at its own
        idx = np.flatnonzero(defaults == d)
        sub = pp if len(idx) == len(platforms) else take(pp, idx)
        parts.append(_variants(prepared, [platforms[i] for i in idx], sub, chunk).set_index(idx))
    table = pd.concat(parts).sort_index() if len(parts) > 1 else parts[0]
    table["variant"] = np.arange(len(platforms))
    return table.reset_index(drop=True)


def _variants(prepared: Prepared, platforms: list, pp, chunk: int) -> pd.DataFrame:
    """:func:`evaluate_variants` of ``platforms`` that share one default operating point (``pp.default_op``)."""
    V = pp.n_variants
    stream = list(prepared.workload.stream)
    points = [pp.op_index(r.operating_point) for r in stream]
    service: dict[tuple[str, int], np.ndarray] = {}
    energy: dict[tuple[str, int], np.ndarray] = {}
    for key in dict.fromkeys((r.key, p) for r, p in zip(stream, points)):
        ta = prepared.arrays(key[0])
        s, e = np.zeros(V), np.zeros(V)
        for lo in range(0, V, chunk):
            part = _slice(pp, lo, lo + chunk)
            oc = op_costs(ta, part, key[1])
            s[lo:lo + chunk] = oc.t_op.sum(axis=1)
            e[lo:lo + chunk] = oc.energy()
        service[key], energy[key] = s, e
    switches = {t: switch_costs(prepared, ta, pp) for t, ta in prepared.tasks.items() if ta.switch_loads}
    busy = {p: busy_power(pp, p).sum(axis=1) for p in set(points)}
    sched = fcfs([r.arrival_s for r in stream], [r.task for r in stream], pp,
                 {t: sc.time for t, sc in switches.items()},
                 lambda k, t: t + service[(stream[k].key, points[k])], [r.transition_s for r in stream])
    dynamic, leak = np.zeros(V), np.zeros(V)
    latency = np.zeros((len(stream), V))
    down = power_states.RequestPowerDown(prepared, pp, switches)
    for k, (r, p) in enumerate(zip(stream, points)):
        start, end = sched.start[k], sched.end[k]
        loads = bool(sched.switch[k] and r.task in switches)
        leak += down.energy(r.key, r.task, p, loads, sched.ops[k] - start
                            - (switches[r.task].time if loads else 0.0), end - start).sum(axis=1)
        if k:
            leak += power_states.idle_energy(pp, sched.gap[k]).sum(axis=1)
            dynamic += power_states.wake_cost(pp, sched.gap[k])[1]
        dynamic += r.transition_J
        if sched.switch[k] and r.task in switches:
            dynamic += switches[r.task].energy
        dynamic += energy[(r.key, p)]
        leak += busy[p] * (end - start)
        latency[k] = end - r.arrival_s
    prev_end = sched.end[-1]
    total = dynamic + leak
    n = len(stream)
    capacity = np.array([[pl.memories[m].capacity_bytes for m in prepared.memories] for pl in platforms])
    need = np.array([prepared.placement.occupancy[m] for m in prepared.memories])
    bound = lower_bound(prepared, pp)
    bound_mean = sum(bound[r.key] for r in stream) / n
    return pd.DataFrame({
        "variant": np.arange(V), "platform": pp.names, "feasible": (need[None, :] <= capacity).all(axis=1),
        "energy_J": total, "energy_per_inference_J": total / n, "dynamic_J": dynamic, "leakage_J": leak,
        "latency_mean_s": latency.mean(axis=0), "latency_p50_s": np.percentile(latency, 50, axis=0),
        "latency_p99_s": np.percentile(latency, 99, axis=0), "makespan_s": prev_end - stream[0].arrival_s,
        "area_m2": [pl.area_m2 for pl in platforms], "lower_bound_per_inference_J": bound_mean},
        columns=list(VARIANT_COLUMNS))


def take(pp, index) -> object:
    """The variants ``index`` (a sequence of positions) of a PlatformParams: every array field has the
    variant axis first (:class:`simulator.cost.tables.PlatformParams`)."""
    index = np.asarray(index, dtype=int)
    return replace(pp, **{f.name: getattr(pp, f.name)[index] for f in fields(pp)
                          if isinstance(getattr(pp, f.name), np.ndarray)}, names=[pp.names[i] for i in index])


def _slice(pp, lo: int, hi: int):
    """The variants ``lo:hi`` of a PlatformParams (arrays with a variant axis are sliced)."""
    return replace(pp, **{f.name: getattr(pp, f.name)[lo:hi] for f in fields(pp)
                          if isinstance(getattr(pp, f.name), np.ndarray)}, names=pp.names[lo:hi])
