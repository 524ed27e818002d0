"""Compute units as a named collection behind one protocol (issue #10): several MAC arrays, the
assignment policy, the ReRAM compute-in-memory crossbar and the properties every unit keeps."""
from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw_models import HardwareConfigError, MacArray, VectorUnit, load_platform
from hw_models.cim import CimCrossbar, array_name
from hw_models.compute import ComputeUnit
from simulator import testing as ht
from simulator.analytic.closed_form import evaluate
from simulator.cost.tables import op_costs, platform_params, prepare
from simulator.engine.discrete_event import simulate
from simulator.errors import SimulationConfigError
from simulator.prepare import streams
from simulator.prepare.served_workload import Workload
from simulator.results.result import Result

STATIC = ("leakage", "refresh", "wakeup")


def _fast_memories():
    """Memories so fast that compute dominates every op (the MAC array is the bottleneck)."""
    return {"sram": ht.make_memory("sram", capacity_bytes=1 << 26, read_ns=1e-3, write_ns=1e-3, banks=64)}


def _at(*times: float) -> streams.RequestStream:
    """Requests of task t0 arriving at ``times`` (s)."""
    return streams.RequestStream(tuple(streams.Request(i, t, "t0") for i, t in enumerate(times)))


def _matmul_workload(requests: int, max_gap: float = 0.0) -> Workload:
    trace = ht.make_trace("t0", layers=4, seq=64, hidden=128, bottleneck=4)
    return Workload("matmuls", {"t0": trace}, _at(*(k * max_gap for k in range(requests))))


def _dynamic_J(run) -> float:
    ledger = run.ledger
    return float(ledger.loc[~ledger["category"].isin(STATIC), "energy_J"].sum())


def test_two_equal_mac_arrays_halve_the_makespan_of_two_concurrent_matmul_requests():
    one = ht.make_platform("one", _fast_memories(), rows=2, cols=2)
    two = ht.with_two_macs(one)
    work = _matmul_workload(2)
    a = simulate(work, one, max_in_flight=2)
    b = simulate(work, two, max_in_flight=2)
    # one request alone: what the closed form (no contention) says a request takes
    alone = evaluate(Workload("one", work.traces, _at(0.0)), one).meta["makespan_s"]
    assert a.meta["makespan_s"] == pytest.approx(2 * alone, rel=0.02)      # matmuls queue on one array
    assert b.meta["makespan_s"] == pytest.approx(alone, rel=0.02)          # ... and run side by side on two
    assert b.meta["makespan_s"] / a.meta["makespan_s"] == pytest.approx(0.5, rel=0.03)
    assert _dynamic_J(b) == pytest.approx(_dynamic_J(a), rel=1e-12)        # the same work, the same energy
    busy = Result.from_run(b).per_compute().set_index("unit")
    assert busy.loc["mac0", "compute_energy_J"] > 0 and busy.loc["mac1", "compute_energy_J"] > 0
    assert busy.loc["mac0", "compute_energy_J"] == pytest.approx(busy.loc["mac1", "compute_energy_J"], rel=0.05)


def test_with_one_request_at_a_time_a_second_mac_array_changes_nothing_but_leakage():
    one = ht.make_platform("one", _fast_memories(), rows=2, cols=2)
    two = ht.with_two_macs(one)
    work = _matmul_workload(3, max_gap=1e-6)
    a, b = evaluate(work, one), evaluate(work, two)
    assert b.meta["makespan_s"] == pytest.approx(a.meta["makespan_s"], rel=1e-12)
    assert _dynamic_J(b) == pytest.approx(_dynamic_J(a), rel=1e-12)
    e = simulate(work, two)                                   # the engine agrees with the closed form
    assert e.meta["makespan_s"] == pytest.approx(b.meta["makespan_s"], rel=1e-9)
    assert set(b.ledger.loc[b.ledger["category"] == "compute", "component"]) == {"mac0", "vector_unit"}


def test_unequal_mac_arrays_share_the_load_by_the_least_loaded_rule():
    one = ht.make_platform("one", _fast_memories(), rows=2, cols=2)
    two = ht.with_two_macs(one, MacArray(rows=4, cols=4, clock_hz=one.mac_array.clock_hz))
    prepared = prepare(_matmul_workload(1), two)
    names = prepared.units.names
    used = {names[u] for u in prepared.tasks["t0"].unit[prepared.tasks["t0"].on_mac]}
    assert used == {"mac0", "mac1"}


@settings(max_examples=15, deadline=None)
@given(seq=st.integers(1, 16), hidden=st.sampled_from([4, 8, 16]), user=st.booleans())
def test_a_unit_that_cannot_run_an_op_kind_is_never_given_it(seq, hidden, user):
    base = ht.make_platform("p", _fast_memories())
    cim = CimCrossbar(tiles=4, rows=16, cols=16)
    memories = {**base.memories, array_name("cim"): cim.cells("cim")}
    roles = {**base.placement.roles, "weight": [array_name("cim"), "sram"]}
    platform = dataclasses.replace(
        base, memories=memories, placement=dataclasses.replace(base.placement, roles=roles),
        compute={"vec": base.vector_unit, "mac": base.mac_array, "cim": cim},
        assignment=[("*adapter.up", "mac")] if user else [])
    trace = ht.make_trace("t0", seq=seq, hidden=hidden)
    prepared = prepare(Workload("w", {"t0": trace}, _at(0.0)), platform)
    ta = prepared.tasks["t0"]
    for op, u in zip(trace.ops, ta.unit):
        unit = platform.compute[prepared.units.names[u]]
        assert unit.can_run(op), (op.kind, prepared.units.names[u])
    kinds = {platform.compute[prepared.units.names[u]].kind for u in ta.unit}
    assert "cim_crossbar" in kinds and "vector_unit" in kinds


def test_a_user_mapping_to_a_unit_that_cannot_run_the_op_is_an_error():
    base = ht.make_platform("p", _fast_memories())
    platform = dataclasses.replace(base, assignment=[("norm", "mac_array")])
    with pytest.raises(SimulationConfigError, match="cannot run on a mac_array"):
        prepare(ht.make_workload(("t0",)), platform)


# ---- the ReRAM compute-in-memory crossbar ---------------------------------------------------------------
# ISAAC's Table I (Shafiee et al., ISCA 2016), divided out by hand, at its own 32 nm node: 8 ADCs at 16 mW
# each converting 128 columns per 100 ns cycle (Sec. V: 1.28 GSps), 8 x 128 DACs at 4 mW, 8 arrays of
# 128 x 128 cells at 2.4 mW, 4 shift-and-add units at 0.2 mW (one addition per conversion)
ADC_J, DAC_J = 2e-3 / 1.28e9, 4e-3 / (8 * 128) / 1e7
CELL_J, SA_J = 2.4e-3 / 8 / 1e7 / (128 * 128), 0.2e-3 / (8 * 1.28e9)
READ_S = 100e-9


def test_cim_mvm_energy_and_latency_equal_a_hand_count():
    cim = CimCrossbar(tiles=8, rows=128, cols=128, cell_bits=2, weight_bits=8, input_bits=8, adc_bits=8,
                      node_m=32e-9)
    k, n, m = 200, 50, 3                       # 2 row tiles; 50 weights x 4 slices = 200 columns: 2 column tiles
    hand = 8 * (200 * 2 * DAC_J + 200 * 50 * 4 * CELL_J + 200 * 2 * (ADC_J + SA_J))
    assert cim.mvm_energy_J(k, n) == pytest.approx(hand, rel=1e-3)   # the YAML rounds the cell figure
    op = SimpleNamespace(kind="matmul", gemm=(1, m, k, n), macs=m * k * n, other_ops=0, reads={}, writes={})
    work = cim.work(op)
    energy = sum(c * cim.action_energy_J()[a] for a, c in work.counts.items())
    assert energy == pytest.approx(m * hand, rel=2e-3)
    assert work.cycles / cim.clock_hz == pytest.approx(m * 8 * READ_S, rel=1e-12)


def test_cim_area_at_32nm_is_one_isaac_ima_per_eight_tiles():
    # Table I: one IMA's 8 ADCs (0.0096 mm2), 8 x 128 DACs (0.00017), 8 crossbars (0.0002) and 4
    # shift-and-add units (0.00024) serve 8 crossbars of 128 x 128: 8 tiles here (no node scaling at 32 nm)
    cim = CimCrossbar(tiles=8, rows=128, cols=128, adc_bits=8, node_m=32e-9)
    assert cim.area_m2 == pytest.approx((0.0096 + 0.00017 + 0.0002 + 0.00024) * 1e-6, rel=1e-3)


def test_cim_energy_per_mac_at_22nm_4bit_is_near_the_22nm_macro():
    # Xue et al., ISSCC 2020 15.4 (pp. 244-246): a 22 nm 2 Mb ReRAM CiM macro, 28.9 TOPS/W at 4b input x 4b weight
    cim = CimCrossbar(weight_bits=4, input_bits=4, cell_bits=2, node_m=22e-9)
    per_mac = cim.mvm_energy_J(128, 64) / (128 * 64)
    tops_per_w = 2 / per_mac / 1e12
    assert 28 / 2 <= tops_per_w <= 28 * 2


def _cim_platform():
    base = ht.make_platform("p", _fast_memories())
    cim = CimCrossbar(tiles=64, rows=32, cols=32)
    memories = {**base.memories, array_name("cim"): cim.cells("cim")}
    roles = {**base.placement.roles, "weight": [array_name("cim"), "sram"]}
    return dataclasses.replace(base, memories=memories, compute={**base.compute, "cim": cim},
                               placement=dataclasses.replace(base.placement, roles=roles))


def test_weights_on_the_cim_unit_move_no_bytes_per_inference():
    platform = _cim_platform()
    work = ht.make_workload(("t0",), _at(0.0, 1e-3), hidden=32, seq=8)
    run = simulate(work, platform)
    cells = array_name("cim")
    weights = [t for t in work.traces["t0"].tensors.values() if t.role == "weight"]
    assert all(run.placement.home[(t.owner, t.name)] == cells for t in weights)
    moved = run.ledger[(run.ledger["component"] == cells) & run.ledger["category"].isin(["read", "write"])]
    assert moved["bytes"].sum() == 0
    crossbar = run.ledger[(run.ledger["component"] == "cim") & (run.ledger["category"] == "compute")]
    assert crossbar["energy_J"].sum() > 0
    # the same weights in SRAM are read every inference
    plain = ht.make_platform("p", _fast_memories())
    reads = simulate(work, plain).ledger
    weight_bytes = sum(t.stored_bytes for t in weights)
    assert reads.loc[(reads["component"] == "sram") & (reads["category"] == "read"), "bytes"].sum() >= \
        2 * weight_bytes
    ht.check_run(run)


def test_programming_the_crossbar_is_counted_as_nvm_wear():
    platform = _cim_platform()
    work = ht.make_workload(("t0",), _at(0.0), hidden=32, seq=8)
    run = evaluate(work, platform)
    wear = run.meta["memory_writes"][array_name("cim")]
    weights = sum(t.stored_bytes for t in work.traces["t0"].tensors.values() if t.role == "weight")
    assert wear["program_bytes"] == pytest.approx(weights)
    assert wear["program_energy_J"] == pytest.approx(weights * platform.memories[array_name("cim")]
                                                     .write_energy_per_byte_J)


def test_edge_cim_loads_and_puts_the_backbone_matrices_into_its_crossbar():
    p = load_platform("edge-cim")
    assert p.compute["cim"].kind == "cim_crossbar" and p.memories[array_name("cim")].in_unit == "cim"
    assert p.placement.roles["weight"][0] == array_name("cim")
    assert p.area_m2 > load_platform("edge-rram").area_m2


# ---- the unit protocol ---------------------------------------------------------------------------------
def _units(draw_rows, draw_lanes, draw_tiles):
    return [MacArray(rows=draw_rows, cols=draw_rows), VectorUnit(lanes=draw_lanes),
            CimCrossbar(tiles=draw_tiles, rows=draw_rows * 8, cols=draw_rows * 8)]


def _op(kind, m, k, n):
    gemm = (1, m, k, n) if kind == "matmul" else None
    return SimpleNamespace(kind=kind, gemm=gemm, macs=m * k * n if gemm else 0, other_ops=m * n,
                           reads={0: m * k, 1: k * n}, writes={2: m * n})


@settings(max_examples=40, deadline=None)
@given(rows=st.sampled_from([2, 4, 8, 16]), lanes=st.sampled_from([4, 16]), tiles=st.integers(1, 8),
       kind=st.sampled_from(["matmul", "elementwise", "softmax"]), m=st.integers(1, 64),
       k=st.integers(1, 256), n=st.integers(1, 256), grow=st.sampled_from(["m", "k", "n"]))
def test_more_work_never_costs_a_unit_less(rows, lanes, tiles, kind, m, k, n, grow):
    small = _op(kind, m, k, n)
    big = _op(kind, *(x * 2 if g == grow else x for x, g in zip((m, k, n), "mkn")))
    for unit in _units(rows, lanes, tiles):
        assert isinstance(unit, ComputeUnit)
        if not unit.can_run(small):
            continue
        a, b = unit.work(small), unit.work(big)
        e = unit.action_energy_J()
        assert b.cycles >= a.cycles
        assert sum(c * e[x] for x, c in b.counts.items()) >= sum(c * e[x] for x, c in a.counts.items())
        assert 0.0 <= a.utilisation <= 1.0 + 1e-12


@settings(max_examples=15, deadline=None)
@given(slow=st.floats(0.1e9, 1e9), factor=st.floats(1.0, 4.0))
def test_a_faster_clock_never_slows_a_unit(slow, factor):
    platform = ht.make_platform("p", _fast_memories(), op_points={"slow": (0.8, slow), "fast": (0.8, slow * factor)})
    platform = dataclasses.replace(_cim_platform(), operating_points=platform.operating_points,
                                   default_operating_point="slow")
    prepared = prepare(ht.make_workload(("t0",), _at(0.0), hidden=32, seq=8), platform)
    pp = platform_params([platform], prepared.memories)
    ta = prepared.tasks["t0"]
    t_slow = op_costs(ta, pp, pp.op_index("slow")).t_compute
    t_fast = op_costs(ta, pp, pp.op_index("fast")).t_compute
    assert np.all(t_fast <= t_slow * (1 + 1e-12))
    assert math.isclose(float(t_slow.sum()), float(t_fast.sum()) * factor, rel_tol=1e-9)


# ---- platform YAML: the named collection ----------------------------------------------------------------
def _yaml_with_compute(tmp_path, compute: str):
    text = (load_platform("edge-rram").source and open(load_platform("edge-rram").source).read())
    start = text.index("compute:")
    end = text.index("links:")
    path = tmp_path / "p.yaml"
    text = text[:start] + compute + text[end:]
    # the bundled voltage domain names the bundled units: scale whatever units the test gives
    domain = text.index("voltage_domain:")
    text = text[:domain] + text[text.index("default_operating_point:"):]
    path.write_text(text)
    return path


def test_platform_yaml_names_any_number_of_units(tmp_path):
    path = _yaml_with_compute(tmp_path, """compute:
  mac0: {kind: mac_array, rows: 16, cols: 16, dataflow: ws, weight_bits: 8, act_bits: 16, acc_bits: 16}
  mac1: {kind: mac_array, rows: 16, cols: 16, dataflow: ws, weight_bits: 8, act_bits: 16, acc_bits: 16}
  vec: {kind: vector_unit, lanes: 16}
""")
    p = load_platform(path)
    assert list(p.compute) == ["mac0", "mac1", "vec"] and p.mac_array is p.compute["mac0"]
    old = load_platform("edge-rram")
    assert p.area_m2 == pytest.approx(old.area_m2 + old.mac_array.area_m2, rel=1e-12)


@pytest.mark.parametrize("compute,message", [
    ("compute:\n  m: {kind: tpu, rows: 2}\n", "compute.m.kind: got 'tpu'; expected one of"),
    ("compute:\n  m: {kind: mac_array, rows: 0, cols: 2, dataflow: ws, weight_bits: 8, act_bits: 8, "
     "acc_bits: 16}\n", "compute.m.rows: got 0; expected"),
    ("compute:\n  m: {kind: cim_crossbar, rows: 2}\n", "compute.m.tiles: missing"),
])
def test_a_bad_unit_names_its_field(tmp_path, compute, message):
    with pytest.raises(HardwareConfigError, match=message):
        load_platform(_yaml_with_compute(tmp_path, compute))


# ---- caches: value-keyed and bounded ---------------------------------------------------------------------
def test_the_mapping_cache_is_value_keyed_and_bounded(monkeypatch):
    from simulator.prepare import mapping

    def build():
        buf = dataclasses.replace(ht.make_memory("buf", capacity_bytes=4096), is_buffer=True)
        roles = {r: ["sram"] for r in ("weight", "embedding", "adapter", "activation", "input", "output",
                                       "kv_cache", "state")}
        return ht.make_platform("p", {**_fast_memories(), "buf": buf}, roles=roles)

    platform, twin = build(), build()
    hw, hw_twin = (mapping.hardware(p, p.memories["buf"]) for p in (platform, twin))
    assert hw == hw_twin and hash(hw) == hash(hw_twin)          # equal figures, equal keys
    mapping.clear_cache()
    monkeypatch.setattr(mapping, "CACHE_SIZE", 5)
    gemms = [mapping.Gemm(1, 8, 8 * (i + 1), 8, 1.0, 1.0, 2.0, 4.0, "sram", "sram", "sram") for i in range(9)]
    first = mapping.best_mapping(gemms[0], hw)
    assert mapping.best_mapping(gemms[0], hw_twin) is first    # a twin platform hits the same entry
    for g in gemms:
        mapping.best_mapping(g, hw)
    assert len(mapping._CACHE) == 5                             # bounded: least recently used dropped
    mapping.clear_cache()
