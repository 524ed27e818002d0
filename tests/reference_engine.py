"""The previous contention engine (commit 482d29a, before the lean one), kept as the reference the lean
engine must equal bit for bit (tests/test_engine_lean.py): every memory transfer's release is its own
timeout plus a grant event, the prefetcher is woken by an event per op. Not used by the simulator.

Run it with ``simulate(..., replay=False, engine=ReferenceEngine)``."""
from __future__ import annotations

from collections import deque

import numpy as np
import simpy

from simulator.cost.schedule import needs_switch, needs_wake
from simulator.cost.tables import CostTables, Prepared

from simulator.results.run_output import LedgerBuilder


def _per_memory(times: np.ndarray) -> tuple[list[list[tuple[int, float]]], list[float]]:
    """For an (n, M) array of transfer times: per op the (memory index, duration) pairs with a transfer,
    in memory order, and the longest duration."""
    items: list[list[tuple[int, float]]] = [[] for _ in range(times.shape[0])]
    ii, mm = np.nonzero(times > 0)
    for i, m, t in zip(ii.tolist(), mm.tolist(), times[ii, mm].tolist()):
        items[i].append((m, t))
    return items, times.max(axis=1, initial=0.0).tolist()


class _Granted:
    """What :meth:`_Slot.request` returns when the slot was free: already granted, nothing to wait for."""
    __slots__ = ()
    triggered = True


_GRANTED = _Granted()


class _Slot:
    """A capacity-1 resource that grants in exactly ``simpy.Resource``'s order, without its machinery.

    ``simpy.Resource(env, 1)`` builds a Request event per request (scheduled even when granted at once)
    and a Release event per release whose processing grants the head of the queue; that was a third of
    the engine's time. Here a request on a free slot with nobody queued returns :data:`_GRANTED` (no
    event); otherwise it queues an event. A release frees the slot now and, like SimPy's Release event,
    grants the head of the queue when an event scheduled now is processed; a request arriving in between
    first grants the head (SimPy's put queue is served in order). Same grants at the same times in the
    same order, so the same numbers (tests/test_engine_lean.py compares with ``simpy.Resource``)."""
    __slots__ = ("env", "free", "queue")

    def __init__(self, env: simpy.Environment, capacity: int = 1):
        self.env, self.free, self.queue = env, True, deque()

    def request(self):
        """An event that fires when the slot is granted (or :data:`_GRANTED` when it is at once)."""
        if self.free:
            if not self.queue:
                self.free = False
                return _GRANTED
            self.free = False
            self.queue.popleft().succeed()
        ev = simpy.Event(self.env)
        self.queue.append(ev)
        return ev

    def release(self, _request=None) -> None:
        """Free the slot; the next in the queue is granted when an event scheduled now is processed."""
        self.free = True
        ev = simpy.Event(self.env)
        ev.callbacks.append(self._grant)
        ev.succeed()

    def _grant(self, _event) -> None:
        if self.free and self.queue:
            self.free = False
            self.queue.popleft().succeed()


class _Plan:
    """The per-op durations of one task at one operating point as Python lists (fast to index)."""

    def __init__(self, ta, oc, pp, prefetch: bool):
        self.n = ta.n_ops
        self.unit = ta.pool.tolist()
        self.t_stream = oc.t_stream[0].tolist()
        buffer = pp.buffer[0]
        reads = oc.t_rest[0] if prefetch else oc.t_read[0]
        self.fetch, self.fetch_long = _per_memory(np.where(buffer, 0.0, reads))
        if prefetch:
            self.prefetch, self.prefetch_long = _per_memory(np.where(buffer, 0.0, oc.t_param[0]))
        self.stream, _ = _per_memory(np.where(buffer, np.maximum(oc.t_read[0], oc.t_write[0]), 0.0))
        self.store, self.store_long = _per_memory(np.where(buffer, 0.0, oc.t_write[0]))
        self.overlap = oc.overlap[0].tolist()
        # an overlapped op holds every memory it touches from its start, each for its own busy time
        self.busy, _ = _per_memory(np.where(oc.overlap[0][:, None], np.where(
            buffer, np.maximum(oc.t_read[0], oc.t_write[0]), oc.t_read[0] + oc.t_write[0]), 0.0))
        self.t_first, self.t_last = oc.t_fetch[0].tolist(), oc.t_store[0].tolist()


class ReferenceEngine:
    #: The capacity-1 resource of memories and units (``simpy.Resource`` gives the same numbers, slower).
    resource = _Slot

    def __init__(self, workload, prepared: Prepared, platform, max_in_flight: int, prefetch_depth: int):
        self.prepared = prepared
        self.tables = CostTables(prepared, platform, split=prefetch_depth > 0, workload=workload)
        self.pp = self.tables.pp
        self.depth = prefetch_depth
        self.max_in_flight = max_in_flight
        self.env = simpy.Environment()
        self.mem = [self.resource(self.env, 1) for _ in prepared.memories]
        self.units = self.make_units()
        self.pooled = any(len(p) > 1 for p in prepared.units.pools)
        self.builder = LedgerBuilder(prepared, self.pp)
        self.plans: dict[tuple[str, int], _Plan] = {}
        self.records: list[dict] = []
        self.intervals: list[tuple] = []
        self.op_points: list[int] = []
        self.dynamic = 0.0
        self.in_flight: dict[int, str] = {}
        self.changed = self.env.event()
        self.exclusive = any(ta.switch_loads for ta in prepared.tasks.values())

    # ---------------------------------------------------------------- helpers
    def make_units(self) -> list:
        """One resource per pool of equal units: a single unit is a :attr:`resource`; a pool of several is a
        store of its free unit indices, lowest first (the closed form always uses the first)."""
        units: list = []
        for pool in self.prepared.units.pools:
            if len(pool) == 1:
                units.append(self.resource(self.env, 1))
            else:
                store = simpy.PriorityStore(self.env, capacity=len(pool))
                store.items.extend(sorted(pool))
                units.append(store)
        return units

    def _plan(self, task: str, p: int) -> _Plan:
        key = (task, p)
        if key not in self.plans:
            self.plans[key] = _Plan(self.prepared.arrays(task), self.tables.ops(task, p), self.pp,
                                    self.depth > 0)
        return self.plans[key]

    def _acquire(self, items):
        """Acquire the memories of ``items`` [(index, duration)] in index order (so no deadlock) and
        schedule each one's release after its own duration; returns the time all were held (s)."""
        env, mem = self.env, self.mem
        reqs = []
        for m, _ in items:
            r = mem[m].request()
            if not r.triggered:           # granted at once when the memory is free
                yield r
            reqs.append(r)
        for (m, dur), r in zip(items, reqs):
            env.timeout(dur).callbacks.append(lambda _ev, res=mem[m], req=r: res.release(req))
        return env.now

    def _hold(self, items, longest: float):
        """:meth:`_acquire` the memories and wait until the longest transfer is done; returns its start."""
        t0 = yield from self._acquire(items)
        yield self.env.timeout(longest)
        return t0

    def _notify(self) -> None:
        ev, self.changed = self.changed, self.env.event()
        ev.succeed()

    # ---------------------------------------------------------------- processes
    def dispatcher(self, stream):
        """Admit requests in arrival order: up to ``max_in_flight`` at once, one task at a time when
        adapters are loaded on switches; decide wake-up (after an idle gap) and task switch."""
        env = self.env
        loaded = None
        self.last_end = stream[0].arrival_s     # end of the last request served (s)
        arrivals = [env.timeout(r.arrival_s) for r in stream]  # absolute times: scheduled from t = 0
        for r, arrival in zip(stream, arrivals):
            if not arrival.processed:
                yield arrival
            while len(self.in_flight) >= self.max_in_flight or (
                    self.exclusive and self.in_flight and set(self.in_flight.values()) != {r.task}):
                yield self.changed
            # the FCFS rules of the closed form (simulator.cost.schedule); a request admitted while others
            # are in flight finds the memories awake
            wake = not self.in_flight and bool(needs_wake(self.last_end, env.now, self.tables.wakes))
            switch = needs_switch(r.task, loaded)
            loaded = r.task
            self.in_flight[r.id] = r.task
            env.process(self.serve(r, wake, switch))

    def serve(self, r, wake: bool, switch: bool):
        """One request: wake-up, task-switch copies, then its ops in order (one process step each)."""
        env, pp, builder = self.env, self.pp, self.builder
        p = self.pp.op_index(r.operating_point)
        start = env.now
        if wake:
            builder.wakeup(r.id, r.task, start, start + pp.wake_s[0])
            self.dynamic += pp.wake_J[0]
            yield env.timeout(pp.wake_s[0])
        if r.transition_s or r.transition_J:  # DVFS: the regulator and PLL settle at the new point
            builder.transition(r.id, r.task, env.now, env.now + r.transition_s, r.transition_J)
            self.dynamic += r.transition_J
            yield env.timeout(r.transition_s)
        ta = self.prepared.tasks[r.task]
        if switch and ta.switch_loads:
            sc = self.tables.switch(r.task)
            t0s = []
            for k, (src, dst, _b) in enumerate(sc.pairs):
                dur = float(sc.t[0, k])
                pair = sorted({self.prepared.memory_index(src), self.prepared.memory_index(dst)})
                t0s.append((yield from self._hold([(m, dur) for m in pair], dur)))
            builder.switch(r.id, r.task, sc, np.array(t0s))
            self.dynamic += float(sc.energy[0])
        key = r.key                        # its task, or an early exit's prefix (simulator.prepare.early_exit)
        plan = self._plan(key, p)
        n = plan.n
        phases = np.zeros((4, n))
        fetch_t0, comp_t0, store_t0, pf_t0 = ([0.0] * n for _ in range(4))
        ready = None
        if self.depth > 0:
            state = {"cur": 0, "advanced": env.event()}
            ready = [env.event() for _ in range(n)]
            env.process(self.prefetcher(plan, state, ready, pf_t0))
        units, timeout, hold, acquire = self.units, env.timeout, self._hold, self._acquire
        fetch, fetch_long, store, store_long = plan.fetch, plan.fetch_long, plan.store, plan.store_long
        stream = plan.stream
        ran_on = np.array(self.prepared.arrays(key).unit) if self.pooled else None
        for i in range(n):
            unit = units[plan.unit[i]]
            pooled = isinstance(unit, simpy.PriorityStore)
            ureq = unit.get() if pooled else unit.request()
            if not ureq.triggered:
                yield ureq
            if pooled:
                ran_on[i] = ureq.value
            if plan.overlap[i]:           # double-buffered: home traffic overlaps compute (costs.op_costs)
                if ready is not None and not ready[i].processed:
                    yield ready[i]
                fetch_t0[i] = yield from acquire(plan.busy[i])
                comp_t0[i] = fetch_t0[i] + plan.t_first[i]
                store_t0[i] = comp_t0[i] + plan.t_stream[i]
                yield timeout(plan.t_first[i] + plan.t_stream[i] + plan.t_last[i])
            else:
                fetch_t0[i] = (yield from acquire(fetch[i])) if fetch[i] else env.now
                wait = fetch_long[i]      # the rest of the fetch runs while prefetched weights arrive
                if ready is not None and not ready[i].processed:
                    if wait:
                        yield timeout(wait)
                        wait = 0.0
                    if not ready[i].processed:
                        yield ready[i]
                if stream[i]:             # buffers stream during compute: hold them for the phase
                    if wait:
                        yield timeout(wait)
                    comp_t0[i] = yield from hold(stream[i], plan.t_stream[i])
                else:                     # fetch, then compute: one wait (releases are scheduled)
                    comp_t0[i] = env.now + wait
                    yield timeout(wait + plan.t_stream[i])
                store_t0[i] = (yield from hold(store[i], store_long[i])) if store[i] else env.now
            if pooled:
                unit.put(ran_on[i])
            else:
                unit.release(ureq)
            if ready is not None:
                state["cur"] = i + 1
                ev, state["advanced"] = state["advanced"], env.event()
                ev.succeed()
        phases[0], phases[1], phases[2], phases[3] = fetch_t0, comp_t0, store_t0, pf_t0
        oc = self.tables.ops(key, p)
        builder.ops(r.id, r.task, p, oc, phases, prefetch=self.depth > 0, key=key, units=ran_on)
        self.dynamic += float(oc.energy()[0])
        end = env.now
        self.records.append(dict(request=r.id, task=r.task, arrival_s=r.arrival_s, start_s=start, end_s=end,
                                 switch=switch, operating_point=pp.op_points[p]))
        self.intervals.append((r.id, r.task, start, end))
        self.last_end = end
        self.op_points.append(p)
        del self.in_flight[r.id]
        self._notify()

    def prefetcher(self, plan: _Plan, state: dict, ready: list, pf_t0: list):
        """Fetch the parameter reads of op j while the request runs op j - depth or later."""
        env = self.env
        for j in range(plan.n):
            while j > state["cur"] + self.depth:
                yield state["advanced"]
            items = plan.prefetch[j]
            pf_t0[j] = (yield from self._hold(items, plan.prefetch_long[j])) if items else env.now
            ready[j].succeed()
