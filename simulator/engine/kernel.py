"""The contention engine's event loop, compiled (numba): the SimPy model of
:mod:`simulator.engine.discrete_event`, event for event.

:class:`simulator.engine.discrete_event._Engine` is the readable model: SimPy processes (a dispatcher, one
per request, one prefetcher per request) on capacity-1 resources (memories, single compute units) and
stores (pools of equal units). This module runs the same processes as explicit state machines over plain
arrays, with its own event heap ordered exactly as SimPy's (time, priority, then the order events were
scheduled), so every grant, release and wake-up happens at the same time in the same order: the same
numbers bit for bit (tests/test_engine_lean.py checks it against the SimPy engine and the reference).
Events that SimPy schedules but that nobody waits on (a process's end, a grant already taken, a
notification nobody listens to) are not scheduled here; the order of the others is unchanged.

What the SimPy engine does, and where it is here:

- ``_Slot.request``/``release``/``_grant`` -> :func:`_request`, :func:`_release` and ``K_GRANT``;
- ``simpy.PriorityStore.get``/``put`` (a pool of units, lowest index first) -> :func:`_take_unit`, ``K_PUT``;
- ``_Engine.dispatcher`` -> the ``D_*`` states; ``_Engine.serve`` and ``run_ops`` -> ``S_*``;
  ``_Engine.prefetcher`` -> ``P_*``; ``_Engine._wait_for`` -> ``A_*``; ``_Engine._hold`` -> ``H_*``.

Builder calls (ledger rows) and energies are left to Python: the kernel returns times and a log of which
request reached which point in which order (:data:`LOG_WAKE` ...), and
:func:`simulator.engine.discrete_event.run_compiled` replays that log. Times in s.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: SimPy's event priorities (``simpy.events.URGENT``/``NORMAL``): a process start before anything else now.
URGENT, NORMAL = 0, 1
#: Event kinds: resume a process; end a transfer (release a resource); grant a resource's queue head;
#: an arrival; a prefetch done (``ready[j]``); a unit put back in its pool.
K_RESUME, K_RELEASE, K_GRANT, K_ARRIVAL, K_READY, K_PUT = 0, 1, 2, 3, 4, 5
#: Log entries: a request woke what slept; began its DVFS transition; loaded its adapters; ended.
LOG_WAKE, LOG_TRANSITION, LOG_SWITCH, LOG_END = 0, 1, 2, 3

_SEQ = np.int64(1) << np.int64(50)       # heap key 2: priority * _SEQ + scheduling order

# process states (pc); the dispatcher, a request (serve + run_ops), a prefetcher
(D_START, D_NEXT, D_ADMIT, S_START, S_TRANSITION, S_SWITCH, S_PAIR, S_PAIR_DONE, S_OPS, S_OP, S_UNIT,
 S_OVERLAP, S_OVERLAP_ACQ, S_OVERLAP_END, S_FETCH_ACQ, S_FETCH, S_PF_WAITED, S_PF_READY, S_STREAM,
 S_STREAM_WAITED, S_STREAM_HELD, S_COMPUTED, S_STORE, S_STORE_ACQ, S_STORED, S_OP_END, S_END, P_LOOP, P_HELD,
 A_START, A_NEXT, H_ACQ, H_HELD, DEAD) = range(34)


_I = "int64[::1]"


@njit(f"void(float64[::1], {_I}, {_I}, {_I}, {_I}, float64, int64, int64, int64)", cache=True)
def _push(ht, hq, hk, ha, hc, t, pri, kind, a):
    """Schedule an event at ``t``: heap arrays (time, key2, kind, argument), ``hc`` = [size, next seq]."""
    n = hc[0]
    if n == len(ht):
        raise RuntimeError("event heap full")
    q = pri * _SEQ + hc[1]
    hc[1] += 1
    hc[0] = n + 1
    i = n
    while i > 0:
        p = (i - 1) >> 1
        if ht[p] < t or (ht[p] == t and hq[p] < q):
            break
        ht[i], hq[i], hk[i], ha[i] = ht[p], hq[p], hk[p], ha[p]
        i = p
    ht[i], hq[i], hk[i], ha[i] = t, q, kind, a


@njit(f"Tuple((float64, int64, int64))(float64[::1], {_I}, {_I}, {_I}, {_I})", cache=True)
def _pop(ht, hq, hk, ha, hc):
    """Remove the first event; returns (time, kind, argument)."""
    t0, k0, a0 = ht[0], hk[0], ha[0]
    n = hc[0] - 1
    hc[0] = n
    if n > 0:
        t, q, k, a = ht[n], hq[n], hk[n], ha[n]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= n:
                break
            if c + 1 < n and (ht[c + 1] < ht[c] or (ht[c + 1] == ht[c] and hq[c + 1] < hq[c])):
                c += 1
            if t < ht[c] or (t == ht[c] and q < hq[c]):
                break
            ht[i], hq[i], hk[i], ha[i] = ht[c], hq[c], hk[c], ha[c]
            i = c
        ht[i], hq[i], hk[i], ha[i] = t, q, k, a
    return t0, k0, a0


@njit(f"void({_I}, {_I}, {_I}, int64, int64)", cache=True)
def _enqueue(qh, qt, nxt, r, pid):
    nxt[pid] = -1
    if qh[r] < 0:
        qh[r] = pid
    else:
        nxt[qt[r]] = pid
    qt[r] = pid


@njit(f"int64({_I}, {_I}, {_I}, int64)", cache=True)
def _dequeue(qh, qt, nxt, r):
    pid = qh[r]
    qh[r] = nxt[pid]
    if qh[r] < 0:
        qt[r] = -1
    return pid


@njit(f"int64(int64, int64, {_I}, float64[::1], float64, float64, {_I}, float64[::1], {_I}, {_I}, {_I}, {_I})",
      cache=True)
def _transfers(lo, hi, item_res, item_dur, now, at, later, ht, hq, hk, ha, hc):
    """Start the transfers of items [lo, hi) now: each ends after its own duration (a release event),
    except those that end at ``at`` (the process's own next wake-up), kept in ``later`` for the process
    to release when it resumes (``_Engine._release_after``). Returns how many were kept."""
    n = 0
    for k in range(lo, hi):
        if now + item_dur[k] == at:
            later[n] = item_res[k]
            n += 1
        else:
            _push(ht, hq, hk, ha, hc, now + item_dur[k], NORMAL, K_RELEASE, item_res[k])
    return n


@njit(f"void({_I}, int64, float64, boolean[::1], {_I}, float64[::1], {_I}, {_I}, {_I}, {_I})", cache=True)
def _release(res, n, now, free, qh, ht, hq, hk, ha, hc):
    """Release ``res[:n]`` now (``_Slot.release``): each is free, and its queue's head is granted by an
    event now."""
    for k in range(n):
        m = res[k]
        free[m] = True
        if qh[m] >= 0:
            _push(ht, hq, hk, ha, hc, now, NORMAL, K_GRANT, m)


@njit(f"boolean(int64, int64, boolean[::1], {_I}, {_I}, {_I}, float64, float64[::1], {_I}, {_I}, {_I}, {_I})",
      cache=True)
def _request(m, pid, free, qh, qt, nxt, now, ht, hq, hk, ha, hc):
    """``_Slot.request`` of resource ``m`` by process ``pid``: True if granted at once (free, nobody
    queued); else ``pid`` joins the queue (False), and if ``m`` was free its queue's head is granted."""
    if free[m] and qh[m] < 0:
        free[m] = False
        return True
    if free[m]:
        free[m] = False
        _push(ht, hq, hk, ha, hc, now, NORMAL, K_RESUME, _dequeue(qh, qt, nxt, m))
    _enqueue(qh, qt, nxt, m, pid)
    return False


@njit("int64(int64[:, ::1], int64[::1], int64)", cache=True)
def _take_unit(pitems, pcount, pl):
    """The lowest free unit of pool ``pl`` (``PriorityStore``'s heappop), removed from it."""
    v = pitems[pl, 0]
    pcount[pl] -= 1
    for k in range(pcount[pl]):
        pitems[pl, k] = pitems[pl, k + 1]
    return v


@njit(cache=True)
def simulate_stream(
        # plans: ops of every (task key, operating point) plan, concatenated
        op_pool, op_overlap, op_t_stream, op_t_first, op_t_overlap,
        fetch_ptr, fetch_long, stream_ptr, store_ptr, store_long, busy_ptr, pf_ptr, pf_long,
        item_res, item_dur,
        # requests, in stream order
        arrival, req_plan, req_n, req_off, req_task, req_trans, req_trans_s,
        # tasks: whether a request of it loads adapters on a switch, and its copies (item ranges)
        task_loads, pair_ptr, pair_lo, pair_hi, pair_dur,
        # wake-up: per component the break-even (inf where it never sleeps) and wake-up latency
        sleep_be, wake_s,
        # resources: slots (memories then single units), pools of units (sorted unit indices)
        n_slots, pool_items_init, pool_size,
        max_in_flight, depth, exclusive, n_ops_max, heap_cap):
    """Run the stream; returns (start, end, gap, switch, wake, t_transition, switch_t0 (n, max pairs),
    phases (4, total ops): fetch, compute, store, prefetch starts, unit (total ops; -1 unless pooled),
    log kinds, log requests, events processed)."""
    N = len(arrival)
    S = max_in_flight
    n_proc = 1 + 2 * S
    M_items = max(n_slots, 2)                       # items of one transfer phase: distinct memories
    # outputs
    start = np.zeros(N)
    end = np.zeros(N)
    gap_out = np.zeros(N)
    switch_out = np.zeros(N, dtype=np.bool_)
    wake_out = np.zeros(N, dtype=np.bool_)
    t_trans = np.zeros(N)
    max_pairs = 1
    for t in range(len(task_loads)):
        max_pairs = max(max_pairs, pair_ptr[t + 1] - pair_ptr[t])
    sw_t0 = np.zeros((N, max_pairs))
    total = req_off[N]
    phases = np.zeros((4, total))
    got = np.full(total, -1, dtype=np.int64)
    log_kind = np.zeros(4 * N, dtype=np.int8)
    log_req = np.zeros(4 * N, dtype=np.int64)
    n_log = 0
    # heap
    ht = np.zeros(heap_cap)
    hq = np.zeros(heap_cap, dtype=np.int64)
    hk = np.zeros(heap_cap, dtype=np.int64)
    ha = np.zeros(heap_cap, dtype=np.int64)
    hc = np.zeros(2, dtype=np.int64)
    # resources: capacity-1 slots; queues as linked lists of waiting processes
    free = np.ones(n_slots, dtype=np.bool_)
    qh = np.full(n_slots + len(pool_size), -1, dtype=np.int64)   # queues of slots, then of pools
    qt = np.full(n_slots + len(pool_size), -1, dtype=np.int64)
    nxt = np.full(n_proc, -1, dtype=np.int64)
    n_pools = len(pool_size)
    pitems = np.zeros((max(n_pools, 1), max(1, pool_items_init.shape[1] if n_pools else 1)), dtype=np.int64)
    pcount = np.zeros(max(n_pools, 1), dtype=np.int64)
    for u in range(n_pools):
        for k in range(pool_size[u]):
            pitems[u, k] = pool_items_init[u, k]
        pcount[u] = pool_size[u]
    # processes: 0 the dispatcher, 1..S requests, S+1..2S their prefetchers
    pc = np.full(n_proc, DEAD, dtype=np.int64)
    preq = np.zeros(n_proc, dtype=np.int64)
    pidx = np.zeros(n_proc, dtype=np.int64)        # op index i (request) or j (prefetcher)
    pwait = np.zeros(n_proc)
    ppf = np.zeros(n_proc, dtype=np.bool_)
    pt0 = np.zeros(n_proc)
    punit = np.zeros(n_proc, dtype=np.int64)
    pswk = np.zeros(n_proc, dtype=np.int64)
    later = np.zeros((n_proc, M_items), dtype=np.int64)
    n_later = np.zeros(n_proc, dtype=np.int64)
    # acquisition / hold sub-machines: item range, next item, where to return, waited flag, hold length
    alo = np.zeros(n_proc, dtype=np.int64)
    ahi = np.zeros(n_proc, dtype=np.int64)
    ak = np.zeros(n_proc, dtype=np.int64)
    aret = np.zeros(n_proc, dtype=np.int64)
    awaited = np.zeros(n_proc, dtype=np.bool_)
    hlong = np.zeros(n_proc)
    hret = np.zeros(n_proc, dtype=np.int64)
    ht0 = np.zeros(n_proc)
    hlater = np.zeros((n_proc, M_items), dtype=np.int64)
    n_hlater = np.zeros(n_proc, dtype=np.int64)
    # prefetch: ops done per request, whether its prefetcher waits for that, ready[j] states
    # (0 not done, 1 scheduled, 2 processed), the op a request waits to be ready (-1 none)
    done_ops = np.zeros(n_proc, dtype=np.int64)
    pf_waiting = np.zeros(n_proc, dtype=np.bool_)
    ready = np.zeros((S + 1, max(n_ops_max, 1)), dtype=np.int8)
    ready_wait = np.full(n_proc, -1, dtype=np.int64)
    free_slots = np.arange(S, 0, -1)                # request process slots (a stack)
    n_free = S
    # the dispatcher
    arrived = np.zeros(N, dtype=np.bool_)
    disp_wait = -1                                  # the arrival it waits for (-1 none)
    changed_waiting = False
    in_flight = 0
    task_count = np.zeros(len(task_loads), dtype=np.int64)
    loaded = -1
    last_end = arrival[0] if N else 0.0
    k_next = 0
    now = 0.0
    n_events = 0

    pc[0] = D_START
    _push(ht, hq, hk, ha, hc, 0.0, URGENT, K_RESUME, 0)
    while hc[0] > 0:
        now, kind, a = _pop(ht, hq, hk, ha, hc)
        n_events += 1
        if kind == K_RELEASE:
            free[a] = True
            if qh[a] >= 0:
                _push(ht, hq, hk, ha, hc, now, NORMAL, K_GRANT, a)
            continue
        if kind == K_GRANT:
            if free[a] and qh[a] >= 0:
                free[a] = False
                _push(ht, hq, hk, ha, hc, now, NORMAL, K_RESUME, _dequeue(qh, qt, nxt, a))
            continue
        if kind == K_PUT:          # simpy Store._trigger_get: the head of the get queue takes a unit
            r = n_slots + a
            if qh[r] >= 0 and pcount[a] > 0:
                w = _dequeue(qh, qt, nxt, r)
                punit[w] = _take_unit(pitems, pcount, a)
                _push(ht, hq, hk, ha, hc, now, NORMAL, K_RESUME, w)
            continue
        if kind == K_ARRIVAL:
            arrived[a] = True
            if disp_wait != a:
                continue
            disp_wait = -1
            pid = 0
        elif kind == K_READY:
            s = a // n_ops_max
            j = a - s * n_ops_max
            ready[s, j] = 2
            if ready_wait[s] != j:
                continue
            ready_wait[s] = -1
            pid = s
        else:
            pid = a

        # ---- run process pid until it waits
        while True:
            st = pc[pid]
            # ------------------------------------------------ dispatcher
            if st == D_START:
                for k in range(N):
                    _push(ht, hq, hk, ha, hc, 0.0 + arrival[k], NORMAL, K_ARRIVAL, k)
                pc[pid] = D_NEXT
            elif st == D_NEXT:
                if k_next == N:
                    pc[pid] = DEAD
                    break
                pc[pid] = D_ADMIT
                if not arrived[k_next]:
                    disp_wait = k_next
                    break
            elif st == D_ADMIT:
                r = k_next
                tk = req_task[r]
                if in_flight >= max_in_flight or (exclusive and in_flight > 0 and task_count[tk] != in_flight):
                    changed_waiting = True
                    break
                g = 0.0 if in_flight else max(now - last_end, 0.0)
                sw = tk != loaded
                loaded = tk
                in_flight += 1
                task_count[tk] += 1
                n_free -= 1
                s = free_slots[n_free]
                preq[s] = r
                gap_out[r] = g
                switch_out[r] = sw
                pc[s] = S_START
                _push(ht, hq, hk, ha, hc, now, URGENT, K_RESUME, s)
                k_next += 1
                pc[pid] = D_NEXT
            # ------------------------------------------------ a request
            elif st == S_START:
                r = preq[pid]
                start[r] = now
                pc[pid] = S_TRANSITION
                g = gap_out[r]
                if g > 0:
                    any_ = False
                    longest = 0.0
                    for c in range(len(sleep_be)):
                        if g > sleep_be[c]:
                            any_ = True
                            if wake_s[c] > longest:
                                longest = wake_s[c]
                    if any_:
                        wake_out[r] = True
                        log_kind[n_log] = LOG_WAKE
                        log_req[n_log] = r
                        n_log += 1
                        _push(ht, hq, hk, ha, hc, now + longest, NORMAL, K_RESUME, pid)
                        break
            elif st == S_TRANSITION:
                r = preq[pid]
                pc[pid] = S_SWITCH
                if req_trans[r]:
                    t_trans[r] = now
                    log_kind[n_log] = LOG_TRANSITION
                    log_req[n_log] = r
                    n_log += 1
                    _push(ht, hq, hk, ha, hc, now + req_trans_s[r], NORMAL, K_RESUME, pid)
                    break
            elif st == S_SWITCH:
                r = preq[pid]
                if switch_out[r] and task_loads[req_task[r]]:
                    pswk[pid] = pair_ptr[req_task[r]]
                    pc[pid] = S_PAIR
                else:
                    pc[pid] = S_OPS
            elif st == S_PAIR:
                r = preq[pid]
                k = pswk[pid]
                if k == pair_ptr[req_task[r] + 1]:
                    log_kind[n_log] = LOG_SWITCH
                    log_req[n_log] = r
                    n_log += 1
                    pc[pid] = S_OPS
                else:
                    alo[pid], ahi[pid], hlong[pid] = pair_lo[k], pair_hi[k], pair_dur[k]
                    aret[pid], hret[pid] = H_ACQ, S_PAIR_DONE
                    pc[pid] = A_START
            elif st == S_PAIR_DONE:
                r = preq[pid]
                sw_t0[r, pswk[pid] - pair_ptr[req_task[r]]] = ht0[pid]
                pswk[pid] += 1
                pc[pid] = S_PAIR
            elif st == S_OPS:
                pidx[pid] = 0
                if depth > 0:
                    q = pid + S
                    preq[q] = preq[pid]
                    pidx[q] = 0
                    done_ops[pid] = 0
                    pf_waiting[pid] = False
                    for j in range(req_n[preq[pid]]):
                        ready[pid, j] = 0
                    pc[q] = P_LOOP
                    _push(ht, hq, hk, ha, hc, now, URGENT, K_RESUME, q)
                pc[pid] = S_OP
            elif st == S_OP:
                r = preq[pid]
                i = pidx[pid]
                if i == req_n[r]:
                    pc[pid] = S_END
                    continue
                g0 = req_plan[r] + i
                u = op_pool[g0]
                pc[pid] = S_UNIT
                if u < 0:                          # a pool of units: simpy.PriorityStore.get
                    pl = -u - 1
                    rq = n_slots + pl
                    _enqueue(qh, qt, nxt, rq, pid)
                    if pcount[pl] > 0:             # Store._trigger_get: its head takes the lowest unit
                        w = _dequeue(qh, qt, nxt, rq)
                        punit[w] = _take_unit(pitems, pcount, pl)
                        if w != pid:
                            _push(ht, hq, hk, ha, hc, now, NORMAL, K_RESUME, w)
                            break
                    else:
                        break
                elif not _request(u, pid, free, qh, qt, nxt, now, ht, hq, hk, ha, hc):
                    break
            elif st == S_UNIT:
                r = preq[pid]
                i = pidx[pid]
                g0 = req_plan[r] + i
                if op_pool[g0] < 0:
                    got[req_off[r] + i] = punit[pid]
                if op_overlap[g0]:
                    pc[pid] = S_OVERLAP
                    if depth > 0 and ready[pid, i] != 2:
                        ready_wait[pid] = i
                        break
                else:
                    ppf[pid] = depth > 0 and ready[pid, i] != 2
                    pwait[pid] = fetch_long[g0]
                    n_later[pid] = 0
                    if fetch_ptr[g0] < fetch_ptr[g0 + 1]:
                        alo[pid], ahi[pid], aret[pid] = fetch_ptr[g0], fetch_ptr[g0 + 1], S_FETCH_ACQ
                        pc[pid] = A_START
                    else:
                        pt0[pid] = now
                        pc[pid] = S_FETCH
            elif st == S_OVERLAP:
                r = preq[pid]
                g0 = req_plan[r] + pidx[pid]
                alo[pid], ahi[pid], aret[pid] = busy_ptr[g0], busy_ptr[g0 + 1], S_OVERLAP_ACQ
                pc[pid] = A_START
            elif st == S_OVERLAP_ACQ:
                r = preq[pid]
                i = pidx[pid]
                g0 = req_plan[r] + i
                o = req_off[r] + i
                t0 = now
                phases[0, o] = t0
                phases[1, o] = t0 + op_t_first[g0]
                phases[2, o] = phases[1, o] + op_t_stream[g0]
                at = t0 + op_t_overlap[g0]
                n_later[pid] = _transfers(busy_ptr[g0], busy_ptr[g0 + 1], item_res, item_dur, now, at, later[pid],
                                          ht, hq, hk, ha, hc)
                _push(ht, hq, hk, ha, hc, now + op_t_overlap[g0], NORMAL, K_RESUME, pid)
                pc[pid] = S_OVERLAP_END
                break
            elif st == S_OVERLAP_END:
                _release(later[pid], n_later[pid], now, free, qh, ht, hq, hk, ha, hc)
                pc[pid] = S_OP_END
            elif st == S_FETCH_ACQ:
                r = preq[pid]
                i = pidx[pid]
                g0 = req_plan[r] + i
                if awaited[pid]:
                    ppf[pid] = depth > 0 and ready[pid, i] != 2
                t0 = now
                wait = pwait[pid]
                if ppf[pid] or stream_ptr[g0] < stream_ptr[g0 + 1]:
                    at = t0 + wait if wait else -1.0
                else:
                    at = t0 + (wait + op_t_stream[g0])
                n_later[pid] = _transfers(fetch_ptr[g0], fetch_ptr[g0 + 1], item_res, item_dur, now, at, later[pid],
                                          ht, hq, hk, ha, hc)
                pt0[pid] = t0
                pc[pid] = S_FETCH
            elif st == S_FETCH:
                r = preq[pid]
                i = pidx[pid]
                g0 = req_plan[r] + i
                phases[0, req_off[r] + i] = pt0[pid]
                if ppf[pid]:
                    if pwait[pid]:
                        _push(ht, hq, hk, ha, hc, now + pwait[pid], NORMAL, K_RESUME, pid)
                        pwait[pid] = 0.0
                        pc[pid] = S_PF_WAITED
                        break
                    pc[pid] = S_PF_READY
                else:
                    pc[pid] = S_STREAM
            elif st == S_PF_WAITED:
                _release(later[pid], n_later[pid], now, free, qh, ht, hq, hk, ha, hc)
                n_later[pid] = 0
                pc[pid] = S_PF_READY
            elif st == S_PF_READY:
                pc[pid] = S_STREAM
                if ready[pid, pidx[pid]] != 2:
                    ready_wait[pid] = pidx[pid]
                    break
            elif st == S_STREAM:
                r = preq[pid]
                i = pidx[pid]
                g0 = req_plan[r] + i
                if stream_ptr[g0] < stream_ptr[g0 + 1]:
                    if pwait[pid]:
                        _push(ht, hq, hk, ha, hc, now + pwait[pid], NORMAL, K_RESUME, pid)
                        pc[pid] = S_STREAM_WAITED
                        break
                    pc[pid] = S_STREAM_WAITED
                else:
                    phases[1, req_off[r] + i] = now + pwait[pid]
                    _push(ht, hq, hk, ha, hc, now + (pwait[pid] + op_t_stream[g0]), NORMAL, K_RESUME, pid)
                    pc[pid] = S_COMPUTED
                    break
            elif st == S_STREAM_WAITED:
                _release(later[pid], n_later[pid], now, free, qh, ht, hq, hk, ha, hc)
                n_later[pid] = 0
                r = preq[pid]
                g0 = req_plan[r] + pidx[pid]
                alo[pid], ahi[pid], hlong[pid] = stream_ptr[g0], stream_ptr[g0 + 1], op_t_stream[g0]
                aret[pid], hret[pid] = H_ACQ, S_STREAM_HELD
                pc[pid] = A_START
            elif st == S_STREAM_HELD:
                r = preq[pid]
                phases[1, req_off[r] + pidx[pid]] = ht0[pid]
                pc[pid] = S_STORE
            elif st == S_COMPUTED:
                _release(later[pid], n_later[pid], now, free, qh, ht, hq, hk, ha, hc)
                n_later[pid] = 0
                pc[pid] = S_STORE
            elif st == S_STORE:
                r = preq[pid]
                i = pidx[pid]
                g0 = req_plan[r] + i
                if store_ptr[g0] < store_ptr[g0 + 1]:
                    alo[pid], ahi[pid], aret[pid] = store_ptr[g0], store_ptr[g0 + 1], S_STORE_ACQ
                    pc[pid] = A_START
                else:
                    phases[2, req_off[r] + i] = now
                    pc[pid] = S_OP_END
            elif st == S_STORE_ACQ:
                r = preq[pid]
                i = pidx[pid]
                g0 = req_plan[r] + i
                t0 = now
                phases[2, req_off[r] + i] = t0
                at = t0 + store_long[g0]
                n_later[pid] = _transfers(store_ptr[g0], store_ptr[g0 + 1], item_res, item_dur, now, at, later[pid],
                                          ht, hq, hk, ha, hc)
                _push(ht, hq, hk, ha, hc, now + store_long[g0], NORMAL, K_RESUME, pid)
                pc[pid] = S_STORED
                break
            elif st == S_STORED:
                _release(later[pid], n_later[pid], now, free, qh, ht, hq, hk, ha, hc)
                n_later[pid] = 0
                pc[pid] = S_OP_END
            elif st == S_OP_END:
                r = preq[pid]
                i = pidx[pid]
                g0 = req_plan[r] + i
                u = op_pool[g0]
                if u < 0:                          # PriorityStore.put: back at once, its event grants
                    pl = -u - 1
                    v = punit[pid]
                    k = pcount[pl]
                    while k > 0 and pitems[pl, k - 1] > v:
                        pitems[pl, k] = pitems[pl, k - 1]
                        k -= 1
                    pitems[pl, k] = v
                    pcount[pl] += 1
                    _push(ht, hq, hk, ha, hc, now, NORMAL, K_PUT, pl)
                else:
                    free[u] = True
                    if qh[u] >= 0:
                        _push(ht, hq, hk, ha, hc, now, NORMAL, K_GRANT, u)
                if depth > 0:
                    done_ops[pid] = i + 1
                    if pf_waiting[pid]:
                        pf_waiting[pid] = False
                        _push(ht, hq, hk, ha, hc, now, NORMAL, K_RESUME, pid + S)
                pidx[pid] = i + 1
                pc[pid] = S_OP
            elif st == S_END:
                r = preq[pid]
                end[r] = now
                log_kind[n_log] = LOG_END
                log_req[n_log] = r
                n_log += 1
                last_end = now
                in_flight -= 1
                task_count[req_task[r]] -= 1
                free_slots[n_free] = pid
                n_free += 1
                pc[pid] = DEAD
                if changed_waiting:
                    changed_waiting = False
                    pc[0] = D_ADMIT
                    _push(ht, hq, hk, ha, hc, now, NORMAL, K_RESUME, 0)
                break
            # ------------------------------------------------ a prefetcher
            elif st == P_LOOP:
                s = pid - S
                r = preq[pid]
                j = pidx[pid]
                if j == req_n[r]:
                    pc[pid] = DEAD
                    break
                if j > done_ops[s] + depth:
                    pf_waiting[s] = True
                    break
                g0 = req_plan[r] + j
                if pf_ptr[g0] < pf_ptr[g0 + 1]:
                    alo[pid], ahi[pid], hlong[pid] = pf_ptr[g0], pf_ptr[g0 + 1], pf_long[g0]
                    aret[pid], hret[pid] = H_ACQ, P_HELD
                    pc[pid] = A_START
                else:
                    ht0[pid] = now
                    pc[pid] = P_HELD
            elif st == P_HELD:
                s = pid - S
                r = preq[pid]
                j = pidx[pid]
                phases[3, req_off[r] + j] = ht0[pid]
                ready[s, j] = 1
                _push(ht, hq, hk, ha, hc, now, NORMAL, K_READY, s * n_ops_max + j)
                pidx[pid] = j + 1
                pc[pid] = P_LOOP
            # ------------------------------------------------ acquire items [alo, ahi) (_wait_for)
            elif st == A_START:
                lo, hi = alo[pid], ahi[pid]
                ok = True
                for k in range(lo, hi):
                    m = item_res[k]
                    if not free[m] or qh[m] >= 0:
                        ok = False
                        break
                if ok:
                    for k in range(lo, hi):
                        free[item_res[k]] = False
                    awaited[pid] = False
                    pc[pid] = aret[pid]
                else:
                    awaited[pid] = True
                    ak[pid] = lo
                    pc[pid] = A_NEXT
            elif st == A_NEXT:
                k = ak[pid]
                if k == ahi[pid]:
                    pc[pid] = aret[pid]
                    continue
                ak[pid] = k + 1
                if not _request(item_res[k], pid, free, qh, qt, nxt, now, ht, hq, hk, ha, hc):
                    break
            # ------------------------------------------------ hold (after acquiring): _hold
            elif st == H_ACQ:
                t0 = now
                ht0[pid] = t0
                at = t0 + hlong[pid]
                n_hlater[pid] = _transfers(alo[pid], ahi[pid], item_res, item_dur, now, at, hlater[pid],
                                           ht, hq, hk, ha, hc)
                _push(ht, hq, hk, ha, hc, now + hlong[pid], NORMAL, K_RESUME, pid)
                pc[pid] = H_HELD
                break
            elif st == H_HELD:
                _release(hlater[pid], n_hlater[pid], now, free, qh, ht, hq, hk, ha, hc)
                pc[pid] = hret[pid]
            else:
                raise RuntimeError("engine kernel: unknown process state")
    return (start, end, gap_out, switch_out, wake_out, t_trans, sw_t0, phases, got,
            log_kind[:n_log], log_req[:n_log], n_events)
