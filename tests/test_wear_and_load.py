"""NVM wear per memory and per tensor (every write counts, ProSG included) and the overload flag."""
import math

import pytest

from simulator import testing as ht
from simulator.analytic.closed_form import evaluate
from simulator.engine.discrete_event import simulate
from simulator.prepare import streams
from simulator.prepare.served_workload import Workload
from simulator.results.result import Result


@pytest.fixture(scope="module")
def prosg_trace():
    from workloads import generation as G
    return G.trace_generation("rwkv", new_tokens=3, seq_len=4, layers=2, hidden=32, adapter="prosg:2")


def _nvm_weight_platform():
    mems = {"sram": ht.make_memory("sram", capacity_bytes=1 << 20),
            "nvm": ht.make_memory("nvm", volatile=False, write_pJ=50.0, write_ns=30.0, leakage_mW=0.5,
                                  endurance=1e6),
            "dram": ht.make_memory("dram", capacity_bytes=1 << 30, is_dram=True, read_ns=50.0, write_ns=50.0)}
    roles = {"weight": ["nvm"], "embedding": ["nvm"], "adapter": ["nvm"], "activation": ["sram"],
             "input": ["sram"], "output": ["sram"], "state": ["sram"], "kv_cache": ["sram"]}
    return ht.make_platform(memories=mems, roles=roles)


@pytest.mark.parametrize("evaluator", [simulate, evaluate])
def test_prosg_weight_updates_in_nvm_wear_it_as_a_hand_count_says(prosg_trace, evaluator):
    # hand count from the trace alone: ProSG writes its rank-r factors (role adapter, placed in the NVM
    # here) once per generation, after the prefill; the dense weights are never written (issue 14)
    t = prosg_trace
    writes_per_gen: dict[str, int] = {}
    for op in t.ops:
        for tid, n in op.writes.items():
            tensor = t.tensors[tid]
            if tensor.is_parameter:
                writes_per_gen[tensor.name] = writes_per_gen.get(tensor.name, 0) + n / tensor.numel
    assert writes_per_gen and set(writes_per_gen.values()) == {1}
    assert all(name.startswith("prosg.factor_") for name in writes_per_gen)
    gens = 10
    w = Workload("prosg", {"gen": t}, streams.fixed(["gen"] * gens, 1.0))
    run = evaluator(w, _nvm_weight_platform())
    nvm = run.meta["memory_writes"]["nvm"]
    weight_bytes = sum(t.tensors[i].stored_bytes for i in t.tensors if t.tensors[i].name in writes_per_gen)
    assert nvm["bytes"] == pytest.approx(gens * weight_bytes, rel=1e-12)
    assert nvm["cell_writes"] == pytest.approx(gens, rel=1e-12)          # was 0 (the bug)
    res = Result.from_run(run)
    per_tensor = {r["tensor"]: r for r in run.meta["tensor_writes"] if r["memory"] == "nvm"}
    assert set(per_tensor) == set(writes_per_gen)
    for name, r in per_tensor.items():
        assert r["cell_writes"] == pytest.approx(gens * writes_per_gen[name], rel=1e-12)
    wear = res.nvm_wear().set_index("memory")
    assert wear.loc["nvm", "lifetime_s"] == pytest.approx(1e6 / (gens / res.makespan_s), rel=1e-9)
    assert math.isfinite(wear.loc["nvm", "lifetime_s"])
    tensors = res.nvm_wear_tensors()
    assert len(tensors) == len(writes_per_gen) and tensors["lifetime_s"].min() == pytest.approx(
        wear.loc["nvm", "lifetime_s"], rel=1e-9)


def test_every_write_into_nvm_is_in_some_tensors_count():
    # synthetic workloads with everything in NVM: the tensors of a memory add up to its op and switch writes
    roles = {r: ["nvm", "dram"] for r in ("weight", "embedding", "adapter", "activation", "input", "output",
                                          "kv_cache", "state")}
    w = ht.make_workload(("a", "b"), stream=streams.round_robin(["a", "b"], 4, 1e-3))
    run = simulate(w, ht.make_platform(roles=roles))
    total = sum(r["write_bytes"] for r in run.meta["tensor_writes"] if r["memory"] == "nvm")
    assert total == pytest.approx(run.meta["memory_writes"]["nvm"]["bytes"], rel=1e-9)
    assert run.meta["memory_writes"]["nvm"]["cell_writes"] >= max(
        r["cell_writes"] for r in run.meta["tensor_writes"] if r["memory"] == "nvm")


def _result(period_s: float):
    w = ht.make_workload(("a",), stream=streams.fixed(["a"] * 12, period_s))
    run = simulate(w, ht.make_platform())
    return Result.from_run(run), run


def test_overload_is_flagged_with_its_utilisation_and_queue_growth():
    probe, run = _result(1.0)
    service = float(run.requests["service_s"].mean())
    stable = probe.summary()
    assert not stable["overloaded"] and stable["offered_utilisation"] == pytest.approx(service / 1.0, rel=1e-9)
    assert abs(stable["queue_growth"]) < 1e-9
    over, _ = _result(service / 2)               # requests twice as fast as they are served
    s = over.summary()
    assert s["overloaded"] and s["offered_utilisation"] == pytest.approx(2.0, rel=0.05)
    assert s["queue_growth"] == pytest.approx(1.0, rel=0.1)     # the wait grows by ~1 s per s
    from simulator.results.report import comparison_table, overload_lines
    table = comparison_table({"stable": probe, "over": over}).set_index("platform")
    assert "OVERLOADED" in table.loc["over", "load"] and "OVERLOADED" not in table.loc["stable", "load"]
    lines = overload_lines({"stable": probe, "over": over})
    assert len([ln for ln in lines if ln]) == 1 and "over is overloaded" in lines[0]
