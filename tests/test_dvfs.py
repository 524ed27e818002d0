"""Per-request DVFS (issue 14): EdgeBERT's policy equals a brute force over operating points, a looser
latency target never raises the energy, and the alternatives fixed / race_to_idle."""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw_models import load_platform
from simulator import testing as ht
from simulator.analytic import evaluate, evaluate_variants
from simulator.cost.tables import idle_power, platform_params, prepare
from simulator.prepare import streams
from simulator.prepare.served_workload import Workload
from simulator.study import dvfs


@pytest.fixture(scope="module")
def setup():
    from workloads import CompressionPolicy
    from workloads.multitask import trace_tasks

    eight = CompressionPolicy({"weight": 8, "embedding": 8, "adapter": 8})   # fits edge-sram's 16 MiB

    traces = trace_tasks("tinybert-4l-312", ["sst2", "mnli"], adapter="houlsby:8", seq_len=16, layers=4,
                         exits=[1, 2, 3], compression=eight)
    stream = streams.fixed(["sst2", "mnli", "mnli", "sst2", "sst2", "mnli"], 0.02).with_fields(
        exit_layer=[1, 2, 4, 3, 4, 1])
    workload = Workload("ee", traces, stream)
    platform = load_platform("edge-sram")   # nothing gated: slowing down does not keep DRAM awake
    # only the compute units in the voltage domain, SRAMs always on: the bundled edge-sram also scales its
    # SRAMs and drops them to retention voltage between requests, so a longer service keeps sram-hp at full
    # leakage longer, which outweighs the V² saving at every point (tests/test_voltage_domains.py); here a
    # slack target must be able to save energy
    platform = dataclasses.replace(platform, voltage_domain={"memories": [], "units": list(platform.compute)})
    for name in platform.memories:
        platform = ht.with_memory(platform, name, power_state="always_on")
    return workload, platform, prepare(workload, platform)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 5), P=st.integers(1, 3), seed=st.integers(0, 10_000),
       switch=st.sampled_from([0.0, 0.3]), target=st.floats(0.5, 3.0))
def test_choose_points_equals_a_brute_force_over_point_sequences(n, P, seed, switch, target):
    rng = np.random.default_rng(seed)
    times = rng.uniform(0.2, 3.0, (n, P))
    energies = rng.uniform(0.1, 5.0, (n, P))
    start = int(rng.integers(P))
    chosen = dvfs.choose_points(times, energies, target, start=start, switch_s=switch, switch_J=switch)

    def cost(seq):
        late = energy = 0.0
        prev = start
        for i, p in enumerate(seq):
            moved = p != prev
            late += max(0.0, times[i, p] + (switch if moved else 0.0) - target)
            energy += energies[i, p] + (switch if moved else 0.0)
            prev = p
        return round(late, 12), energy

    best = min(cost(s) for s in itertools.product(range(P), repeat=n))
    got = cost(chosen)
    assert got[0] == best[0] and got[1] == pytest.approx(best[1], rel=1e-12, abs=1e-15)


def test_the_edgebert_choice_equals_a_brute_force_through_the_closed_form(setup):
    workload, platform, prepared = setup
    names = list(platform.operating_points)
    idle = float(idle_power(platform_params([platform], prepared.memories))[0].sum())
    for target in (2e-4, 6e-4, 1.2e-3, 5e-3):
        chosen = dvfs.assign(prepared, platform, workload.stream, latency_target_s=target)
        for r, c in zip(workload.stream, chosen):
            # brute force: run the request alone at each point in the evaluator; keep those in time
            best = None
            for name in names:
                one = Workload("one", workload.traces, streams.RequestStream(
                    (dataclasses.replace(r, id=0, arrival_s=0.0, operating_point=name),)))
                out = evaluate(one, platform, prepared=dataclasses.replace(prepared, workload=one))
                t = float(out.requests["service_s"][0])
                # a request's share of the run: its energy with the idle power it displaces taken off
                e = out.meta["total_energy_J"] - idle * t
                cand = (max(0.0, t - target) > 1e-12, round(max(0.0, t - target), 12), e, name)
                best = cand if best is None or cand[:3] < best[:3] else best
            assert c.operating_point == best[3], (target, r)


def test_a_looser_latency_target_never_raises_the_energy(setup):
    workload, platform, prepared = setup
    idle = float(idle_power(platform_params([platform], prepared.memories))[0].sum())
    window = workload.stream.arrivals_s[-1] + 0.02   # every run is charged over the same time
    energies = []
    for target in np.geomspace(1e-4, 1e-2, 12):
        s = dvfs.assign(prepared, platform, workload.stream, latency_target_s=float(target),
                        switch_time_s=1e-6, switch_energy_J=2.4e-9)
        p = dataclasses.replace(prepared, workload=workload.with_stream(s))
        row = evaluate_variants(p, [platform]).iloc[0]
        energies.append(float(row["energy_J"]))
        window_energy = float(row["energy_J"]) + idle * (window - float(row["makespan_s"]))
        # the engine's own closed form books the same transitions
        out = evaluate(workload.with_stream(s), platform, prepared=prepared)
        assert out.meta["total_energy_J"] == pytest.approx(energies[-1], rel=1e-9)
        transitions = out.ledger[out.ledger["component"] == "dvfs_regulator"]
        assert transitions["energy_J"].sum() == pytest.approx(2.4e-9 * sum(r.transition_J > 0 for r in s))
        energies[-1] = window_energy
    assert all(b <= a * (1 + 1e-12) for a, b in zip(energies, energies[1:]))
    assert energies[-1] < energies[0]   # on this platform a slack target does save energy


def test_fixed_and_race_to_idle(setup):
    workload, platform, prepared = setup
    fixed = dvfs.assign(prepared, platform, workload.stream, policy="fixed", operating_point="low")
    assert {r.operating_point for r in fixed} == {"low"} and not any(r.transition_s for r in fixed)
    race = dvfs.assign(prepared, platform, workload.stream, policy="race_to_idle")
    fastest = max(platform.operating_points.values(), key=lambda o: o.frequency_Hz)
    assert {platform.operating_points[r.operating_point].frequency_Hz for r in race} == {fastest.frequency_Hz}
    lat = evaluate(workload.with_stream(race), platform, prepared=prepared).requests["service_s"]
    for other in platform.operating_points:
        slow = evaluate(workload.with_stream(workload.stream.with_operating_point(other)), platform,
                        prepared=prepared).requests["service_s"]
        assert (lat <= slow * (1 + 1e-12)).all()


def test_variants_with_different_default_points_refuse_a_shared_default_and_each_runs_at_its_own():
    """``PlatformParams`` keeps each variant's default operating point; asking for the one default of
    variants that differ is an error (never the first variant's, the bug 8bff5c0 fixed), and
    ``evaluate_variants`` runs each at its own (equal to evaluating it alone)."""
    base = ht.make_platform(op_points={"nominal": (0.8, 1e9), "low": (0.6, 5e8)})
    low = dataclasses.replace(base, default_operating_point="low")
    pp = platform_params([base, low])
    assert pp.default_ops.tolist() == [pp.op_points.index("nominal"), pp.op_points.index("low")]
    with pytest.raises(ValueError, match="differ in their default operating point"):
        pp.op_index(None)
    assert platform_params([low, low]).op_index(None) == pp.op_points.index("low")
    workload = ht.make_workload()
    prepared = prepare(workload, base)
    both = evaluate_variants(prepared, [base, low])
    alone = evaluate_variants(prepared, [low]).iloc[0]
    assert both.iloc[1]["energy_J"] == alone["energy_J"] and both.iloc[1]["energy_J"] != both.iloc[0]["energy_J"]
