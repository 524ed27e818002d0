"""The SimPy engine on hand-built cases: task switches, NVM writes, power gating, prefetch, contention."""
import pytest
from hypothesis import given, settings

from simulator import testing as ht
from simulator.prepare import streams
from simulator.analytic.closed_form import evaluate
from simulator.engine.discrete_event import simulate
from simulator.errors import SimulationConfigError

ROLES = {"weight": ["nvm"], "embedding": ["nvm"], "adapter": ["sram"], "activation": ["sram"],
         "input": ["sram"], "output": ["sram"]}


def _platform(**kw):
    mems = {"sram": ht.make_memory("sram", capacity_bytes=1 << 20, backed_by="dram", leakage_mW=2.0),
            "nvm": ht.make_memory("nvm", volatile=False, read_ns=5.0, write_pJ=50.0, write_ns=30.0,
                                  leakage_mW=0.5, endurance=1e6, backed_by=kw.pop("nvm_backed_by", None)),
            "dram": ht.make_memory("dram", capacity_bytes=1 << 30, is_dram=True, read_pJ=500.0,
                                   write_pJ=500.0, read_ns=50.0, write_ns=50.0, leakage_mW=20.0)}
    return ht.make_platform(memories=mems, roles=kw.pop("roles", ROLES), **kw)


def _rows(run, **eq):
    led = getattr(run, "ledger", run)
    for k, v in eq.items():
        led = led[led[k] == v]
    return led


def test_switch_loads_adapters_from_the_backing_store():
    w = ht.make_workload(("a", "b"), stream=streams.fixed(["a", "a", "b", "a"], 1e-3))
    run = simulate(w, _platform(adapters="load_on_switch"))
    assert list(run.requests["switch"]) == [True, False, True, True]
    loads = _rows(run, category="switch_load")
    assert sorted(loads["request"]) == [0, 2, 3] and set(loads["component"]) == {"sram"}
    adapter_bytes = run.placement.switch_loads["a"][("dram", "sram")]
    assert loads[loads["request"] == 0]["bytes"].sum() == pytest.approx(adapter_bytes)
    reads = _rows(run, category="read", component="dram")            # the copy reads the backing store
    assert reads["bytes"].sum() == pytest.approx(3 * adapter_bytes)
    # a switch makes the request slower than the same request without one
    served = run.requests.set_index("request")["service_s"]
    assert served[0] > served[1]
    resident = simulate(w, _platform(adapters="resident"))
    assert _rows(resident, category="switch_load").empty


@pytest.mark.parametrize("slow", ["dram", "sram", "link"])
def test_a_switch_copy_takes_the_slowest_of_backing_read_home_write_and_links(slow):
    from dataclasses import replace
    platform = _platform(adapters="load_on_switch")
    if slow == "sram":                       # a slow home write sets the copy time
        platform = ht.with_memory(platform, "sram", write_latency_s=5e-6)
    elif slow == "link":                     # narrow links (dram -> compute -> sram) set it
        platform = replace(platform, links=[replace(lk, clock_hz=1e6) for lk in platform.links])
    w = ht.make_workload(("a",), stream=streams.fixed(["a"], 0.0))
    run = simulate(w, platform)
    copy = _rows(run, category="switch_load")
    b = float(copy["bytes"].iloc[0])
    dram, sram = platform.memories["dram"], platform.memories["sram"]
    times = {"dram": dram.read_time(b), "sram": sram.write_time(b),
             "link": max(lk.transfer_time(b) for lk in platform.links if lk.src in ("dram", "sram"))}
    assert max(times, key=times.get) == slow
    assert float((copy["end_s"] - copy["start_s"]).iloc[0]) == pytest.approx(times[slow], rel=1e-12)


def test_adapters_written_into_nvm_cost_write_energy_and_count_wear():
    roles = dict(ROLES, adapter=["nvm"])
    w = ht.make_workload(("a", "b"), stream=streams.round_robin(["a", "b"], 6, 1e-3))
    platform = _platform(roles=roles, adapters="load_on_switch", nvm_backed_by="dram")
    run = simulate(w, platform)
    loads = _rows(run, category="switch_load", component="nvm")
    per_switch = run.placement.switch_loads["a"][("dram", "nvm")]
    assert len(set(loads["request"])) == 6
    assert loads["energy_J"].sum() == pytest.approx(6 * platform.memories["nvm"].write_energy(per_switch))
    assert run.meta["memory_writes"]["nvm"]["bytes"] == pytest.approx(6 * per_switch)
    assert run.meta["memory_writes"]["nvm"]["cell_writes"] == 6          # each switch rewrites the set once


def test_power_gating_gates_nvm_and_dram_but_not_sram():
    w = ht.make_workload(("a",), stream=streams.fixed(["a", "a"], 1e-3))
    on, off = simulate(w, _platform(power_gating=True)), simulate(w, _platform(power_gating=False))
    idle_on, idle_off = _rows(on, request=-1), _rows(off, request=-1)
    gap = on.requests["start_s"][1] - on.requests["end_s"][0]
    mems = _platform().memories
    by = idle_on.groupby("component")["energy_J"].sum()
    assert by["sram"] == pytest.approx(mems["sram"].leakage_W * gap)            # SRAM keeps leaking
    assert by["nvm"] == pytest.approx(mems["nvm"].gated_leakage_W * gap)        # NVM gated
    assert set(_rows(idle_on, component="dram")["category"]) == {"refresh"}     # DRAM self-refresh
    assert by["dram"] == pytest.approx(mems["dram"].gated_leakage_W * gap)
    woke = _rows(on, category="wakeup")                                          # NVM, DRAM and the
    assert woke["request"].tolist() == [1] * 4                                   # compute units wake up
    assert set(woke["component"]) == {"nvm", "dram"} | set(_platform().compute)
    assert on.requests["service_s"][1] > off.requests["service_s"][1]           # ... which takes time
    assert idle_on["energy_J"].sum() < idle_off["energy_J"].sum()


def test_prefetch_overlaps_weight_fetch_with_compute():
    w = ht.make_workload(("a",), layers=3, seq=16, hidden=32, stream=streams.fixed(["a"], 0.0))
    base = simulate(w, _platform(prefetch_depth=0))
    pre = simulate(w, _platform(prefetch_depth=2))
    assert pre.requests["latency_s"][0] < base.requests["latency_s"][0]
    dyn = ["read", "write", "compute", "transfer"]
    assert _rows(pre, request=0)[lambda d: d["category"].isin(dyn)]["energy_J"].sum() == pytest.approx(
        _rows(base, request=0)[lambda d: d["category"].isin(dyn)]["energy_J"].sum(), rel=1e-12)
    ht.check_run(pre)


def test_concurrent_requests_contend():
    w = ht.make_workload(("a", "b"), stream=streams.fixed(["a", "b"], 0.0))
    alone = evaluate(w, _platform())
    both = simulate(w, _platform(), max_in_flight=2)
    assert (both.requests["start_s"] == 0.0).all()                  # admitted together
    assert both.requests["latency_s"].max() > alone.requests["service_s"].max()
    # leakage while both are in flight is shared, not counted twice
    ht.check_run(both)
    span = both.requests["end_s"].max()
    busy = _rows(both, category="leakage")["energy_J"].sum() + _rows(both, category="refresh")["energy_J"].sum()
    assert busy == pytest.approx(_platform().leakage_W * span, rel=1e-9)


def _check_rows_inside_requests(run):
    req = run.requests.set_index("request")
    led = run.ledger[run.ledger["request"] >= 0]
    span = float(req["end_s"].max()) or 1.0
    assert (led["start_s"] >= led["request"].map(req["start_s"]) - 1e-12 * span).all()
    assert (led["end_s"] <= led["request"].map(req["end_s"]) + 1e-12 * span).all()


def test_ledger_rows_are_placed_in_time_inside_their_request():
    w = ht.make_workload(("a", "b"), stream=streams.round_robin(["a", "b"], 4, 5e-6))
    _check_rows_inside_requests(simulate(w, _platform(adapters="load_on_switch", prefetch_depth=1)))


@given(scenario=ht.scenarios(buffer="double"))
@settings(max_examples=30, deadline=None)
def test_overlapped_ops_keep_their_ledger_rows_inside_their_request(scenario):
    workload, platform = scenario
    _check_rows_inside_requests(simulate(workload, platform))
    _check_rows_inside_requests(evaluate(workload, platform))


def test_bad_settings_are_config_errors():
    w = ht.make_workload(("a",))
    with pytest.raises(SimulationConfigError, match="max_in_flight"):
        simulate(w, _platform(), max_in_flight=0)
    with pytest.raises(SimulationConfigError, match="operating_point: unknown operating point 'turbo'"):
        simulate(w.with_stream(w.stream.with_operating_point("turbo")), _platform())


def test_ops_out_of_dependency_order_are_a_config_error():
    from dataclasses import replace

    from simulator.cost.tables import prepare
    w = ht.make_workload(("a",))
    tr = w.traces["a"]
    tr.ops[1] = replace(tr.ops[1], deps=(2,))
    with pytest.raises(SimulationConfigError, match=r"traces\.a\.ops\[1\]\.deps: op 1 depends on op 2"):
        prepare(w, _platform())


def test_a_prepared_workload_must_match_the_run():
    from simulator.cost.tables import prepare
    w = ht.make_workload(("a",))
    prepared = prepare(w, _platform())
    other = ht.make_workload(("a", "b"))
    with pytest.raises(SimulationConfigError, match="scenario.tasks: b not in the prepared workload"):
        simulate(other, _platform(), prepared=prepared)
    with pytest.raises(SimulationConfigError, match="differ from the prepared platform"):
        simulate(w, ht.make_platform(memories={"sram": ht.make_memory("sram")}), prepared=prepared)
    run = simulate(w.with_stream(streams.fixed(["a"], 0.0)), _platform(), prepared=prepared)
    assert len(run.workload.stream) == len(run.requests) == 1      # the run keeps its own stream


def test_a_unit_is_busy_only_for_the_ops_it_runs():
    from dataclasses import replace

    from simulator.cost.tables import prepare
    w = ht.make_workload(("a",), stream=streams.fixed(["a"], 0.0))
    tr = w.traces["a"]
    for i, op in enumerate(tr.ops):
        if op.kind == "matmul":
            tr.ops[i] = replace(op, other_ops=op.macs)    # a bias add / activation fused into the matmul
    platform = _platform()
    ta = prepare(w, platform).tasks["a"]
    clock = platform.vector_unit.clock_hz
    for run in (simulate(w, platform), evaluate(w, platform)):
        rows = _rows(run, component="vector_unit", category="compute")
        busy = (rows["end_s"] - rows["start_s"]).sum()
        assert busy == pytest.approx(ta.cycles[~ta.on_mac].sum() / clock, rel=1e-12)
        assert rows["energy_J"].sum() == pytest.approx(
            ta.other_ops.sum() * platform.vector_unit.energy_per_op_J(platform.operating_point), rel=1e-12)


def test_dram_leakage_splits_into_background_and_refresh_rows():
    w = ht.make_workload(("a",), stream=streams.fixed(["a"], 0.0))
    platform = _platform()
    dram = platform.memories["dram"]
    for run in (simulate(w, platform), evaluate(w, platform)):
        span = float(run.requests["service_s"].iloc[0])
        dram_rows = _rows(run, component="dram")
        refresh = _rows(dram_rows, category="refresh")["energy_J"].sum()
        background = _rows(dram_rows, category="leakage")["energy_J"].sum()
        assert refresh == pytest.approx(dram.refresh_power_W * span, rel=1e-12)
        assert background == pytest.approx((dram.leakage_W - dram.refresh_power_W) * span, rel=1e-12)


def test_a_memory_serves_one_transfer_at_a_time():
    """Two requests admitted together on a platform whose weights sit in a very slow memory: the memory
    is the bottleneck, so the two requests' transfers queue and the makespan is close to twice one
    request's service time (with a memory that served both at once it would be close to one)."""
    slow_nvm = dict(read_ns=20_000.0, write_ns=20_000.0)          # 8 B per 20 µs: transfers dominate
    w = ht.make_workload(("a", "b"), stream=streams.fixed(["a", "b"], 0.0))
    platform = ht.with_memory(_platform(), "nvm", read_latency_s=slow_nvm["read_ns"] * 1e-9,
                              write_latency_s=slow_nvm["write_ns"] * 1e-9)
    alone = evaluate(w, platform)
    nvm_time = _rows(alone, component="nvm", request=0)
    nvm_time = nvm_time[nvm_time["category"].isin(["read", "write"])]
    nvm_busy = float((nvm_time["end_s"] - nvm_time["start_s"]).sum())
    service = float(alone.requests["service_s"].iloc[0])
    assert nvm_busy > 0.95 * service                              # the case is memory-bound
    both = simulate(w, platform, max_in_flight=2)
    assert (both.requests["start_s"] == 0.0).all()
    makespan = float(both.requests["end_s"].max())
    assert makespan >= 2 * nvm_busy * (1 - 1e-9)
