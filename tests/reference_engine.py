"""The contention engine before the lean one (commit 482d29a's ``_Engine``), kept as the reference the lean
engine must equal bit for bit (tests/test_engine_lean.py): every memory transfer's release is its own
timeout and every release schedules a grant event, the prefetcher is woken by an event per op, a plain
``simpy.Environment``. Only the per-op part differs from the engine (``run_ops``, the prefetcher, holding
memories, the resource); the dispatcher and the request prelude (wake-up, DVFS, switch) are the engine's.
Not used by the simulator: ``run_events(..., engine=ReferenceEngine)``."""
from __future__ import annotations

from collections import deque

import numpy as np
import simpy

from simulator.engine.discrete_event import _Engine


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


class ReferenceEngine(_Engine):
    """The engine with the previous per-op event structure."""
    resource = _Slot
    environment = simpy.Environment

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

    def run_ops(self, key: str, plan):
        env = self.env
        n = plan.n
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
        return fetch_t0, comp_t0, store_t0, pf_t0, ran_on

    def prefetcher(self, plan, state: dict, ready: list, pf_t0: list):
        """Fetch the parameter reads of op j while the request runs op j - depth or later."""
        env = self.env
        for j in range(plan.n):
            while j > state["cur"] + self.depth:
                yield state["advanced"]
            items = plan.prefetch[j]
            pf_t0[j] = (yield from self._hold(items, plan.prefetch_long[j])) if items else env.now
            ready[j].succeed()
