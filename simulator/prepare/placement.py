"""Placement: which memory of a platform holds each tensor of a multi-task workload, and why.

The platform's policy lists, per tensor role, memories in order of preference. Tensors are placed in this
order, each into the first listed memory where it fits (``on_overflow: next``) or failing with an error
naming the tensor, its size and the memory (``on_overflow: error``):

1. shared parameters (owner ``"shared"``), once for the whole workload (identified by ``(owner, name)``);
2. task-owned parameters (adapters, heads, or per-task models). With ``adapters: resident`` every task's
   set stays in memory. With ``adapters: load_on_switch`` a memory that has a backing store
   (``Memory.backed_by``) holds one task's set at a time (its switch region is as large as the largest
   task's set) and the set is loaded from the backing store on a task switch; a memory without a backing
   store keeps every task's set resident;
3. run-time tensors (activations, inputs, outputs, caches, state) of each task by liveness: a tensor
   occupies its memory from the first op that touches it to the last, so the peak is the peak of live
   bytes over op order, not their sum. Activations of different tasks never coexist (one request is
   served at a time; see :mod:`simulator.engine.discrete_event`).

Sizes are ``TensorInfo.stored_bytes`` (bytes, after compression).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hw_models.loader import PLATFORMS_DIR
from hw_models.vocabulary import PARAMETER_ROLES  # parameters are placed once; the rest by liveness
from simulator.errors import SimulationConfigError


#: Columns of :attr:`Placement.table`.
TABLE_COLUMNS = ("tensor", "role", "owner", "task", "bytes", "memory", "reason", "loaded_on_switch",
                 "live_from_op", "live_to_op")


@dataclass
class Placement:
    """Where every tensor went.

    ``home``: ``(owner, name) -> memory`` for parameters. ``runtime_home``: ``task -> {tensor id -> memory}``
    for run-time tensors. ``table``: one row per placed tensor (:data:`TABLE_COLUMNS`; bytes in bytes).
    ``occupancy``: peak bytes per memory (``runtime_peak``: its run-time tensors' part).
    ``switch_loads``: ``task -> {(backing, home): bytes}`` loaded when a request of that task follows one
    of another task (empty with ``adapters: resident``).
    """
    home: dict[tuple[str, str], str]
    runtime_home: dict[str, dict[int, str]]
    table: pd.DataFrame
    occupancy: dict[str, float]
    switch_loads: dict[str, dict[tuple[str, str], float]] = field(default_factory=dict)
    runtime_peak: dict[str, float] = field(default_factory=dict)  #: peak bytes of run-time tensors per memory
    #: task -> its trace (held, and found by identity: a trace object is one task's)
    traces: dict[str, Any] = field(default_factory=dict, repr=False)

    def _task_of(self, trace: Any) -> str:
        for task, tr in self.traces.items():
            if tr is trace:
                return task
        raise SimulationConfigError("placement: the trace is not one of the placed workload's traces; "
                                    "expected a trace of the workload given to place()")

    def home_of(self, trace: Any, tensor_id: int) -> str:
        """The memory holding tensor ``tensor_id`` of ``trace`` (one of the workload's traces)."""
        t = trace.tensors[tensor_id]
        if t.role in PARAMETER_ROLES:
            return self.home[(t.owner, t.name)]
        return self.runtime_home[self._task_of(trace)][tensor_id]

    def homes(self, trace: Any) -> dict[int, str]:
        """``tensor id -> memory`` for every tensor of ``trace`` (the ``homes`` argument of op_traffic)."""
        runtime = self.runtime_home[self._task_of(trace)]
        return {tid: (self.home[(t.owner, t.name)] if t.role in PARAMETER_ROLES else runtime[tid])
                for tid, t in trace.tensors.items()}


def _readable(n: float) -> str:
    """Bytes in the largest binary unit that keeps the number >= 1 (``"1.5 MiB"``)."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


class _Placer:
    """The mutable bookkeeping of one placement run."""

    def __init__(self, workload, platform):
        self.workload = workload
        self.platform = platform
        self.policy = platform.placement
        self.mems = platform.memories
        self.capacity = {m: float(mem.capacity_bytes) for m, mem in self.mems.items()}
        self.static = dict.fromkeys(self.mems, 0.0)          # shared + resident task-owned parameters
        self.region = {m: {t: 0.0 for t in workload.traces} for m in self.mems}  # per-task switch regions
        self.rows: list[tuple] = []
        source = getattr(platform, "source", "")
        bundled = not source or Path(source).resolve().parent == PLATFORMS_DIR.resolve()
        # a bundled platform is not the user's file to blame: name it; a user's platform file is named
        self.where = f"platform {platform.name}" if bundled else source
        for role, names in self.policy.roles.items():
            for i, m in enumerate(names):
                if m not in self.mems:
                    raise SimulationConfigError(
                        f"{self.where}: placement.roles.{role}[{i}]: unknown memory {m!r}; "
                        f"expected one of {', '.join(self.mems)}")

    def preferences(self, role: str) -> list[str]:
        names = self.policy.roles.get(role)
        if not names:
            raise SimulationConfigError(
                f"{self.where}: placement.roles.{role}: missing; expected a list of memories for "
                f"tensors of role {role!r}")
        return list(names)

    def region_peak(self, m: str) -> float:
        return max(self.region[m].values(), default=0.0)

    def choose(self, name: str, role: str, size: float, free_in) -> tuple[str, str]:
        """The first memory in ``role``'s order where ``free_in(m) >= size``, and the reason."""
        prefs = self.preferences(role)
        for i, m in enumerate(prefs):
            if free_in(m) >= size:
                if i == 0:
                    return m, f"role {role}: 1st choice"
                return m, f"role {role}: overflow from {', '.join(prefs[:i])} (full)"
            if self.policy.on_overflow == "error":
                break
        m = prefs[i]
        free = max(free_in(m), 0.0)
        hint = " (or on_overflow: next)" if self.policy.on_overflow == "error" else ""
        raise SimulationConfigError(
            f"{self.where}: placement.roles.{role}: tensor {name} ({_readable(size)}) fits in none of "
            f"{', '.join(prefs[:i + 1])}: {m} has {_readable(free)} free of {_readable(self.capacity[m])} "
            f"({_readable(self.static[m])} of it parameters); expected {_readable(size - free)} more in {m}"
            f"{hint}, or a smaller workload (fewer tasks, a shorter seq_len, fewer layers)")


def _parameters(workload) -> tuple[list, list]:
    """Unique shared and task-owned parameters in first-use order: lists of (key, tensor, task)."""
    shared, owned, seen = [], [], set()
    for task, trace in workload.traces.items():
        for t in trace.tensors.values():
            if t.role not in PARAMETER_ROLES or (t.owner, t.name) in seen:
                continue
            seen.add((t.owner, t.name))
            if t.owner == "shared":
                shared.append(((t.owner, t.name), t, task))
            else:
                owned.append(((t.owner, t.name), t, t.owner if t.owner in workload.traces else task))
    return shared, owned


def liveness(trace) -> dict[int, tuple[int, int]]:
    """``tensor id -> (first op index, last op index)`` touching it, for the run-time tensors (every role
    outside :data:`~hw_models.vocabulary.PARAMETER_ROLES`) of ``trace``: the interval (in op order) over
    which placement keeps the tensor in its memory."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for i, op in enumerate(trace.ops):
        for tid in (*op.reads, *op.writes):
            if trace.tensors[tid].role not in PARAMETER_ROLES:
                first.setdefault(tid, i)
                last[tid] = i
    return {tid: (first[tid], last[tid]) for tid in first}


def place(workload, platform) -> Placement:
    """Place every tensor of ``workload`` (a :class:`simulator.prepare.served_workload.Workload`) on ``platform``.

    Raises :class:`SimulationConfigError` when a tensor fits nowhere it may go (the message names the
    tensor, its size in bytes and the memory) or the policy lacks a role.
    """
    p = _Placer(workload, platform)
    load_on_switch = p.policy.adapters == "load_on_switch"
    home: dict[tuple[str, str], str] = {}
    switch_loads: dict[str, dict[tuple[str, str], float]] = {t: {} for t in workload.traces}

    shared, owned = _parameters(workload)
    for key, t, _task in shared:
        size = t.stored_bytes
        m, why = p.choose(t.name, t.role, size,
                          lambda m: p.capacity[m] - p.static[m] - p.region_peak(m))
        p.static[m] += size
        home[key] = m
        p.rows.append((t.name, t.role, t.owner, "", size, m, why, False, -1, -1))

    for key, t, task in owned:
        size = t.stored_bytes

        def free(m, task=task):
            if load_on_switch and p.mems[m].backed_by:   # one task's set at a time: sets do not add up
                return p.capacity[m] - p.static[m] - p.region[m][task]
            return p.capacity[m] - p.static[m] - p.region_peak(m)
        m, why = p.choose(t.name, t.role, size, free)
        backing = p.mems[m].backed_by
        loaded = bool(load_on_switch and backing)
        if loaded:
            if backing not in p.mems:
                raise SimulationConfigError(
                    f"{p.where}: memories.{m}.backed_by: unknown memory {backing!r}; "
                    f"expected one of {', '.join(p.mems)}")
            p.region[m][task] += size
            loads = switch_loads.setdefault(task, {})
            loads[(backing, m)] = loads.get((backing, m), 0.0) + size
            why += f"; loaded from {backing} on a switch to {task}"
        else:
            p.static[m] += size
            if load_on_switch:
                why += f"; resident ({m} has no backing store)"
        home[key] = m
        p.rows.append((t.name, t.role, t.owner, task, size, m, why, loaded, -1, -1))

    runtime_home: dict[str, dict[int, str]] = {}
    live_peak = {m: 0.0 for m in p.mems}
    with_region = {m: 0.0 for m in p.mems}
    for task, trace in workload.traces.items():
        n = max(len(trace.ops), 1)
        profile = {m: np.zeros(n) for m in p.mems}
        homes: dict[int, str] = {}
        live = liveness(trace)
        order = sorted(live, key=lambda tid: (live[tid][0], tid))
        for tid in order:
            t = trace.tensors[tid]
            lo, hi = live[tid]
            size = t.stored_bytes

            def free(m, lo=lo, hi=hi, task=task):
                base = p.capacity[m] - p.static[m] - p.region[m][task]
                return base - float(profile[m][lo:hi + 1].max())
            m, why = p.choose(t.name, t.role, size, free)
            profile[m][lo:hi + 1] += size
            homes[tid] = m
            p.rows.append((t.name, t.role, t.owner, task, size, m, why + "; live ops "
                           f"{lo}..{hi}", False, lo, hi))
        for tid, t in trace.tensors.items():  # run-time tensors no op touches: first choice, no space
            if t.role not in PARAMETER_ROLES and tid not in homes:
                homes[tid] = p.preferences(t.role)[0]
        runtime_home[task] = homes
        for m in p.mems:
            live_peak[m] = max(live_peak[m], float(profile[m].max()))
            with_region[m] = max(with_region[m], p.region[m][task] + float(profile[m].max()))

    occupancy = {m: p.static[m] + max(with_region[m], p.region_peak(m)) for m in p.mems}
    table = pd.DataFrame(p.rows, columns=list(TABLE_COLUMNS))
    return Placement(home=home, runtime_home=runtime_home, table=table, occupancy=occupancy,
                     switch_loads={t: v for t, v in switch_loads.items() if v}, runtime_peak=live_peak,
                     traces=dict(workload.traces))
