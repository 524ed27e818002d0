"""The contention engines give bit for bit the same numbers: the compiled event loop
(simulator/engine/kernel.py, the default of ``run_events``), the lean SimPy engine (``_Engine``) and the
engine before it (tests/reference_engine.py: commit 482d29a's per-op event structure), which itself gives
those of ``simpy.Resource``: random workloads, platforms (staging buffers single or double, prefetch 0-3,
adapters loaded on switches, power gating, operating points) and streams (all at once, round robin,
Poisson), 1-4 requests in flight, one or two MAC arrays. And each schedules fewer events than the one
before."""

import pytest
import simpy
from hypothesis import given, settings, strategies as st

import reference_engine
from simulator import testing as ht
from simulator.errors import SimulationConfigError
from simulator.prepare import streams
from simulator.cost.tables import prepare
from simulator.engine import discrete_event
from simulator.engine.discrete_event import _Engine, run_events, simulate


def _all(workload, platform, in_flight):
    prepared = prepare(workload, platform)
    depth = platform.prefetch_depth
    compiled = run_events(workload, platform, prepared, in_flight, depth)
    lean = run_events(workload, platform, prepared, in_flight, depth, engine=_Engine)
    reference = run_events(workload, platform, prepared, in_flight, depth, engine=reference_engine.ReferenceEngine)
    return compiled, lean, reference


def _same(a, b):
    ht.check_same_run(a, b)
    sa, sb = a.summary(), b.summary()
    assert sa.keys() == sb.keys()
    for k, v in sa.items():     # exact, NaN equal to NaN (no arrival rate for simultaneous arrivals)
        assert v == sb[k] or (v != v and sb[k] != sb[k]), k


@given(scenario=ht.scenarios(), in_flight=st.integers(1, 4), two_macs=st.booleans())
@settings(max_examples=60, deadline=None)
def test_engines_equal_the_previous_engine(scenario, in_flight, two_macs):
    workload, platform = scenario
    if two_macs:
        platform = ht.with_two_macs(platform)
    compiled, lean, reference = _all(workload, platform, in_flight)
    _same(compiled, lean)
    _same(lean, reference)
    assert compiled.meta["events"] < lean.meta["events"] <= reference.meta["events"]


@given(scenario=ht.scenarios(workloads_=ht.workloads(max_requests=8, stream=lambda tasks: st.builds(
    lambda ts: streams.fixed(ts, 0.0), st.lists(st.sampled_from(tasks), min_size=2, max_size=8)))),
    in_flight=st.integers(2, 4), two_macs=st.booleans())
@settings(max_examples=30, deadline=None)
def test_engines_equal_the_previous_engine_when_everything_arrives_at_once(scenario, in_flight, two_macs):
    """Simultaneous arrivals: the most ties between processes, where only SimPy's event order decides."""
    workload, platform = scenario
    if two_macs:
        platform = ht.with_two_macs(platform)
    compiled, lean, reference = _all(workload, platform, in_flight)
    _same(compiled, lean)
    _same(lean, reference)


def test_simulate_runs_the_compiled_loop_above_its_threshold(monkeypatch):
    workload = ht.make_workload(("t0", "t1"), streams.fixed(["t0", "t1", "t0", "t1"], 0.0))
    platform = ht.with_two_macs(ht.make_platform())
    prepared = prepare(workload, platform)
    simpy_run = simulate(workload, platform, prepared=prepared, max_in_flight=2)     # below: SimPy
    compiled = run_events(workload, platform, prepared, 2, platform.prefetch_depth)
    assert simpy_run.meta["events"] > compiled.meta["events"]
    monkeypatch.setattr(discrete_event, "COMPILED_ABOVE_OPS", 0)
    auto = simulate(workload, platform, prepared=prepared, max_in_flight=2)
    assert auto.meta["events"] == compiled.meta["events"]
    _same(auto, simpy_run)
    with pytest.raises(SimulationConfigError, match="engine"):
        simulate(workload, platform, prepared=prepared, max_in_flight=2, engine="fast")


@given(scenario=ht.scenarios(), in_flight=st.integers(1, 3))
@settings(max_examples=20, deadline=None)
def test_reference_engine_equals_simpy_resource(scenario, in_flight):
    """The reference's _Slot is simpy.Resource's grant order (so the lean engine is too, by the tests above)."""
    workload, platform = scenario
    prepared = prepare(workload, platform)
    depth = platform.prefetch_depth
    reference = run_events(workload, platform, prepared, in_flight, depth, engine=reference_engine.ReferenceEngine)
    original = reference_engine.ReferenceEngine.resource
    reference_engine.ReferenceEngine.resource = simpy.Resource
    try:
        plain = run_events(workload, platform, prepared, in_flight, depth, engine=reference_engine.ReferenceEngine)
    finally:
        reference_engine.ReferenceEngine.resource = original
    ht.check_same_run(reference, plain)


def test_slot_grants_in_order_and_a_new_request_does_not_jump_the_queue():
    env = simpy.Environment()
    slot = discrete_event._Slot(env)
    order = []

    def user(name, hold):
        req = slot.request()
        if req is not discrete_event._GRANTED:
            yield req
        order.append((name, env.now))
        yield env.timeout(hold)
        slot.release(req)

    for name, hold in (("a", 1.0), ("b", 1.0), ("c", 0.5)):
        env.process(user(name, hold))
    env.run()
    assert order == [("a", 0.0), ("b", 1.0), ("c", 2.0)]


def test_auto_falls_back_to_simpy_without_numba_and_compiled_says_what_is_missing(monkeypatch):
    workload = ht.make_workload(("t0", "t1"), streams.fixed(["t0", "t1", "t0"], 0.0))
    platform = ht.make_platform()
    prepared = prepare(workload, platform)
    simpy_run = simulate(workload, platform, prepared=prepared, max_in_flight=2, engine="simpy")
    monkeypatch.setattr(discrete_event, "COMPILED_ABOVE_OPS", 0)
    monkeypatch.setattr(discrete_event, "_numba_available", lambda: False)
    auto = simulate(workload, platform, prepared=prepared, max_in_flight=2)
    assert auto.meta["events"] == simpy_run.meta["events"]       # SimPy's count: it ran SimPy
    with pytest.raises(SimulationConfigError, match="engine: compiled needs numba"):
        simulate(workload, platform, prepared=prepared, max_in_flight=2, engine="compiled")
