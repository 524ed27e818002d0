"""Power states between requests: break-even gating decided identically by the engine, its replay, the
closed form, the vectorised closed form and the fast sweep path (simulator.cost.power_states)."""
import numpy as np
import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hw_models import HardwareConfigError, load_platform
from hw_models.loader import PLATFORMS_DIR
from simulator import testing as ht
from simulator.analytic.closed_form import evaluate, evaluate_variants
from simulator.cost import power_states
from simulator.cost.tables import platform_params, prepare
from simulator.engine.discrete_event import simulate
from simulator.errors import SimulationConfigError
from simulator.prepare import streams

ROLES = {"weight": ["nvm"], "embedding": ["nvm"], "adapter": ["sram"], "activation": ["sram"],
         "input": ["sram"], "output": ["sram"]}
# NVM: 0.5 mW on, 0.05 mW gated, 5 pJ wake-up -> break-even 5e-12 / 0.45e-3 = 11.1 ns
LEAK, LOW, WAKE = 0.5e-3, 0.05e-3, 5e-12
BREAK_EVEN = WAKE / (LEAK - LOW)


def _platform(nvm_state="retain_when_idle", sram_state=None, dram_state=None, wake_pJ=5.0, gating=False,
              roles=ROLES):
    mems = {"sram": ht.make_memory("sram", capacity_bytes=1 << 20, leakage_mW=2.0),
            "nvm": ht.make_memory("nvm", volatile=False, leakage_mW=0.5, wakeup_pJ=wake_pJ, wakeup_ns=10.0),
            "dram": ht.make_memory("dram", capacity_bytes=1 << 30, is_dram=True, leakage_mW=20.0)}
    p = ht.make_platform(memories=mems, roles=roles, power_gating=gating)
    p = ht.with_memory(p, "nvm", power_state=nvm_state)
    if sram_state:
        p = ht.with_memory(p, "sram", power_state=sram_state, retention_leakage_W=0.6e-3,
                           retention_wakeup_energy_J=20e-12, retention_wakeup_latency_s=2e-9)
    if dram_state:
        p = ht.with_memory(p, "dram", power_state=dram_state, power_down_W=4e-3,
                           power_down_exit_latency_s=5e-9)
    return p


def _two(platform, gap_s, evaluator=simulate, **kw):
    """Two requests with an idle gap of ``gap_s`` s between the first's end and the second's arrival."""
    w = ht.make_workload(("a",), stream=streams.fixed(["a"], 1.0))
    service = float(evaluator(w, platform, **kw).requests["service_s"].iloc[0])
    w2 = ht.make_workload(("a",), stream=streams.fixed(["a", "a"], service + gap_s))
    return evaluator(w2, platform, **kw)


def _idle(run, component):
    led = run.ledger
    return led[(led["request"] == -1) & (led["component"] == component)]["energy_J"].sum()


def _wake(run, component):
    led = run.ledger
    return led[(led["category"] == "wakeup") & (led["component"] == component)]["energy_J"]


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=0.0, max_value=1e-6))
@example(BREAK_EVEN * 0.5)
@example(BREAK_EVEN * 1.01)
def test_a_gated_memory_costs_its_gated_power_plus_one_wakeup_and_never_gates_below_break_even(gap):
    for run in (_two(_platform(), gap), _two(_platform(), gap, replay=False), _two(_platform(), gap, evaluate)):
        _check_gap(run, gap)


def _check_gap(run, gap):
    first_end = float(run.requests["end_s"].iloc[0])
    second_start = float(run.requests["start_s"].iloc[1])
    idle_s = second_start - first_end
    idle, wake = _idle(run, "nvm"), _wake(run, "nvm")
    assert idle_s == pytest.approx(gap, abs=1e-15)
    if gap > BREAK_EVEN:
        assert idle == pytest.approx(LOW * idle_s, rel=1e-9, abs=1e-30)
        assert len(wake) == 1 and wake.sum() == pytest.approx(WAKE, rel=1e-12)
    else:
        assert idle == pytest.approx(LEAK * idle_s, rel=1e-9, abs=1e-30)
        assert wake.empty                                   # below break-even: stays on, no wake-up
    # sleeping never costs more than staying on over the same gap
    assert idle + wake.sum() <= LEAK * idle_s * (1 + 1e-12) + 1e-30


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=0.0, max_value=1e-6))
@example(5e-9)
@example(2e-8)
def test_compute_units_gate_only_past_their_break_even(gap):
    platform = _platform(gating=True)
    pp = platform_params([platform])
    M = len(platform.memories)
    run = _two(platform, gap)
    idle_s = float(run.requests["start_s"].iloc[1]) - float(run.requests["end_s"].iloc[0])
    for u, name in enumerate(pp.units):
        on, be, wake_J = pp.on_W[0, M + u], pp.break_even_s[0, M + u], pp.wake_Jc[0, M + u]
        assert on > 0 and 0 < be < np.inf and wake_J == pytest.approx(on * be, rel=1e-12)
        if idle_s > be:
            assert _idle(run, name) == 0 and _wake(run, name).sum() == pytest.approx(wake_J, rel=1e-12)
        else:
            assert _idle(run, name) == pytest.approx(on * idle_s, rel=1e-9, abs=1e-30)
            assert _wake(run, name).empty


def test_sram_retention_voltage_keeps_data_at_its_retention_leakage():
    p = _platform(sram_state="retain_when_idle")   # the SRAM holds adapters: retention keeps them
    run = _two(p, 1e-3)
    assert _idle(run, "sram") == pytest.approx(0.6e-3 * 1e-3, rel=1e-9)
    assert _wake(run, "sram").sum() == pytest.approx(20e-12, rel=1e-12)
    on = _two(_platform(), 1e-3)
    assert _idle(on, "sram") == pytest.approx(2e-3 * 1e-3, rel=1e-9)


def test_retention_wakeup_latency_delays_the_request():
    p = _platform(nvm_state="always_on", sram_state="retain_when_idle")
    run = _two(p, 1e-3)
    later = float(run.requests["service_s"].iloc[1]) - float(run.requests["service_s"].iloc[0])
    assert later == pytest.approx(2e-9, rel=1e-6)


GAPS = [BREAK_EVEN / 2, BREAK_EVEN * 2, 3e-8, 1e-6, 1e-3]


@pytest.mark.parametrize("gap", GAPS)
def test_engine_closed_form_and_variants_agree_with_power_states(gap):
    platform = _platform(dram_state="power_down_when_idle", sram_state="retain_when_idle", gating=True)
    a, b = _two(platform, gap, simulate), _two(platform, gap, evaluate)
    assert a.total_energy_J == pytest.approx(b.total_energy_J, rel=1e-9)
    for cat in ("wakeup", "leakage", "refresh"):
        assert a.ledger[a.ledger["category"] == cat]["energy_J"].sum() == pytest.approx(
            b.ledger[b.ledger["category"] == cat]["energy_J"].sum(), rel=1e-9, abs=1e-30)
    np.testing.assert_allclose(a.requests["end_s"], b.requests["end_s"], rtol=1e-12)
    w = ht.make_workload(("a",), stream=b.workload.stream)
    row = evaluate_variants(prepare(w, platform), [platform]).iloc[0]
    assert row["energy_J"] == pytest.approx(b.total_energy_J, rel=1e-9)


@settings(max_examples=15, deadline=None)
@given(gaps=st.lists(st.sampled_from([0.0, 1e-9, 5e-9, 2e-8, 1e-7, 1e-5, 1e-3]), min_size=2, max_size=8),
       prefetch=st.sampled_from([0, 2]))
def test_replay_equals_the_full_simulation_with_gating(gaps, prefetch):
    """Gaps on both sides of every break-even time: replayed shapes wake exactly what the full simulation
    wakes, and the idle energy of every gap is the same."""
    platform = _platform(dram_state="power_down_when_idle", sram_state="retain_when_idle", gating=True)
    w = ht.make_workload(("a",), stream=streams.fixed(["a"], 1.0))
    service = float(simulate(w, platform, replay=False).requests["service_s"].iloc[0])
    arrivals = np.cumsum([0.0] + [service + 3e-9 + g for g in gaps])   # 3 ns: above the longest wake-up
    stream = streams.RequestStream(tuple(streams.Request(k, float(t), "a") for k, t in enumerate(arrivals)))
    w = ht.make_workload(("a",), stream=stream)
    prepared = prepare(w, platform)
    rep = simulate(w, platform, prepared=prepared, prefetch_depth=prefetch)
    full = simulate(w, platform, prepared=prepared, prefetch_depth=prefetch, replay=False)
    assert rep.meta.get("replay") and not full.meta.get("replay")
    assert rep.total_energy_J == pytest.approx(full.total_energy_J, rel=1e-9)
    np.testing.assert_allclose(rep.requests["end_s"], full.requests["end_s"], rtol=1e-12)
    for cat in ("wakeup", "leakage", "refresh"):
        for comp in list(platform.memories) + list(platform.compute):
            sel = lambda r: r.ledger[(r.ledger["category"] == cat) & (r.ledger["component"] == comp)]
            assert sel(rep)["energy_J"].sum() == pytest.approx(sel(full)["energy_J"].sum(), rel=1e-9, abs=1e-30)


def test_dram_self_refreshes_between_requests_when_it_powers_down_inside_them():
    on = _two(_platform(), 1e-3)
    down = _two(_platform(dram_state="power_down_when_idle"), 1e-3)
    dram = down.platform.memories["dram"]
    assert _idle(down, "dram") == pytest.approx(dram.gated_leakage_W * 1e-3, rel=1e-6)
    assert _idle(on, "dram") == pytest.approx(20e-3 * 1e-3, rel=1e-6)
    assert _wake(down, "dram").sum() == pytest.approx(dram.wakeup_energy_J, rel=1e-9)   # self-refresh exit


@pytest.mark.parametrize("role", ["adapter", "weight", "embedding"])
def test_a_volatile_memory_holding_live_data_is_never_gated(role):
    roles = dict(ROLES, adapter=["nvm"])
    roles[role] = ["sram"]
    p = ht.with_memory(_platform(roles=roles), "sram", power_state="gate_when_idle")
    w = ht.make_workload(("a",), stream=streams.fixed(["a"], 0.0))
    with pytest.raises(SimulationConfigError, match=rf"memories\.sram\.power_state: gate_when_idle loses the {role}"):
        simulate(w, p)
    with pytest.raises(SimulationConfigError, match=r"gate_when_idle loses"):
        evaluate(w, p)
    # retention keeps the data: allowed
    simulate(w, ht.with_memory(p, "sram", power_state="retain_when_idle", retention_leakage_W=1e-4))


@pytest.mark.parametrize("role,refused", [("kv_cache", True), ("state", True), ("activation", False),
                                          ("input", False), ("output", False)])
def test_run_time_tensors_that_live_across_requests_forbid_gating(role, refused):
    import pandas as pd

    p = ht.with_memory(_platform(), "sram", power_state="gate_when_idle")
    placement = type("P", (), {"table": pd.DataFrame({"tensor": ["x"], "role": [role], "memory": ["sram"]})})()
    if refused:
        with pytest.raises(SimulationConfigError, match=rf"loses the {role} x"):
            power_states.check_placement(p, placement)
    else:
        power_states.check_placement(p, placement)
    # a non-volatile memory keeps its data when gated: never refused
    q = ht.with_memory(_platform(), "nvm", power_state="gate_when_idle")
    placement.table["memory"] = "nvm"
    power_states.check_placement(q, placement)


def test_a_memory_holding_only_per_request_data_may_be_gated():
    roles = dict(ROLES, adapter=["nvm"])
    p = ht.with_memory(_platform(roles=roles), "sram", power_state="gate_when_idle")
    run = simulate(ht.make_workload(("a",), stream=streams.fixed(["a", "a"], 1e-3)), p)
    assert not _wake(run, "sram").empty
    assert _idle(run, "sram") == pytest.approx(p.memories["sram"].gated_leakage_W * (
        float(run.requests["start_s"].iloc[1]) - float(run.requests["end_s"].iloc[0])), rel=1e-9)


def test_platform_files_reject_a_state_the_technology_lacks(tmp_path):
    doc = yaml.safe_load((PLATFORMS_DIR / "edge-rram.yaml").read_text())
    doc["memories"]["act_sram"]["power_state"] = "power_down_when_idle"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(HardwareConfigError, match=r"memories\.act_sram\.power_state: got 'power_down_when_idle'"):
        load_platform(str(tmp_path / "p.yaml"))
    doc["memories"]["act_sram"]["power_state"] = "retain_when_idle"
    doc["memories"]["dram"]["power_state"] = "power_down_when_idle"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc))
    p = load_platform(str(tmp_path / "p.yaml"))
    assert p.memories["dram"].power_state == "power_down_when_idle" and p.memories["dram"].power_down_W > 0
    sram = p.memories["act_sram"]
    assert 0 < sram.retention_leakage_W < sram.leakage_W and sram.retention_wakeup_energy_J < sram.wakeup_energy_J


def test_break_even_is_wakeup_energy_over_power_saved():
    be = power_states.break_even_s(np.array([2.0, 1.0, 1.0, 1.0]), np.array([1.0, 1.0, 2.0, 0.0]),
                                   np.array([3.0, 1.0, 1.0, 0.0]))
    assert be.tolist() == [3.0, np.inf, np.inf, 0.0]


# ------------------------------------------------------------------ DRAM power-down inside a request
PD_ROLES = dict(ROLES, weight=["dram"], embedding=["dram"])


def _pd_platform(exit_pJ=None, **kw):
    p = _platform(dram_state="power_down_when_idle", roles=PD_ROLES, **kw)
    if exit_pJ is not None:   # an exit energy beyond the tXP every transfer waits: a break-even time
        p = ht.with_memory(p, "dram", power_down_exit_energy_J=exit_pJ * 1e-12)
    return p


def _hand_power_down(run, platform):
    """DRAM busy energy of each request from its ledger rows, by hand: standby power over the service, but
    power-down power over every gap between its own transfers (and before the first, after the last)
    longer than the break-even time, plus one exit energy per such gap that ends at a transfer (none by
    default: the exit's tXP at standby power is inside every transfer's latency)."""
    dram = platform.memories["dram"]
    exit_J = dram.power_down_exit_energy_J
    be = exit_J / (dram.leakage_W - dram.power_down_W)
    led = run.ledger
    out = []
    for _, req in run.requests.iterrows():
        rows = led[(led["request"] == req["request"]) & (led["component"] == "dram")
                   & led["category"].isin(["read", "write", "switch_load"]) & (led["bytes"] > 0)]
        t, down, exits = float(req["start_s"]), 0.0, 0
        for s, e in sorted(zip(rows["start_s"], rows["end_s"])):
            if s - t > be:
                down, exits = down + (s - t), exits + 1
            t = max(t, e)
        if float(req["end_s"]) - t > be:
            down += float(req["end_s"]) - t
        span = float(req["end_s"]) - float(req["start_s"])
        out.append(dram.leakage_W * span - (dram.leakage_W - dram.power_down_W) * down + exits * exit_J)
    return np.array(out)


def _busy_dram(run):
    led = run.ledger
    busy = led[(led["request"] >= 0) & (led["component"] == "dram") & led["category"].isin(["leakage", "refresh"])]
    return busy.groupby("request")["energy_J"].sum().to_numpy()


@pytest.mark.parametrize("exit_pJ", [None, 3.2e3, 1e3, 1e9])   # 3.2 nJ: a 200 ns break-even, between gaps
def test_dram_powers_down_between_its_own_transfers_past_break_even(exit_pJ):
    platform = _pd_platform(exit_pJ)
    w = ht.make_workload(("a", "b"), stream=streams.fixed(["a", "b", "a"], 1e-3))
    run = simulate(w, platform, replay=False)
    np.testing.assert_allclose(_busy_dram(run), _hand_power_down(run, platform), rtol=1e-9)
    standby = platform.memories["dram"].leakage_W * run.requests["service_s"].to_numpy()
    if exit_pJ == 1e9:                  # break-even beyond every gap: never powered down
        np.testing.assert_allclose(_busy_dram(run), standby, rtol=1e-9)
    else:
        assert (_busy_dram(run) < standby).all()


@pytest.mark.parametrize("prefetch,exit_pJ", [(0, None), (0, 3.2e3), (2, 3.2e3)])
def test_power_down_inside_requests_agrees_across_simulators(prefetch, exit_pJ):
    platform = _pd_platform(exit_pJ, gating=True)
    stream = streams.fixed(["a", "b", "b", "a"], 2e-6)      # gaps and queueing: switches and wake-ups
    w = ht.make_workload(("a", "b"), stream=stream)
    prepared = prepare(w, platform)
    full = simulate(w, platform, prepared=prepared, replay=False, prefetch_depth=prefetch)
    rep = simulate(w, platform, prepared=prepared, prefetch_depth=prefetch)
    assert rep.total_energy_J == pytest.approx(full.total_energy_J, rel=1e-9)
    np.testing.assert_allclose(_busy_dram(rep), _busy_dram(full), rtol=1e-9)
    np.testing.assert_allclose(_busy_dram(full), _hand_power_down(full, platform), rtol=1e-9)
    if prefetch == 0:
        from simulator.sweep.fast import evaluate_fast

        closed = evaluate(w, platform, prepared=prepared)
        assert closed.total_energy_J == pytest.approx(full.total_energy_J, rel=1e-9)
        row = evaluate_variants(prepared, [platform, platform]).iloc[1]
        assert row["energy_J"] == pytest.approx(closed.total_energy_J, rel=1e-9)
        fast = evaluate_fast(prepared, [platform]).iloc[0]
        assert fast["energy_J"] == pytest.approx(closed.total_energy_J, rel=1e-9)


def test_power_down_waits_the_exit_latency_on_every_transfer():
    on = _platform(roles=PD_ROLES)
    down = _pd_platform()
    w = ht.make_workload(("a",), stream=streams.fixed(["a"], 0.0))
    a, b = simulate(w, on), simulate(w, down)
    txp = down.memories["dram"].power_down_exit_latency_s
    n = int(((a.ledger["component"] == "dram") & (a.ledger["bytes"] > 0)
             & a.ledger["category"].isin(["read", "write"])).sum())
    assert n > 0 and float(b.requests["service_s"].iloc[0]) > float(a.requests["service_s"].iloc[0])
    assert float(b.requests["service_s"].iloc[0]) <= float(a.requests["service_s"].iloc[0]) + n * txp * (1 + 1e-9)
