"""Memory technologies, CACTI table, DRAM from currents: cited points, interpolation, independent figures."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw_models import HardwareConfigError, Memory, list_technologies, load_technology
from hw_models.cacti import load_table
from hw_models.techscaling import NODES_M, area_factor, energy_factor
from hw_models.units import parse_quantity

# Cited figures, typed here from /work/shared/reference/hardware-data.md (not read from the YAML files):
# (capacity, read pJ, write pJ, read ns, write ns, leakage mW, area mm²) at 22 nm, 64-bit words, one bank.
CITED = {
    "sram-nvsim": ("2 MiB", 1.13, 17.0, 4.68, 4.68, 56.3, 1.31),
    "rram": ("2 MiB", 6.18, 49.7, 0.79, 5.53, 12.0, 0.526),
    "stt-mram": ("2 MiB", 4.37, 43.5, 0.59, 2.45, 22.0, 0.220),
    "pcm": ("2 MiB", 5.52, 6.48, 0.72, 20.4, 43.5, 0.417),
    "fefet": ("1 MiB", 0.705, 18.9, 3.92, None, 0.62, 0.065),
}
NVM = ("rram", "stt-mram", "sot-mram", "pcm", "fefet")
DRAMS = ("lpddr4", "lpddr5", "hbm2")
TABLE = Path(__file__).resolve().parents[1] / "hw_models" / "data" / "cacti" / "sram.csv"
FLAVOUR_TECH = {"itrs-hp": "sram-hp", "itrs-lstp": "sram-lstp"}


@pytest.mark.parametrize("name", sorted(CITED))
def test_reference_point_reproduces_cited_figures_exactly(name):
    cap, rd, wr, rlat, wlat, leak, area = CITED[name]
    m = Memory.from_technology("m", name, int(parse_quantity(cap, "bytes")), word_bits=64, node_m=22e-9)
    assert m.read_energy_per_access_J == float(f"{rd}e-12")
    assert m.write_energy_per_access_J == float(f"{wr}e-12")
    assert m.leakage_W == float(f"{leak}e-3")
    assert m.area_m2 == float(f"{area}e-6")
    if rlat is not None:
        assert m.read_latency_s == float(f"{rlat}e-9")
    if wlat is not None:
        assert m.write_latency_s == float(f"{wlat}e-9")


def _table_rows():
    """The committed CACTI rows, read with the csv module (independently of hw_models.cacti)."""
    lines = [ln for ln in TABLE.read_text().splitlines() if ln and not ln.startswith("#")]
    return list(csv.DictReader(lines))


def test_every_committed_cacti_point_is_reproduced():
    """At its own node (22 ... 90 nm; tests/test_cacti_nodes.py tests the nodes further)."""
    rows = _table_rows()
    assert len(rows) > 100
    for r in rows:
        m = Memory.from_technology("m", FLAVOUR_TECH[r["flavour"]], int(r["capacity_bytes"]),
                                   word_bits=int(r["word_bits"]), banks=int(r["banks"]),
                                   node_m=float(r["node_nm"]) * 1e-9)
        assert m.read_energy_per_access_J == pytest.approx(float(r["read_energy_J"]), rel=1e-12)
        assert m.write_energy_per_access_J == pytest.approx(float(r["write_energy_J"]), rel=1e-12)
        assert m.leakage_W == pytest.approx(float(r["leakage_W"]), rel=1e-12)
        assert m.area_m2 == pytest.approx(float(r["area_m2"]), rel=1e-12)
        assert m.read_latency_s == pytest.approx(float(r["access_time_s"]), rel=1e-12)
        assert m.clock_hz == pytest.approx(1 / float(r["cycle_time_s"]), rel=1e-12)


def test_cacti_lstp_table_of_the_reference_sheet_is_reproduced():
    # hardware-data.md, "SRAM by capacity", 22 nm LSTP, 64-bit, 1 bank: (KiB, read pJ, write pJ, leak mW, mm²)
    for kib, rd, wr, leak, area in ((16, 2.64, 2.28, 0.003, 0.015), (64, 5.67, 4.43, 0.010, 0.059),
                                    (256, 11.9, 8.83, 0.035, 0.225), (1024, 23.5, 17.5, 0.138, 0.779),
                                    (2048, 31.6, 25.6, 0.276, 1.54)):
        m = Memory.from_technology("s", "sram-lstp", kib * 1024, word_bits=64, node_m=22e-9)
        assert m.read_energy_per_access_J == pytest.approx(rd * 1e-12, rel=0.01)
        assert m.write_energy_per_access_J == pytest.approx(wr * 1e-12, rel=0.01)
        assert m.leakage_W == pytest.approx(leak * 1e-3, rel=0.1, abs=0.0005e-3)
        assert m.area_m2 == pytest.approx(area * 1e-6, rel=0.02)


FIGS = ("read_energy_per_access_J", "write_energy_per_access_J", "leakage_W", "area_m2", "read_latency_s")


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(sorted(FLAVOUR_TECH.values())), st.floats(13.0, 26.0), st.sampled_from([1, 2, 4, 8, 16]),
       st.floats(0.0, 1.0))
def test_interpolation_lies_between_its_neighbours_and_is_monotone_in_capacity(tech, log2_cap, banks, frac):
    lo_cap = 2 ** math.floor(log2_cap)
    hi_cap = 2 * lo_cap
    cap = lo_cap * 2 ** frac
    lo, hi, mid = (Memory.from_technology("m", tech, c, word_bits=64, banks=banks, node_m=22e-9)
                   for c in (lo_cap, hi_cap, cap))
    for f in FIGS:
        a, b, x = getattr(lo, f), getattr(hi, f), getattr(mid, f)
        assert min(a, b) * (1 - 1e-12) <= x <= max(a, b) * (1 + 1e-12), f
        assert a <= x * (1 + 1e-12) and x <= b * (1 + 1e-12), f  # the table is monotone in capacity
        # log-space interpolation: the power law through the two neighbours
        assert x == pytest.approx(a * (b / a) ** frac, rel=1e-9)


def test_banks_cost_what_cacti_says_not_nothing():
    t = load_table()["itrs-hp"]
    one = Memory.from_technology("a", "sram-hp", 16 * 2**20, banks=1, node_m=22e-9)
    eight = Memory.from_technology("b", "sram-hp", 16 * 2**20, banks=8, node_m=22e-9)
    i = list(t.capacities).index(16 * 2**20)
    j1, j8 = list(t.banks).index(1), list(t.banks).index(8)
    k = list(t.words).index(64)
    assert eight.area_m2 / one.area_m2 == pytest.approx(t.values[i, j8, k, 3] / t.values[i, j1, k, 3])
    assert eight.leakage_W > one.leakage_W and eight.area_m2 > one.area_m2
    assert eight.bandwidth_Bps > one.bandwidth_Bps


@pytest.mark.parametrize("name", NVM)
def test_nvm_write_is_not_node_scaled_but_read_and_leakage_are(name):
    tech = load_technology(name)
    cap = int(tech.reference.capacity)
    ref = Memory.from_technology("a", name, cap, node_m=22e-9)
    small = Memory.from_technology("b", name, cap, node_m=12e-9)
    f = energy_factor(12e-9, 22e-9)
    assert small.write_energy_per_access_J == ref.write_energy_per_access_J
    assert small.write_latency_s == ref.write_latency_s
    assert small.read_energy_per_access_J == pytest.approx(ref.read_energy_per_access_J * f)
    assert small.leakage_W == pytest.approx(ref.leakage_W * f)


@pytest.mark.parametrize("name", NVM)
def test_nvm_scales_with_the_sram_periphery_ratio(name):
    tech = load_technology(name)
    cap = int(tech.reference.capacity)
    flavour = tech.scaling.periphery
    t = load_table()[flavour]
    for factor, banks in ((4, 1), (8, 8), (0.25, 2)):
        m = Memory.from_technology("m", name, int(cap * factor), banks=banks, node_m=22e-9)
        want = t.point(cap * factor, banks, 64)["leakage_W"] / t.point(cap, 1, 64)["leakage_W"]
        assert m.leakage_W == pytest.approx(tech.reference.leakage * want, rel=1e-12)


def test_sot_mram_writes_cheaper_and_faster_than_stt_but_still_dearer_than_its_reads():
    sot = Memory.from_technology("a", "sot-mram", 2 * 2**20)
    stt = Memory.from_technology("b", "stt-mram", 2 * 2**20)
    assert sot.write_energy_per_access_J < stt.write_energy_per_access_J / 3
    assert sot.write_latency_s < stt.write_latency_s
    assert sot.write_energy_per_access_J > 2 * sot.read_energy_per_access_J  # the write asymmetry
    assert sot.read_energy_per_access_J == stt.read_energy_per_access_J
    assert sot.endurance_writes > stt.endurance_writes


def test_lpddr4_figures_from_currents_equal_a_hand_computation_from_the_datasheet():
    # DRAMPower's MICRON_6Gb_LPDDR4-3200 currents (mA) per x16 channel, typed here from hardware-data.md:
    # rails VDD1 1.8 V, VDD2 1.1 V, VDDQ 1.1 V; two channels per x32 device; 16 bit x 3.2 GT/s per channel.
    pre_sb = 2 * (2.0 * 1.8 + 27.0 * 1.1 + 0.75 * 1.1)        # IDD2N: 68.25 mW
    act_sb = 2 * (2.25 * 1.8 + 30.0 * 1.1 + 0.75 * 1.1)       # IDD3N: 75.75 mW
    pdn = 2 * (1.2 * 1.8 + 3.0 * 1.1 + 0.75 * 1.1)            # IDD2P: 12.57 mW
    ref = 2 * ((2.5 - 2.0) * 1.8 + (30.0 - 27.0) * 1.1)      # IDD5AB - IDD2N: 8.4 mW
    sref = 2 * (0.3 * 1.8 + 0.5 * 1.1 + 0.1 * 1.1)            # IDD6: 2.4 mW
    rd_bit = ((275.0 - 30.0) * 1.1 + (150.0 - 0.75) * 1.1) * 1e-3 / 51.2e9   # 8.47 pJ/bit
    wr_bit = ((210.0 - 30.0) * 1.1 + (55.0 - 0.75) * 1.1) * 1e-3 / 51.2e9    # 5.03 pJ/bit
    act_row = ((3.5 * 97 - 2.25 * 68 - 2.0 * 29) * 1.8 + (45.0 * 97 - 30.0 * 68 - 27.0 * 29) * 1.1) \
        * 1e-3 / 1.6e9                                                         # 1.205 nJ per row
    assert (pre_sb, act_sb, pdn, ref, sref) == pytest.approx((68.25, 75.75, 12.57, 8.4, 2.4), abs=0.01)
    from hw_models.dram import dram_figures
    f = dram_figures(load_technology("lpddr4").dram)
    assert f["background_power"] == pytest.approx(pre_sb * 1e-3, rel=1e-12)
    assert f["active_standby_power"] == pytest.approx(act_sb * 1e-3, rel=1e-12)
    assert f["power_down_power"] == pytest.approx(pdn * 1e-3, rel=1e-12)
    assert f["refresh_power"] == pytest.approx(ref * 1e-3, rel=1e-12)
    assert f["self_refresh_power"] == pytest.approx(sref * 1e-3, rel=1e-12)
    assert f["read_energy_per_bit"] == pytest.approx(rd_bit, rel=1e-12)
    assert f["write_energy_per_bit"] == pytest.approx(wr_bit, rel=1e-12)
    assert f["activate_energy"] == pytest.approx(act_row, rel=1e-12)
    assert f["power_down_exit_latency"] == pytest.approx(12 / 1.6e9)
    assert f["self_refresh_exit_latency"] == pytest.approx(458 / 1.6e9)
    # a 64-bit access: burst + the 2 KiB row's activation shared by its bits + active-standby increment
    m = Memory.from_technology("d", "lpddr4", 1536 * 2**20, word_bits=64)
    per_bit = act_row / (2048 * 8) + (act_sb - pre_sb) / 2 * 1e-3 / 51.2e9
    assert m.read_energy_per_access_J == pytest.approx(64 * (rd_bit + per_bit), rel=1e-12)
    assert m.write_energy_per_access_J == pytest.approx(64 * (wr_bit + per_bit), rel=1e-12)
    assert m.leakage_W == pytest.approx((pre_sb + ref) * 1e-3) and m.gated_leakage_W == pytest.approx(sref * 1e-3)
    assert m.power_down_W == pytest.approx((pdn + ref) * 1e-3)
    assert m.bandwidth_Bps == pytest.approx(12.8e9, rel=1e-12)  # 2 x16 x 3200 MT/s
    assert m.is_dram and m.area_m2 == 0.0


@pytest.mark.parametrize("name", DRAMS)
def test_dram_bandwidth_is_channels_times_width_times_rate(name):
    from hw_models.dram import dram_figures
    d = load_technology(name).dram
    f = dram_figures(d)
    for devices in (1, 2, 3):
        m = Memory.from_technology("d", name, int(devices * d.device_capacity))
        assert m.bandwidth_Bps == pytest.approx(devices * d.channels * d.channel_width_bits * d.data_rate / 8)
        assert m.leakage_W == pytest.approx(devices * (f["background_power"] + f["refresh_power"]))
        assert m.refresh_power_W == pytest.approx(devices * f["refresh_power"])
        assert m.gated_leakage_W == pytest.approx(devices * f["self_refresh_power"])
        assert m.gated_leakage_W < m.power_down_W < m.leakage_W
        assert m.wakeup_latency_s == f["self_refresh_exit_latency"] > m.power_down_exit_latency_s > 0
    one = Memory.from_technology("d", name, int(d.device_capacity), channels=1)
    assert one.bandwidth_Bps == pytest.approx(d.channel_width_bits * d.data_rate / 8)


def test_node_scaling_reproduces_hwcomponents_22nm_arithmetic():
    # hwcomponents scales Aladdin's 40 nm figures to 22 nm: int8 multiplier 0.268 pJ, 32-bit adder 0.071 pJ
    f = energy_factor(22e-9, 40e-9)
    assert 12.68 / 16 * f == pytest.approx(0.268, abs=0.0005)
    assert 0.21 * f == pytest.approx(0.071, abs=0.0005)


nodes = st.floats(min_value=NODES_M[-1], max_value=NODES_M[0])


@given(nodes, nodes, nodes)
def test_energy_node_factors_compose(a, b, c):
    assert energy_factor(c, a) == pytest.approx(energy_factor(c, b) * energy_factor(b, a), rel=1e-9)


@given(nodes, nodes)
def test_smaller_node_never_costs_more_area(a, b):
    small, big = sorted((a, b))
    assert area_factor(small, big) <= 1.0 + 1e-12


CAP_FIELDS = ("read_energy_per_access_J", "write_energy_per_access_J", "read_latency_s", "write_latency_s",
              "leakage_W", "area_m2", "gated_leakage_W", "wakeup_energy_J", "wakeup_latency_s")
capacities = st.integers(min_value=8 * 1024, max_value=2**26)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(list_technologies()), capacities, capacities,
       st.sampled_from([32, 64, 128, 256]), st.sampled_from([32, 64, 128, 256]), st.sampled_from([1, 2, 8, 16]))
def test_costs_non_negative_non_decreasing_in_capacity_and_access_energy_in_word_width(tech, c1, c2, w1, w2,
                                                                                       banks):
    (c1, c2), (w1, w2) = sorted((c1, c2)), sorted((w1, w2))
    small = Memory.from_technology("a", tech, c1, word_bits=w1, banks=banks, node_m=12e-9)
    big_cap = Memory.from_technology("b", tech, c2, word_bits=w1, banks=banks, node_m=12e-9)
    big_word = Memory.from_technology("c", tech, c1, word_bits=w2, banks=banks, node_m=12e-9)
    for f in CAP_FIELDS:
        assert getattr(small, f) >= 0
        assert getattr(big_cap, f) >= getattr(small, f) * (1 - 1e-12) or _cacti_dips(tech, f, 0, banks, w1), f
    # a wider word moves more bits per access (CACTI reorganises the array, so leakage and area may not grow)
    for f in ("read_energy_per_access_J", "write_energy_per_access_J"):
        assert getattr(big_word, f) >= getattr(small, f) * (1 - 1e-12) or _cacti_dips(tech, f, 2, banks, w1), f


_TABLE_FIG = {"read_energy_per_access_J": 0, "write_energy_per_access_J": 1, "leakage_W": 2, "area_m2": 3,
              "read_latency_s": 4, "write_latency_s": 4}


def _cacti_dips(tech: str, field: str, axis: int, banks: int, word: int) -> bool:
    """Whether CACTI's own table decreases along ``axis`` (0 capacity, 2 word) for ``field`` somewhere in
    the bank and word slices around (banks, word): the few points where CACTI's optimiser picks a cheaper
    organisation for the bigger array (read energy: 1 point of 504 per flavour). The model reproduces
    CACTI there rather than smoothing it."""
    t = load_technology(tech)
    flavour = t.cacti.flavour if t.cacti is not None else t.scaling.periphery
    table = load_table()[flavour]
    f = _TABLE_FIG.get(field)
    if f is None:
        return False
    j = [i for i, b in enumerate(table.banks) if b <= banks][-1:] + [i for i, b in enumerate(table.banks) if b >= banks][:1]
    k = [i for i, w in enumerate(table.words) if w <= word][-1:] + [i for i, w in enumerate(table.words) if w >= word][:1]
    import numpy as np
    v = np.log(table.values[:, min(j):max(j) + 1, min(k):, f])
    return bool((np.diff(v, axis=axis) < 0).any())


@given(st.sampled_from(list_technologies()), st.floats(0, 1e9), st.floats(0, 1e9))
def test_read_and_write_costs_are_linear_and_monotone_in_bytes(tech, a, b):
    m = Memory.from_technology("m", tech, 4 * 2**20)
    assert m.read_energy(a + b) == pytest.approx(m.read_energy(a) + m.read_energy(b), rel=1e-9, abs=1e-30)
    lo, hi = sorted((a, b))
    assert m.read_time(lo) <= m.read_time(hi) and m.write_time(lo) <= m.write_time(hi)
    if hi > 0:
        assert m.read_time(hi) >= m.read_latency_s + hi / m.bandwidth_Bps * (1 - 1e-12)


def test_nvm_survives_power_off_and_sram_does_not():
    for tech in NVM:
        m = Memory.from_technology("n", tech, 2**20)
        assert not m.volatile and m.retention_s > 3e8 and m.gated_leakage_W == 0
        assert math.isfinite(m.endurance_writes)
    for tech in ("sram-hp", "sram-lstp", "sram-nvsim", "lpddr4"):
        m = Memory.from_technology("v", tech, 2**20)
        assert m.volatile
    assert Memory.from_technology("s", "sram-hp", 2**20).endurance_writes == math.inf


def test_sram_flavours_differ_in_leakage_by_two_orders_of_magnitude():
    hp = Memory.from_technology("a", "sram-hp", 2 * 2**20)
    lstp = Memory.from_technology("b", "sram-lstp", 2 * 2**20)
    assert 100 < hp.leakage_W / lstp.leakage_W < 1000


def test_every_technology_says_where_its_figures_come_from():
    for name in list_technologies():
        tech = load_technology(name)
        assert tech.source and Memory.from_technology("m", name, 2**20).source == tech.source


@pytest.mark.parametrize("kwargs, path", [
    (dict(capacity_bytes=0), "memories.m.capacity_bytes"),
    (dict(capacity_bytes=-5), "memories.m.capacity_bytes"),
    (dict(capacity_bytes=1024, word_bits=0), "memories.m.word_bits"),
    (dict(capacity_bytes=1024, banks=0), "memories.m.banks"),
])
def test_bad_sizes_are_rejected_with_their_field(kwargs, path):
    with pytest.raises(HardwareConfigError, match=f"^{path}: .*expected"):
        Memory.from_technology("m", "rram", **kwargs)


def test_direct_construction_checks_figures():
    with pytest.raises(HardwareConfigError, match=r"memories\.x\.leakage_W: .*expected >= 0"):
        Memory("x", "custom", 1024, 64, 1e-12, 1e-12, 1e-9, 1e-9, -1.0, 1e-6)
    m = Memory("x", "custom", 1024, 64, 8e-12, 16e-12, 1e-9, 2e-9, 1e-3, 1e-6)
    assert m.bandwidth_Bps == pytest.approx(8 / 1e-9) and m.write_bandwidth_Bps == pytest.approx(8 / 2e-9)
    assert m.read_energy(8) == pytest.approx(8e-12) and m.write_energy(16) == pytest.approx(32e-12)


def test_unknown_technology_names_the_choices():
    with pytest.raises(HardwareConfigError, match="unknown technology 'unobtainium'; expected one of"):
        Memory.from_technology("m", "unobtainium", 1024)


@given(nodes, nodes)
def test_smaller_node_never_costs_more_energy(a, b):
    small, big = sorted((a, b))
    assert energy_factor(small, big) <= 1.0 + 1e-12


@given(nodes, nodes, nodes)
def test_area_node_factors_compose(a, b, c):
    assert area_factor(c, a) == pytest.approx(area_factor(c, b) * area_factor(b, a), rel=1e-9)
