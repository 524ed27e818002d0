"""The discrete-event engine (SimPy): requests as processes, memories and compute units as resources.

Model (costs from :mod:`simulator.cost.tables`, identical to the analytic evaluator's):

- each memory is a resource of capacity 1 (:class:`_Slot`: ``simpy.Resource``'s grant order without its
  per-request events; its ports and banks together: ``Memory.read_time`` already uses the memory's peak
  bandwidth over all of them, so one transfer occupies the memory and concurrent transfers queue); each
  compute unit serves one op at a time. An op runs on its pool of equal units
  (:mod:`simulator.prepare.assign`): on whichever is free first (the lowest-numbered free one), so two MAC
  arrays serve two requests' matmuls in parallel;
- a dispatcher admits requests in arrival order, up to ``max_in_flight`` at once; with adapters loaded on
  a switch, a request of another task waits until the in-flight ones finish (one task's adapters are
  resident at a time). A request after an idle gap first wakes what slept in it
  (:mod:`simulator.cost.power_states`: past their break-even time); a request whose
  task differs from the previous one's loads its adapters from their backing store (holding both
  memories for each copy);
- a request runs its task's ops in trace order (a topological order of the dependencies), one process
  step per op: acquire the op's compute unit, acquire the memories it reads (in a fixed order, so no
  deadlock) and hold each for its own transfer time, compute, acquire the memories it writes and hold
  each for its transfer time, release the unit. An op tiled through a double-buffered staging buffer
  (``OpCosts.overlap``) instead acquires every memory it touches at its start, holds each for its own
  busy time (reads + writes), and lasts first fill + overlapped middle + last write-back;
- with ``prefetch_depth`` d > 0 a prefetcher process per request fetches the parameter part of the
  reads of ops up to d ahead of the running op, while it computes; the op then fetches only the rest
  (overlapped ops stream their parameters during their own compute: nothing is prefetched for them);
- leakage follows from the service intervals and idle gaps (:func:`simulator.cost.tables.leakage`).

Times in s, energies in J. One request of adapter-ALBERT (~600 ops) takes a few ms of wall time.
"""
from __future__ import annotations

from collections import deque
from heapq import heappop, heappush

import numpy as np
import simpy
from simpy.events import NORMAL

from simulator.cost import power_states
from simulator.cost.schedule import idle_gap, needs_switch
from simulator.cost.tables import CostTables, Prepared, leakage, lower_bound, prepare
from simulator.errors import SimulationConfigError
from simulator.prepare.early_exit import request_keys
from simulator.engine.ledger_rows import EngineLedgerBuilder
from simulator.results.build import finish
from simulator.results.result import Result


def _per_memory(times: np.ndarray) -> tuple[list[list[tuple[int, float]]], list[float]]:
    """For an (n, M) array of transfer times: per op the (memory index, duration) pairs with a transfer,
    in memory order, and the longest duration."""
    items: list[list[tuple[int, float]]] = [[] for _ in range(times.shape[0])]
    ii, mm = np.nonzero(times > 0)
    for i, m, t in zip(ii.tolist(), mm.tolist(), times[ii, mm].tolist()):
        items[i].append((m, t))
    return items, times.max(axis=1, initial=0.0).tolist()


class _Process(simpy.Process):
    """``simpy.Process`` with a leaner :meth:`_resume`: the same sends in the same order (an event already
    processed is passed through at once, as SimPy does), for the engine's processes, whose events never
    fail (no ``throw``, no ``active_process``)."""

    def __init__(self, env, generator):
        super().__init__(env, generator)
        self._send = generator.send
        self._wake = self._resume        # the bound method, made once

    def _resume(self, event) -> None:
        send = self._send
        try:
            event = send(event._value)
            while event.callbacks is None:           # processed already: its value at once
                event = send(event._value)
        except StopIteration as stop:
            self._ok, self._value = True, stop.value
            self.env.schedule(self)
            return
        event.callbacks.append(self._wake)
        self._target = event


class _Environment(simpy.Environment):
    """``simpy.Environment`` whose :meth:`run` (to the end) processes events in one tight loop: the same
    events in the same order as :meth:`simpy.Environment.step`, without a method call and a ``try`` per
    event; its processes are :class:`_Process`."""

    def process(self, generator) -> _Process:
        """A :class:`_Process` of ``generator``."""
        return _Process(self, generator)

    def run(self, until=None):
        """Process every event (``until`` given: SimPy's own loop)."""
        if until is not None:
            return super().run(until)
        queue = self._queue
        while queue:
            self._now, _, _, event = heappop(queue)
            callbacks, event.callbacks = event.callbacks, None
            for callback in callbacks:
                callback(event)
            if not event._ok and not hasattr(event, "_defused"):
                exc = type(event._value)(*event._value.args)   # as simpy: the failure crashes the run
                exc.__cause__ = event._value
                raise exc
        return None


class _Timeout:
    """A timeout without ``simpy.Timeout``'s machinery: what the event loop and ``Process._resume`` read of
    an event (``callbacks``, ``_ok``, ``_value``), scheduled exactly as ``Environment.schedule`` does (the
    same heap key: time, NORMAL priority, the next event id), so events keep their order. ``callback``:
    called when it fires (a release); a process may also yield it."""
    __slots__ = ("callbacks",)
    _ok = True
    _value = None

    def __init__(self, env: simpy.Environment, delay: float, callback=None):
        self.callbacks = [callback] if callback is not None else []
        heappush(env._queue, (env._now + delay, NORMAL, next(env._eid), self))


class _Event:
    """An event a process waits on until another triggers it (a slot's grant): ``simpy.Event`` without its
    machinery; :meth:`succeed` schedules it as ``Event.succeed`` does (now, NORMAL, the next event id)."""
    __slots__ = ("callbacks", "env")
    _ok = True
    _value = None

    def __init__(self, env: simpy.Environment):
        self.env, self.callbacks = env, []

    def succeed(self) -> None:
        """Trigger it: its waiters resume when it is processed."""
        env = self.env
        heappush(env._queue, (env._now, NORMAL, next(env._eid), self))


class _Granted:
    """What :meth:`_Slot.request` returns when the slot was free: already granted, nothing to wait for."""
    __slots__ = ()
    triggered = True


_GRANTED = _Granted()


class _Slot:
    """A capacity-1 resource that grants in exactly ``simpy.Resource``'s order, without its machinery.

    ``simpy.Resource(env, 1)`` builds a Request event per request (scheduled even when granted at once)
    and a Release event per release whose processing grants the head of the queue. Here a request on a
    free slot with nobody queued returns :data:`_GRANTED` (no event); otherwise it queues an event. A
    release frees the slot now and, like SimPy's Release event, grants the head of the queue when an event
    scheduled now is processed (only when someone is queued: with nobody queued that event would do
    nothing); a request arriving in between first grants the head (SimPy's put queue is served in order).
    Same grants at the same times in the same order, so the same numbers (tests/test_engine_lean.py)."""
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
        ev = _Event(self.env)
        self.queue.append(ev)
        return ev

    def release(self, _request=None) -> None:
        """Free the slot; the next in the queue is granted when an event scheduled now is processed."""
        self.free = True
        if self.queue:
            _Timeout(self.env, 0.0, self._grant)   # as Event.succeed() schedules: now, NORMAL

    def released(self, _event) -> None:
        """:meth:`release`, as the callback of the timeout that ends a transfer."""
        self.free = True
        if self.queue:
            _Timeout(self.env, 0.0, self._grant)

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
        self.t_overlap = [a + b + c for a, b, c in zip(self.t_first, self.t_stream, self.t_last)]


class _Engine:
    """The event simulation of a request stream (module docstring).

    Lean where it changes no number: a memory or unit free with nobody queued is taken without an event
    (:meth:`_take`), a release with nobody queued schedules nothing, a transfer that ends when the process
    itself resumes is released by the process (no timeout of its own: the same instant and the same place
    in SimPy's event order, since the two timeouts were scheduled one after the other), and the prefetcher
    is woken only when it waits. tests/reference_engine.py keeps the engine before these changes;
    tests/test_engine_lean.py checks both give the same numbers bit for bit."""
    #: The capacity-1 resource of memories and single units (the engine reads its ``free`` and ``queue``).
    resource = _Slot
    #: The SimPy environment class.
    environment = _Environment

    def __init__(self, workload, prepared: Prepared, platform, max_in_flight: int, prefetch_depth: int):
        self.prepared = prepared
        self.tables = CostTables(prepared, platform, split=prefetch_depth > 0, workload=workload)
        self.pp = self.tables.pp
        self.depth = prefetch_depth
        self.max_in_flight = max_in_flight
        self.env = self.environment()
        self.mem = [self.resource(self.env) for _ in prepared.memories]
        self.units = self.make_units()
        self.pooled = any(len(p) > 1 for p in prepared.units.pools)
        self.builder = EngineLedgerBuilder(prepared, self.pp)
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
        """One resource per pool of equal units: a single unit is a :class:`_Slot`; a pool of several is a
        store of its free unit indices, lowest first (the closed form always uses the first)."""
        units: list = []
        for pool in self.prepared.units.pools:
            if len(pool) == 1:
                units.append(self.resource(self.env))
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

    def _take(self, items) -> bool:
        """Take the memories of ``items`` [(index, duration)] at once if every one is free with nobody
        queued (what requesting them in order would do without waiting); False (nothing taken) if not."""
        mem = self.mem
        for m, _ in items:
            s = mem[m]
            if not s.free or s.queue:
                return False
        for m, _ in items:
            mem[m].free = False
        return True

    def _wait_for(self, items):
        """Request the memories of ``items`` in index order (so no deadlock), waiting for each in turn."""
        mem = self.mem
        for m, _ in items:
            r = mem[m].request()
            if r is not _GRANTED:
                yield r

    def _release_after(self, items, at: float):
        """Schedule each memory's release after its own duration from now, except those that end at ``at``
        (s, absolute), returned: the caller's own timeout ends then, and it releases them on resuming."""
        env, mem = self.env, self.mem
        now = env.now
        later = []
        for m, dur in items:
            if now + dur == at:
                later.append(mem[m])
            else:
                _Timeout(env, dur, mem[m].released)
        return later

    def _hold(self, items, longest: float):
        """Acquire the memories and hold each for its own duration; returns when the longest is done, with
        the time all were held (s)."""
        if not self._take(items):
            yield from self._wait_for(items)
        t0 = self.env.now
        later = self._release_after(items, t0 + longest)
        yield _Timeout(self.env, longest)
        for s in later:
            s.release()
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
            # are in flight finds everything awake; after an idle gap, what slept in it wakes
            gap = 0.0 if self.in_flight else idle_gap(self.last_end, env.now)
            switch = needs_switch(r.task, loaded)
            loaded = r.task
            self.in_flight[r.id] = r.task
            env.process(self.serve(r, gap, switch))

    def serve(self, r, gap: float, switch: bool):
        """One request: wake-up (of what slept in the idle ``gap`` s before it), task-switch copies, then
        its ops in order (one process step each)."""
        env, pp, builder = self.env, self.pp, self.builder
        p = self.pp.op_index(r.operating_point)
        start = env.now
        if gap > 0:
            mask, wake_J, wake_s = power_states.wake_cost(pp, gap)
            if mask[0].any():
                builder.wakeup(r.id, r.task, start, start + wake_s[0], mask[0])
                self.dynamic += wake_J[0]
                yield env.timeout(wake_s[0])
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
        phases = np.zeros((4, plan.n))
        phases[0], phases[1], phases[2], phases[3], ran_on = yield from self.run_ops(key, plan)
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

    def run_ops(self, key: str, plan: _Plan):
        """A request's ops in order, one process step each; returns the per-op start times of fetch,
        compute, store and prefetch (s) and, with unit pools, the unit index each op ran on.

        :meth:`_take`, :meth:`_release_after` and :meth:`_hold` written out in the loop (no call per
        transfer); the same requests, releases and timeouts in the same order."""
        env = self.env
        mem = self.mem
        n = plan.n
        fetch_t0, comp_t0, store_t0, pf_t0 = ([0.0] * n for _ in range(4))
        ready = None
        if self.depth > 0:
            state = [0, _Event(env)]      # ops done, the event the prefetcher waits on
            ready = [_Event(env) for _ in range(n)]
            env.process(self.prefetcher(plan, state, ready, pf_t0))
        units, hold, wait_for = self.units, self._hold, self._wait_for
        fetch, fetch_long, store, store_long = plan.fetch, plan.fetch_long, plan.store, plan.store_long
        stream, t_stream, overlap, unit_of = plan.stream, plan.t_stream, plan.overlap, plan.unit
        busy, t_overlap, t_first = plan.busy, plan.t_overlap, plan.t_first
        ran_on = np.array(self.prepared.arrays(key).unit) if self.pooled else None
        for i in range(n):
            unit = units[unit_of[i]]
            pooled = type(unit) is not _Slot
            if pooled:
                ureq = unit.get()
                if not ureq.triggered:
                    yield ureq
                ran_on[i] = ureq.value
            elif unit.free and not unit.queue:
                unit.free = False
            else:
                ureq = unit.request()
                if ureq is not _GRANTED:
                    yield ureq
            if overlap[i]:                # double-buffered: home traffic overlaps compute (costs.op_costs)
                if ready is not None and ready[i].callbacks is not None:
                    yield ready[i]
                items, total = busy[i], t_overlap[i]
                for m, _ in items:        # take them all at once if all are free with nobody queued
                    s = mem[m]
                    if not s.free or s.queue:
                        yield from wait_for(items)
                        break
                else:
                    for m, _ in items:
                        mem[m].free = False
                t0 = fetch_t0[i] = env._now
                comp_t0[i] = t0 + t_first[i]
                store_t0[i] = comp_t0[i] + t_stream[i]
                at = t0 + total
                later = []                # transfers ending with the op: released on resuming
                for m, dur in items:
                    if t0 + dur == at:
                        later.append(mem[m])
                    else:
                        _Timeout(env, dur, mem[m].released)
                yield _Timeout(env, total)
                for s in later:
                    s.release()
            else:
                items, wait = fetch[i], fetch_long[i]
                pf = ready is not None and ready[i].callbacks is not None   # prefetch not arrived yet
                later = None
                if items:
                    for m, _ in items:
                        s = mem[m]
                        if not s.free or s.queue:
                            yield from wait_for(items)
                            pf = ready is not None and ready[i].callbacks is not None
                            break
                    else:
                        for m, _ in items:
                            mem[m].free = False
                    t0 = env._now
                    # the process's next timeout, if it comes at once: transfers ending with it are
                    # released on resuming
                    if pf or stream[i]:
                        at = t0 + wait if wait else -1.0
                    else:
                        at = t0 + (wait + t_stream[i])
                    later = []
                    for m, dur in items:
                        if t0 + dur == at:
                            later.append(mem[m])
                        else:
                            _Timeout(env, dur, mem[m].released)
                else:
                    t0 = env._now
                fetch_t0[i] = t0
                if pf:
                    if wait:              # the rest of the fetch runs while prefetched weights arrive
                        yield _Timeout(env, wait)
                        wait = 0.0
                        if later:
                            for s in later:
                                s.release()
                            later = None
                    if ready[i].callbacks is not None:
                        yield ready[i]
                if stream[i]:             # buffers stream during compute: hold them for the phase
                    if wait:
                        yield _Timeout(env, wait)
                        if later:
                            for s in later:
                                s.release()
                    comp_t0[i] = yield from hold(stream[i], t_stream[i])
                else:                     # fetch, then compute: one wait (releases are scheduled)
                    comp_t0[i] = env._now + wait
                    yield _Timeout(env, wait + t_stream[i])
                    if later:
                        for s in later:
                            s.release()
                items = store[i]
                if items:
                    for m, _ in items:
                        s = mem[m]
                        if not s.free or s.queue:
                            yield from wait_for(items)
                            break
                    else:
                        for m, _ in items:
                            mem[m].free = False
                    t0 = store_t0[i] = env._now
                    at = t0 + store_long[i]
                    later = []
                    for m, dur in items:
                        if t0 + dur == at:
                            later.append(mem[m])
                        else:
                            _Timeout(env, dur, mem[m].released)
                    yield _Timeout(env, store_long[i])
                    for s in later:
                        s.release()
                else:
                    store_t0[i] = env._now
            if pooled:
                unit.put(ran_on[i])
            else:
                unit.release()
            if ready is not None:
                state[0] = i + 1
                ev = state[1]
                if ev.callbacks:          # the prefetcher waits for this op to end
                    state[1] = _Event(env)
                    ev.succeed()
        return fetch_t0, comp_t0, store_t0, pf_t0, ran_on

    def prefetcher(self, plan: _Plan, state: list, ready: list, pf_t0: list):
        """Fetch the parameter reads of op j while the request runs op j - depth or later (``state``: ops
        done, the event this waits on)."""
        env = self.env
        depth, prefetch, prefetch_long = self.depth, plan.prefetch, plan.prefetch_long
        for j in range(plan.n):
            while j > state[0] + depth:
                yield state[1]
            items = prefetch[j]
            pf_t0[j] = (yield from self._hold(items, prefetch_long[j])) if items else env._now
            ready[j].succeed()


def check_options(platform, max_in_flight: int, prefetch_depth: int | None) -> int:
    """Validate ``max_in_flight`` and ``prefetch_depth`` (SimulationConfigError); returns the prefetch
    depth to use (the platform's when ``None``)."""
    if not (isinstance(max_in_flight, int) and max_in_flight >= 1):
        raise SimulationConfigError(f"scenario.max_in_flight: got {max_in_flight!r}; expected an integer >= 1")
    depth = platform.prefetch_depth if prefetch_depth is None else prefetch_depth
    if not (isinstance(depth, int) and depth >= 0):
        raise SimulationConfigError(f"prefetch_depth: got {depth!r}; expected an integer >= 0")
    return depth


#: Above this many ops in a stream, :func:`simulate` (``engine="auto"``) runs the compiled event loop: its
#: start-up (importing numba, loading the compiled loop: ~1 s) is then below what SimPy would spend
#: (~10 µs per op, benchmarks/bench_scale.py).
COMPILED_ABOVE_OPS = 100_000
ENGINES = ("auto", "compiled", "simpy")
#: The most ops a stream simulated event by event (``max_in_flight > 1`` or ``replay=False``) may run: its
#: ledger keeps every transfer (~8 rows per op) and its tables are computed from them, ~1.6 kB per op at
#: the peak (benchmarks/bench_scale.py: 0.55 MB per adapter-ALBERT request), so 5,000,000 ops is ~8 GB.
MAX_EVENT_OPS = 5_000_000


def _numba_available() -> bool:
    """True when numba imports (the compiled event loop can run)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def simulate(workload, platform, *, placement=None, prepared: Prepared | None = None, seed: int = 0,
             max_in_flight: int = 1, prefetch_depth: int | None = None, replay: bool = True,
             engine: str = "auto") -> Result:
    """Run ``workload``'s request stream on ``platform`` in SimPy and return its :class:`~simulator.results.result.Result`.

    ``prepared`` (from :func:`simulator.cost.tables.prepare`) skips placement and traffic when given.
    ``max_in_flight``: requests served concurrently (1 = one at a time; more makes them contend for the
    compute units and memories). ``prefetch_depth``: ops ahead whose parameters are fetched during compute
    (default: the platform's). ``seed`` is recorded; the engine itself draws no random numbers, so equal
    inputs give equal outputs. With one request in flight and ``replay`` (the default), each request
    shape is simulated once and replayed (:mod:`simulator.engine.replay`: same numbers, a compact ledger);
    ``replay=False`` simulates every request's events. ``engine`` (for those): ``"simpy"`` runs the
    model's SimPy processes, ``"compiled"`` the same processes in the compiled event loop
    (:mod:`simulator.engine.kernel`: the same numbers bit for bit, a fraction of the time), ``"auto"``
    the compiled loop above :data:`COMPILED_ABOVE_OPS` ops.
    """
    depth = check_options(platform, max_in_flight, prefetch_depth)
    if engine not in ENGINES:
        raise SimulationConfigError(f"engine: got {engine!r}; expected one of {', '.join(ENGINES)}")
    if max_in_flight == 1 and replay:
        from simulator.engine.replay import replay as run_replay
        return run_replay(workload, platform, placement=placement, prepared=prepared, seed=seed,
                          prefetch_depth=depth)
    prepared = prepared if prepared is not None else prepare(workload, platform, placement)
    n_ops = {key: prepared.arrays(key).n_ops for key in {r.key for r in workload.stream}}
    ops = sum(n_ops[r.key] for r in workload.stream)
    if ops > MAX_EVENT_OPS:
        n = len(workload.stream)
        raise SimulationConfigError(
            f"scenario.requests: {n:,} requests of {ops / n:,.0f} ops on average, {ops:,} ops to simulate event by "
            f"event (max_in_flight {max_in_flight}: every transfer is kept, ~1.6 kB per op); expected at most "
            f"{MAX_EVENT_OPS:,} ops: fewer requests, or max_in_flight: 1 (each request shape simulated once and "
            "replayed, up to 10,000,000 requests)")
    if engine == "auto":
        engine = "compiled" if ops > COMPILED_ABOVE_OPS and _numba_available() else "simpy"
    elif engine == "compiled" and not _numba_available():
        raise SimulationConfigError("engine: compiled needs numba, which is not installed; expected "
                                    "`pip install numba==0.68.1` (a dependency of hetsim), or engine: simpy")
    return run_events(workload, platform, prepared, max_in_flight, depth, seed,
                      engine=None if engine == "compiled" else _Engine)


def run_events(workload, platform, prepared: Prepared, max_in_flight: int, depth: int, seed: int = 0,
               engine: type | None = None) -> Result:
    """Simulate every request's events (no replay) and build the :class:`~simulator.results.result.Result`;
    ``depth``: prefetch depth. ``engine``: ``None`` (default) runs the model's processes in the compiled
    event loop (:mod:`simulator.engine.kernel`, the same events in the same order); a class (:class:`_Engine`,
    or tests/reference_engine.py's) runs them in SimPy. ``meta["events"]`` is the number of events
    scheduled (SimPy) or processed (compiled: it leaves out the events nobody waits on)."""
    stream = list(workload.stream)
    if engine is None:
        from simulator.engine import compiled

        eng = _Engine(workload, prepared, platform, max_in_flight, depth)
        events = compiled.run(eng, stream)
    else:
        eng = engine(workload, prepared, platform, max_in_flight, depth)
        eng.env.process(eng.dispatcher(stream))
        eng.env.run()
        events = next(eng.env._eid)
    order = np.argsort([iv[0] for iv in eng.intervals], kind="stable")
    intervals = [eng.intervals[k] for k in order]
    records = [eng.records[k] for k in order]
    starts = np.array([iv[2] for iv in intervals])
    ends = np.array([iv[3] for iv in intervals])
    timeline = leakage(eng.pp, 0, starts, ends, np.array([eng.op_points[k] for k in order]),
                       float(stream[0].arrival_s),
                       power_states.run_transfers(eng.builder, eng.pp, prepared.memories))
    eng.builder.leakage(timeline, intervals)
    eng.builder.text = "category"   # text columns as a replayed run's (simulator.engine.ledger_rows)
    return finish("engine", workload, prepared, eng.tables, eng.builder, records, timeline, eng.dynamic,
                  {"prefetch_depth": depth, "max_in_flight": max_in_flight, "seed": seed,
                   "events": events,
                   **request_keys(workload.stream),
                   "lower_bound_J": {t: float(v[0]) for t, v in lower_bound(prepared, eng.pp).items()}})
