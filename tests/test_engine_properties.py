"""Properties of the engine on random platforms, workloads and request streams (simulator.testing)."""
from hypothesis import given, settings, strategies as st

from simulator import testing as ht
from simulator.prepare import streams
from simulator.cost.tables import prepare
from simulator.engine.discrete_event import simulate

DYNAMIC = ["read", "write", "compute", "transfer", "switch_load"]


def _dynamic_per_request(run):
    rows = run.ledger[run.ledger["category"].isin(DYNAMIC)]
    return rows.groupby("request")["energy_J"].sum()


@given(scenario=ht.scenarios(), in_flight=st.integers(1, 3))
@settings(max_examples=60, deadline=None)
def test_ledger_sums_to_the_total_and_nothing_is_negative(scenario, in_flight):
    workload, platform = scenario
    run = simulate(workload, platform, max_in_flight=in_flight)
    ht.check_run(run)


@given(scenario=ht.scenarios(), in_flight=st.integers(1, 2), seed=st.integers(0, 100))
@settings(max_examples=25, deadline=None)
def test_same_seed_same_numbers(scenario, in_flight, seed):
    workload, platform = scenario
    ht.check_same_run(simulate(workload, platform, max_in_flight=in_flight, seed=seed),
                      simulate(workload, platform, max_in_flight=in_flight, seed=seed))


@given(platform=ht.platforms(), seed=st.integers(0, 2**31), n=st.integers(2, 8))
@settings(max_examples=20, deadline=None)
def test_same_stream_seed_same_run(platform, seed, n):
    def run():
        stream = streams.poisson({"t0": 1.0, "t1": 2.0}, n, 1e5, 0.5, seed)
        return simulate(ht.make_workload(("t0", "t1"), stream=stream), platform)
    ht.check_same_run(run(), run())


@given(workload=ht.workloads(max_tasks=2, max_requests=4), platform=ht.platforms(), k=st.integers(1, 3),
       extra=st.floats(1e-9, 1e-2))
@settings(max_examples=50, deadline=None)
def test_idle_time_adds_exactly_idle_power_times_time(workload, platform, k, extra):
    tasks = [r.task for r in workload.stream] + ["t0"] * 4
    spaced = streams.fixed(tasks[:k + 1], 1e-2)                     # gaps far longer than any request
    base = workload.with_stream(spaced)
    later = workload.with_stream(spaced.shifted(k, extra))           # request k arrives `extra` s later
    prepared = prepare(base, platform)
    ht.check_idle_leakage(simulate(base, platform, prepared=prepared),
                          simulate(later, platform, prepared=prepared), extra)


@given(scenario=ht.scenarios(power_gating=False), factor=st.sampled_from([2, 4]))
@settings(max_examples=50, deadline=None)
def test_more_bytes_never_cost_less(scenario, factor):
    workload, platform = scenario
    bigger = workload.__class__(workload.name, {
        t: tr.with_compression(_ScaleBits(factor)) for t, tr in workload.traces.items()}, workload.stream)
    small, big = simulate(workload, platform), simulate(bigger, platform)
    assert big.total_energy_J >= small.total_energy_J * (1 - 1e-12)
    d_small, d_big = _dynamic_per_request(small), _dynamic_per_request(big)
    assert (d_big >= d_small * (1 - 1e-12)).all()
    assert (big.requests["latency_s"] >= small.requests["latency_s"] * (1 - 1e-12)).all()


class _ScaleBits:
    """A compression 'policy' that multiplies every tensor's bits (more bytes, same elements)."""

    def __init__(self, factor):
        self.factor = factor

    def apply(self, t):
        from dataclasses import replace
        return replace(t, bits=t.bits * self.factor)


@given(scenario=ht.scenarios(), factor=st.floats(1.0, 10.0), which=st.sampled_from(["sram", "nvm", "dram", "all"]))
@settings(max_examples=50, deadline=None)
def test_a_faster_memory_never_makes_a_request_slower(scenario, factor, which):
    workload, platform = scenario
    if which == "all":
        fast = ht.all_memories_faster(platform, factor)
    else:
        m = platform.memories[which]
        fast = ht.with_memory(platform, which, read_latency_s=m.read_latency_s / factor,
                              write_latency_s=m.write_latency_s / factor)
    prepared = prepare(workload, platform)
    slow_run = simulate(workload, platform, prepared=prepared)
    fast_run = simulate(workload, fast, prepared=prepare(workload, fast, prepared.placement))
    assert (fast_run.requests["latency_s"] <= slow_run.requests["latency_s"] * (1 + 1e-12)).all()
