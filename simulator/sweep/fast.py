"""The closed-form evaluator of :mod:`simulator.analytic`, vectorised over platform variants that share
one preparation, with every summary metric of a run (except the windowed peak power, which needs the
event timeline).

Why it is fast: a request's energy is linear in the per-variant figures, so it is a dot product of the
per-task totals (bytes read and written per memory, MACs, other ops, bytes over each link) with each
variant's per-byte and per-op energies; a request's service time is a sum over ops of a non-linear
per-op time, computed once per *distinct* op (a model repeats its layers: ALBERT's 12 repetitions share
one set of op shapes and homes) and weighted by how often it occurs. Leakage follows from the service
intervals. The figures equal :func:`simulator.analytic.evaluate` + :meth:`simulator.results.result.Result.summary`
on each variant to rounding (tests/test_sweep.py).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Sequence

import numpy as np
import pandas as pd

from simulator.analytic.closed_form import take
from simulator.cost import power_states
from simulator.cost.tables import (Prepared, busy_power, lower_bound, op_costs, unit_energy,
                             platform_params, switch_costs)
from simulator.results.result import CATEGORIES, DEFAULT_POWER_WINDOW_S, DYNAMIC_CATEGORIES, STATIC_CATEGORIES, \
    memory_kind
from simulator.sweep.metrics import SUMMARY_METRICS

_CAT = {c: i for i, c in enumerate(CATEGORIES)}
#: The operating point of a request that names none: its variant's default (per variant).
DEFAULT = -1
KINDS = ("compute", "sram", "nvm", "dram", "interconnect")


def refetch(prepared: Prepared) -> dict[str, float]:
    """Per home memory: bytes moved over compulsory bytes over the prepared workload's requests (as
    ``per_memory.csv``'s ``refetch``: :func:`simulator.results.result.refetch_factors`)."""
    from simulator.results.result import refetch_factors

    return refetch_factors(prepared, [r.key for r in prepared.workload.stream])


def evaluate_fast(prepared: Prepared, platforms: Sequence, *, chunk: int = 512, pp=None) -> pd.DataFrame:
    """Every summary metric (:data:`SUMMARY_METRICS`; ``peak_power_W`` is NaN) of the closed-form
    evaluator on each of ``platforms`` (variants of ``prepared.platform``'s structure that this
    preparation serves: same placement and mappings), plus ``service_mean_s`` and ``feasible``
    (the placement's peak occupancy fits every memory). One row per platform, SI units. ``pp``: the
    platforms' :func:`platform_params` over ``prepared.memories`` if already built."""
    platforms = list(platforms)
    mems = prepared.memories
    M = len(mems)
    pp = pp if pp is not None else platform_params(platforms, mems)
    V, L = pp.n_variants, len(pp.links)
    U = len(pp.units)
    C = M + U + L                                   # components: memories, compute units, links
    stream = list(prepared.workload.stream)
    n = len(stream)
    # a request that names no operating point runs at its variant's default one (an axis may vary it)
    points = [DEFAULT if r.operating_point is None else pp.op_index(r.operating_point) for r in stream]
    defaults = np.array([pp.op_points.index(pl.default_operating_point) for pl in platforms], dtype=int)

    def at(p: int, fn):
        """``fn(params, op point index)`` for every variant at ``p``, or at each variant's default."""
        if p != DEFAULT:
            return fn(pp, p)
        out = None
        for d in np.unique(defaults):
            idx = np.flatnonzero(defaults == d)
            val = fn(pp if len(idx) == V else take(pp, idx), int(d))
            if out is None:
                out = np.zeros((V,) + np.shape(val)[1:], dtype=np.asarray(val).dtype)
            out[idx] = val
        return out

    link_of = {name: M + U + i for i, name in enumerate(pp.links)}

    # per (task, op point): service time (V,) and energy per component and category (V, 8, C)
    if any(r.transition_s or r.transition_J for r in stream):
        raise ValueError("evaluate_fast: the stream has DVFS transitions; expected run_metrics per point")
    reduced: dict = {}
    service: dict = {}
    energy: dict = {}
    for key in dict.fromkeys(zip((r.key for r in stream), points)):     # (task or early-exit prefix, op point)
        rkey, p = key
        ta = prepared.arrays(rkey)
        if rkey not in reduced:
            reduced[rkey] = prepared.distinct(rkey)[:2]
        sub, counts = reduced[rkey]

        def service_time(q, p, sub=sub, counts=counts):
            s = np.zeros(q.n_variants)
            for lo in range(0, q.n_variants, chunk):
                s[lo:lo + chunk] = op_costs(sub, _slice(q, lo, lo + chunk), p).t_op @ counts
            return s

        R, W = ta.reads.sum(axis=0), ta.writes.sum(axis=0)
        e = np.zeros((V, len(CATEGORIES), C))
        e[:, _CAT["read"], :M] = at(p, lambda q, p, R=R: R * q.read_J * q.mem_dyn[:, p, :])   # voltage domain
        e[:, _CAT["write"], :M] = at(p, lambda q, p, W=W: W * q.write_J * q.mem_dyn[:, p, :])
        for k, m in enumerate(mems):
            for link in prepared.link_paths[m]:
                e[:, _CAT["transfer"], link_of[link]] += (R[k] + W[k]) * pp.link_J[:, link_of[link] - M - U]
        e[:, _CAT["compute"], M:M + U] = at(p, lambda q, p, ta=ta: unit_energy(ta, q, p).sum(axis=1))
        service[key], energy[key] = at(p, service_time), e

    switch_E, switch_t, switch_W, switch_sc = {}, {}, {}, {}
    for task, ta in prepared.tasks.items():
        if not ta.switch_loads:
            continue
        sc = switch_costs(prepared, ta, pp)
        switch_sc[task] = sc
        e = np.zeros((V, len(CATEGORIES), C))
        w = np.zeros(M)
        for k, (src, dst, b) in enumerate(sc.pairs):
            i, j = mems.index(src), mems.index(dst)
            e[:, _CAT["read"], i] += sc.e_src[:, k]
            e[:, _CAT["switch_load"], j] += sc.e_dst[:, k]
            for link in sc.links[k]:
                e[:, _CAT["transfer"], link_of[link]] += b * pp.link_J[:, link_of[link] - M - U]
            w[j] += b
        switch_E[task], switch_t[task], switch_W[task] = e, sc.time, w

    busy = {p: at(p, busy_power) for p in set(points)}                # (V, M + U)
    share = np.divide(pp.refresh_W, pp.leak_W, out=np.zeros_like(pp.leak_W), where=pp.leak_W > 0)
    idle_refresh = pp.gated & pp.is_dram                              # gated DRAM self-refreshes when idle

    down = power_states.RequestPowerDown(prepared, pp, switch_sc)   # DRAM power-down inside requests
    # a request at its variant's default point: per default, the variants that have it (each shape's
    # transfers are computed for those variants only, not for all V and then masked)
    downs = {int(d): (idx, down if len(idx) == V else power_states.RequestPowerDown(
        prepared, take(pp, idx), {t: take_switch(sc, idx) for t, sc in switch_sc.items()}))
        for d in np.unique(defaults) for idx in [np.flatnonzero(defaults == d)]} if len(down.dram) else {}
    acc = np.zeros((V, len(CATEGORIES), C))
    writes_M = np.zeros((V, M))            # bytes written by ops
    loads_M = np.zeros((V, M))             # bytes loaded on task switches
    latency, served = np.zeros((n, V)), np.zeros((n, V))
    starts, ends = np.zeros((n, V)), np.zeros((n, V))
    times = dict.fromkeys(service, 0)      # requests per (task, op point)
    switched = dict.fromkeys(switch_E, 0)  # switches to each task
    busy_s = {p: np.zeros(V) for p in set(points)}    # busy time per op point (s)
    pd_E = np.zeros((V, M))                # DRAM power-down inside requests: change of its busy energy (J)
    prev_end = None
    loaded = None
    first_arrival = stream[0].arrival_s if n else 0.0
    for k, (r, p) in enumerate(zip(stream, points)):
        a = r.arrival_s
        if prev_end is None:
            start = np.full(V, a)
            t = start.copy()
        else:
            start = np.maximum(a, prev_end)
            gap = np.maximum(a - prev_end, 0.0)
            idle_E = power_states.idle_energy(pp, gap)              # each sleeps past its break-even
            acc[:, _CAT["leakage"], :M + U] += np.where(np.concatenate(
                [idle_refresh, np.zeros((V, U), dtype=bool)], axis=1), 0.0, idle_E)
            acc[:, _CAT["refresh"], :M] += np.where(idle_refresh, idle_E[:, :M], 0.0)
            woke, _, wake_s = power_states.wake_cost(pp, gap)
            t = start + wake_s
            acc[:, _CAT["wakeup"], :M + U] += np.where(woke, pp.wake_Jc, 0.0)
        prefix = t - start                                            # wake-up before the switch copies
        loads = r.task != loaded and r.task in switch_E
        if loads:
            t = t + switch_t[r.task]
            switched[r.task] += 1
        loaded = r.task
        end = t + service[(r.key, p)]
        times[(r.key, p)] += 1
        busy_s[p] += end - start
        if len(down.dram):                                            # DRAM power-down inside the request
            span = end - start
            if p != DEFAULT:
                pd_E += down.energy(r.key, r.task, p, loads, prefix, span)
            else:                                                     # each variant at its own default
                for d, (idx, sub) in downs.items():
                    pd_E[idx] += sub.energy(r.key, r.task, d, loads, prefix[idx], span[idx])
        latency[k], served[k] = end - a, end - start
        starts[k], ends[k] = start, end
        prev_end = end
    # what is linear in the counts, added once: each (task, op point)'s energy × its requests, each
    # switch's energy and loads × its switches, leakage while busy = busy time × power at each op point
    for key, count in times.items():
        acc += count * energy[key]
        writes_M += count * prepared.arrays(key[0]).writes.sum(axis=0)
    for task, count in switched.items():
        if count:
            acc += count * switch_E[task]
            loads_M += count * switch_W[task]
    for p, dt in busy_s.items():
        busy_E = dt[:, None] * busy[p]
        acc[:, _CAT["leakage"], :M] += busy_E[:, :M] * (1.0 - share)
        acc[:, _CAT["refresh"], :M] += busy_E[:, :M] * share
        acc[:, _CAT["leakage"], M:M + U] += busy_E[:, M:]
    acc[:, _CAT["leakage"], :M] += pd_E * (1.0 - share)
    acc[:, _CAT["refresh"], :M] += pd_E * share

    cats = acc.sum(axis=2)                                            # (V, 8)
    total = cats.sum(axis=1)
    span = prev_end - first_arrival if n else np.zeros(V)
    nn = max(1, n)
    kinds = np.empty((V, C), dtype=object)
    kinds[:, M:M + U] = "compute"
    kinds[:, M + U:] = "interconnect"
    for v, pl in enumerate(platforms):
        kinds[v, :M] = [memory_kind(pl.memories[m]) for m in mems]
    per_comp = acc.sum(axis=1)                                        # (V, C)
    bound = lower_bound(prepared, pp)          # per task and per early-exit variant made above
    bound_total = sum(bound[r.key] for r in stream) if n else np.full(V, np.nan)
    dyn = [_CAT[c] for c in DYNAMIC_CATEGORIES]
    static = [_CAT[c] for c in STATIC_CATEGORIES]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "requests": np.full(V, n), "switches": np.full(V, _switches(stream)),
            "energy_J": total, "energy_per_inference_J": total / nn,
            "dynamic_energy_per_inference_J": cats[:, dyn].sum(axis=1) / nn,
            "leakage_energy_per_inference_J": cats[:, static].sum(axis=1) / nn,
            "leakage_share": np.where(total > 0, cats[:, static].sum(axis=1) / total, 0.0),
            **{f"{c}_energy_J": cats[:, _CAT[c]] for c in CATEGORIES},
            "latency_mean_s": latency.mean(axis=0), "latency_p50_s": np.percentile(latency, 50, axis=0),
            "latency_p99_s": np.percentile(latency, 99, axis=0), "makespan_s": span,
            "throughput_rps": np.where(span > 0, n / span, np.nan),
            "average_power_W": np.where(span > 0, total / span, np.nan),
            "peak_power_W": np.full(V, np.nan), "power_window_s": np.full(V, DEFAULT_POWER_WINDOW_S),
            "area_m2": np.array([pl.area_m2 for pl in platforms], dtype=float),
            "lower_bound_J": bound_total, "lower_bound_per_inference_J": bound_total / nn,
            "ratio_to_lower_bound": np.where(bound_total > 0, total / bound_total, np.nan),
            **{f"{kind}_energy_per_inference_J": np.where(kinds == kind, per_comp, 0.0).sum(axis=1) / nn
               for kind in KINDS},
        }
    nvm_bytes, life, levelled = _wear(prepared, platforms, kinds[:, :M], writes_M, loads_M, span)
    out.update(nvm_write_bytes=nvm_bytes, nvm_lifetime_s=life, nvm_lifetime_levelled_s=levelled)
    out.update(_load(np.array([r.arrival_s for r in stream]), starts, ends))
    capacity = np.array([[pl.memories[m].capacity_bytes for m in mems] for pl in platforms], dtype=float)
    need = np.array([prepared.placement.occupancy.get(m, 0.0) for m in mems])
    table = pd.DataFrame({k: out[k] for k in SUMMARY_METRICS})
    table["overloaded"] = out["overloaded"]
    table["service_mean_s"] = served.mean(axis=0) if n else np.nan
    table["feasible"] = (need[None, :] <= capacity).all(axis=1)
    return table


def _switches(stream) -> int:
    loaded, count = None, 0
    for r in stream:
        count += r.task != loaded
        loaded = r.task
    return count


def _load(arrival: np.ndarray, start: np.ndarray, end: np.ndarray) -> dict[str, np.ndarray]:
    """:meth:`simulator.results.result.Result.load` for V variants: arrival rate over the arrivals (Hz),
    offered utilisation (rate × mean service time), queue growth (least-squares slope of the waiting
    time against the arrival time) and overloaded (offered utilisation > 1). ``start``/``end``: (n, V)."""
    n, V = start.shape
    if n < 2:
        return {"arrival_rate_Hz": np.full(V, np.nan), "offered_utilisation": np.full(V, np.nan),
                "queue_growth": np.zeros(V), "overloaded": np.zeros(V, dtype=bool)}
    span = float(arrival.max() - arrival.min())
    rate = (n - 1) / span if span > 0 else math.inf
    service = (end - start).mean(axis=0)
    wait = start - arrival[:, None]
    a = arrival - arrival.mean()
    denom = float(np.dot(a, a))
    growth = (a @ (wait - wait.mean(axis=0))) / denom if denom > 0 else np.zeros(V)
    rho = rate * service
    return {"arrival_rate_Hz": np.full(V, rate), "offered_utilisation": rho, "queue_growth": growth,
            "overloaded": rho > 1.0}


def _wear(prepared, platforms, kinds, writes_M, loads_M, span):
    """NVM bytes written, and the shortest lifetime (s) of the most-written cells and with ideal
    levelling, as :meth:`simulator.results.result.Result.nvm_wear` gives them: the cell writes of a memory
    are the largest of any tensor's own (:func:`simulator.results.build.tensor_writes`) and the
    run-time region's cycling (bytes only: the same for every variant of a preparation)."""
    from simulator.results.build import tensor_writes

    V, M = writes_M.shape
    stream = list(prepared.workload.stream)
    records, loaded = [], None
    for r in stream:
        records.append({"task": r.task, "switch": r.task != loaded})
        loaded = r.task
    tensors = tensor_writes(prepared, records)
    cells = np.zeros(M)
    for k, m in enumerate(prepared.memories):
        mem = prepared.platform.memories[m]
        mine = [t for t in tensors if t["memory"] == m]
        runtime = writes_M[0, k] if mem.is_buffer else sum(t["write_bytes"] for t in mine if t["task"])
        region = prepared.placement.runtime_peak.get(m, 0.0) or (mem.capacity_bytes if mem.is_buffer else 0.0)
        cells[k] = max([runtime / region if region > 0 else 0.0] + [t["cell_writes"] for t in mine])
    nvm = kinds == "nvm"                                              # (V, M)
    endurance = np.array([[float(getattr(pl.memories[m], "endurance_writes", math.inf)) for m in prepared.memories]
                          for pl in platforms], dtype=float).reshape(V, M)
    capacity = np.array([[pl.memories[m].capacity_bytes for m in prepared.memories] for pl in platforms],
                        dtype=float).reshape(V, M)
    written = writes_M + loads_M
    nvm_bytes = np.where(nvm, written, 0.0).sum(axis=1)
    s = np.asarray(span, dtype=float)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(s > 0, written / s, 0.0)
        cell_rate = np.where(s > 0, cells[None, :] / s, 0.0)
        life = np.where(nvm & (cell_rate > 0), endurance / cell_rate, math.inf).min(axis=1, initial=math.inf)
        levelled = np.where(nvm & (rate > 0), capacity * endurance / rate, math.inf).min(axis=1, initial=math.inf)
    return nvm_bytes, life, levelled


def take_switch(sc, index):
    """The variants ``index`` (positions) of a :class:`simulator.cost.tables.SwitchCosts`."""
    return replace(sc, e_src=sc.e_src[index], e_dst=sc.e_dst[index], e_link=sc.e_link[index], t=sc.t[index])


def _slice(pp, lo: int, hi: int):
    from simulator.analytic.closed_form import _slice as cut

    return cut(pp, lo, hi) if (lo, hi) != (0, pp.n_variants) and pp.n_variants > hi - lo else pp
