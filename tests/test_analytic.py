"""The analytic evaluator against the engine (same costs, independent timing) and against hw_models'
own cost functions; the vectorised variant evaluator against the one-platform evaluator."""
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from simulator import testing as ht
from simulator.prepare import streams
from simulator.analytic.closed_form import evaluate, evaluate_variants
from simulator.cost.tables import op_costs, platform_params, prepare, transfer_time
from simulator.engine.discrete_event import simulate

REL = 1e-9


def _close(a, b, rel=REL):
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


@given(scenario=ht.scenarios(prefetch_depth=0))
@settings(max_examples=60, deadline=None)
def test_engine_agrees_with_evaluator_without_prefetch_one_request_at_a_time(scenario):
    workload, platform = scenario
    prepared = prepare(workload, platform)
    eng = simulate(workload, platform, prepared=prepared)
    ana = evaluate(workload, platform, prepared=prepared)
    assert _close(eng.total_energy_J, ana.total_energy_J)
    assert _close(eng.meta["total_energy_J"], ana.meta["total_energy_J"])
    for col in ("start_s", "end_s", "latency_s", "energy_J"):
        for x, y in zip(eng.requests[col], ana.requests[col]):
            assert _close(x, y), (col, x, y)
    by = ["component", "category"]
    e = eng.ledger.groupby(by)["energy_J"].sum()
    a = ana.ledger.groupby(by)["energy_J"].sum()
    assert list(e.index) == list(a.index)
    assert all(_close(x, y) for x, y in zip(e, a))


@given(scenario=ht.scenarios(prefetch_depth=0, adapters="resident"), in_flight=st.integers(2, 4),
       period=st.floats(0.0, 2e-6))
@settings(max_examples=60, deadline=None)
def test_engine_is_never_faster_than_the_evaluator_under_contention(scenario, in_flight, period):
    workload, platform = scenario
    tasks = workload.tasks
    burst = streams.round_robin(tasks, 2 * in_flight, period)       # arrivals closer than a service time
    workload = workload.with_stream(burst)
    prepared = prepare(workload, platform)
    eng = simulate(workload, platform, prepared=prepared, max_in_flight=in_flight)
    ana = evaluate(workload, platform, prepared=prepared)
    # each request alone takes the evaluator's service time; sharing the machine can only add to it
    for lat, alone in zip(eng.requests["latency_s"], ana.requests["service_s"]):
        assert lat >= alone * (1 - REL)
    assert eng.requests["end_s"].max() >= ana.requests["service_s"].sum() / in_flight * (1 - REL)


@given(scenario=ht.scenarios(prefetch_depth=0), period=st.floats(0.0, 1e-6))
@settings(max_examples=30, deadline=None)
def test_queueing_matches_the_closed_form(scenario, period):
    """Overlapping arrivals, one request in flight: the engine's queue is the evaluator's recursion."""
    workload, platform = scenario
    workload = workload.with_stream(streams.round_robin(workload.tasks, 5, period))
    prepared = prepare(workload, platform)
    eng = simulate(workload, platform, prepared=prepared)
    ana = evaluate(workload, platform, prepared=prepared)
    for x, y in zip(eng.requests["latency_s"], ana.requests["latency_s"]):
        assert _close(x, y)


@given(platform=ht.platforms(), nbytes=st.floats(0.0, 1e7))
@settings(max_examples=80, deadline=None)
def test_cost_arrays_match_hw_models_functions(platform, nbytes):
    pp = platform_params([platform])
    for k, (name, m) in enumerate(platform.memories.items()):
        assert _close(nbytes * pp.read_J[0, k], m.read_energy(nbytes))
        assert _close(nbytes * pp.write_J[0, k], m.write_energy(nbytes))
        t = transfer_time(np.array(nbytes), pp.read_lat[0, k], pp.read_bw[0, k], np.inf)
        assert _close(float(t), m.read_time(nbytes))
        t = transfer_time(np.array(nbytes), pp.write_lat[0, k], pp.write_bw[0, k], np.inf)
        assert _close(float(t), m.write_time(nbytes))
        link = platform.link_between(name, "compute")
        assert _close(nbytes * pp.path_J[0, k], link.transfer_energy(nbytes))
        both = transfer_time(np.array(nbytes), pp.read_lat[0, k], pp.read_bw[0, k], pp.path_bw[0, k])
        assert _close(float(both), max(m.read_time(nbytes), link.transfer_time(nbytes)))


@given(workload=ht.workloads(), base=ht.platforms(prefetch_depth=0), factors=st.lists(
    st.floats(0.25, 4.0), min_size=1, max_size=5))
@settings(max_examples=30, deadline=None)
def test_variants_agree_with_one_platform_evaluation(workload, base, factors):
    sram = base.memories["sram"]
    variants = [ht.with_memory(base, "sram", read_energy_per_access_J=sram.read_energy_per_access_J * f,
                               read_latency_s=base.memories["sram"].read_latency_s * f,
                               leakage_W=base.memories["sram"].leakage_W * f) for f in factors]
    prepared = prepare(workload, base)
    table = evaluate_variants(prepared, variants, chunk=2)
    for v, platform in enumerate(variants):
        one = evaluate(workload, platform, prepared=prepared)    # the same traffic (mapping) as the sweep
        row = table.iloc[v]
        assert _close(row["energy_J"], one.total_energy_J)
        assert _close(row["leakage_J"], one.meta["leakage_energy_J"])
        assert _close(row["latency_p99_s"], float(np.percentile(one.requests["latency_s"], 99)))
        assert _close(row["makespan_s"], one.meta["makespan_s"])


@given(scenario=ht.scenarios())
@settings(max_examples=30, deadline=None)
def test_lower_bound_is_below_every_request(scenario):
    workload, platform = scenario
    run = evaluate(workload, platform)
    for task, energy in zip(run.requests["task"], run.requests["energy_J"]):
        assert run.meta["lower_bound_J"][task] <= energy * (1 + REL)


def test_dvfs_scales_compute_energy_by_v_squared_and_time_by_frequency():
    points = {"nominal": (0.8, 1e9), "low": (0.6, 0.5e9)}
    platform = ht.make_platform(op_points=points)
    w = ht.make_workload(("a",))
    nominal = evaluate(w, platform)
    low = evaluate(w.with_stream(w.stream.with_operating_point("low")), platform)

    def compute(run):
        rows = run.ledger[run.ledger["category"] == "compute"]
        return rows["energy_J"].sum(), (rows["end_s"] - rows["start_s"]).sum()
    (e0, t0), (e1, t1) = compute(nominal), compute(low)
    assert e1 == pytest.approx(e0 * (0.6 / 0.8) ** 2, rel=1e-12)
    assert t1 == pytest.approx(t0 * 2, rel=1e-12)
    mem = ["read", "write", "transfer"]
    assert nominal.ledger[nominal.ledger["category"].isin(mem)]["energy_J"].sum() == pytest.approx(
        low.ledger[low.ledger["category"].isin(mem)]["energy_J"].sum(), rel=1e-12)


def test_variants_flag_capacity_below_the_placement_and_reject_other_structures():
    from simulator.errors import SimulationConfigError
    w = ht.make_workload(("a", "b"))
    base = ht.make_platform()
    prepared = prepare(w, base)
    need = prepared.placement.occupancy["sram"]
    small = ht.with_memory(base, "sram", capacity_bytes=int(need) - 1)
    table = evaluate_variants(prepared, [base, small])
    assert list(table["feasible"]) == [True, False]
    other = ht.make_platform(memories={"sram": ht.make_memory("sram")})
    with pytest.raises(SimulationConfigError, match="differ from"):
        evaluate_variants(prepared, [other])


@given(memory=ht.synthetic_memories("m"))
@settings(max_examples=50, deadline=None)
def test_memory_models_keep_the_cost_invariants(memory):
    ht.check_memory_costs(memory)


def test_the_bundled_platforms_memories_keep_the_cost_invariants():
    from hw_models import list_platforms, load_platform
    for name in list_platforms():
        for memory in load_platform(name).memories.values():
            ht.check_memory_costs(memory)


@given(platform=ht.platforms(), sizes=st.lists(st.floats(0.0, 1e7), min_size=1, max_size=6))
@settings(max_examples=30, deadline=None)
def test_memory_times_take_arrays_with_the_scalar_formula(platform, sizes):
    for m in platform.memories.values():
        for fn in (m.read_time, m.write_time):
            got = fn(np.array(sizes))
            assert got.shape == (len(sizes),)
            assert all(_close(float(g), fn(b)) for g, b in zip(got, sizes))


def _serial_op_times(ta, pp):
    """Fetch + compute phase + store per op, from the per-memory transfer times (independent of op_costs'
    phase bookkeeping)."""
    oc = op_costs(ta, pp, pp.default_op)
    home = ~pp.buffer[:, None, :]
    fetch = np.where(home, oc.t_read, 0.0).max(axis=2, initial=0.0)
    store = np.where(home, oc.t_write, 0.0).max(axis=2, initial=0.0)
    buf = np.where(home, 0.0, np.maximum(oc.t_read, oc.t_write)).max(axis=2, initial=0.0)
    busiest = np.where(home, oc.t_read + oc.t_write, 0.0).max(axis=2, initial=0.0)
    return fetch + np.maximum(oc.t_compute, buf) + store, np.maximum(oc.t_compute, buf), busiest, oc


@given(scenario=ht.scenarios(buffer="double"))
@settings(max_examples=40, deadline=None)
def test_double_buffering_overlaps_home_traffic_with_compute(scenario):
    workload, platform = scenario
    prepared = prepare(workload, platform)
    pp = platform_params([platform], prepared.memories)
    single = replace(pp, double_buffered=np.zeros_like(pp.double_buffered))
    for ta in prepared.tasks.values():
        serial, compute, busiest, oc = _serial_op_times(ta, single)
        assert not oc.overlap.any()
        assert np.allclose(oc.t_op, serial, rtol=1e-12, atol=0)           # single-buffered: serial
        db = op_costs(ta, pp, pp.default_op)
        assert np.array_equal(db.overlap[0], ta.staged) and ta.staged[ta.on_mac].all()
        assert (db.t_op <= serial * (1 + 1e-12)).all()                   # never slower than serial
        assert (db.t_op >= np.maximum(compute, busiest) * (1 - 1e-12)).all()  # nor than its slowest part
        assert np.array_equal(db.energy(), oc.energy())                  # overlap changes time only
        # an op with more home reads than one tile set, and some compute, gains from the overlap
        home_reads = ta.reads[:, ~pp.buffer[0]].sum(axis=1)
        half = np.array([tr.mapping.footprint_bytes / 2 if tr.mapping else np.inf for tr in ta.traffic])
        gains = ta.staged & (half < home_reads * (1 - 1e-9)) & (compute[0] > 0)
        assert gains.any() or not (half < home_reads).any()
        assert (db.t_op[0][gains] < serial[0][gains]).all()
