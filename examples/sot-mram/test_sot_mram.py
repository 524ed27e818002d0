"""My SOT-MRAM technology against hetsim's laws: `pytest` in this folder (hetsim installed)."""
from pathlib import Path

from hypothesis import given, settings

from hw_models import load_platform
from simulator import testing as ht
from simulator.engine import simulate
from simulator.results.result import Result

SOT = Path(__file__).with_name("sot-mram.yaml")


def test_every_law(hetsim_check):
    hetsim_check(SOT)          # technology, memory and platform laws: each broken one is named


@given(memory=ht.memories(technologies=[SOT]))
@settings(max_examples=50, deadline=None)
def test_my_arrays_at_any_size_banking_and_node(memory):
    for law in ("energy_monotone_in_bytes", "time_monotone_in_bytes", "simulator_sees_the_model"):
        ht.CATALOGUE[law](memory)


def test_in_edge_mram_it_keeps_the_run_laws(hetsim_workload):
    sot = ht.with_technology(load_platform("edge-mram"), "backbone", SOT)
    ht.check_run(simulate(hetsim_workload, sot))       # the default study's model, reduced


def test_sot_writes_cost_less_than_stt_in_edge_mram():
    stt = load_platform("edge-mram")
    sot = ht.with_technology(stt, "backbone", SOT)
    updating = ht.default_workload(weight_update=True)   # a weight rewritten at inference
    mem = {k: Result.from_run(simulate(updating, p)).per_memory().set_index("memory").loc["backbone"]
           for k, p in (("stt", stt), ("sot", sot))}
    assert mem["sot"]["write_bytes"] == mem["stt"]["write_bytes"] > 0     # same traffic ...
    assert mem["sot"]["write_energy_J"] < mem["stt"]["write_energy_J"]    # ... cheaper writes
