"""Deterministic builders for tests of hetsim and of your own cost models (no hypothesis needed).

Synthetic pieces (round numbers, not hardware claims): :func:`make_memory`, :func:`make_platform`,
:func:`make_trace`, :func:`make_workload`. Pieces around *your* hardware: :func:`platform_around` (a small
platform whose parameters live in your memory or technology), :func:`with_technology` (a bundled platform
with one memory rebuilt from your technology), :func:`with_memory`. Metamorphic transformations used by
the invariant catalogue: :func:`all_memories_faster`, :func:`with_clock`, :func:`rename_memories`,
:func:`rename_tensors`. Figures in SI units unless a parameter name says otherwise (pJ, ns, mW).
"""
from __future__ import annotations

import copy
import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hw_models.cim import array_name
from hw_models.compute import MacArray, VectorUnit
from hw_models.dvfs import OperatingPoint
from hw_models.link import COMPUTE, Link
from hw_models.memory import Memory
from hw_models.placement_policy import PlacementPolicy
from hw_models.platform import Platform
from hw_models.technology import Technology, load_technology
from hw_models.vocabulary import PARAMETER_ROLES, ROLES
from simulator.prepare import streams
from simulator.prepare.served_workload import Workload
from workloads.trace import OpInfo, TensorInfo, Trace

# ------------------------------------------------------------------------------------------ builders
#: The memories of :func:`make_platform`: name -> (kind, volatile, is_dram). Synthetic figures.
MEMORY_KINDS = {"sram": (False, True, False), "nvm": (False, False, False), "dram": (False, True, True)}


def make_memory(name: str, *, capacity_bytes: int = 1 << 24, read_pJ: float = 1.0, write_pJ: float = 2.0,
                read_ns: float = 1.0, write_ns: float = 2.0, leakage_mW: float = 1.0, word_bits: int = 64,
                banks: int = 1, volatile: bool = True, is_dram: bool = False, backed_by: str | None = None,
                endurance: float = math.inf, wakeup_ns: float = 10.0, wakeup_pJ: float = 5.0,
                gated_fraction: float = 0.1) -> Memory:
    """A :class:`hw_models.memory.Memory` from round numbers (pJ per access, ns, mW; converted to SI)."""
    leak = leakage_mW * 1e-3
    return Memory(name=name, technology=f"synthetic-{name}", capacity_bytes=int(capacity_bytes),
                  word_bits=word_bits, read_energy_per_access_J=read_pJ * 1e-12,
                  write_energy_per_access_J=write_pJ * 1e-12, read_latency_s=read_ns * 1e-9,
                  write_latency_s=write_ns * 1e-9, leakage_W=leak, area_m2=1e-6, banks=banks,
                  volatile=volatile, is_dram=is_dram, backed_by=backed_by, endurance_writes=endurance,
                  retention_s=0.0 if volatile else 3e8, wakeup_latency_s=wakeup_ns * 1e-9,
                  wakeup_energy_J=wakeup_pJ * 1e-12, gated_leakage_W=leak * gated_fraction,
                  refresh_power_W=leak * 0.5 if is_dram else 0.0)


def make_platform(name: str = "synthetic", memories: dict[str, Memory] | None = None, *,
                  roles: dict[str, list[str]] | None = None, adapters: str = "resident",
                  on_overflow: str = "next", power_gating: bool = False, prefetch_depth: int = 0,
                  rows: int = 8, cols: int = 8, clock_hz: float = 1e9, link_pJ_per_bit: float = 0.1,
                  link_width_bits: int = 128, op_points: dict[str, tuple[float, float]] | None = None
                  ) -> Platform:
    """A platform of ``memories`` (default: an SRAM backed by a DRAM and an NVM), each linked directly
    to compute, with a ``rows``×``cols`` MAC array, a 16-lane vector unit and the given policy.
    ``op_points``: name -> (voltage V, frequency Hz); the first is the default (nominal 0.8 V)."""
    if memories is None:
        memories = {"sram": make_memory("sram", capacity_bytes=1 << 20, backed_by="dram"),
                    "nvm": make_memory("nvm", volatile=False, read_pJ=2.0, write_pJ=40.0, write_ns=20.0,
                                       leakage_mW=0.1, endurance=1e8),
                    "dram": make_memory("dram", capacity_bytes=1 << 30, read_pJ=500.0, write_pJ=500.0,
                                        read_ns=50.0, write_ns=50.0, leakage_mW=20.0, is_dram=True)}
    names = list(memories)
    if roles is None:
        roles = {role: names for role in ROLES}
    op_points = op_points or {"nominal": (0.8, clock_hz)}
    points = {n: OperatingPoint(n, v, f, nominal_voltage_V=0.8) for n, (v, f) in op_points.items()}
    return Platform(
        name=name, memories=memories,
        mac_array=MacArray(rows=rows, cols=cols, clock_hz=clock_hz),
        vector_unit=VectorUnit(lanes=16, clock_hz=clock_hz),
        links=[Link(m, "compute", link_width_bits, clock_hz, link_pJ_per_bit * 1e-12) for m in names],
        placement=PlacementPolicy(roles=roles, on_overflow=on_overflow, adapters=adapters,
                                  power_gating=power_gating),
        operating_points=points, default_operating_point=next(iter(points)), prefetch_depth=prefetch_depth)


def make_trace(task: str | None = "t0", *, layers: int = 2, seq: int = 8, hidden: int = 16,
               bottleneck: int = 4, vocab: int = 64, weight_bits: int = 8, act_bits: int = 16,
               adapter_per_layer: bool = True, weight_update: bool | int = False) -> Trace:
    """A small adapter-transformer-like trace: an embedding lookup, then per layer a shared projection
    (matmul), a task-owned bottleneck adapter (down matmul, elementwise, up matmul), a residual add and a
    norm, then a task-owned head. Shared tensors have the same names for every task; task-owned ones
    contain the task name. Element counts are exact, so bytes follow from bits. ``weight_update``: after
    the head, an op rewrites the shared projection weight in place (a low-rank update at inference, as in
    ProSG): a parameter written while serving; an integer gives that many such ops."""
    owner = task or "shared"
    tensors: dict[int, TensorInfo] = {}
    ops: list[OpInfo] = []

    def tensor(name, role, shape, bits, own="shared"):
        tid = len(tensors)
        tensors[tid] = TensorInfo(tid, name, role, tuple(shape), int(np.prod(shape)), bits, owner=own)
        return tid

    producer: dict[int, int] = {}

    def op(module, layer, kind, reads, writes, macs=0, other=0, gemm=None):
        oid = len(ops)
        deps = tuple(sorted({producer[t] for t in reads if t in producer}))
        operands = (*list(reads)[:2], *list(writes)[:1]) if kind == "matmul" else None  # (A, W, O) as traced
        ops.append(OpInfo(oid, module, layer, f"aten.{kind}", kind, int(macs), int(other), dict(reads),
                          dict(writes), deps, gemm, operands=operands))
        for t in writes:
            producer[t] = oid
        return oid

    ids = tensor("input_ids", "input", (seq,), 32)
    emb = tensor("embeddings.word", "embedding", (vocab, hidden), weight_bits)
    x = tensor("embeddings#0", "activation", (seq, hidden), act_bits)
    op("embeddings#0", "embeddings", "embedding_lookup", {ids: seq, emb: seq * hidden}, {x: seq * hidden})
    proj = tensor("layer.proj.weight", "weight", (hidden, hidden), weight_bits)
    shared_down = None if adapter_per_layer else tensor(f"adapter.{owner}.down", "adapter",
                                                        (hidden, bottleneck), weight_bits, owner)
    shared_up = None if adapter_per_layer else tensor(f"adapter.{owner}.up", "adapter",
                                                      (bottleneck, hidden), weight_bits, owner)
    for L in range(layers):
        lay = f"layer#{L}"
        h = tensor(f"{lay}.proj", "activation", (seq, hidden), act_bits)
        op(f"{lay}.proj", lay, "matmul", {x: seq * hidden, proj: hidden * hidden}, {h: seq * hidden},
           macs=seq * hidden * hidden, gemm=(1, seq, hidden, hidden))
        down = shared_down if shared_down is not None else tensor(
            f"layer{L}.adapter.{owner}.down", "adapter", (hidden, bottleneck), weight_bits, owner)
        up = shared_up if shared_up is not None else tensor(
            f"layer{L}.adapter.{owner}.up", "adapter", (bottleneck, hidden), weight_bits, owner)
        a = tensor(f"{lay}.adapter.{owner}.down", "activation", (seq, bottleneck), act_bits)
        op(f"{lay}.adapter.down", lay, "matmul", {h: seq * hidden, down: hidden * bottleneck},
           {a: seq * bottleneck}, macs=seq * hidden * bottleneck, gemm=(1, seq, hidden, bottleneck))
        g = tensor(f"{lay}.adapter.{owner}.act", "activation", (seq, bottleneck), act_bits)
        op(f"{lay}.adapter.act", lay, "elementwise", {a: seq * bottleneck}, {g: seq * bottleneck},
           other=seq * bottleneck)
        u = tensor(f"{lay}.adapter.{owner}.up", "activation", (seq, hidden), act_bits)
        op(f"{lay}.adapter.up", lay, "matmul", {g: seq * bottleneck, up: bottleneck * hidden},
           {u: seq * hidden}, macs=seq * bottleneck * hidden, gemm=(1, seq, bottleneck, hidden))
        r = tensor(f"{lay}.residual", "activation", (seq, hidden), act_bits)
        op(f"{lay}.residual", lay, "elementwise", {u: seq * hidden, h: seq * hidden}, {r: seq * hidden},
           other=seq * hidden)
        x = tensor(f"{lay}.norm", "activation", (seq, hidden), act_bits)
        op(f"{lay}.norm", lay, "norm", {r: seq * hidden}, {x: seq * hidden}, other=4 * seq * hidden)
    head = tensor(f"head.{owner}.weight", "weight", (hidden, 2), weight_bits, owner)
    out = tensor("head.out", "output", (seq, 2), act_bits)
    op("head", "head", "matmul", {x: seq * hidden, head: 2 * hidden}, {out: seq * 2}, macs=seq * hidden * 2,
       gemm=(1, seq, hidden, 2))
    for _ in range(int(weight_update)):
        op("update.proj", "update", "elementwise", {proj: hidden * hidden}, {proj: hidden * hidden},
           other=hidden * hidden)
    return Trace("synthetic-adapter", task, tensors, ops, {"seq": seq, "hidden": hidden})


def make_workload(tasks: list[str] | tuple[str, ...] = ("t0", "t1"), stream: streams.RequestStream | None = None,
                  **trace_kwargs) -> Workload:
    """A workload of :func:`make_trace` per task (same backbone) with ``stream`` (default: round robin,
    4 requests, one every 10 µs)."""
    traces = {t: make_trace(t, **trace_kwargs) for t in tasks}
    stream = stream or streams.round_robin(list(tasks), 4, 10e-6)
    return Workload("synthetic", traces, stream)


def with_memory(platform: Platform, name: str, **changes) -> Platform:
    """A copy of ``platform`` with memory ``name``'s fields changed (e.g. ``read_latency_s``)."""
    memories = dict(platform.memories)
    memories[name] = replace(memories[name], **changes)
    return replace(platform, memories=memories)




def all_memories_faster(platform: Platform, factor: float) -> Any:
    """``platform`` with every memory's latencies divided by ``factor`` (bandwidth follows latency)."""
    out = platform
    for name, m in platform.memories.items():
        out = with_memory(out, name, read_latency_s=m.read_latency_s / factor,
                          write_latency_s=m.write_latency_s / factor)
    return out


def with_two_macs(platform: Platform, second: MacArray | None = None) -> Platform:
    """``platform`` with its MAC array as ``mac0`` and a second one, ``mac1`` (equal to the first unless
    ``second`` is given), beside its vector unit."""
    mac = platform.mac_array
    return replace(platform, compute={"vector_unit": platform.vector_unit, "mac0": mac,
                                      "mac1": second or replace(mac)})


def with_clock(platform: Platform, factor: float) -> Platform:
    """``platform`` with every operating point's frequency (and so the MAC array's and vector unit's clock)
    multiplied by ``factor`` at the same voltage (every compute unit's clock with it); memories and links keep
    their own clocks."""
    points = {n: replace(op, frequency_Hz=op.frequency_Hz * factor) for n, op in platform.operating_points.items()}
    units = {n: replace(u, clock_hz=u.clock_hz * factor) for n, u in platform.compute.items()}
    return replace(platform, operating_points=points, compute=units)


def rename_memories(platform: Platform, rename: Callable[[str], str] | dict[str, str]) -> Platform:
    """``platform`` with its memories renamed (a function or a mapping old -> new, a bijection) everywhere a
    name appears: the memories themselves, ``backed_by``, links and the placement's role lists. A compute
    unit's own cells (a CiM crossbar's ``<unit>.array``) keep their name: it is the unit's."""
    f = rename.get if isinstance(rename, dict) else rename
    owned = {array_name(u) for u in platform.compute}
    new = {n: n if n in owned else (f(n) or n) for n in platform.memories}
    if len(set(new.values())) != len(new):
        raise ValueError(f"rename_memories: {new} is not one-to-one")
    end = lambda n: n if n == COMPUTE else new[n]  # noqa: E731
    memories = {new[n]: replace(m, name=new[n], backed_by=new[m.backed_by] if m.backed_by else None)
                for n, m in platform.memories.items()}
    links = [Link(end(li.src), end(li.dst), li.width_bits, li.clock_hz, li.energy_per_bit_J) for li in platform.links]
    pol = platform.placement
    placement = replace(pol, roles={r: [new[m] for m in ms] for r, ms in pol.roles.items()})
    domain = platform.voltage_domain
    if domain is not None:
        domain = {**domain, "memories": [new[m] for m in domain.get("memories", ())]}
    return replace(platform, memories=memories, links=links, placement=placement, voltage_domain=domain)


def rename_tensors(workload: Workload, rename: Callable[[str], str]) -> Workload:
    """``workload`` with every tensor renamed by ``rename`` (applied alike in every task's trace, so
    tensors shared by name stay shared: ``rename`` must be one-to-one)."""
    traces = {}
    for task, tr in workload.traces.items():
        tensors = {tid: replace(t, name=rename(t.name)) for tid, t in tr.tensors.items()}
        traces[task] = Trace(tr.model, tr.task, tensors, tr.ops, dict(tr.meta))
    return Workload(workload.name, traces, workload.stream, dict(getattr(workload, "meta", {}) or {}))


def as_technology(technology: str | Path | Technology) -> Technology:
    """A :class:`~hw_models.technology.Technology` from a bundled name, a path to a technology YAML file
    (yours) or a Technology object."""
    if isinstance(technology, Technology):
        return technology
    return load_technology(str(technology))


def with_technology(platform: Platform, memory: str, technology: str | Path | Technology, *,
                    model: Callable[..., Any] = Memory.from_technology) -> Platform:
    """``platform`` with memory ``memory`` rebuilt from ``technology`` (a bundled name, your YAML file or
    a Technology object) at the same capacity, word width, banks, ports, node, clock and role: the way
    to drop your technology into a bundled platform (``with_technology(load_platform("edge-rram"),
    "backbone", "./sot-mram.yaml")``). ``model`` builds the memory (default :meth:`Memory.from_technology`;
    pass your own cost model's factory with the same signature)."""
    old = platform.memories[memory]
    tech = as_technology(technology)
    kwargs = dict(word_bits=old.word_bits, banks=old.banks, ports=old.ports, node_m=platform.node_m,
                  backed_by=old.backed_by, is_buffer=old.is_buffer, double_buffered=old.double_buffered)
    if not tech.is_dram:
        kwargs["clock_hz"] = old.clock_hz
    return with_memory_object(platform, model(memory, tech, old.capacity_bytes, **kwargs))


def with_memory_object(platform: Platform, memory: Any) -> Platform:
    """``platform`` with ``memory`` (any object behind the memory cost protocol) in place of the memory
    of the same name."""
    memories = dict(platform.memories)
    memories[memory.name] = memory
    return replace(platform, memories=memories)


def platform_around(memory: Any = None, *, technology: str | Path | Technology | None = None,
                    capacity_bytes: int = 16 << 20, roles: tuple[str, ...] = PARAMETER_ROLES,
                    power_gating: bool = True, adapters: str = "load_on_switch", node_m: float = 22e-9,
                    clock_hz: float = 1e9, model: Callable[..., Any] = Memory.from_technology) -> Platform:
    """A small platform built around *your* memory: ``memory`` (an object behind the memory cost
    protocol, named anything) or one built from ``technology`` at ``capacity_bytes``. It is the home of
    ``roles`` (the parameters by default), backed by an LPDDR4 DRAM; activations, inputs and outputs live
    in a 1 MiB SRAM (``sram-lstp``); a 64 KiB double-buffered ``sram-lstp`` staging buffer feeds a 16×16
    MAC array; every memory links to the buffer and to compute (64 bits at ``clock_hz``, 0.1 pJ/bit).
    Adapters load on a task switch and memories are power-gated between requests unless told otherwise,
    so switch loads, wake-ups and idle states are all exercised."""
    if memory is None:
        if technology is None:
            raise ValueError("platform_around: give a memory or a technology")
        memory = model("mine", as_technology(technology), capacity_bytes, word_bits=64, banks=1,
                       node_m=node_m, backed_by="dram")
    name = memory.name
    sram = Memory.from_technology("sram", "sram-lstp", 1 << 20, word_bits=64, node_m=node_m)
    buf = Memory.from_technology("buffer", "sram-lstp", 64 << 10, word_bits=128, node_m=node_m, is_buffer=True,
                                 double_buffered=True)
    dram = Memory.from_technology("dram", "lpddr4", 1 << 30)
    if getattr(memory, "backed_by", None) is None:     # adapters reload from DRAM on a switch
        memory = copy.copy(memory)
        memory.backed_by = "dram"
    memories = {name: memory, "sram": sram, "dram": dram, "buffer": buf}
    links = [Link("buffer", COMPUTE, 256, clock_hz, 0.1e-12)]
    for m in (name, "sram", "dram"):
        links += [Link(m, "buffer", 64, clock_hz, 0.1e-12), Link(m, COMPUTE, 64, clock_hz, 0.1e-12)]
    homes = [name, "sram", "dram"]
    role_map = {r: ([name] + [h for h in homes if h != name]) if r in roles else ["sram", name, "dram"]
                for r in ROLES}
    points = {"nominal": OperatingPoint("nominal", 0.8, clock_hz, 0.8),
              "low": OperatingPoint("low", 0.6, clock_hz / 2, 0.8)}
    return Platform(name=f"around-{name}", memories=memories,
                    mac_array=MacArray(rows=16, cols=16, clock_hz=clock_hz, node_m=node_m),
                    vector_unit=VectorUnit(lanes=16, clock_hz=clock_hz, node_m=node_m), links=links,
                    placement=PlacementPolicy(roles=role_map, adapters=adapters, power_gating=power_gating),
                    operating_points=points, default_operating_point="nominal", node_m=node_m)
