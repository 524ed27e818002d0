"""The one place where bytes and cycles become joules and seconds, shared by the engine and the evaluator.

Two stages, so sweeps pay the expensive part once:

- :func:`prepare` (once per workload × platform structure): placement, per-op traffic from
  :mod:`simulator.prepare.traffic`, and numpy arrays per task: bytes read/written per memory per op, the part of
  the reads that are parameters (prefetchable), cycles, MACs, the bytes each task switch loads.
- :func:`platform_params` + :func:`op_costs` / :func:`switch_costs` (per configuration): the platforms'
  figures as arrays over *variants* (a leading axis V), and from them energy (J) and time (s) per op,
  per memory, per request. The engine (:mod:`simulator.engine.discrete_event`) and the analytic evaluator
  (:mod:`simulator.analytic.closed_form`) both read these arrays, so they cannot disagree on a cost, only on timing.

Cost model (no contention; the engine adds contention on top):

- a transfer of ``b > 0`` bytes from/to memory ``m`` takes ``latency + b / bandwidth`` (the formula of
  :meth:`hw_models.memory.Memory.read_time`) and, in parallel, ``b / bandwidth`` on every link of the path
  from ``m`` to the compute units: the slower of the two. Its energy is ``b × energy per byte`` in the
  memory plus ``8·b × energy per bit`` on each link of the path;
- an op fetches its operands from all home memories in parallel (the slowest sets the fetch time),
  then computes (``cycles / clock``; the clock scales with the operating point's frequency), then writes
  its outputs to all home memories in parallel. Traffic of staging buffers (``is_buffer``, tiles fed to
  and drained from the MAC array) streams *during* compute: the compute phase lasts
  ``max(cycles / clock, each buffer's read and write time)``. When the staging buffer is
  ``double_buffered``, an op the mapping tiles through it overlaps its home traffic with compute too (the
  next tile fills one half while the array works on the other): first tile fill +
  ``max(busiest home's reads + writes - first fill - last write-back, compute phase)`` + last
  write-back, where a tile set is the mapping's footprint (one half) spread over the homes by traffic.
  Compute energy is the op's action counts times each action's energy at the operating point (scaled by
  V²): on the unit that runs the op (:mod:`simulator.prepare.assign`; a crossbar's DAC/cell/ADC/shift-add
  actions, a MAC array's MACs, a vector unit's element ops) plus the arithmetic its unit does not take
  (a MAC op's other ops on the first vector unit, a vector op's MACs on the first MAC array);
- a task switch (adapters ``load_on_switch``) copies each (backing → home) set one after another:
  ``max(read time in the backing store, write time in the home, link time)``;
- between requests each memory follows its power state and compute units are gated off with
  ``power_gating`` (:mod:`simulator.cost.power_states`): a component sleeps in an idle gap only when the
  gap exceeds its break-even time; the next request first wakes those that slept (their wake-up
  energies, the longest wake-up latency).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from hw_models.compute import other_ops
from hw_models.memory import access_time
from simulator.cost import power_states
from simulator.errors import SimulationConfigError
from simulator.prepare.assign import UnitPlan, assign_ops, unit_plan
from simulator.prepare.placement import PARAMETER_ROLES, Placement, place
from simulator.prepare.mapping import staging_buffer
from simulator.prepare.traffic import op_traffic

COMPUTE = "compute"


# ---------------------------------------------------------------------------------------------- prepare
@dataclass
class TaskArrays:
    """Per-op arrays of one task (n ops, M memories in platform order). Bytes in bytes."""
    task: str
    reads: np.ndarray          #: (n, M) bytes read from each memory
    writes: np.ndarray         #: (n, M) bytes written to each memory
    param_reads: np.ndarray    #: (n, M) reads prefetch may start early (homes the op reads only parameters from)
    compulsory_bytes: np.ndarray  #: (n,) bytes of every operand read and written once
    cycles: np.ndarray         #: (n,) cycles of the op's compute unit (at its nominal clock)
    on_mac: np.ndarray         #: (n,) True when the op runs on a MAC array
    unit: np.ndarray           #: (n,) index (U axis) of the unit whose figures cost the op (its pool's first)
    pool: np.ndarray           #: (n,) index of the op's pool of interchangeable units (Prepared.units.pools)
    counts: np.ndarray         #: (n, A) count of each action (Prepared.actions) the op costs
    macs: np.ndarray           #: (n,) multiply-accumulates
    other_ops: np.ndarray      #: (n,) non-MAC arithmetic operations
    op_ids: np.ndarray         #: (n,) OpInfo.id
    modules: np.ndarray        #: (n,) module paths (object array)
    layers: np.ndarray         #: (n,) layer labels (object array)
    staged: np.ndarray | None = None       #: (n,) True when a mapping tiles the op through the staging buffer
    first_reads: np.ndarray | None = None  #: (n, M) bytes of a staged op's first tile fill from each home
    last_writes: np.ndarray | None = None  #: (n, M) bytes of a staged op's last write-back to each home
    switch_loads: tuple[tuple[str, str, float], ...] = ()  #: (backing, home, bytes) copied on a switch to it
    traffic: list = field(default_factory=list, repr=False)  #: the OpTraffic of each op

    @property
    def n_ops(self) -> int:
        """Number of ops of one request of this task."""
        return len(self.op_ids)


@dataclass
class Prepared:
    """Everything about a workload on a platform that does not change between cost configurations."""
    workload: Any
    platform: Any
    placement: Placement
    memories: tuple[str, ...]                 #: memory names, the M axis of every array
    tasks: dict[str, TaskArrays]
    link_paths: dict[str, tuple[str, ...]]    #: memory -> names of the links from it to compute
    objective: str = "energy"
    #: per-op arrays of request variants (``<task>@exit<k>``: an early exit's prefix), made on demand
    variants: dict[str, TaskArrays] = field(default_factory=dict, repr=False)

    def arrays(self, key: str) -> TaskArrays:
        """The per-op arrays a request with ``Request.key == key`` runs: its task's, or an early exit's
        prefix of them (:func:`simulator.prepare.early_exit.variant_arrays`)."""
        found = self.tasks.get(key)
        if found is None:
            from simulator.prepare.early_exit import variant_arrays

            found = variant_arrays(self, key)
        return found
    units: UnitPlan | None = None             #: compute unit names (the U axis) and pools
    actions: tuple[tuple[int, str], ...] = ()  #: (unit index, action name): the A axis of ``counts``
    #: :meth:`distinct` by request key, made on demand (like ``variants``, shared by the copies
    #: ``dataclasses.replace`` makes with another workload or platform: the per-op arrays are the same)
    reduced: dict[str, tuple] = field(default_factory=dict, repr=False)
    #: per task, the bytes one request writes into each tensor (:func:`simulator.results.build.tensor_writes`),
    #: made on demand and shared the same way
    request_writes: dict[str, list] = field(default_factory=dict, repr=False)

    def distinct(self, key: str) -> tuple[TaskArrays, np.ndarray, np.ndarray]:
        """:func:`distinct_ops` of ``arrays(key)``, computed once per preparation (a sweep evaluates one
        preparation for many variants and streams)."""
        if key not in self.reduced:
            self.reduced[key] = distinct_ops(self.arrays(key))
        return self.reduced[key]

    def memory_index(self, name: str) -> int:
        """Position of memory ``name`` on the M axis."""
        return self.memories.index(name)


def _link_paths(platform) -> dict[str, tuple[Any, ...]]:
    """For each memory, the links on a shortest path from it to the compute units (breadth-first)."""
    paths: dict[str, tuple[Any, ...]] = {COMPUTE: ()}
    queue = deque([COMPUTE])
    while queue:
        node = queue.popleft()
        for link in platform.links:
            if node in (link.src, link.dst):
                other = link.dst if link.src == node else link.src
                if other not in paths:
                    paths[other] = (link,) + paths[node]
                    queue.append(other)
    return {m: paths.get(m, ()) for m in platform.memories}


def prepare(workload, platform, placement: Placement | None = None, *, objective: str = "energy") -> Prepared:
    """Place the workload (unless ``placement`` is given) and build its per-op arrays. Run once per
    workload × platform structure; the result serves :func:`simulator.engine.simulate`,
    :func:`simulator.analytic.evaluate` and :func:`simulator.analytic.evaluate_variants`."""
    placement = placement if placement is not None else place(workload, platform)
    power_states.check_placement(platform, placement)
    memories = tuple(platform.memories)
    index = {m: i for i, m in enumerate(memories)}
    plan = unit_plan(platform)
    units = [platform.compute[n] for n in plan.names]
    actions = tuple((u, a) for u, unit in enumerate(units) for a in unit.actions)
    column = {ua: c for c, ua in enumerate(actions)}
    tasks: dict[str, TaskArrays] = {}
    for task, trace in workload.traces.items():
        homes = placement.homes(trace)
        n, M = len(trace.ops), len(memories)
        pools = assign_ops(trace, homes, platform, plan)
        unit_of = np.array([plan.pools[k][0] for k in pools], dtype=int)
        counts = np.zeros((n, len(actions)))
        reads, writes, param = np.zeros((n, M)), np.zeros((n, M)), np.zeros((n, M))
        compulsory, cycles = np.zeros(n), np.zeros(n)
        on_mac, staged = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        first, last = np.zeros((n, M)), np.zeros((n, M))
        traffic = []
        position = {op.id: i for i, op in enumerate(trace.ops)}
        for i, op in enumerate(trace.ops):
            late = [d for d in op.deps if position.get(d, -1) >= i]
            if late:
                raise SimulationConfigError(
                    f"traces.{task}.ops[{i}].deps: op {op.id} depends on op {late[0]}, which does not run "
                    "before it; expected ops in execution (dependency) order")
            u = int(unit_of[i])
            tr = op_traffic(op, trace, homes, platform, objective=objective, unit=plan.names[u])
            _count_actions(op, u, units, plan, column, counts[i])
            traffic.append(tr)
            for m, b in tr.reads.items():
                reads[i, index[m]] += b
            for m, b in tr.writes.items():
                writes[i, index[m]] += b
            # prefetchable: a home's reads when the op reads only parameters from it (splitting a
            # memory's reads in two would pay its access latency twice)
            param_home: dict[str, float] = {}
            for tid, b in trace.read_bytes(op).items():
                if trace.tensors[tid].role in PARAMETER_ROLES:
                    param_home[homes[tid]] = param_home.get(homes[tid], 0.0) + b
            for m, b in param_home.items():
                base = tr.compulsory_reads.get(m, 0.0)
                if base > 0 and b >= base * (1.0 - 1e-12):
                    param[i, index[m]] = reads[i, index[m]]
            compulsory[i] = sum(tr.compulsory_reads.values()) + sum(tr.compulsory_writes.values())
            cycles[i] = tr.cycles
            on_mac[i] = units[u].kind == "mac_array"
            if tr.mapping is not None:
                staged[i] = True
                _tile_ends(tr, platform, index, first[i], last[i])
        loads = tuple((backing, home, b) for (backing, home), b in placement.switch_loads.get(task, {}).items())
        tasks[task] = TaskArrays(
            task=task, reads=reads, writes=writes, param_reads=param, compulsory_bytes=compulsory,
            cycles=cycles, on_mac=on_mac, unit=unit_of, pool=np.array(pools, dtype=int), counts=counts,
            staged=staged, first_reads=first, last_writes=last,
            macs=np.array([op.macs for op in trace.ops], dtype=float),
            other_ops=np.array([other_ops(op) for op in trace.ops], dtype=float),
            op_ids=np.array([op.id for op in trace.ops], dtype=int),
            modules=np.array([op.module for op in trace.ops], dtype=object),
            layers=np.array([op.layer for op in trace.ops], dtype=object),
            switch_loads=loads, traffic=traffic)
    paths = {m: tuple(link.name for link in links) for m, links in _link_paths(platform).items()}
    return Prepared(workload, platform, placement, memories, tasks, paths, objective, units=plan, actions=actions)


def _count_actions(op, u: int, units, plan: UnitPlan, column: dict, out: np.ndarray) -> None:
    """Fill ``out`` (A,) with the action counts of ``op`` run on unit ``u``: its own work, plus the MACs
    or other ops it does not take, absorbed by the unit that takes them (``plan.taker``)."""
    for action, count in units[u].work(op).counts.items():
        out[column[(u, action)]] += count
    for quantity in ("macs", "other_ops"):
        amount = op.macs if quantity == "macs" else other_ops(op)
        if amount and quantity not in units[u].takes:
            t = plan.taker[quantity]
            if t < 0:
                raise SimulationConfigError(
                    f"compute: op {op.id} ({op.kind}) has {quantity} its unit {plan.names[u]} does not do and "
                    f"no unit takes; expected a {'MAC array' if quantity == 'macs' else 'vector unit'}")
            for action, count in units[t].absorb(quantity, amount).items():
                out[column[(t, action)]] += count


def _tile_ends(tr, platform, index: dict[str, int], first: np.ndarray, last: np.ndarray) -> None:
    """Fill ``first`` / ``last`` (M,) with the bytes of a mapped op's first tile fill from, and last
    write-back to, each home memory: one tile set (the mapping's buffer footprint, halved when the buffer
    is double-buffered) spread over the homes in proportion to their traffic, at most all of it."""
    buffer = platform.memories[tr.mapping.buffer]
    tile = tr.mapping.footprint_bytes / (2.0 if buffer.double_buffered else 1.0)
    for traffic, out in ((tr.reads, first), (tr.writes, last)):
        home = {m: b for m, b in traffic.items() if not platform.memories[m].is_buffer and b > 0}
        total = sum(home.values())
        share = min(1.0, tile / total) if total > 0 else 0.0
        for m, b in home.items():
            out[index[m]] = b * share


# ------------------------------------------------------------------------------------ platform figures
@dataclass
class PlatformParams:
    """The cost figures of V platform variants as arrays (V on axis 0; M memories; P operating points;
    L links). Units: J/byte, s, bytes/s, W, J, Hz."""
    names: list[str]
    op_points: tuple[str, ...]
    default_ops: np.ndarray     #: (V,) index of each variant's default operating point (P axis)
    read_J: np.ndarray          #: (V, M) J per byte read
    write_J: np.ndarray         #: (V, M) J per byte written
    read_lat: np.ndarray        #: (V, M) s per access
    write_lat: np.ndarray       #: (V, M)
    read_bw: np.ndarray         #: (V, M) bytes/s
    write_bw: np.ndarray        #: (V, M)
    path_bw: np.ndarray         #: (V, M) bytes/s of the slowest link from the memory to compute (inf: none)
    path_J: np.ndarray          #: (V, M) J per byte over the whole path to compute
    links: tuple[str, ...]      #: link names, the L axis
    link_bw: np.ndarray         #: (V, L)
    link_J: np.ndarray          #: (V, L) J per byte
    leak_W: np.ndarray          #: (V, M) powered-on leakage (DRAM: background + refresh)
    refresh_W: np.ndarray       #: (V, M) the refresh part of leak_W (DRAM only)
    idle_W: np.ndarray          #: (V, M) power over a long idle gap (its low-power state where it has one)
    gated: np.ndarray           #: (V, M) bool: has a low-power state between requests (policy not always_on)
    is_dram: np.ndarray         #: (V, M) bool
    buffer: np.ndarray          #: (V, M) bool: staging buffer (its traffic streams during compute)
    double_buffered: np.ndarray  #: (V,) bool: the staging buffer is double-buffered (home traffic overlaps compute)
    wake_J: np.ndarray          #: (V,) energy to wake every gated memory (after a long gap)
    wake_s: np.ndarray          #: (V,) the longest wake-up latency of the gated memories (after a long gap)
    units: tuple[str, ...]      #: compute unit names, the U axis
    actions: tuple[tuple[int, str], ...]  #: (unit index, action name), the A axis
    action_J: np.ndarray        #: (V, P, A) J per action at each operating point
    clock: np.ndarray           #: (V, P, U) Hz of each unit at each operating point
    unit_leak_W: np.ndarray     #: (V, P, U) leakage of each unit at each operating point
    unit_idle_W: np.ndarray     #: (V, U) leakage of the compute units over a long idle gap (0: gated off)
    # per idle gap (simulator.cost.power_states), over C = memories then compute units:
    on_W: np.ndarray = None         #: (V, C) power when staying on through a gap (W)
    low_W: np.ndarray = None        #: (V, C) power in the low-power state (W)
    sleeps: np.ndarray = None       #: (V, C) bool: has a low-power state
    wake_Jc: np.ndarray = None      #: (V, C) wake-up energy from it (J)
    wake_sc: np.ndarray = None      #: (V, C) wake-up latency from it (s)
    break_even_s: np.ndarray = None  #: (V, C) idle time above which sleeping pays (s; inf: never)
    # the voltage domain (Platform.voltage_domain): per operating point, multipliers of each memory's
    # energy per byte ((V/Vnom)² in the domain), leakage (its voltage law) and access time (f_default/f)
    mem_dyn: np.ndarray = None      #: (V, P, M)
    mem_leak: np.ndarray = None     #: (V, P, M)
    mem_time: np.ndarray = None     #: (V, P, M)
    # DRAM power-down between its own transfers inside a request (power_down_when_idle)
    pd_inside: np.ndarray = None        #: (V, M) bool
    pd_W: np.ndarray = None             #: (V, M) power in power-down (W)
    pd_exit_J: np.ndarray = None        #: (V, M) energy of one exit (J)
    pd_break_even_s: np.ndarray = None  #: (V, M) gap above which powering down pays (s; inf: never)

    kinds: tuple[str, ...] = ()  #: kind of each unit (U axis)

    @property
    def n_variants(self) -> int:
        """V, the number of platform variants."""
        return len(self.names)

    @property
    def default_op(self) -> int:
        """Index of the default operating point (P axis) the variants share; a ValueError when they
        differ: evaluate them in batches of one default each (as
        :func:`simulator.analytic.closed_form.evaluate_variants` does), never at the first one's."""
        first = int(self.default_ops[0])
        if (self.default_ops != first).any():
            raise ValueError("platform variants differ in their default operating point; expected them "
                             "split into batches of one default each")
        return first

    def op_index(self, name: str | None) -> int:
        """Index of operating point ``name`` (None: the default) on the P axis."""
        if name is None:
            return self.default_op
        try:
            return self.op_points.index(name)
        except ValueError:
            raise SimulationConfigError(f"scenario.operating_point: unknown operating point {name!r}; "
                                        f"expected one of {', '.join(self.op_points)}") from None


def _memory_figures(platform, memories: Sequence[str]) -> dict[str, list[float]]:
    gating = bool(platform.placement.power_gating)
    paths = _link_paths(platform)
    out: dict[str, list] = {k: [] for k in ("read_J", "write_J", "read_lat", "write_lat", "read_bw",
                                            "write_bw", "path_bw", "path_J", "leak_W", "refresh_W", "idle_W",
                                            "gated", "is_dram", "buffer", "wake_J", "wake_lat", "pd_inside",
                                            "pd_W", "pd_exit_J", "pd_exit_s")}
    for name in memories:
        m = platform.memories[name]
        c = m.cost()          # the affine cost protocol (hw_models.memory.AffineCost), read by name
        state = power_states.policy(m, gating)
        gated = state != "always_on"
        low_W, wake_J, wake_s = power_states.low_power_state(m, state)
        pd = power_states.power_down(m, state)
        out["pd_inside"].append(pd is not None)
        for key, value in zip(("pd_W", "pd_exit_J", "pd_exit_s"), pd or (c.leakage_W["on"], 0.0, 0.0)):
            out[key].append(value)
        links = paths[name]
        out["read_J"].append(c.read_J_per_byte)
        out["write_J"].append(c.write_J_per_byte)
        # a DRAM that powers down between its transfers waits tXP before each (power_states.power_down)
        out["read_lat"].append(c.read_latency_s + (pd[2] if pd else 0.0))
        out["write_lat"].append(c.write_latency_s + (pd[2] if pd else 0.0))
        out["read_bw"].append(c.read_Bps)
        out["write_bw"].append(c.write_Bps)
        out["path_bw"].append(min((lk.bandwidth_Bps for lk in links), default=np.inf))
        out["path_J"].append(sum(lk.transfer_energy(1.0) for lk in links))
        out["leak_W"].append(c.leakage_W["on"])
        out["refresh_W"].append(m.refresh_power_W if m.is_dram else 0.0)
        out["idle_W"].append(low_W)
        out["gated"].append(gated)
        out["is_dram"].append(m.is_dram)
        out["buffer"].append(m.is_buffer)
        out["wake_J"].append(wake_J)
        out["wake_lat"].append(wake_s)
    return out


def _in_domain(platform, name: str) -> bool:
    """True when ``name`` scales with the operating point (``Platform.in_voltage_domain``; objects without
    it: every compute unit, no memory)."""
    fn = getattr(platform, "in_voltage_domain", None)
    return fn(name) if fn is not None else name in platform.compute


def platform_params(platforms: Sequence[Any], memories: Sequence[str] | None = None) -> PlatformParams:
    """Stack the cost figures of ``platforms`` (variants with the same memory names, links and operating
    point names) into arrays. ``memories`` fixes the M order (default: the first platform's)."""
    platforms = list(platforms)
    first = platforms[0]
    memories = tuple(memories or first.memories)
    op_points = tuple(first.operating_points)
    links = tuple(lk.name for lk in first.links)
    units = tuple(first.compute)
    kinds = tuple(u.kind for u in first.compute.values())
    actions = tuple((i, a) for i, u in enumerate(first.compute.values()) for a in u.actions)
    for p in platforms:
        if set(p.memories) != set(memories) or tuple(p.operating_points) != op_points or \
                tuple(lk.name for lk in p.links) != links or tuple(p.compute) != units or \
                tuple(u.kind for u in p.compute.values()) != kinds:
            raise SimulationConfigError(
                f"platforms.{p.name}: memories, compute units, links or operating points differ from "
                f"{first.name}; expected variants of one platform structure (prepare each structure separately)")
    figs = [_memory_figures(p, memories) for p in platforms]

    def stack(key, dtype=float):
        return np.array([f[key] for f in figs], dtype=dtype)

    def per_point(fn):
        return np.array([[fn(p, p.operating_points[o]) for o in op_points] for p in platforms], dtype=float)

    def frequency_ratio(p, o):
        """Default point's frequency / o's."""
        return p.operating_points[p.default_operating_point].frequency_Hz / o.frequency_Hz

    def slowdown(p, o, name):
        """Default point's frequency / o's for a component in the voltage domain (1 outside it)."""
        return frequency_ratio(p, o) if _in_domain(p, name) else 1.0

    def clock(p, o, unit, name):
        return unit.clock_hz / slowdown(p, o, name)

    def point(p, o, name):
        """The operating point a component sees: ``o`` in the voltage domain, None (nominal) outside."""
        return o if _in_domain(p, name) else None

    # which memories are in each variant's voltage domain, once (not per operating point and figure)
    mem_domain = np.array([[_in_domain(p, m) for m in memories] for p in platforms],
                          dtype=bool).reshape(len(platforms), 1, len(memories))

    def mem_scale(fn):
        """(V, P, M): ``fn(platform, operating point)`` for the memories in the voltage domain, 1 outside."""
        inside = np.array([[fn(p, p.operating_points[o]) for o in op_points] for p in platforms],
                          dtype=float).reshape(len(platforms), len(op_points), 1)
        return np.where(mem_domain, inside, 1.0)

    gating = np.array([bool(p.placement.power_gating) for p in platforms])
    # memories, then compute units (gated off between requests with power_gating), per idle gap
    unit_on = np.array([[p.compute[n].leakage_at(p.operating_point if _in_domain(p, n) else None)
                         for n in units] for p in platforms], dtype=float).reshape(len(platforms), len(units))
    unit_wake = np.array([[power_states.unit_gate(p.compute[n], unit_on[v, u]) for u, n in enumerate(units)]
                          for v, p in enumerate(platforms)], dtype=float).reshape(len(platforms), len(units), 2)
    gated_m = stack("gated", bool)
    mem_idle = stack("leak_W") * np.array([[p.operating_point.leakage_scale if _in_domain(p, m) else 1.0
                                           for m in memories] for p in platforms]).reshape(len(platforms), -1)
    on_W = np.concatenate([mem_idle, unit_on], axis=1)
    low_W = np.concatenate([stack("idle_W"), np.zeros_like(unit_on)], axis=1)
    sleeps = np.concatenate([gated_m, np.repeat(gating[:, None], len(units), axis=1)], axis=1)
    wake_Jc = np.where(sleeps, np.concatenate([stack("wake_J"), unit_wake[:, :, 0]], axis=1), 0.0)
    wake_sc = np.where(sleeps, np.concatenate([stack("wake_lat"), unit_wake[:, :, 1]], axis=1), 0.0)
    be = np.where(sleeps, power_states.break_even_s(on_W, low_W, wake_Jc), np.inf)
    deep = sleeps & np.isfinite(be)              # asleep over a long gap
    wake_lat = np.where(deep[:, :len(memories)], stack("wake_lat"), 0.0)
    return PlatformParams(
        names=[p.name for p in platforms], op_points=op_points,
        default_ops=np.array([op_points.index(p.default_operating_point) for p in platforms], dtype=np.int64),
        read_J=stack("read_J"), write_J=stack("write_J"), read_lat=stack("read_lat"),
        write_lat=stack("write_lat"), read_bw=stack("read_bw"), write_bw=stack("write_bw"),
        path_bw=stack("path_bw"), path_J=stack("path_J"), links=links,
        link_bw=np.array([[lk.bandwidth_Bps for lk in p.links] for p in platforms], dtype=float).reshape(
            len(platforms), len(links)),
        link_J=np.array([[lk.transfer_energy(1.0) for lk in p.links] for p in platforms], dtype=float).reshape(
            len(platforms), len(links)),
        leak_W=stack("leak_W"), refresh_W=stack("refresh_W"),
        idle_W=np.where(deep[:, :len(memories)], stack("idle_W"), mem_idle),
        gated=gated_m, is_dram=stack("is_dram", bool), buffer=stack("buffer", bool),
        double_buffered=np.array([bool(b is not None and b.double_buffered)
                                  for b in map(staging_buffer, platforms)], dtype=bool),
        wake_J=np.where(deep[:, :len(memories)], stack("wake_J"), 0.0).sum(axis=1),
        wake_s=wake_lat.max(axis=1, initial=0.0),
        on_W=on_W, low_W=low_W, sleeps=sleeps, wake_Jc=wake_Jc, wake_sc=wake_sc, break_even_s=be,
        pd_inside=stack("pd_inside", bool), pd_W=stack("pd_W"), pd_exit_J=stack("pd_exit_J"),
        pd_break_even_s=np.where(stack("pd_inside", bool), power_states.break_even_s(
            stack("leak_W"), stack("pd_W"), stack("pd_exit_J")), np.inf),
        units=units, actions=actions, kinds=kinds,
        action_J=np.array([[[p.compute[units[u]].action_energy_J(point(p, p.operating_points[o], units[u]))[a]
                             for u, a in actions]
                            for o in op_points] for p in platforms], dtype=float).reshape(
            len(platforms), len(op_points), len(actions)),
        clock=np.stack([per_point(lambda p, o, n=n: clock(p, o, p.compute[n], n)) for n in units], axis=-1),
        unit_leak_W=np.stack([per_point(lambda p, o, n=n: p.compute[n].leakage_at(point(p, o, n)))
                              for n in units], axis=-1),
        mem_dyn=mem_scale(lambda p, o: o.dynamic_scale),
        mem_leak=mem_scale(lambda p, o: o.leakage_scale),
        mem_time=mem_scale(frequency_ratio),
        unit_idle_W=np.where(deep[:, len(memories):], 0.0, unit_on))


# ------------------------------------------------------------------------------------------ cost laws
def transfer_time(nbytes: np.ndarray, latency: np.ndarray, bandwidth: np.ndarray,
                  path_bandwidth: np.ndarray) -> np.ndarray:
    """Time (s) to move ``nbytes`` (broadcast arrays): the memory's access time
    (:func:`hw_models.memory.access_time`, ``latency + b/bandwidth``) in parallel with ``b/path_bandwidth``
    on the links (bytes/s; inf without links); 0 for 0 bytes."""
    with np.errstate(divide="ignore", invalid="ignore"):
        link = np.asarray(nbytes, dtype=float) / path_bandwidth
    return np.maximum(access_time(nbytes, latency, bandwidth), np.where(link > 0, link, 0.0))


@dataclass
class OpCosts:
    """Per-op energies (J) and times (s) of one task at one operating point, for V variants.

    Shapes: (V, n, M) per memory, (V, n) per op. ``t_param``/``t_rest`` split each home memory's read
    time into the parameter part (prefetchable) and the rest (engine with prefetch only;
    ``param_reads`` (V, n, M) are the bytes split off, none for an overlapped op).

    An op's duration is its three phases ``t_fetch + t_stream + t_store``. For an op tiled through a
    double-buffered staging buffer (``overlap``) the phases are: first tile fill, the overlapped middle
    ``max(busiest home's reads + writes - first - last, compute phase)``, last write-back."""
    e_read: np.ndarray
    e_write: np.ndarray
    e_link: np.ndarray      #: energy on the links between each memory and compute (reads + writes)
    e_unit: np.ndarray      #: (V, n, U) compute energy of each op on each unit
    t_read: np.ndarray      #: (V, n, M)
    t_write: np.ndarray     #: (V, n, M)
    t_fetch: np.ndarray     #: (V, n) slowest read from a home memory
    t_compute: np.ndarray   #: (V, n) cycles / clock
    t_stream: np.ndarray    #: (V, n) the compute phase: max(t_compute, buffer reads and writes)
    t_store: np.ndarray     #: (V, n) slowest write to a home memory
    t_param: np.ndarray     #: (V, n, M)
    t_rest: np.ndarray      #: (V, n, M)
    overlap: np.ndarray     #: (V, n) bool: home traffic overlaps compute (double-buffered staging)
    param_reads: np.ndarray  #: (V, n, M) bytes prefetch fetches early (split only)
    kinds: tuple[str, ...] = ()  #: kind of each unit (U axis)
    read_J: np.ndarray | None = None  #: (V, M) J per byte read at this operating point

    @property
    def t_op(self) -> np.ndarray:
        """(V, n) duration of each op without contention or prefetch: fetch + compute phase + store (s)."""
        return self.t_fetch + self.t_stream + self.t_store

    def energy(self) -> np.ndarray:
        """(V,) dynamic energy of one request's ops (J)."""
        total = self.e_read.sum(axis=(1, 2)) + self.e_write.sum(axis=(1, 2)) + self.e_link.sum(axis=(1, 2))
        for u in _energy_order(self.e_unit.shape[2], self.kinds):
            total = total + self.e_unit[:, :, u].sum(axis=1)
        return total


def _energy_order(U: int, kinds: tuple[str, ...]) -> list[int]:
    """Units in the order their energies are added (MAC arrays first: the order of the two-unit model,
    so its totals stay bit for bit)."""
    return sorted(range(U), key=lambda u: (kinds[u] != "mac_array", u) if kinds else u)


def unit_energy(ta: TaskArrays, pp: PlatformParams, op_point: int) -> np.ndarray:
    """(V, n, U) compute energy (J) of each op on each unit: action counts × J per action at ``op_point``."""
    V, n, U = pp.n_variants, ta.n_ops, len(pp.units)
    out = np.zeros((V, n, U))
    J = pp.action_J[:, op_point, :]                                   # (V, A)
    for c, (u, _a) in enumerate(pp.actions):
        col = ta.counts[:, c]
        if col.any():
            out[:, :, u] += col[None, :] * J[:, c, None]
    return out


def distinct_ops(ta: TaskArrays) -> tuple[TaskArrays, np.ndarray, np.ndarray]:
    """``ta`` reduced to its distinct ops (same bytes per memory, cycles, unit, staging, tile ends, MACs
    and other ops: every field :func:`op_costs` reads), in order of first occurrence; how many times each
    occurs; and for each op of ``ta`` the position of its row in the reduced arrays. :func:`op_costs` is
    per op, so ``op_costs(sub, ...)`` indexed by the positions equals ``op_costs(ta, ...)``; a model
    repeats its layers (ALBERT's 12 repetitions share one set of op shapes and homes)."""
    n, M = ta.reads.shape
    staged = ta.staged if ta.staged is not None else np.zeros(n, dtype=bool)
    first = ta.first_reads if ta.first_reads is not None else np.zeros((n, M))
    last = ta.last_writes if ta.last_writes is not None else np.zeros((n, M))
    rows = np.concatenate([ta.reads, ta.writes, ta.param_reads, ta.cycles[:, None], ta.on_mac[:, None],
                           ta.unit[:, None], ta.pool[:, None], ta.counts, staged[:, None], first, last,
                           ta.macs[:, None], ta.other_ops[:, None]], axis=1)
    if n == 0:
        return ta, np.zeros(0), np.zeros(0, dtype=int)
    _, first_index, inverse, counts = np.unique(rows, axis=0, return_index=True, return_inverse=True,
                                                return_counts=True)
    order = np.argsort(first_index)
    keep = first_index[order]
    position = np.empty(len(order), dtype=int)
    position[order] = np.arange(len(order))
    sub = replace(ta, reads=ta.reads[keep], writes=ta.writes[keep], param_reads=ta.param_reads[keep],
                  compulsory_bytes=ta.compulsory_bytes[keep], cycles=ta.cycles[keep], on_mac=ta.on_mac[keep],
                  unit=ta.unit[keep], pool=ta.pool[keep], counts=ta.counts[keep],
                  macs=ta.macs[keep], other_ops=ta.other_ops[keep], op_ids=ta.op_ids[keep],
                  modules=ta.modules[keep], layers=ta.layers[keep], staged=staged[keep], first_reads=first[keep],
                  last_writes=last[keep], traffic=[])
    return sub, counts[order].astype(float), position[np.asarray(inverse).reshape(-1)]


def op_costs(ta: TaskArrays, pp: PlatformParams, op_point: int, *, split: bool = False) -> OpCosts:
    """Energy and time of every op of task ``ta`` at operating point index ``op_point`` for every variant
    in ``pp``. ``split`` also computes the parameter/rest read times (for prefetch).

    Serial model: fetch from the homes (in parallel, the slowest sets the time), compute phase
    (``max(cycles / clock, staging-buffer traffic)``), store to the homes. A mapped op on a double-buffered
    staging buffer overlaps its home traffic with compute: first tile fill, then
    ``max(busiest home's reads + writes - first fill - last write-back, compute phase)``, then last
    write-back. This lies between ``max(compute phase, busiest home)`` and the serial time; energy is
    the same in both models."""
    R, W = ta.reads[None], ta.writes[None]
    slow = pp.mem_time[:, op_point, :]             # the voltage domain: f_default / f (1 outside)
    dyn = pp.mem_dyn[:, op_point, :]               # (V/Vnom)² (1 outside)
    read_J, write_J = pp.read_J * dyn, pp.write_J * dyn
    rl, rb, wl, wb = (x[:, None, :] for x in (pp.read_lat * slow, pp.read_bw / slow, pp.write_lat * slow,
                                              pp.write_bw / slow))
    pb = pp.path_bw[:, None, :]
    t_read = transfer_time(R, rl, rb, pb)
    t_write = transfer_time(W, wl, wb, pb)
    clock = pp.clock[:, op_point, :][:, ta.unit]                   # (V, n)
    home = ~pp.buffer[:, None, :]
    t_compute = ta.cycles[None] / clock
    t_buffer = np.maximum(np.where(home, 0.0, t_read), np.where(home, 0.0, t_write)).max(axis=2, initial=0.0)
    t_fetch = np.where(home, t_read, 0.0).max(axis=2, initial=0.0)
    t_stream = np.maximum(t_compute, t_buffer)
    t_store = np.where(home, t_write, 0.0).max(axis=2, initial=0.0)
    overlap = pp.double_buffered[:, None] & ta.staged[None]        # (V, n)
    db = np.flatnonzero(pp.double_buffered)
    if len(db) and ta.staged.any():                                # only the overlapped (variant, op) pairs
        s = np.flatnonzero(ta.staged)
        sel = np.ix_(db, s)
        h = home[db]
        t_first = np.where(h, transfer_time(ta.first_reads[s][None], rl[db], rb[db], pb[db]), 0.0).max(axis=2)
        t_last = np.where(h, transfer_time(ta.last_writes[s][None], wl[db], wb[db], pb[db]), 0.0).max(axis=2)
        t_home = np.where(h, t_read[sel] + t_write[sel], 0.0).max(axis=2)
        t_stream[sel] = np.maximum(t_home - t_first - t_last, t_stream[sel])
        t_fetch[sel], t_store[sel] = t_first, t_last
    empty = np.zeros((0,) * 3)
    if split:   # an overlapped op streams its parameters during its own compute: nothing to prefetch
        P = np.where(overlap[:, :, None], 0.0, ta.param_reads[None])
        t_param, t_rest = transfer_time(P, rl, rb, pb), transfer_time(R - P, rl, rb, pb)
    else:
        P = t_param = t_rest = empty
    return OpCosts(
        e_read=R * read_J[:, None, :], e_write=W * write_J[:, None, :], read_J=read_J,
        e_link=(R + W) * pp.path_J[:, None, :],
        e_unit=unit_energy(ta, pp, op_point), kinds=pp.kinds,
        t_read=t_read, t_write=t_write, t_fetch=t_fetch, t_compute=t_compute, t_stream=t_stream,
        t_store=t_store, t_param=t_param, t_rest=t_rest, overlap=overlap, param_reads=P)


@dataclass
class SwitchCosts:
    """One task switch for V variants: each (backing → home) copy in order. Energies J, times s."""
    pairs: tuple[tuple[str, str, float], ...]  #: (backing, home, bytes)
    e_src: np.ndarray    #: (V, K) read energy in the backing store
    e_dst: np.ndarray    #: (V, K) write energy in the home
    e_link: np.ndarray   #: (V, K) energy on the link(s) between them
    links: tuple[tuple[str, ...], ...]   #: link names of each copy (the ledger charges each its own J/byte)
    t: np.ndarray        #: (V, K) time of each copy

    @property
    def energy(self) -> np.ndarray:
        """(V,) total energy of the switch (J)."""
        return (self.e_src + self.e_dst + self.e_link).sum(axis=1)

    @property
    def time(self) -> np.ndarray:
        """(V,) total time of the switch (s): the copies run one after another."""
        return self.t.sum(axis=1)


def switch_costs(prepared: Prepared, ta: TaskArrays, pp: PlatformParams) -> SwitchCosts:
    """What loading task ``ta``'s switch sets costs on each variant."""
    platform = prepared.platform
    V, K = pp.n_variants, len(ta.switch_loads)
    e_src, e_dst, e_link, t = (np.zeros((V, K)) for _ in range(4))
    links = []
    for k, (src, dst, b) in enumerate(ta.switch_loads):
        i, j = prepared.memory_index(src), prepared.memory_index(dst)
        link = platform.link_between(src, dst)
        path = (link.name,) if link is not None else tuple(dict.fromkeys(
            prepared.link_paths[src] + prepared.link_paths[dst]))
        li = [pp.links.index(n) for n in path]
        bw = pp.link_bw[:, li].min(axis=1, initial=np.inf)
        b = np.array(b)
        e_src[:, k] = b * pp.read_J[:, i]
        e_dst[:, k] = b * pp.write_J[:, j]
        e_link[:, k] = b * pp.link_J[:, li].sum(axis=1)
        t[:, k] = np.maximum(transfer_time(b, pp.read_lat[:, i], pp.read_bw[:, i], bw),
                             transfer_time(b, pp.write_lat[:, j], pp.write_bw[:, j], bw))
        links.append(path)
    return SwitchCosts(ta.switch_loads, e_src, e_dst, e_link, tuple(links), t)


# ------------------------------------------------------------------------------------------ leakage
def busy_power(pp: PlatformParams, op_point: int) -> np.ndarray:
    """(V, M + U) leakage power (W) of each memory and compute unit while serving a request at
    ``op_point`` (memories in the voltage domain follow its leakage law)."""
    return np.concatenate([pp.leak_W * pp.mem_leak[:, op_point, :], pp.unit_leak_W[:, op_point, :]], axis=1)


def idle_power(pp: PlatformParams) -> np.ndarray:
    """(V, M + U) power (W) of each memory and compute unit between requests."""
    return np.concatenate([pp.idle_W, pp.unit_idle_W], axis=1)


@dataclass
class Timeline:
    """Request service intervals and the leakage they imply, for one variant.

    ``busy_J``: (requests, M + U) leakage energy (J) charged to each request per component (overlapping
    requests share the time equally). ``idle``: (k, 2) idle intervals (s); ``idle_J``: (k, M + U)."""
    busy_J: np.ndarray
    idle: np.ndarray
    idle_J: np.ndarray

    @property
    def total(self) -> float:
        """All leakage energy of the run (J)."""
        return float(self.busy_J.sum() + self.idle_J.sum())


def leakage(pp: PlatformParams, v: int, start: np.ndarray, end: np.ndarray, op_points: np.ndarray,
            t0: float, transfers: dict[int, np.ndarray] | None = None) -> Timeline:
    """Leakage of variant ``v`` over the run ``[t0, max(end)]``, given each request's service interval
    ``[start, end]`` (s) and operating point index. Time covered by no request is idle; requests in
    service together share each moment equally (a sweep over the interval bounds, O(n log n)).
    ``transfers``: memory index -> (k, 2) transfer intervals (s) of each DRAM that powers down between
    its own transfers (``PlatformParams.pd_inside``; :func:`simulator.cost.power_states.run_transfers`):
    its power-down time inside each request is charged at ``pd_W`` and each exit at ``pd_exit_J``."""
    C = pp.leak_W.shape[1] + len(pp.units)
    busy_p = np.stack([busy_power(pp, int(o))[v] for o in op_points]) if len(op_points) else np.zeros((0, C))
    bounds = np.unique(np.concatenate([[t0], start, end]))
    si, ei = np.searchsorted(bounds, start), np.searchsorted(bounds, end)
    diff = np.zeros(len(bounds))
    np.add.at(diff, si, 1.0)
    np.add.at(diff, ei, -1.0)
    count = np.cumsum(diff)[:-1]                       # requests in service during each segment
    dt = np.diff(bounds)
    per_request = np.where(count > 0, dt / np.maximum(count, 1.0), 0.0)
    cum = np.concatenate([[0.0], np.cumsum(per_request)])
    busy_time = cum[ei] - cum[si]                      # each request's share of the busy time (s)
    if count.max(initial=0.0) <= 1:                    # no overlap: exact, without cumulative rounding
        busy_time = end - start
    idle_mask = count == 0
    idle = np.stack([bounds[:-1][idle_mask], bounds[1:][idle_mask]], axis=1)
    busy_J = busy_time[:, None] * busy_p
    if transfers and len(start):
        _power_down(pp, v, busy_J, busy_p, start, end, bounds, count, transfers)
    return Timeline(busy_J, idle, gap_energy(pp, v, idle[:, 1] - idle[:, 0]))


def _power_down(pp: PlatformParams, v: int, busy_J: np.ndarray, busy_p: np.ndarray, start: np.ndarray,
                end: np.ndarray, bounds: np.ndarray, count: np.ndarray, transfers: dict[int, np.ndarray]) -> None:
    """Charge each power-down DRAM's time in power-down inside the requests at ``pd_W`` instead of its busy
    power, and each exit at ``pd_exit_J`` (in ``busy_J``, per request). The busy periods are the requests'
    own service intervals when none overlap (each request alone, as replay and the closed form see it),
    else the merged busy time; power-down time is shared like leakage (equally among the requests in
    service), an exit goes to the latest-started request in service at it."""
    if count.max(initial=0.0) <= 1:
        order = np.argsort(start, kind="stable")
        periods = np.stack([start[order], end[order]], axis=1)
    else:
        busy = count > 0
        first = np.flatnonzero(busy & ~np.concatenate([[False], busy[:-1]]))
        last = np.flatnonzero(busy & ~np.concatenate([busy[1:], [False]]))
        periods = np.stack([bounds[:-1][first], bounds[1:][last]], axis=1)
    by_start = np.argsort(start, kind="stable")
    for m, intervals in transfers.items():
        if not pp.pd_inside[v, m]:
            continue
        pd, exits = power_states.power_down_intervals(periods, intervals, float(pp.pd_break_even_s[v, m]))
        edges = np.unique(np.concatenate([bounds, pd.ravel()]))
        si, ei = np.searchsorted(edges, start), np.searchsorted(edges, end)
        diff = np.zeros(len(edges))
        np.add.at(diff, si, 1.0)
        np.add.at(diff, ei, -1.0)
        n_in = np.cumsum(diff)[:-1]
        mid = (edges[:-1] + edges[1:]) / 2
        j = np.searchsorted(pd[:, 0], mid, side="right") - 1
        down = (j >= 0) & (mid < pd[np.maximum(j, 0), 1]) if len(pd) else np.zeros(len(mid), dtype=bool)
        share = np.where(down & (n_in > 0), np.diff(edges) / np.maximum(n_in, 1.0), 0.0)
        cum = np.concatenate([[0.0], np.cumsum(share)])
        pd_time = cum[ei] - cum[si]
        owner = by_start[np.searchsorted(start[by_start], exits, side="right") - 1] if len(exits) else []
        n_exits = np.bincount(np.asarray(owner, dtype=int), minlength=len(start)).astype(float)
        busy_J[:, m] += -pd_time * (busy_p[:, m] - pp.pd_W[v, m]) + n_exits * pp.pd_exit_J[v, m]


def gap_energy(pp: PlatformParams, v: int, gaps: np.ndarray) -> np.ndarray:
    """(k, M + U) energy (J) of each component of variant ``v`` over idle gaps of ``gaps`` (k,) s: each
    sleeps only in a gap longer than its break-even time (:func:`simulator.cost.power_states.idle_energy`)."""
    gaps = np.asarray(gaps, dtype=float)
    asleep = power_states.asleep_in_gaps(pp, v, gaps)
    return np.where(asleep, pp.low_W[v][None, :], pp.on_W[v][None, :]) * gaps[:, None]


# ------------------------------------------------------------------------------------------ bounds
def lower_bound(prepared: Prepared, pp: PlatformParams | None = None) -> dict[str, np.ndarray]:
    """A floor on the energy of one inference per task (J), per variant: each action the ops cost on their
    units × that action's cheapest energy over operating points (on a MAC array + vector unit platform:
    MACs × the cheapest MAC energy + other ops × the cheapest vector-op energy) + compulsory bytes (every
    operand read and written once) × the cheapest energy per byte of any memory access. Request variants
    made so far (``Prepared.variants``: early exits, ``<task>@exit<k>``) get their own floor."""
    pp = pp if pp is not None else platform_params([prepared.platform], prepared.memories)
    cheapest = pp.action_J.min(axis=1)                                # (V, A) over operating points
    dyn = pp.mem_dyn.min(axis=1)                                      # (V, M) over operating points
    byte = np.minimum((pp.read_J * dyn).min(axis=1), (pp.write_J * dyn).min(axis=1))
    out = {}
    for task, ta in {**prepared.tasks, **prepared.variants}.items():
        per_action = ta.counts.sum(axis=0)                            # (A,)
        compute = np.zeros(pp.n_variants)
        for u in _energy_order(len(pp.units), pp.kinds):
            for c, (cu, _a) in enumerate(pp.actions):
                if cu == u and per_action[c]:
                    compute = compute + per_action[c] * cheapest[:, c]
        out[task] = compute + ta.compulsory_bytes.sum() * byte
    return out


# ------------------------------------------------------------------------------------------ one platform
class CostTables:
    """The costs of one platform (variant 0 of ``pp``) computed on demand and cached per task and
    operating point: what the engine and the evaluator look up per request."""

    def __init__(self, prepared: Prepared, platform=None, *, split: bool = False, workload=None):
        self.prepared = prepared
        self.platform = platform if platform is not None else prepared.platform
        if set(self.platform.memories) != set(prepared.memories):
            raise SimulationConfigError(
                f"platform {self.platform.name}: memories {', '.join(self.platform.memories)} differ from the "
                f"prepared platform's ({', '.join(prepared.memories)}); expected prepare() on this platform")
        missing = [t for t in (workload.stream.tasks if workload is not None else []) if t not in prepared.tasks]
        if missing:
            raise SimulationConfigError(
                f"scenario.tasks: {', '.join(missing)} not in the prepared workload; expected prepare() on "
                "this workload")
        self.pp = platform_params([self.platform], prepared.memories)
        self.split = split
        self._ops: dict[tuple[str, int], OpCosts] = {}
        self._switch: dict[str, SwitchCosts] = {}

    def ops(self, task: str, op_point: int) -> OpCosts:
        """OpCosts (V = 1) of ``task`` (or a request variant's key, ``Request.key``) at operating point
        index ``op_point``."""
        key = (task, op_point)
        if key not in self._ops:
            self._ops[key] = op_costs(self.prepared.arrays(task), self.pp, op_point, split=self.split)
        return self._ops[key]

    def switch(self, task: str) -> SwitchCosts:
        """SwitchCosts (V = 1) of a switch to ``task``."""
        if task not in self._switch:
            self._switch[task] = switch_costs(self.prepared, self.prepared.tasks[task], self.pp)
        return self._switch[task]

    @property
    def wakes(self) -> bool:
        """True when a request after a long enough idle period must wake some memory or compute unit."""
        return bool(self.pp.sleeps[0].any())
