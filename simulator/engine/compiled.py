"""Run a request stream through the compiled event loop (:mod:`simulator.engine.kernel`) and build the
same :class:`~simulator.results.result.Result` as the SimPy engine.

:class:`simulator.engine.discrete_event._Engine` prepares everything (cost tables, per-op plans, the
ledger builder); this module flattens the plans into arrays (each op's memory transfers as ranges of
one item table), runs the kernel, then replays the kernel's log in order: the builder calls and the
energy sums the SimPy processes make as they go (wake-up, DVFS transition, adapter loads, a request's
op rows), in the same order, so the ledger and every float sum are the SimPy engine's.
Times in s, energies in J.
"""
from __future__ import annotations

import numpy as np

from simulator.cost import power_states


class _Items:
    """A growing table of (resource, duration) items; each op's transfers are a range of it."""

    def __init__(self):
        self.res: list[int] = []
        self.dur: list[float] = []

    def add(self, items) -> tuple[int, int]:
        """Append ``items`` [(resource, duration s)]; returns their range (lo, hi)."""
        lo = len(self.res)
        for m, d in items:
            self.res.append(m)
            self.dur.append(d)
        return lo, len(self.res)


def _ptr(table: _Items, per_op) -> np.ndarray:
    """Item ranges of consecutive ops as a pointer array (len(per_op) + 1); ops' items appended in order."""
    ptr = np.empty(len(per_op) + 1, dtype=np.int64)
    ptr[0] = len(table.res)
    for g, items in enumerate(per_op):
        ptr[g + 1] = table.add(items)[1]
    return ptr


def kernel_inputs(eng, stream) -> dict:
    """The kernel's arguments for ``stream`` (a list of requests) on ``eng`` (an
    :class:`~simulator.engine.discrete_event._Engine`), and what the log replay needs (``_plans``...)."""
    prepared, pp = eng.prepared, eng.pp
    n_mem = len(prepared.memories)
    pools = prepared.units.pools
    slot_of_pool, multi = [], []
    n_slots = n_mem
    for k, pool in enumerate(pools):
        if len(pool) == 1:
            slot_of_pool.append(n_slots)
            n_slots += 1
        else:
            slot_of_pool.append(-(len(multi) + 1))
            multi.append(sorted(pool))
    # plans: one per (task key, operating point) the stream uses, ops concatenated
    plan_at: dict[tuple, tuple[int, int]] = {}     # (key, point) -> (first op in the concatenation, ops)
    plans = []
    req_plan = np.empty(len(stream), dtype=np.int64)
    req_n = np.empty(len(stream), dtype=np.int64)
    op_count = 0
    for r_i, r in enumerate(stream):
        key = (r.key, pp.op_index(r.operating_point))
        if key not in plan_at:
            plan = eng._plan(*key)
            plan_at[key] = (op_count, plan.n)
            plans.append((key, plan))
            op_count += plan.n
        req_plan[r_i], req_n[r_i] = plan_at[key]
    lists: dict[str, list] = {k: [] for k in ("pool", "overlap", "t_stream", "t_first", "t_overlap",
                                               "fetch", "fetch_long", "stream", "store", "store_long",
                                               "busy", "prefetch", "prefetch_long")}
    depth = eng.depth
    for _key, plan in plans:
        lists["pool"] += [slot_of_pool[u] for u in plan.unit]
        lists["overlap"] += plan.overlap
        lists["t_stream"] += plan.t_stream
        lists["t_first"] += plan.t_first
        lists["t_overlap"] += plan.t_overlap
        lists["fetch"] += plan.fetch
        lists["fetch_long"] += plan.fetch_long
        lists["stream"] += plan.stream
        lists["store"] += plan.store
        lists["store_long"] += plan.store_long
        lists["busy"] += plan.busy
        lists["prefetch"] += plan.prefetch if depth > 0 else [[] for _ in range(plan.n)]
        lists["prefetch_long"] += plan.prefetch_long if depth > 0 else [0.0] * plan.n
    items = _Items()
    ptrs = {k: _ptr(items, lists[k]) for k in ("fetch", "stream", "store", "busy", "prefetch")}
    # tasks and their adapter loads (each copy holds both memories for its duration)
    tasks = list(prepared.tasks)
    task_index = {t: k for k, t in enumerate(tasks)}
    used = {r.task for r in stream}
    task_loads = np.zeros(len(tasks), dtype=np.bool_)
    pair_ptr = np.zeros(len(tasks) + 1, dtype=np.int64)
    pair_lo, pair_hi, pair_dur = [], [], []
    for k, t in enumerate(tasks):
        ta = prepared.tasks[t]
        if t in used and ta.switch_loads:
            task_loads[k] = True
            sc = eng.tables.switch(t)
            for j, (src, dst, _b) in enumerate(sc.pairs):
                dur = float(sc.t[0, j])
                pair = sorted({prepared.memory_index(src), prepared.memory_index(dst)})
                lo, hi = items.add([(m, dur) for m in pair])
                pair_lo.append(lo)
                pair_hi.append(hi)
                pair_dur.append(dur)
        pair_ptr[k + 1] = len(pair_lo)
    n = len(stream)
    req_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(req_n, out=req_off[1:])
    sleeps = pp.sleeps[0]
    S = eng.max_in_flight
    n_pool_items = max((len(p) for p in multi), default=1)
    pool_items = np.zeros((max(len(multi), 1), n_pool_items), dtype=np.int64)
    for k, p in enumerate(multi):
        pool_items[k, :len(p)] = p
    n_proc = 1 + 2 * S
    return dict(
        op_pool=np.array(lists["pool"], dtype=np.int64), op_overlap=np.array(lists["overlap"], dtype=np.bool_),
        op_t_stream=np.array(lists["t_stream"], dtype=float), op_t_first=np.array(lists["t_first"], dtype=float),
        op_t_overlap=np.array(lists["t_overlap"], dtype=float),
        fetch_ptr=ptrs["fetch"], fetch_long=np.array(lists["fetch_long"], dtype=float),
        stream_ptr=ptrs["stream"], store_ptr=ptrs["store"], store_long=np.array(lists["store_long"], dtype=float),
        busy_ptr=ptrs["busy"], pf_ptr=ptrs["prefetch"], pf_long=np.array(lists["prefetch_long"], dtype=float),
        item_res=np.array(items.res, dtype=np.int64), item_dur=np.array(items.dur, dtype=float),
        arrival=np.array([r.arrival_s for r in stream], dtype=float), req_plan=req_plan, req_n=req_n,
        req_off=req_off, req_task=np.array([task_index[r.task] for r in stream], dtype=np.int64),
        req_trans=np.array([bool(r.transition_s or r.transition_J) for r in stream], dtype=np.bool_),
        req_trans_s=np.array([r.transition_s for r in stream], dtype=float),
        task_loads=task_loads, pair_ptr=pair_ptr, pair_lo=np.array(pair_lo, dtype=np.int64),
        pair_hi=np.array(pair_hi, dtype=np.int64), pair_dur=np.array(pair_dur, dtype=float),
        sleep_be=np.where(sleeps, pp.break_even_s[0], np.inf).astype(float),
        wake_s=np.asarray(pp.wake_sc[0], dtype=float),
        n_slots=n_slots, pool_items_init=pool_items,
        pool_size=np.array([len(p) for p in multi], dtype=np.int64),
        max_in_flight=S, depth=depth, exclusive=bool(eng.exclusive), n_ops_max=int(req_n.max(initial=1)),
        heap_cap=int(n + 8 * (n_slots + n_proc + len(multi) * n_pool_items + 8) + 2 * S * (depth + 2)))


def run(eng, stream) -> int:
    """Simulate ``stream`` with the kernel and fill ``eng`` as the SimPy processes would have (builder
    rows, ``records``, ``intervals``, ``op_points``, ``dynamic``); returns the number of events."""
    from simulator.engine import kernel

    if not stream:
        return 0
    inputs = kernel_inputs(eng, stream)
    (start, end, gap, switch, _wake, t_trans, sw_t0, phases, got, log_kind, log_req,
     events) = kernel.simulate_stream(**inputs)
    pp, builder, tables, prepared = eng.pp, eng.builder, eng.tables, eng.prepared
    req_off = inputs["req_off"]
    prefetch = eng.depth > 0
    dynamic = 0.0
    for kind, r_i in zip(log_kind.tolist(), log_req.tolist()):
        r = stream[r_i]
        if kind == kernel.LOG_WAKE:
            mask, wake_J, wake_s = power_states.wake_cost(pp, float(gap[r_i]))
            s0 = float(start[r_i])
            builder.wakeup(r.id, r.task, s0, s0 + wake_s[0], mask[0])
            dynamic += wake_J[0]
        elif kind == kernel.LOG_TRANSITION:
            t0 = float(t_trans[r_i])
            builder.transition(r.id, r.task, t0, t0 + r.transition_s, r.transition_J)
            dynamic += r.transition_J
        elif kind == kernel.LOG_SWITCH:
            sc = tables.switch(r.task)
            builder.switch(r.id, r.task, sc, sw_t0[r_i, :len(sc.pairs)].copy())
            dynamic += float(sc.energy[0])
        else:
            p = pp.op_index(r.operating_point)
            key = r.key
            lo, hi = int(req_off[r_i]), int(req_off[r_i + 1])
            ran_on = None
            if eng.pooled:
                ran_on = np.array(prepared.arrays(key).unit)
                g = got[lo:hi]
                ran_on[g >= 0] = g[g >= 0]
            oc = tables.ops(key, p)
            builder.ops(r.id, r.task, p, oc, phases[:, lo:hi], prefetch=prefetch, key=key, units=ran_on)
            dynamic += float(oc.energy()[0])
            s0, e0 = float(start[r_i]), float(end[r_i])
            eng.records.append(dict(request=r.id, task=r.task, arrival_s=r.arrival_s, start_s=s0, end_s=e0,
                                    switch=bool(switch[r_i]), operating_point=pp.op_points[p]))
            eng.intervals.append((r.id, r.task, s0, e0))
            eng.op_points.append(p)
    eng.dynamic = dynamic
    return int(events)
