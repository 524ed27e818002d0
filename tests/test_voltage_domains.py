"""Voltage domains: what a platform puts in its domain scales with the operating point, the rest keeps its
figures; lowering the domain's voltage never raises its dynamic energy."""
import dataclasses

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hw_models import HardwareConfigError, load_platform
from hw_models.dvfs import OperatingPoint
from hw_models.loader import PLATFORMS_DIR
from simulator import testing as ht
from simulator.cost.tables import CostTables, busy_power, platform_params, prepare
from simulator.prepare import streams
from simulator.study import dvfs

NOMINAL = 0.8


def _platform(domain, points):
    p = ht.make_platform(memories={
        "sram": ht.make_memory("sram", capacity_bytes=1 << 20, leakage_mW=2.0),
        "nvm": ht.make_memory("nvm", volatile=False, leakage_mW=0.5),
        "dram": ht.make_memory("dram", capacity_bytes=1 << 30, is_dram=True, leakage_mW=20.0)})
    ops = {name: OperatingPoint(name, v, f, NOMINAL) for name, (v, f) in points.items()}
    return dataclasses.replace(p, operating_points=ops, default_operating_point="nominal", voltage_domain=domain)


def _per_component(platform, point):
    """Dynamic energy (J) of one request at ``point`` per memory and per compute unit, its busy power (W)
    per component and its service time (s)."""
    w = ht.make_workload(("a",), stream=streams.fixed(["a"], 0.0))
    prepared = prepare(w, platform)
    tables = CostTables(prepared, platform)
    p = tables.pp.op_index(point)
    oc = tables.ops("a", p)
    mem = (oc.e_read + oc.e_write)[0].sum(axis=0)
    return mem, oc.e_unit[0].sum(axis=0), busy_power(tables.pp, p)[0], float(oc.t_op[0].sum()), prepared


DOMAINS = [None, {"memories": ["sram"], "units": []}, {"memories": ["sram", "nvm"], "units": ["mac_array"]},
           {"memories": [], "units": ["vector_unit", "mac_array"]}]


@settings(max_examples=30, deadline=None)
@given(domain=st.sampled_from(DOMAINS), v=st.floats(0.3, 0.8), f=st.floats(1e8, 1e9))
def test_lowering_a_domains_voltage_never_raises_its_dynamic_energy(domain, v, f):
    platform = _platform(domain, {"nominal": (NOMINAL, 1e9), "low": (v, f)})
    mem_n, unit_n, leak_n, _, _ = _per_component(platform, "nominal")
    mem_l, unit_l, leak_l, _, _ = _per_component(platform, "low")
    names = list(platform.memories) + list(platform.compute)
    M = len(platform.memories)
    for k, name in enumerate(names):
        dyn_n = mem_n[k] if k < M else unit_n[k - M]
        dyn_l = mem_l[k] if k < M else unit_l[k - M]
        if platform.in_voltage_domain(name):
            assert dyn_l <= dyn_n * (1 + 1e-12)                          # never more
            assert dyn_l == pytest.approx(dyn_n * (v / NOMINAL) ** 2, rel=1e-9)
            assert leak_l[k] == pytest.approx(leak_n[k] * v / NOMINAL, rel=1e-12)   # its leakage law
        else:                                                            # outside: its figures
            assert dyn_l == pytest.approx(dyn_n, rel=1e-12) and leak_l[k] == pytest.approx(leak_n[k], rel=1e-12)


def test_a_memory_in_the_domain_slows_with_the_clock_and_one_outside_does_not():
    points = {"nominal": (NOMINAL, 1e9), "low": (0.5, 2.5e8)}
    pp_in = platform_params([_platform({"memories": ["sram"], "units": []}, points)])
    pp_out = platform_params([_platform({"memories": [], "units": []}, points)])
    low = pp_in.op_points.index("low")
    k = 0                                                                # sram
    assert pp_in.mem_time[0, low, k] == pytest.approx(4.0) and pp_out.mem_time[0, low, k] == 1.0
    assert (pp_in.mem_time[0, low, 1:] == 1.0).all()                     # nvm, dram outside
    # units outside the domain keep their nominal clock and energies
    assert (pp_out.clock[0, low] == pp_out.clock[0, pp_out.default_op]).all()
    assert (pp_out.action_J[0, low] == pp_out.action_J[0, pp_out.default_op]).all()


def test_platform_files_check_their_voltage_domain(tmp_path):
    doc = yaml.safe_load((PLATFORMS_DIR / "edge-rram.yaml").read_text())
    doc["voltage_domain"] = {"memories": ["act_sram", "nope"], "units": ["mac_array"]}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(HardwareConfigError, match=r"voltage_domain\.memories\.1: unknown memory 'nope'"):
        load_platform(str(tmp_path / "p.yaml"))
    doc["voltage_domain"] = {"memories": ["dram"]}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(HardwareConfigError, match=r"voltage_domain\.memories\.0: 'dram' is off-chip DRAM"):
        load_platform(str(tmp_path / "p.yaml"))


@pytest.mark.parametrize("name", ["edge-sram", "edge-rram"])
def test_bundled_platforms_explain_whether_a_lower_point_pays(name):
    """EdgeBERT's premise on the bundled platforms: a lower point lowers the domain's dynamic energy; the
    breakdown says what decides the net (leakage over the longer service, net of displaced idle time)."""
    platform = load_platform(name)
    w = ht.make_workload(("a",), stream=streams.fixed(["a"], 0.0))
    prepared = prepare(w, platform)
    b = dvfs.point_breakdown(prepared, platform, "a")
    nominal = b.set_index("operating_point").loc[platform.default_operating_point]
    for _, r in b.iterrows():
        if r["voltage_V"] < nominal["voltage_V"]:
            assert r["dynamic_J"] < nominal["dynamic_J"]
            assert r["net_J"] == pytest.approx(r["dynamic_J"] + r["leakage_J"] - r["displaced_idle_J"], rel=1e-12)
    text = dvfs.explain(b, platform.default_operating_point)
    assert all(p in text for p in b["operating_point"] if p != platform.default_operating_point)
    assert ("saves" in text) == bool((b["net_J"] < nominal["net_J"]).any())
    assert np.isfinite(b["net_J"]).all()
