"""Memory technologies, scaling laws and DRAM: cited reference points, monotonicity, independent figures."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw_models import HardwareConfigError, Memory, list_technologies, load_technology
from hw_models.scaling import load_capacity_law
from hw_models.techscaling import NODES_M, area_factor, energy_factor
from hw_models.units import parse_quantity

# Cited figures, typed here from /work/shared/reference/hardware-data.md (not read from the YAML files):
# (capacity, read pJ, write pJ, read ns, write ns, leakage mW, area mm²) at 22 nm, 64-bit words.
CITED = {
    "sram-hp": ("2 MiB", 1.13, 17.0, 4.68, 4.68, 56.3, 1.31),
    "sram-lstp": ("2 MiB", 31.6, 25.6, None, None, 0.276, 1.54),
    "rram": ("2 MiB", 6.18, 49.7, 0.79, 5.53, 12.0, 0.526),
    "stt-mram": ("2 MiB", 4.37, 43.5, 0.59, 2.45, 22.0, 0.220),
    "pcm": ("2 MiB", 5.52, 6.48, 0.72, 20.4, 43.5, 0.417),
    "fefet": ("1 MiB", 0.705, 18.9, 3.92, None, 0.62, 0.065),
}
ON_CHIP = sorted(CITED)
DRAMS = ("lpddr4", "lpddr5", "hbm2")


@pytest.mark.parametrize("name", ON_CHIP)
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


def test_lpddr4_access_is_512_pJ_and_device_bandwidth_is_12_8_GBps():
    m = Memory.from_technology("d", "lpddr4", 512 * 2**20, word_bits=64)
    assert m.read_energy_per_access_J == pytest.approx(512e-12, rel=1e-12)  # 8 pJ/bit x 64 (CACTI)
    assert m.bandwidth_Bps == pytest.approx(12.8e9, rel=1e-12)  # Micron MT53B128M32D1: 2 x16 x 3200 MT/s
    assert m.is_dram and m.area_m2 == 0.0


@pytest.mark.parametrize("name", DRAMS)
def test_dram_bandwidth_is_channels_times_width_times_rate(name):
    d = load_technology(name).dram
    for devices in (1, 2, 3):
        m = Memory.from_technology("d", name, int(devices * d.device_capacity))
        assert m.bandwidth_Bps == pytest.approx(devices * d.channels * d.channel_width_bits * d.data_rate / 8)
        assert m.leakage_W == pytest.approx(devices * (d.background_power + d.refresh_power))
        assert m.refresh_power_W == pytest.approx(devices * d.refresh_power)
        assert m.gated_leakage_W == pytest.approx(devices * d.self_refresh_power)
        assert m.gated_leakage_W < m.leakage_W
        assert m.wakeup_latency_s == d.self_refresh_exit_latency > 0
    one = Memory.from_technology("d", name, int(d.device_capacity), channels=1)
    assert one.bandwidth_Bps == pytest.approx(d.channel_width_bits * d.data_rate / 8)


def test_capacity_law_is_close_to_square_root_and_fits_the_cacti_table():
    law = load_capacity_law("cacti-sram-lstp")
    assert 0.4 < law.read_energy < 0.6 and 0.4 < law.write_energy < 0.6
    assert 0.8 < law.leakage <= 1.0 and 0.8 < law.area <= 1.0
    # CACTI 22 nm LSTP rows (hardware-data.md): predicted from the 2 MB row within 25 %
    rows = {16: 2.64, 64: 5.67, 256: 11.9, 1024: 23.5}
    for kib, read_pJ in rows.items():
        m = Memory.from_technology("s", "sram-lstp", kib * 1024)
        assert m.read_energy_per_access_J == pytest.approx(read_pJ * 1e-12, rel=0.25)


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


FIELDS = ("read_energy_per_access_J", "write_energy_per_access_J", "read_latency_s", "write_latency_s",
          "leakage_W", "area_m2", "gated_leakage_W", "wakeup_energy_J", "wakeup_latency_s")
capacities = st.integers(min_value=1024, max_value=2**32)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(list_technologies()), capacities, capacities,
       st.sampled_from([8, 16, 32, 64, 128, 256]), st.sampled_from([8, 16, 32, 64, 128, 256]),
       st.sampled_from([1, 2, 8, 16]))
def test_costs_non_negative_and_non_decreasing_in_capacity_and_word_width(tech, c1, c2, w1, w2, banks):
    (c1, c2), (w1, w2) = sorted((c1, c2)), sorted((w1, w2))
    small = Memory.from_technology("a", tech, c1, word_bits=w1, banks=banks, node_m=12e-9)
    big_cap = Memory.from_technology("b", tech, c2, word_bits=w1, banks=banks, node_m=12e-9)
    big_word = Memory.from_technology("c", tech, c1, word_bits=w2, banks=banks, node_m=12e-9)
    for f in FIELDS:
        assert getattr(small, f) >= 0
        assert getattr(big_cap, f) >= getattr(small, f) * (1 - 1e-12), f
        assert getattr(big_word, f) >= getattr(small, f) * (1 - 1e-12), f


@given(st.sampled_from(list_technologies()), st.floats(0, 1e9), st.floats(0, 1e9))
def test_read_and_write_costs_are_linear_and_monotone_in_bytes(tech, a, b):
    m = Memory.from_technology("m", tech, 4 * 2**20)
    assert m.read_energy(a + b) == pytest.approx(m.read_energy(a) + m.read_energy(b), rel=1e-9, abs=1e-30)
    lo, hi = sorted((a, b))
    assert m.read_time(lo) <= m.read_time(hi) and m.write_time(lo) <= m.write_time(hi)
    if hi > 0:
        assert m.read_time(hi) >= m.read_latency_s + hi / m.bandwidth_Bps * (1 - 1e-12)


def test_word_width_energy_is_linear_by_default():
    a = Memory.from_technology("a", "rram", 2 * 2**20, word_bits=64)
    b = Memory.from_technology("b", "rram", 2 * 2**20, word_bits=128)
    assert b.read_energy_per_access_J == pytest.approx(2 * a.read_energy_per_access_J)
    assert b.read_energy(1000) == pytest.approx(a.read_energy(1000))  # same energy per byte
    assert b.bandwidth_Bps == pytest.approx(2 * a.bandwidth_Bps)


def test_nvm_survives_power_off_and_sram_does_not():
    for tech in ("rram", "stt-mram", "pcm", "fefet"):
        m = Memory.from_technology("n", tech, 2**20)
        assert not m.volatile and m.retention_s > 3e8 and m.gated_leakage_W == 0
        assert math.isfinite(m.endurance_writes)
    for tech in ("sram-hp", "sram-lstp", "lpddr4"):
        m = Memory.from_technology("v", tech, 2**20)
        assert m.volatile
    assert Memory.from_technology("s", "sram-hp", 2**20).endurance_writes == math.inf


def test_sram_flavours_differ_in_leakage_by_two_orders_of_magnitude():
    hp = Memory.from_technology("a", "sram-hp", 2 * 2**20)
    lstp = Memory.from_technology("b", "sram-lstp", 2 * 2**20)
    assert 100 < hp.leakage_W / lstp.leakage_W < 1000


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
