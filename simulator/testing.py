"""Public hypothesis strategies and invariant checks for hetsim's cost models and engine.

Use them to test your own technology, platform or cost model the way hetsim tests its own::

    from hypothesis import given
    from simulator import testing as ht
    from simulator.engine.discrete_event import simulate

    @given(ht.scenarios())
    def test_my_platform_keeps_the_invariants(scenario):
        workload, platform = scenario
        run = simulate(workload, platform)
        ht.check_run(run)          # ledger sums to the total, nothing negative, tables consistent

Builders (deterministic, no hypothesis needed): :func:`make_platform`, :func:`make_trace`,
:func:`make_workload`. Strategies: :func:`memories`, :func:`platforms`, :func:`traces`,
:func:`request_streams`, :func:`workloads`, :func:`scenarios`. Checks: :func:`check_ledger_sums`,
:func:`check_non_negative`, :func:`check_requests`, :func:`check_run`, :func:`check_same_run`,
:func:`check_idle_leakage`, :func:`check_memory_costs` (for a memory model of your own). Every figure
here is synthetic (for tests), not a hardware claim: these strategies draw arbitrary figures to stress the
simulator, whereas :mod:`hw_models.strategies` draws memories of the technology library (its scaling laws
at random capacities, widths and nodes) to test the hardware models.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from hw_models.compute import MacArray, VectorUnit
from hw_models.dvfs import OperatingPoint
from hw_models.link import Link
from hw_models.memory import Memory
from hw_models.placement_policy import PlacementPolicy
from hw_models.platform import Platform
from hw_models.vocabulary import ADAPTER_MODES, ROLES
from simulator.prepare import streams
from simulator.results.run_output import LEDGER_COLUMNS, REQUEST_COLUMNS, RunOutput
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
        roles = {"weight": names, "embedding": names, "adapter": names, "activation": names,
                 "input": names, "output": names, "kv_cache": names, "state": names}
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
               adapter_per_layer: bool = True) -> Trace:
    """A small adapter-transformer-like trace: an embedding lookup, then per layer a shared projection
    (matmul), a task-owned bottleneck adapter (down matmul, elementwise, up matmul), a residual add and a
    norm, then a task-owned head. Shared tensors have the same names for every task; task-owned ones
    contain the task name. Element counts are exact, so bytes follow from bits."""
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
        ops.append(OpInfo(oid, module, layer, f"aten.{kind}", kind, int(macs), int(other), dict(reads),
                          dict(writes), deps, gemm))
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


# ------------------------------------------------------------------------------------------ strategies
def memories(name: str, *, volatile: bool = True, is_dram: bool = False, capacity_bytes: int = 1 << 24,
             backed_by: str | None = None) -> st.SearchStrategy[Memory]:
    """A memory with random (plausible, positive) energies, latencies, word width, banks and leakage."""
    return st.builds(
        make_memory, st.just(name), capacity_bytes=st.just(capacity_bytes),
        read_pJ=st.floats(0.1, 600.0), write_pJ=st.floats(0.1, 600.0), read_ns=st.floats(0.2, 60.0),
        write_ns=st.floats(0.2, 200.0), leakage_mW=st.floats(0.0, 50.0),
        word_bits=st.sampled_from([32, 64, 128, 256]), banks=st.sampled_from([1, 2, 4]),
        volatile=st.just(volatile), is_dram=st.just(is_dram), backed_by=st.just(backed_by),
        wakeup_ns=st.floats(0.0, 100.0), wakeup_pJ=st.floats(0.0, 100.0), gated_fraction=st.floats(0.0, 1.0))


@st.composite
def platforms(draw, *, adapters: str | None = None, power_gating: bool | None = None,
              prefetch_depth: int | None = None, buffer: str | None = None) -> Platform:
    """A platform with an SRAM (backed by DRAM), an NVM and a DRAM of random figures, random role
    preferences, adapter mode, power gating, prefetch depth, MAC array shape and operating points.
    Capacities are large: placement always succeeds. ``buffer`` (``"none"``, ``"single"``, ``"double"``;
    default random): a staging buffer ``buf`` of 64 B to 64 KiB (small: the mapping must tile), single- or
    double-buffered, that no role may use as a home."""
    mems = {"sram": draw(memories("sram", backed_by="dram")),
            "nvm": draw(memories("nvm", volatile=False)),
            "dram": draw(memories("dram", is_dram=True, capacity_bytes=1 << 30))}
    perm = st.permutations(list(mems))
    kind = buffer or draw(st.sampled_from(["none", "single", "double"]))
    if kind != "none":
        buf = draw(memories("buf", capacity_bytes=draw(st.sampled_from([64, 512, 4096, 65536]))))
        mems["buf"] = replace(buf, is_buffer=True, double_buffered=kind == "double")
    roles = {role: draw(perm) for role in ROLES}
    freq = draw(st.floats(2e8, 2e9))
    points = {"nominal": (0.8, freq)}
    if draw(st.booleans()):
        points["low"] = (draw(st.floats(0.5, 0.8)), freq * draw(st.floats(0.2, 1.0)))
    return make_platform(
        "random", mems, roles=roles,
        adapters=adapters or draw(st.sampled_from(ADAPTER_MODES)),
        power_gating=draw(st.booleans()) if power_gating is None else power_gating,
        prefetch_depth=draw(st.integers(0, 3)) if prefetch_depth is None else prefetch_depth,
        rows=draw(st.sampled_from([4, 8, 16])), cols=draw(st.sampled_from([4, 8, 16])), clock_hz=freq,
        link_pJ_per_bit=draw(st.floats(0.0, 2.0)), link_width_bits=draw(st.sampled_from([32, 64, 256])),
        op_points=points)


def traces(task: str = "t0") -> st.SearchStrategy[Trace]:
    """A :func:`make_trace` of random depth, sizes and bit widths."""
    return st.builds(make_trace, st.just(task), layers=st.integers(1, 3), seq=st.integers(1, 16),
                     hidden=st.integers(2, 32), bottleneck=st.integers(1, 8), vocab=st.integers(8, 128),
                     weight_bits=st.sampled_from([4, 8, 16]), act_bits=st.sampled_from([8, 16, 32]),
                     adapter_per_layer=st.booleans())


@st.composite
def request_streams(draw, tasks: list[str], *, max_requests: int = 6) -> streams.RequestStream:
    """A fixed, round-robin or Poisson stream over ``tasks`` (periods and rates from µs to ms)."""
    kind = draw(st.sampled_from(["fixed", "round_robin", "poisson"]))
    n = draw(st.integers(1, max_requests))
    if kind == "fixed":
        return streams.fixed(draw(st.lists(st.sampled_from(tasks), min_size=n, max_size=n)),
                             draw(st.floats(0.0, 1e-3)))
    if kind == "round_robin":
        return streams.round_robin(tasks, n, draw(st.floats(0.0, 1e-3)))
    mix = {t: draw(st.floats(0.1, 1.0)) for t in tasks}
    return streams.poisson(mix, n, draw(st.floats(1e2, 1e6)), draw(st.floats(0.0, 1.0)),
                           draw(st.integers(0, 2**31)))


@st.composite
def workloads(draw, *, max_tasks: int = 3, max_requests: int = 6) -> Workload:
    """A multi-task workload: one trace shape for every task (shared backbone, task-owned adapters and
    heads) and a random stream over the tasks."""
    tasks = [f"t{i}" for i in range(draw(st.integers(1, max_tasks)))]
    shape = dict(layers=draw(st.integers(1, 3)), seq=draw(st.integers(1, 16)), hidden=draw(st.integers(2, 32)),
                 bottleneck=draw(st.integers(1, 8)), weight_bits=draw(st.sampled_from([4, 8, 16])),
                 act_bits=draw(st.sampled_from([8, 16, 32])), adapter_per_layer=draw(st.booleans()))
    stream = draw(request_streams(tasks, max_requests=max_requests))
    return Workload("random", {t: make_trace(t, **shape) for t in tasks}, stream)


def scenarios(**platform_kwargs) -> st.SearchStrategy[tuple[Workload, Platform]]:
    """(workload, platform) pairs; ``platform_kwargs`` fix platform choices (see :func:`platforms`)."""
    return st.tuples(workloads(), platforms(**platform_kwargs))


# ------------------------------------------------------------------------------------------ checks
def check_ledger_sums(run: RunOutput, rel: float = 1e-9) -> None:
    """The ledger's energy sums to the run's independently accumulated total, and each request's rows
    sum to its ``energy_J``."""
    total = float(run.ledger["energy_J"].sum())
    expected = float(run.meta["total_energy_J"])
    assert math.isclose(total, expected, rel_tol=rel, abs_tol=1e-30), f"ledger {total} J != total {expected} J"
    per = run.ledger[run.ledger["request"] >= 0].groupby("request")["energy_J"].sum()
    for rid, energy in zip(run.requests["request"], run.requests["energy_J"]):
        assert math.isclose(per.get(rid, 0.0), energy, rel_tol=rel, abs_tol=1e-30), f"request {rid}"


def check_non_negative(run: RunOutput) -> None:
    """No negative (or NaN) energy, bytes, time or duration anywhere."""
    led = run.ledger
    for col in ("energy_J", "bytes", "start_s", "end_s"):
        assert (led[col] >= 0).all(), f"negative or NaN {col}: {led[led[col] < 0].head()}"
    assert (led["end_s"] >= led["start_s"] - 1e-18).all(), "a ledger row ends before it starts"
    for col in ("latency_s", "service_s", "energy_J"):
        assert (run.requests[col] >= 0).all(), f"negative {col} in requests"


def check_requests(run: RunOutput) -> None:
    """The tables have the documented columns; every request was served after it arrived, in its
    interval; every categorical value is known."""
    assert list(run.ledger.columns) == list(LEDGER_COLUMNS)
    assert list(run.requests.columns) == list(REQUEST_COLUMNS)
    req = run.requests
    assert len(req) == len(run.workload.stream)
    assert (req["start_s"] >= req["arrival_s"]).all() and (req["end_s"] >= req["start_s"]).all()
    from simulator.results.run_output import CATEGORIES
    assert set(run.ledger["category"]) <= set(CATEGORIES)


def check_run(run: RunOutput) -> None:
    """All run invariants: :func:`check_requests`, :func:`check_non_negative`, :func:`check_ledger_sums`."""
    check_requests(run)
    check_non_negative(run)
    check_ledger_sums(run)


def check_same_run(a: RunOutput, b: RunOutput) -> None:
    """Two runs produced the same numbers (bit for bit)."""
    pd.testing.assert_frame_equal(a.ledger, b.ledger, check_exact=True)
    pd.testing.assert_frame_equal(a.requests, b.requests, check_exact=True)


def idle_power_W(platform: Platform) -> float:
    """What the platform draws between requests (W): gated memories at their gated power, the others at
    full leakage, compute units off when gating, else at the default operating point's leakage."""
    gating = platform.placement.power_gating
    total = 0.0
    for m in platform.memories.values():
        total += m.gated_leakage_W if gating and (m.is_dram or not m.volatile) else m.leakage_W
    if not gating:
        for unit in platform.compute.values():
            total += unit.leakage_at(platform.operating_point)
    return total


def check_idle_leakage(before: RunOutput, after: RunOutput, extra_idle_s: float, rel: float = 1e-9) -> None:
    """``after`` is ``before`` with ``extra_idle_s`` more idle time (a later arrival after an idle gap):
    its energy is higher by exactly the platform's idle power × that time."""
    expected = idle_power_W(before.platform) * extra_idle_s
    got = after.total_energy_J - before.total_energy_J
    assert math.isclose(got, expected, rel_tol=rel, abs_tol=1e-12 * max(1.0, abs(before.total_energy_J))), \
        f"extra idle energy {got} J != idle power x time {expected} J"


def check_memory_costs(memory: Any, sizes: tuple[float, ...] = (0.0, 1.0, 8.0, 64.0, 4096.0, 1e6, 1e9)) -> None:
    """A memory model's costs are sane: nothing for 0 bytes, never negative, never less for more bytes
    (read and write energy and time), and leakage, gated leakage and wake-up cost are non-negative."""
    for fn in (memory.read_energy, memory.write_energy, memory.read_time, memory.write_time):
        values = [fn(b) for b in sizes]
        if sizes[0] == 0:
            assert values[0] == 0, f"{fn.__name__}(0) = {values[0]}, expected 0"
        assert all(v >= 0 for v in values), f"{fn.__name__} is negative: {values}"
        assert all(b >= a for a, b in zip(values, values[1:])), f"{fn.__name__} decreases with bytes: {values}"
    for name in ("leakage_W", "gated_leakage_W", "wakeup_energy_J", "wakeup_latency_s"):
        assert getattr(memory, name) >= 0, f"{name} = {getattr(memory, name)}"
    assert memory.gated_leakage_W <= memory.leakage_W, "the gated (or self-refresh) state leaks more"


def all_memories_faster(platform: Platform, factor: float) -> Any:
    """``platform`` with every memory's latencies divided by ``factor`` (bandwidth follows latency)."""
    out = platform
    for name, m in platform.memories.items():
        out = with_memory(out, name, read_latency_s=m.read_latency_s / factor,
                          write_latency_s=m.write_latency_s / factor)
    return out
