"""The catalogue of laws every cost model must keep, as reusable checks, and :func:`hetsim_check`.

Each law is an :class:`Invariant`: a name, a one-line statement (``law``), the kind of thing it judges
(``subject``: a ``memory``, a ``technology``, a ``unit`` or a ``platform``) and a check that raises
:class:`InvariantViolation` (an ``AssertionError``) naming the law and the counterexample. Most are
metamorphic, in the style of AccelForge's checks: change the input in a way whose effect on the output is
known (relax a constraint, add work, rename things, add idle time) and compare two runs, so no expected
figure is hard-coded. ``CATALOGUE`` lists them all; ``python -m simulator.testing.invariants`` prints it.

Use one law::

    from simulator.testing import CATALOGUE
    CATALOGUE["energy_monotone_in_bytes"](my_memory)

or all that apply to a thing, with :func:`hetsim_check` (also a fixture of the pytest plugin)::

    hetsim_check("./sot-mram.yaml")          # a technology file, a Technology, a memory, a unit or a platform

Checks of a technology take ``model`` (the memory factory, default :meth:`Memory.from_technology`), and
checks of a platform take ``simulate`` / ``evaluate`` (default: hetsim's engine and closed form), so a
cost model or evaluator of your own is judged by the same laws.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from hw_models.memory import Memory
from hw_models.technology import Technology
from simulator.prepare import streams
from simulator.testing.builders import (all_memories_faster, as_technology, make_trace, platform_around,
                                        rename_memories, rename_tensors, with_clock)
from simulator.testing.checks import check_run, idle_power_W
from simulator.prepare.served_workload import Workload

#: Byte counts at which memory costs are probed (0 first: nothing moved costs nothing).
SIZES = (0.0, 1.0, 8.0, 64.0, 4096.0, 1e6, 1e9)
#: Relative tolerance of the laws that are equalities (engine vs closed form, renaming, reference points).
REL = 1e-9


class InvariantViolation(AssertionError):
    """A law of the catalogue does not hold; the message names the law and the counterexample."""


@dataclass(frozen=True)
class Invariant:
    """One law: ``name``, ``subject`` (``memory``, ``technology``, ``unit`` or ``platform``), a one-line
    ``law`` and the ``check`` that raises :class:`InvariantViolation` when it does not hold."""
    name: str
    subject: str
    law: str
    check: Callable[..., None] = field(repr=False)

    def __call__(self, subject: Any, **kwargs: Any) -> None:
        """Check this law on ``subject``; raise :class:`InvariantViolation` naming it when broken."""
        try:
            self.check(subject, **kwargs)
        except InvariantViolation:
            raise
        except AssertionError as exc:
            raise InvariantViolation(f"{self.name}: {self.law}\n  counterexample: {exc}") from None


#: Every law, by name, in the order they are listed in the guide.
CATALOGUE: dict[str, Invariant] = {}


def invariant(subject: str, law: str) -> Callable[[Callable[..., None]], Invariant]:
    """Register the decorated check as a law of ``subject`` stated by ``law`` (one line)."""
    def register(fn: Callable[..., None]) -> Invariant:
        inv = Invariant(fn.__name__, subject, law, fn)
        CATALOGUE[inv.name] = inv
        return inv
    return register


def _close(a: float, b: float, rel: float = REL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


def _le(a: float, b: float, rel: float = REL) -> bool:
    """a <= b up to a relative tolerance."""
    return a <= b + rel * max(abs(a), abs(b))


# ================================================================================================ memories
_COSTS = ("read_energy", "write_energy", "read_time", "write_time")


@invariant("memory", "Moving 0 bytes costs no energy and no time.")
def zero_bytes_cost_nothing(memory: Any) -> None:
    for fn in _COSTS:
        value = float(getattr(memory, fn)(0.0))
        assert value == 0, f"{memory.name}.{fn}(0) = {value}, expected 0"


@invariant("memory", "Read and write energy never fall as the bytes moved grow.")
def energy_monotone_in_bytes(memory: Any, sizes: Iterable[float] = SIZES) -> None:
    sizes = sorted(sizes)
    for fn in ("read_energy", "write_energy"):
        values = [float(getattr(memory, fn)(b)) for b in sizes]
        for (b0, v0), (b1, v1) in zip(zip(sizes, values), zip(sizes[1:], values[1:])):
            assert v1 >= v0, f"{memory.name}.{fn}({b1:g} B) = {v1:g} J < {fn}({b0:g} B) = {v0:g} J"


@invariant("memory", "Read and write time never fall as the bytes moved grow.")
def time_monotone_in_bytes(memory: Any, sizes: Iterable[float] = SIZES) -> None:
    sizes = sorted(sizes)
    for fn in ("read_time", "write_time"):
        values = [float(getattr(memory, fn)(b)) for b in sizes]
        for (b0, v0), (b1, v1) in zip(zip(sizes, values), zip(sizes[1:], values[1:])):
            assert v1 >= v0, f"{memory.name}.{fn}({b1:g} B) = {v1:g} s < {fn}({b0:g} B) = {v0:g} s"


@invariant("memory", "No cost figure (energy, time, leakage, wake-up, area) is negative, infinite or NaN.")
def costs_non_negative(memory: Any) -> None:
    for fn in _COSTS:
        for b in SIZES:
            v = float(getattr(memory, fn)(b))
            assert math.isfinite(v) and v >= 0, f"{memory.name}.{fn}({b:g} B) = {v}"
    for name in ("leakage_W", "gated_leakage_W", "wakeup_energy_J", "wakeup_latency_s", "area_m2"):
        v = float(getattr(memory, name, 0.0))
        assert math.isfinite(v) and v >= 0, f"{memory.name}.{name} = {v}"


@invariant("memory", "The gated (or self-refresh) state never leaks more than the powered-on idle state.")
def gated_state_leaks_less(memory: Any) -> None:
    assert memory.gated_leakage_W <= memory.leakage_W, \
        f"{memory.name}: gated {memory.gated_leakage_W:g} W > powered-on {memory.leakage_W:g} W"


@invariant("memory", "The simulator's affine view (energy per byte; latency + bytes / bandwidth) reproduces "
                     "the memory's own cost functions at every size.")
def simulator_sees_the_model(memory: Any, sizes: Iterable[float] = SIZES) -> None:
    # the cost layer reads read_energy(1) and write_energy(1) per byte, latencies and bandwidths; a model
    # whose functions are not of that form is silently linearised: this law says so instead
    write_bw = getattr(memory, "write_bandwidth_Bps", memory.bandwidth_Bps)
    views = {"read_energy": lambda b: b * float(memory.read_energy(1.0)),
             "write_energy": lambda b: b * float(memory.write_energy(1.0)),
             "read_time": lambda b: memory.read_latency_s + b / memory.bandwidth_Bps if b > 0 else 0.0,
             "write_time": lambda b: memory.write_latency_s + b / write_bw if b > 0 else 0.0}
    for fn, view in views.items():
        for b in sizes:
            own, seen = float(getattr(memory, fn)(b)), float(view(b))
            assert _close(own, seen, 1e-6), (f"{memory.name}.{fn}({b:g} B) = {own:g} but the simulator uses "
                                             f"{seen:g} (affine in bytes)")


MEMORY_LAWS = [name for name, inv in CATALOGUE.items() if inv.subject == "memory"]


# ================================================================================================ technologies
def _array(model, tech: Technology, capacity: float, banks: int = 1, word_bits: int | None = None,
           node_m: float | None = None, name: str = "m") -> Any:
    word = word_bits or (tech.reference.word_bits if tech.reference is not None else 64)
    return model(name, tech, int(capacity), word_bits=word, banks=banks, node_m=node_m)


@invariant("technology", "At its reference point (node, capacity, word width, one bank) a technology returns "
                         "exactly its cited figures.")
def reference_point_returns_cited_figures(technology: Any, model: Callable[..., Any] = Memory.from_technology
                                          ) -> None:
    tech = as_technology(technology)
    if tech.is_dram:
        d = tech.dram
        m = model("ref", tech, int(d.device_capacity), word_bits=64)
        if getattr(d, "energy_per_bit", None) is not None:      # final figures per bit and per device
            per_bit = {"read": d.energy_per_bit, "write": d.energy_per_bit}
            powers = {"background": d.background_power, "refresh": d.refresh_power,
                      "self_refresh": d.self_refresh_power}
        else:                                                   # datasheet currents (or final figures)
            from hw_models.dram import dram_figures
            f = dram_figures(d)
            per_bit = {"read": f["read_energy_per_bit"], "write": f["write_energy_per_bit"]}
            powers = {k: f[f"{k}_power"] for k in ("background", "refresh", "self_refresh")}
        want = {"read_latency_s": d.access_latency, "leakage_W": powers["background"] + powers["refresh"],
                "gated_leakage_W": powers["self_refresh"],
                "bandwidth_Bps": d.channels * d.channel_width_bits * d.data_rate / 8}
        for op in ("read", "write"):    # a 64-bit access costs at least its burst (rows, standby add to it)
            got = float(getattr(m, f"{op}_energy_per_access_J"))
            assert got >= 64 * per_bit[op] * (1 - 1e-9), \
                f"{tech.name}: {op} energy per 64-bit access {got:g} J < 64 x the cited {per_bit[op]:g} J/bit"
    else:
        r = tech.reference
        m = model("ref", tech, int(r.capacity), word_bits=r.word_bits, banks=1, node_m=r.node)
        want = {"read_energy_per_access_J": r.read_energy, "write_energy_per_access_J": r.write_energy,
                "read_latency_s": r.read_latency, "write_latency_s": r.write_latency, "leakage_W": r.leakage,
                "area_m2": r.area}
    for attr, cited in want.items():
        got = float(getattr(m, attr))
        assert _close(got, cited, 1e-6), f"{tech.name}: {attr} = {got:g} at the reference point; cited {cited:g}"


#: Capacities (bytes) and bank counts of the technology ladders.
LADDER_BYTES = (16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20)
LADDER_BANKS = (1, 2, 4, 8, 16)


@invariant("technology", "A larger array never leaks less, occupies less area, or costs less energy or time "
                         "per access.")
def larger_array_never_cheaper(technology: Any, model: Callable[..., Any] = Memory.from_technology) -> None:
    tech = as_technology(technology)
    sizes = LADDER_BYTES if not tech.is_dram else tuple(tech.dram.device_capacity * k for k in (1, 2, 4))
    figures = ("leakage_W", "area_m2", "read_energy_per_access_J", "write_energy_per_access_J",
               "read_latency_s", "write_latency_s")
    for small, big in zip(sizes, sizes[1:]):
        a, b = _array(model, tech, small), _array(model, tech, big)
        for f in figures:
            va, vb = float(getattr(a, f, 0.0)), float(getattr(b, f, 0.0))
            assert _le(va, vb), f"{tech.name}: {f} = {vb:g} at {big:.0f} B < {va:g} at {small:.0f} B"


@invariant("technology", "An extra bank is never free: more banks never improve one figure (bandwidth, access "
                         "energy, latency, area, leakage) without worsening another.")
def bank_has_a_cost(technology: Any, model: Callable[..., Any] = Memory.from_technology) -> None:
    tech = as_technology(technology)
    if tech.is_dram:
        return  # a DRAM device's banks are inside its datasheet figures
    for capacity in LADDER_BYTES:
        for b0, b1 in zip(LADDER_BANKS, LADDER_BANKS[1:]):
            a, b = _array(model, tech, capacity, b0), _array(model, tech, capacity, b1)
            # (figure, value with fewer banks, with more, True when higher is better)
            figures = (("bandwidth", a.bandwidth_Bps, b.bandwidth_Bps, True),
                       ("read energy", a.read_energy_per_access_J, b.read_energy_per_access_J, False),
                       ("write energy", a.write_energy_per_access_J, b.write_energy_per_access_J, False),
                       ("read latency", a.read_latency_s, b.read_latency_s, False),
                       ("area", a.area_m2, b.area_m2, False), ("leakage", a.leakage_W, b.leakage_W, False))
            gains = [f for f, x, y, up in figures if (y > x * (1 + REL) if up else y < x * (1 - REL))]
            costs = [f for f, x, y, up in figures if (y < x * (1 - REL) if up else y > x * (1 + REL))]
            assert not gains or costs, (
                f"{tech.name} at {capacity / 1024:.0f} KiB: {b1} banks instead of {b0} improve "
                f"{', '.join(gains)} (read {a.read_energy_per_access_J:.3g} -> {b.read_energy_per_access_J:.3g} J, "
                f"bandwidth {a.bandwidth_Bps:.3g} -> {b.bandwidth_Bps:.3g} B/s) at no cost: area "
                f"{a.area_m2:.3g} -> {b.area_m2:.3g} m², leakage {a.leakage_W:.3g} -> {b.leakage_W:.3g} W")


def technology_memories(technology: Any, model: Callable[..., Any] = Memory.from_technology) -> list[Any]:
    """Memories of ``technology`` over the ladder of capacities × banks (× two word widths and nodes for
    on-chip arrays): the samples :func:`hetsim_check` runs the memory laws on."""
    tech = as_technology(technology)
    if tech.is_dram:
        return [_array(model, tech, tech.dram.device_capacity * k, word_bits=w, name=f"dram{k}x{w}")
                for k in (1, 4) for w in (32, 64, 256)]
    out = []
    for cap in LADDER_BYTES[::2]:
        for banks in (1, 4, 16):
            for word in (32, 256):
                for node in (7e-9, 40e-9):
                    out.append(_array(model, tech, cap, banks, word, node, name=f"m{cap}b{banks}w{word}"))
    return out


# ================================================================================================ compute units
def _is_mac(unit: Any) -> bool:
    return hasattr(unit, "matmul_cycles")


#: Work ladders: matmul (m, k, n) triples and vector element counts, each step at least as big in every
#: dimension as the one before.
MATMULS = ((1, 1, 1), (1, 8, 8), (8, 8, 8), (8, 64, 8), (16, 64, 64), (64, 64, 64), (128, 768, 64),
           (128, 768, 768))
ELEMENTS = (0, 1, 15, 16, 17, 256, 4096, 100_000)


#: Vector op kinds the unit laws probe.
VECTOR_KINDS = ("elementwise", "reduction", "softmax", "norm", "gelu", "embedding_lookup", "copy")


def probe_ops() -> list[tuple[str, Any, Any]]:
    """(kind, work, op) along the work ladders: matmuls of :data:`MATMULS` and vector ops of
    :data:`VECTOR_KINDS` over :data:`ELEMENTS`, as trace ops (``workloads.trace.OpInfo``)."""
    from workloads.trace import OpInfo
    ops = [("matmul", (m, k, n), OpInfo(0, "probe", "probe", "aten.mm", "matmul", m * k * n, 0,
                                        {0: m * k, 1: k * n}, {2: m * n}, (), (1, m, k, n)))
           for m, k, n in MATMULS]
    ops += [(kind, n, OpInfo(0, "probe", "probe", f"aten.{kind}", kind, 0, n, {0: n}, {1: n}, (), None))
            for kind in VECTOR_KINDS for n in ELEMENTS]
    return ops


def _unit_costs(unit: Any, op_point: Any = None) -> list[tuple[str, Any, float, float]]:
    """(kind, work, cycles, energy J) along the work ladders of the ops ``unit`` can run. A unit behind the
    compute-unit protocol (``can_run(op)``, ``work(op)`` -> cycles and action counts,
    ``action_energy_J(op_point)``) is asked through it; otherwise a MAC array through ``matmul_cycles`` and
    ``energy_per_mac_J``, a vector unit through ``cycles(kind, n)`` and ``energy_per_op_J``."""
    rows = []
    if hasattr(unit, "work") and hasattr(unit, "can_run"):
        energy = unit.action_energy_J(op_point)
        for kind, w, op in probe_ops():
            if unit.can_run(op):
                work = unit.work(op)
                rows.append((kind, w, float(work.cycles),
                             float(sum(count * energy[action] for action, count in work.counts.items()))))
    elif _is_mac(unit):
        for w in MATMULS:
            rows.append(("matmul", w, float(unit.matmul_cycles(*w)),
                         float(w[0] * w[1] * w[2] * unit.energy_per_mac_J(op_point))))
    else:
        for kind in sorted(unit.cycles_per_element):
            for n in ELEMENTS:
                rows.append((kind, n, float(unit.cycles(kind, n)), float(n * unit.energy_per_op_J(op_point))))
    return rows


@invariant("unit", "A compute unit never takes fewer cycles or less energy for more work (more MACs, larger "
                   "matmul dimensions, more elements).")
def unit_work_monotone(unit: Any) -> None:
    rows = _unit_costs(unit)
    for (k0, w0, c0, e0), (k1, w1, c1, e1) in zip(rows, rows[1:]):
        if k0 != k1:
            continue
        assert c1 >= c0, f"{type(unit).__name__}: {k1} of {w1} takes {c1:g} cycles < {c0:g} for {w0}"
        assert e1 >= e0, f"{type(unit).__name__}: {k1} of {w1} costs {e1:g} J < {e0:g} J for {w0}"


@invariant("unit", "A faster clock never makes a unit take longer (s) for the same work.")
def faster_clock_never_slower(unit: Any, factor: float = 2.0) -> None:
    fast = replace(unit, clock_hz=unit.clock_hz * factor)
    for (kind, w, c0, _), (_, _, c1, _) in zip(_unit_costs(unit), _unit_costs(fast)):
        t0, t1 = c0 / unit.clock_hz, c1 / fast.clock_hz
        assert _le(t1, t0), (f"{type(unit).__name__}: {kind} of {w} takes {t1:g} s at {fast.clock_hz:g} Hz > "
                             f"{t0:g} s at {unit.clock_hz:g} Hz")


@invariant("unit", "At a lower supply voltage an operation never costs more dynamic energy and the unit "
                   "never leaks more.")
def lower_voltage_never_costs_more(unit: Any) -> None:
    from hw_models.dvfs import OperatingPoint
    f = unit.clock_hz
    high, low = OperatingPoint("high", 0.8, f, 0.8), OperatingPoint("low", 0.6, f / 2, 0.8)
    for (kind, w, _, e_high), (_, _, _, e_low) in zip(_unit_costs(unit, high), _unit_costs(unit, low)):
        assert _le(e_low, e_high), f"{type(unit).__name__}: {kind} of {w} costs {e_low:g} J at 0.6 V > " \
            f"{e_high:g} J at 0.8 V"
    assert _le(unit.leakage_at(low), unit.leakage_at(high)), \
        f"{type(unit).__name__}: leaks {unit.leakage_at(low):g} W at 0.6 V > {unit.leakage_at(high):g} W at 0.8 V"


@invariant("unit", "At the arithmetic data's node and nominal voltage a unit's energy per operation is the "
                   "cited multiplier + adder + register figures.")
def unit_reference_point(unit: Any) -> None:
    from hw_models.compute import MacArray, VectorUnit, compute_data
    reference = getattr(unit, "reference_point", None)
    if callable(reference):            # a unit of yours: (unit at its reference point, {attribute: cited})
        at_ref, cited = reference()
        for attr, value in cited.items():
            got = getattr(at_ref, attr)
            got = float(got() if callable(got) else got)
            assert _close(got, value, 1e-6), f"{type(unit).__name__}.{attr} = {got:g}; cited {value:g}"
        return
    if not isinstance(unit, (MacArray, VectorUnit)):
        return                         # nothing cited to compare with
    d = compute_data()
    at_ref = replace(unit, node_m=d.node)
    if isinstance(unit, MacArray):
        mult, add, reg = (unit.weight_bits, unit.act_bits), unit.acc_bits, unit.act_bits + unit.acc_bits
        got = at_ref.energy_per_mac_J()
    else:
        mult, add, reg = (unit.op_bits, unit.op_bits), unit.op_bits, 2 * unit.op_bits
        got = at_ref.energy_per_op_J()
    cited = (d.int_multiplier_32b_energy * mult[0] * mult[1] / 1024 + d.int_adder_32b_energy * add / 32
             + d.register_energy_per_bit * reg)
    assert _close(got, cited, 1e-6), f"{type(unit).__name__}: {got:g} J per op at {d.node:g} m; cited sum {cited:g} J"


# ================================================================================================ platforms
def _spaced(tasks: list[str], n: int, gap_s: float = 1.0) -> streams.RequestStream:
    """``n`` requests cycling through ``tasks``, ``gap_s`` apart (far longer than any request)."""
    return streams.fixed([tasks[i % len(tasks)] for i in range(n)], gap_s)


def default_workload(*, weight_update: bool | int = False, tasks: tuple[str, ...] = ("t0", "t1"), n: int = 4,
                     period_s: float = 1e-5) -> Workload:
    """The small workload the platform laws run when given none: two tasks of a synthetic adapter
    transformer (2 layers, width 32, sequence 16), ``n`` round-robin requests ``period_s`` apart (so they
    queue and switch tasks)."""
    traces = {t: make_trace(t, layers=2, seq=16, hidden=32, bottleneck=4, weight_update=weight_update)
              for t in tasks}
    return Workload("kit", traces, streams.round_robin(list(tasks), n, period_s))


def _engine(workload, platform, **kw):
    from simulator.engine import simulate
    return simulate(workload, platform, **kw)


def _closed_form(workload, platform, **kw):
    from simulator.analytic import evaluate
    return evaluate(workload, platform, **kw)


@invariant("platform", "The ledger sums to the independently accumulated total, per request and overall; "
                       "nothing is negative; every request is served after it arrives.")
def ledger_is_consistent(platform: Any, workload: Workload | None = None, simulate: Callable = _engine) -> None:
    workload = workload or default_workload()
    for in_flight in (1, 2):
        check_run(simulate(workload, platform, max_in_flight=in_flight))


@invariant("platform", "With one request at a time and no prefetch, the discrete-event engine and the closed "
                       "form agree (energy, per-request times) to 1e-9.")
def engine_matches_closed_form(platform: Any, workload: Workload | None = None, simulate: Callable = _engine,
                               evaluate: Callable = _closed_form) -> None:
    workload = workload or default_workload()
    # as given (requests may queue), and spaced out (idle gaps, wake-ups)
    for w in (workload, workload.with_stream(_spaced(workload.tasks, 3, 0.05))):
        a = simulate(w, platform, max_in_flight=1, prefetch_depth=0)
        b = evaluate(w, platform)
        assert _close(a.total_energy_J, b.total_energy_J), \
            f"energy: engine {a.total_energy_J:.12g} J, closed form {b.total_energy_J:.12g} J"
        for col in ("start_s", "end_s", "energy_J"):
            x, y = a.requests[col].to_numpy(float), b.requests[col].to_numpy(float)
            bad = ~np.isclose(x, y, rtol=REL, atol=1e-15)
            assert not bad.any(), f"request {int(np.argmax(bad))} {col}: engine {x[bad][0]:.12g}, closed " \
                f"form {y[bad][0]:.12g}"


@invariant("platform", "Contention never makes a request faster: twin requests served at once each take at "
                       "least as long as one served alone.")
def contention_never_faster(platform: Any, workload: Workload | None = None, simulate: Callable = _engine) -> None:
    workload = workload or default_workload()
    tasks = workload.tasks
    alone = simulate(workload.with_stream(_spaced(tasks, len(tasks))), platform, max_in_flight=1)
    reqs = tuple(streams.Request(2 * i + j, float(i), t) for i, t in enumerate(tasks) for j in (0, 1))
    twins = simulate(workload.with_stream(streams.RequestStream(reqs)), platform, max_in_flight=2)
    solo = alone.requests["latency_s"].to_numpy(float)
    pair = twins.requests["latency_s"].to_numpy(float)
    for i, task in enumerate(tasks):
        for j in (0, 1):
            assert _le(solo[i], pair[2 * i + j]), (
                f"task {task}: a request served beside its twin took {pair[2 * i + j]:.9g} s, alone "
                f"{solo[i]:.9g} s")


@invariant("platform", "Idle energy is power × time in each power state: an extra idle gap adds exactly the "
                       "platform's idle power (gated memories at their gated power) × its length.")
def idle_energy_is_power_times_time(platform: Any, workload: Workload | None = None,
                                    simulate: Callable = _engine, extra_s: float = 0.25) -> None:
    workload = workload or default_workload()
    base = workload.with_stream(_spaced(workload.tasks, 3))
    later = base.with_stream(base.stream.shifted(2, extra_s))
    a, b = simulate(base, platform), simulate(later, platform)
    expected = idle_power_W(platform) * extra_s
    got = b.total_energy_J - a.total_energy_J
    assert math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-12 * max(1.0, a.total_energy_J)), \
        f"{extra_s} s more idle time added {got:.9g} J; idle power × time is {expected:.9g} J"


@invariant("platform", "Leakage scales with time: every leakage row of a component in one power state is the "
                       "same power × the row's duration. Between requests a component is in one of at most two "
                       "states, on or its low-power state, and the low one only in gaps at least as long as any it "
                       "stays on through (break-even); a DRAM that powers down inside requests has one mix of "
                       "states per request shape.")
def leakage_scales_with_time(platform: Any, workload: Workload | None = None, simulate: Callable = _engine) -> None:
    workload = workload or default_workload()
    tasks = workload.tasks
    uneven = streams.RequestStream(tuple(streams.Request(i, t, tasks[i % len(tasks)])
                                         for i, t in enumerate((0.0, 0.1, 0.4, 1.0))))   # gaps of 0.1, 0.3, 0.6 s
    run = simulate(workload.with_stream(uneven), platform, max_in_flight=1)
    led = run.ledger
    rows = led[led["category"].isin(["leakage", "refresh"])].copy()
    rows["duration"] = rows["end_s"] - rows["start_s"]
    assert not ((rows["duration"] <= 0) & (rows["energy_J"] > 0)).any(), "leakage energy over no time"
    rows = rows[(rows["duration"] > 0) & (rows["energy_J"] > 1e-250)]   # subnormal energies carry no digits
    rows["power"] = rows["energy_J"] / rows["duration"]
    rows["state"] = np.where(rows["request"] >= 0, "busy", "idle")
    # a request's shape: what decides a power-down DRAM's transfers (and so its mix of states) in it
    req = run.requests.set_index("request")
    # (task, switch, operating point, service time: a wake-up lengthens it)
    shape = (req["task"].astype(str) + "|" + req["switch"].astype(str) + "|" + req["operating_point"].astype(str)
             + "|" + req["service_s"].map(lambda t: f"{t:.9e}"))
    rows["shape"] = rows["request"].map(shape).fillna("")
    mixed = {n for n, m in getattr(platform, "memories", {}).items()
             if getattr(m, "power_state", None) == "power_down_when_idle"}

    def report(grp: Any, p: np.ndarray, what: str) -> str:
        comp, cat, state = grp["component"].iloc[0], grp["category"].iloc[0], grp["state"].iloc[0]
        return (f"{comp} {cat} while {state}{what}: {grp['energy_J'].iloc[0]:.6g} J over "
                f"{grp['duration'].iloc[0]:.6g} s but {grp['energy_J'].iloc[-1]:.6g} J over "
                f"{grp['duration'].iloc[-1]:.6g} s (powers {p.min():.6g}..{p.max():.6g} W)")

    for (comp, cat, state), grp in rows.groupby(["component", "category", "state"], observed=True):
        p = grp["power"].to_numpy(float)
        if state == "busy":
            parts = grp.groupby("shape", observed=True) if comp in mixed else [("", grp)]
            for key, part in parts:
                q = part["power"].to_numpy(float)
                assert np.allclose(q, q[0], rtol=1e-6, atol=0.0), report(part, q, f" (shape {key})" if key else "")
            continue
        high = p >= p.max() * (1 - 1e-6)
        low = ~high
        assert np.allclose(p[low], p[low].min(), rtol=1e-6, atol=0.0) if low.any() else True, \
            report(grp, p, " (more than two power levels)")
        if low.any() and high.any():
            d = grp["duration"].to_numpy(float)
            assert d[low].min() >= d[high].max() * (1 - 1e-9), (
                f"{comp} {cat} while idle: in its low-power state in a {d[low].min():.6g} s gap but on through "
                f"a {d[high].max():.6g} s gap (break-even decides by the gap's length)")


@invariant("platform", "Costs are invariant under renaming memories and tensors: same energy, same latency "
                       "for every request.")
def renaming_changes_nothing(platform: Any, workload: Workload | None = None, simulate: Callable = _engine) -> None:
    workload = workload or default_workload()
    renamed_platform = rename_memories(platform, lambda n: f"renamed_{n}")
    for w in (workload, workload.with_stream(_spaced(workload.tasks, 3, 0.05))):
        a = simulate(w, platform)
        b = simulate(rename_tensors(w, lambda n: f"x:{n}"), renamed_platform)
        assert _close(a.total_energy_J, b.total_energy_J), \
            f"energy {a.total_energy_J:.12g} J, after renaming {b.total_energy_J:.12g} J"
        x, y = a.requests["latency_s"].to_numpy(float), b.requests["latency_s"].to_numpy(float)
        assert np.allclose(x, y, rtol=REL, atol=0), f"latencies {x} s, after renaming {y} s"


@invariant("platform", "Every byte written into a non-volatile memory counts as wear, parameters written at "
                       "inference included: cells rewritten more often than any other see more cell writes.")
def nvm_writes_are_wear(platform: Any, workload: Workload | None = None, simulate: Callable = _engine) -> None:
    from simulator.results.result import Result

    def wear(w: Workload) -> dict[str, Any]:
        return {row.memory: row for row in Result.from_run(simulate(w, platform)).nvm_wear().itertuples()}

    if workload is None:     # the same requests without and with a weight rewritten twice per inference
        before, after = wear(default_workload()), wear(default_workload(weight_update=2))
    else:
        before, after = {}, wear(workload)
    for name, row in after.items():
        if row.write_bytes <= 0:
            continue
        assert row.cell_writes > 0, f"{name}: {row.write_bytes:.0f} B written, 0 cell writes"
        if math.isfinite(row.endurance_writes):
            assert math.isfinite(row.lifetime_s), f"{name}: {row.write_bytes:.0f} B written, infinite lifetime"
        old = before.get(name)
        if old is not None and row.write_bytes > old.write_bytes * (1 + REL):
            assert row.cell_writes > old.cell_writes, (
                f"{name}: writing {row.write_bytes - old.write_bytes:.0f} B more (a weight rewritten twice per "
                f"inference, more often than any task-switch load) "
                f"left cell writes at {old.cell_writes:g} (lifetime {old.lifetime_s:g} s -> {row.lifetime_s:g} s)")


@invariant("platform", "Relaxing a constraint (faster memories, a faster clock) never makes a request slower "
                       "or the run cost more energy.")
def relaxation_never_costs_more(platform: Any, workload: Workload | None = None, simulate: Callable = _engine,
                                factor: float = 2.0) -> None:
    workload = workload or default_workload()
    spaced = workload.with_stream(_spaced(workload.tasks, 3, 0.1))
    base = simulate(spaced, platform)
    for what, relaxed in (("memories faster", all_memories_faster(platform, factor)),
                          ("clock faster", with_clock(platform, factor))):
        run = simulate(spaced, relaxed)
        lat0, lat1 = base.requests["latency_s"].to_numpy(float), run.requests["latency_s"].to_numpy(float)
        worse = lat1 > lat0 * (1 + REL)
        assert not worse.any(), f"{what} ×{factor:g}: request {int(np.argmax(worse))} takes " \
            f"{lat1[worse][0]:.9g} s > {lat0[worse][0]:.9g} s"
        assert _le(run.total_energy_J, base.total_energy_J), \
            f"{what} ×{factor:g}: {run.total_energy_J:.9g} J > {base.total_energy_J:.9g} J"


@invariant("platform", "A larger staging buffer never makes the mapper's optimum worse than the old optimum "
                       "priced at the larger buffer's costs.")
def larger_buffer_never_worse_mapping(platform: Any, search: Callable | None = None) -> None:
    from simulator.prepare import mapping as mp
    search = search or mp.best_mapping
    buffer = mp.staging_buffer(platform)
    if buffer is None:
        return
    homes = [n for n, m in platform.memories.items() if not getattr(m, "is_buffer", False)]
    bigger = _bigger(buffer, getattr(platform, "node_m", None))
    memories = {n: (bigger if n == buffer.name else m) for n, m in platform.memories.items()}
    relaxed = replace(platform, memories=memories)
    hw0, hw1 = mp.hardware(platform, buffer), mp.hardware(relaxed, bigger)
    for m, k, n in ((16, 64, 64), (128, 768, 64), (128, 768, 768), (1, 3072, 768)):
        g = mp.Gemm(1, m, k, n, 1.0, 1.0, 2.0, 4.0, homes[0], homes[-1], homes[0])
        try:
            old = search(g, hw0)
        except Exception:            # too small a buffer for this GEMM: nothing to compare
            continue
        priced = mp.evaluate(old.loop_order, old.tiles, g, hw1, "energy")
        new = search(g, hw1)
        assert _le(new.energy_J, priced.energy_J, 1e-9), (
            f"GEMM {m}x{k}x{n}: with a {bigger.capacity_bytes:.0f} B buffer the optimum costs {new.energy_J:.9g} J "
            f"({new.loop_order} {new.tiles}) > {priced.energy_J:.9g} J for the {buffer.capacity_bytes:.0f} B "
            f"optimum ({old.loop_order} {old.tiles}) at the new costs")


def _bigger(buffer: Any, node_m: float | None) -> Any:
    """``buffer`` at twice the capacity: rebuilt from its technology when it is a bundled one (the larger
    array costs more per access), else the same figures."""
    from hw_models.technology import list_technologies
    if getattr(buffer, "technology", None) in list_technologies():
        return Memory.from_technology(buffer.name, buffer.technology, 2 * buffer.capacity_bytes,
                                      word_bits=buffer.word_bits, banks=buffer.banks, ports=buffer.ports,
                                      clock_hz=buffer.clock_hz, is_buffer=True,
                                      double_buffered=buffer.double_buffered, node_m=node_m)
    return replace(buffer, capacity_bytes=2 * buffer.capacity_bytes)


PLATFORM_LAWS = [name for name, inv in CATALOGUE.items() if inv.subject == "platform"]


def platform_units(platform: Any) -> dict[str, Any]:
    """A platform's compute units by name: its ``compute`` collection when it has one, else its MAC array
    and vector unit."""
    compute = getattr(platform, "compute", None)
    if isinstance(compute, dict) and compute:
        return dict(compute)
    return {"mac_array": platform.mac_array, "vector_unit": platform.vector_unit}


# ================================================================================================ hetsim_check
@dataclass
class Outcome:
    """One law applied to one thing: ``status`` is ``"passed"``, ``"failed"`` or ``"skipped"``."""
    law: str
    subject: str
    status: str
    message: str = ""


@dataclass
class CheckReport:
    """What :func:`hetsim_check` found: one :class:`Outcome` per (law, thing)."""
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        """The outcomes that failed."""
        return [o for o in self.outcomes if o.status == "failed"]

    def __str__(self) -> str:
        return "\n".join(f"{o.status:7s} {o.law} ({o.subject})" + (f"\n        {o.message}" if o.message else "")
                         for o in self.outcomes)


def _kind(thing: Any) -> str:
    from hw_models.platform import Platform
    if isinstance(thing, (Technology, str, Path)):
        return "technology"
    if isinstance(thing, Platform) or hasattr(thing, "placement"):
        return "platform"
    if hasattr(thing, "read_energy") and hasattr(thing, "read_time"):
        return "memory"
    if hasattr(thing, "matmul_cycles") or hasattr(thing, "cycles") or hasattr(thing, "work"):
        return "unit"
    raise TypeError(f"hetsim_check: cannot tell what {type(thing).__name__} is; expected a technology (file "
                    "or object), a memory, a compute unit or a platform")


def hetsim_check(model: Any, *, skip: Iterable[str] = (), workload: Workload | None = None,
                 memory_model: Callable[..., Any] = Memory.from_technology, raise_on_failure: bool = True
                 ) -> CheckReport:
    """Run every law of the catalogue that applies to ``model`` and return a :class:`CheckReport`.

    - a technology (a path to your technology file, a bundled name, or a Technology object): the
      technology laws, the memory laws on its memories over capacities × banks × word widths × nodes
      (built by ``memory_model``), and the platform laws on :func:`platform_around` it;
    - a memory (any object behind the memory cost protocol): the memory laws, and the platform laws on a
      platform around it;
    - a compute unit: the unit laws;
    - a platform: the platform laws, the memory laws on each memory and the unit laws on its units.

    ``skip``: names of laws not to run (reported as skipped). ``workload``: what the platform laws run
    (default :func:`default_workload`). With ``raise_on_failure`` (default), any failure raises
    :class:`InvariantViolation` listing every broken law with its counterexample."""
    skip = set(skip)
    unknown = skip - set(CATALOGUE)
    if unknown:
        raise ValueError(f"hetsim_check: skip: unknown law(s) {', '.join(sorted(unknown))}; expected some of "
                         f"{', '.join(CATALOGUE)}")
    report = CheckReport()

    def run(name: str, subject: Any, label: str, **kwargs: Any) -> None:
        if name in skip:
            report.outcomes.append(Outcome(name, label, "skipped"))
            return
        try:
            CATALOGUE[name](subject, **kwargs)
        except InvariantViolation as exc:
            report.outcomes.append(Outcome(name, label, "failed", str(exc).splitlines()[-1].strip()))
        else:
            report.outcomes.append(Outcome(name, label, "passed"))

    def run_all(name: str, samples: list[Any], label: str) -> None:
        """One outcome for law ``name`` over ``samples``: the first counterexample, else passed."""
        if name in skip:
            report.outcomes.append(Outcome(name, label, "skipped"))
            return
        for sample in samples:
            try:
                CATALOGUE[name](sample)
            except InvariantViolation as exc:
                report.outcomes.append(Outcome(name, f"{label}, {sample.name}", "failed",
                                               str(exc).splitlines()[-1].strip()))
                return
        report.outcomes.append(Outcome(name, label, "passed"))

    def platform_laws(platform: Any, label: str) -> None:
        for name in PLATFORM_LAWS:
            kwargs = {} if name == "larger_buffer_never_worse_mapping" else {"workload": workload}
            run(name, platform, label, **kwargs)

    kind = _kind(model)
    if kind == "technology":
        tech = as_technology(model)
        for name in ("reference_point_returns_cited_figures", "larger_array_never_cheaper", "bank_has_a_cost"):
            run(name, tech, tech.name, model=memory_model)
        samples = technology_memories(tech, memory_model)
        for name in MEMORY_LAWS:
            run_all(name, samples, tech.name)
        if not tech.is_dram:
            platform_laws(platform_around(technology=tech, model=memory_model), f"platform around {tech.name}")
    elif kind == "memory":
        for name in MEMORY_LAWS:
            run(name, model, model.name)
        platform_laws(platform_around(model), f"platform around {model.name}")
    elif kind == "unit":
        for name in (n for n, inv in CATALOGUE.items() if inv.subject == "unit"):
            run(name, model, type(model).__name__)
    else:
        platform_laws(model, model.name)
        for mem in model.memories.values():
            for name in MEMORY_LAWS:
                run(name, mem, f"{model.name}.{mem.name}")
        for label, unit in platform_units(model).items():
            for name in (n for n, inv in CATALOGUE.items() if inv.subject == "unit"):
                run(name, unit, f"{model.name}.{label}")
    if raise_on_failure and report.failed:
        raise InvariantViolation(f"{len(report.failed)} law(s) broken by {getattr(model, 'name', model)}:\n" +
                                 "\n".join(f"  {o.law} ({o.subject}): {CATALOGUE[o.law].law}\n    {o.message}"
                                           for o in report.failed))
    return report


def main() -> None:
    """Print the catalogue: one line per law."""
    for inv in CATALOGUE.values():
        print(f"{inv.name:40s} [{inv.subject}] {inv.law}")


if __name__ == "__main__":  # pragma: no cover
    main()
