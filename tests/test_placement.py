"""Placement by policy: preference order, backbone once, adapters resident or per switch, activations by
liveness, overflow to the next memory or an error naming tensor, size and memory."""
import re

import pytest
from hypothesis import given, settings, strategies as st

from simulator import testing as ht
from simulator.errors import SimulationConfigError
from simulator.prepare.placement import PARAMETER_ROLES, place


def _mems(sram_bytes, nvm_bytes=1 << 24):
    return {"sram": ht.make_memory("sram", capacity_bytes=sram_bytes, backed_by="dram"),
            "nvm": ht.make_memory("nvm", capacity_bytes=nvm_bytes, volatile=False),
            "dram": ht.make_memory("dram", capacity_bytes=1 << 30, is_dram=True)}


ROLES = {"weight": ["nvm", "dram"], "embedding": ["nvm", "dram"], "adapter": ["sram", "dram"],
         "activation": ["sram", "dram"], "input": ["sram", "dram"], "output": ["sram", "dram"]}


def _param_bytes(workload, owner_filter, roles=PARAMETER_ROLES):
    seen = {}
    for tr in workload.traces.values():
        for t in tr.tensors.values():
            if t.role in roles and owner_filter(t.owner):
                seen[(t.owner, t.name)] = t.stored_bytes
    return sum(seen.values())


def test_backbone_placed_once_and_roles_followed():
    w = ht.make_workload(("a", "b", "c"))
    pl = place(w, ht.make_platform(memories=_mems(1 << 20), roles=ROLES))
    params = pl.table[pl.table["role"].isin(PARAMETER_ROLES)]
    assert not params.duplicated(["owner", "tensor"]).any()
    shared = params[params["owner"] == "shared"]
    assert set(shared["memory"]) == {"nvm"} and len(shared) == 2       # embedding + projection, once
    heads = _param_bytes(w, lambda o: o != "shared", roles=("weight",))  # task-owned heads, all resident
    assert pl.occupancy["nvm"] == pytest.approx(_param_bytes(w, lambda o: o == "shared") + heads)
    for task, tr in w.traces.items():                                   # home_of agrees with the table
        for tid, t in tr.tensors.items():
            assert pl.home_of(tr, tid) == pl.homes(tr)[tid]


def test_activation_peak_comes_from_liveness_not_the_sum():
    w = ht.make_workload(("a",), layers=3, seq=16, hidden=32)
    pl = place(w, ht.make_platform(memories=_mems(1 << 20), roles=ROLES))
    tr = w.traces["a"]
    owned = _param_bytes(w, lambda o: o == "a", roles=("adapter",))
    runtime_sum = sum(t.stored_bytes for t in tr.tensors.values() if t.role not in PARAMETER_ROLES)
    peak = tr.peak_runtime_bytes()                                      # the trace's own liveness count
    assert pl.occupancy["sram"] == pytest.approx(owned + peak)
    assert peak < runtime_sum


def test_resident_adapters_add_up_switched_ones_take_the_largest():
    w = ht.make_workload(("a", "b", "c"))
    resident = place(w, ht.make_platform(memories=_mems(1 << 20), roles=ROLES, adapters="resident"))
    switched = place(w, ht.make_platform(memories=_mems(1 << 20), roles=ROLES, adapters="load_on_switch"))
    per_task = _param_bytes(w, lambda o: o == "a", roles=("adapter",))
    peak = w.traces["a"].peak_runtime_bytes()
    assert resident.occupancy["sram"] == pytest.approx(3 * per_task + peak)
    assert switched.occupancy["sram"] == pytest.approx(per_task + peak)
    assert resident.switch_loads == {}
    assert switched.switch_loads == {t: {("dram", "sram"): pytest.approx(per_task)} for t in "abc"}


def test_overflow_goes_to_the_next_memory_and_says_why():
    w = ht.make_workload(("a",), layers=2, seq=16, hidden=32)
    roles = dict(ROLES, weight=["nvm", "dram"], embedding=["nvm", "dram"])
    emb = w.traces["a"].tensors[1]
    assert emb.name == "embeddings.word"
    pl = place(w, ht.make_platform(memories=_mems(1 << 20, nvm_bytes=int(emb.stored_bytes) + 10), roles=roles))
    rows = pl.table.set_index("tensor")
    assert rows.loc["embeddings.word", "memory"] == "nvm"
    assert rows.loc["layer.proj.weight", "memory"] == "dram"
    assert "overflow from nvm" in rows.loc["layer.proj.weight", "reason"]


def test_overflow_error_names_tensor_size_and_memory():
    w = ht.make_workload(("a",), layers=1, seq=4, hidden=32, vocab=100)
    platform = ht.make_platform(memories=_mems(1 << 20, nvm_bytes=100), roles=ROLES, on_overflow="error")
    with pytest.raises(SimulationConfigError) as err:
        place(w, platform)
    msg = str(err.value)
    assert "embeddings.word" in msg and "(3.12 KiB)" in msg and "fits in none of nvm" in msg and "\n" not in msg
    assert "more in nvm (or on_overflow: next)" in msg  # says what would fit
    assert re.search(r"placement\.roles\.embedding: .*; expected ", msg)


def test_overflow_error_when_nothing_fits():
    w = ht.make_workload(("a",), hidden=32)
    small = {m: ht.make_memory(m, capacity_bytes=64) for m in ("sram", "dram")}
    roles = {r: ["sram", "dram"] for r in ("weight", "embedding", "adapter", "activation", "input", "output")}
    with pytest.raises(SimulationConfigError, match=r"fits in none of sram, dram: dram has .* free of 64 B"):
        place(w, ht.make_platform(memories=small, roles=roles))


def test_missing_role_is_an_error():
    w = ht.make_workload(("a",))
    roles = {k: v for k, v in ROLES.items() if k != "adapter"}
    with pytest.raises(SimulationConfigError, match=r"placement\.roles\.adapter: missing"):
        place(w, ht.make_platform(memories=_mems(1 << 20), roles=roles))


@given(w=ht.workloads(), sram=st.integers(256, 1 << 16), nvm=st.integers(256, 1 << 16),
       adapters=st.sampled_from(["resident", "load_on_switch"]))
@settings(max_examples=60, deadline=None)
def test_occupancy_never_exceeds_capacity_and_roles_are_respected(w, sram, nvm, adapters):
    platform = ht.make_platform(memories=_mems(sram, nvm), roles=ROLES, adapters=adapters)
    pl = place(w, platform)
    for m, used in pl.occupancy.items():
        assert 0 <= used <= platform.memories[m].capacity_bytes
    for row in pl.table.itertuples():
        assert row.memory in ROLES[row.role]
        assert row.bytes >= 0


def test_load_on_switch_without_a_backing_store_keeps_sets_resident():
    w = ht.make_workload(("a", "b"))
    mems = _mems(1 << 20)
    mems["sram"] = ht.make_memory("sram", capacity_bytes=1 << 20)          # no backed_by
    pl = place(w, ht.make_platform(memories=mems, roles=ROLES, adapters="load_on_switch"))
    adapters = pl.table[pl.table["role"] == "adapter"]
    assert not adapters["loaded_on_switch"].any() and pl.switch_loads == {}
    assert adapters["reason"].str.contains("resident \\(sram has no backing store\\)").all()


def test_switched_sets_share_one_region_so_a_memory_sized_for_one_set_takes_every_task():
    w = ht.make_workload(("a", "b", "c"), seq=1, hidden=32, bottleneck=8)
    per_task = _param_bytes(w, lambda o: o == "a", roles=("adapter",))
    need = per_task + w.traces["a"].peak_runtime_bytes()
    pl = place(w, ht.make_platform(memories=_mems(int(need)), roles=ROLES, adapters="load_on_switch"))
    adapters = pl.table[pl.table["role"] == "adapter"]
    assert set(adapters["memory"]) == {"sram"}, adapters[["tensor", "memory", "reason"]]
    assert pl.occupancy["sram"] == pytest.approx(need)
