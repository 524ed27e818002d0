"""First-come-first-served serving: the one scheduling rule both simulators use.

Requests are served in arrival order. A request starts at ``max(arrival, end of the previous one)``; it
first wakes the components that slept in the idle gap before it (:func:`idle_gap`; which ones,
:func:`simulator.cost.power_states.wake_cost`: those whose break-even time the gap exceeds), settles a DVFS
transition if it has one, then loads its task's switch set when its task differs from the loaded one
(:func:`needs_switch`), then runs its ops.
:func:`fcfs` computes this schedule for V platform variants at once (the closed form: one request at a
time, no contention); the engine (:mod:`simulator.engine.discrete_event`) applies the same two rules at
admission and adds only contention (several requests in flight sharing units and memories).
Times in s.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np


def idle_gap(prev_end, arrival):
    """The idle time (s) before a request arriving at ``arrival`` (s) after the previous one ended at
    ``prev_end`` (s; None for the first request, which wakes nothing): ``arrival - prev_end`` when
    positive, else 0; numbers or arrays over variants."""
    if prev_end is None:
        return 0.0
    return np.maximum(np.asarray(arrival, dtype=float) - prev_end, 0.0) if np.ndim(prev_end) else \
        max(arrival - prev_end, 0.0)


def needs_wake(prev_end, arrival, wakes):
    """True where a request arriving at ``arrival`` (s) after the previous one ended at ``prev_end`` (s;
    None for the first request) must first wake gated memories (``wakes``: the platform gates any);
    numbers or arrays over variants."""
    if prev_end is None:
        return np.zeros_like(np.asarray(wakes), dtype=bool) if np.ndim(wakes) else False
    return wakes & (arrival > prev_end)


def needs_switch(task: str, loaded: str | None) -> bool:
    """True when a request of ``task`` follows one of another task (or is the first): the switch sets of
    ``task`` are loaded (if it has any)."""
    return task != loaded


@dataclass
class Schedule:
    """A FCFS schedule of n requests on V variants: ``start`` (n, V) when service begins, ``ops`` (n, V)
    when the ops begin (after wake-up and switch), ``end`` (n, V); ``wake`` (n, V) bool (something woke
    before it), ``switch`` (n,) bool (the task changed: its switch set, if any, was loaded), ``gap``
    (n, V) the idle time before it (s)."""
    start: np.ndarray
    ops: np.ndarray
    end: np.ndarray
    wake: np.ndarray
    switch: np.ndarray
    gap: np.ndarray | None = None

    def idle(self, first_arrival: float) -> np.ndarray:
        """(V,) total idle time (s) between ``first_arrival`` and the last end: the gaps between requests."""
        prev = np.concatenate([np.full((1, self.end.shape[1]), first_arrival), self.end[:-1]])
        return np.maximum(self.start - prev, 0.0).sum(axis=0)


def fcfs(arrivals: Sequence[float], tasks: Sequence[str], pp,
         switch_s: dict[str, np.ndarray], serve: Callable[[int, np.ndarray], np.ndarray],
         transition_s: Sequence[float] | None = None) -> Schedule:
    """Serve requests first come first served on V variants.

    ``arrivals`` (s) and ``tasks``: the stream in order; ``pp``: the variants'
    :class:`simulator.cost.tables.PlatformParams` (their power states decide each wake-up,
    :func:`simulator.cost.power_states.wake_cost`); ``switch_s``: task -> (V,) time of loading its switch set (tasks
    without one are absent); ``serve(k, t)``: the end (V,) of request k's ops begun at ``t`` (V,);
    ``transition_s``: per request, a DVFS transition's settling time (s) after the wake-up, before the
    switch (default none)."""
    from simulator.cost.power_states import wake_cost

    n, V = len(arrivals), pp.n_variants
    start, ops, end, wake = np.zeros((n, V)), np.zeros((n, V)), np.zeros((n, V)), np.zeros((n, V), dtype=bool)
    gaps = np.zeros((n, V))
    switch = np.zeros(n, dtype=bool)
    prev_end, loaded = None, None
    for k, (a, task) in enumerate(zip(arrivals, tasks)):
        s = np.full(V, float(a)) if prev_end is None else np.maximum(a, prev_end)
        if prev_end is None:
            w, t = np.zeros(V, dtype=bool), s.copy()
        else:
            gaps[k] = idle_gap(prev_end, a)
            mask, _, wake_s = wake_cost(pp, gaps[k])
            w = np.asarray(mask.any(axis=1), dtype=bool)
            t = s + wake_s
        if transition_s is not None:
            t = t + transition_s[k]
        switch[k] = needs_switch(task, loaded)
        if switch[k] and task in switch_s:
            t = t + switch_s[task]
        loaded = task
        start[k], ops[k], wake[k] = s, t, w
        end[k] = prev_end = serve(k, t)
    return Schedule(start, ops, end, wake, switch, gaps)
