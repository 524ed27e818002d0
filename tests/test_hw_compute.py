"""MAC array, vector unit and DVFS: cycle bounds, SCALE-Sim agreement, energy laws."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw_models import HardwareConfigError, MacArray, OperatingPoint, VectorUnit
from hw_models.compute import compute_data

# Measured with SCALE-Sim v3.0.0 ("Total Cycles", ideal bandwidth) by benchmarks/calibrate_scalesim.py:
# (rows, cols, dataflow, M, K, N) -> cycles. An independent cycle model, not hetsim's.
SCALESIM = {
    (16, 16, "ws", 128, 768, 768): 400895,
    (16, 16, "ws", 128, 768, 3072): 1603583,
    (16, 16, "os", 128, 768, 3072): 1225727,
    (16, 16, "is", 128, 768, 3072): 1197311,
    (32, 32, "os", 128, 768, 3072): 318719,
    (32, 32, "is", 128, 128, 64): 2527,
    (16, 16, "os", 128, 768, 768): 306431,
    (16, 16, "is", 128, 768, 768): 312575,
    (16, 16, "ws", 128, 64, 128): 5567,
    (16, 16, "os", 128, 64, 128): 6015,
    (16, 16, "os", 128, 768, 64): 25535,
    (16, 16, "is", 128, 768, 64): 42239,
    (32, 32, "ws", 128, 768, 768): 127871,
    (32, 32, "os", 128, 768, 768): 79679,
    (32, 32, "os", 128, 64, 128): 2015,
    (32, 32, "is", 128, 768, 64): 15167,
    (16, 32, "os", 100, 50, 70): 2015,
    (32, 16, "ws", 100, 50, 70): 1779,
    (8, 8, "is", 40, 200, 30): 6499,
}


@pytest.mark.parametrize("key", sorted(SCALESIM))
def test_matmul_cycles_agree_with_scalesim_within_5_percent(key):
    rows, cols, df, m, k, n = key
    ours = MacArray(rows=rows, cols=cols, dataflow=df).matmul_cycles(m, k, n)
    assert abs(ours - SCALESIM[key]) / SCALESIM[key] <= 0.05


dims = st.integers(min_value=1, max_value=3000)
sides = st.integers(min_value=1, max_value=64)


@settings(max_examples=300)
@given(sides, sides, st.sampled_from(["ws", "os", "is"]), dims, dims, dims)
def test_matmul_cycles_between_ideal_and_fill_drain_bound(rows, cols, df, m, k, n):
    cycles = MacArray(rows=rows, cols=cols, dataflow=df).matmul_cycles(m, k, n)
    spatial_r, spatial_c, temporal = {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[df]
    folds = math.ceil(spatial_r / rows) * math.ceil(spatial_c / cols)
    assert cycles >= m * k * n / (rows * cols)
    assert cycles <= folds * (temporal + 2 * rows + cols)


@given(sides, sides, st.sampled_from(["ws", "os", "is"]), dims, dims, dims, st.integers(1, 500))
def test_matmul_cycles_never_decrease_as_a_dimension_grows(rows, cols, df, m, k, n, extra):
    arr = MacArray(rows=rows, cols=cols, dataflow=df)
    base = arr.matmul_cycles(m, k, n)
    assert arr.matmul_cycles(m + extra, k, n) >= base
    assert arr.matmul_cycles(m, k + extra, n) >= base
    assert arr.matmul_cycles(m, k, n + extra) >= base


def test_matmul_rejects_empty_products_and_bad_dataflow():
    with pytest.raises(ValueError):
        MacArray().matmul_cycles(0, 4, 4)
    with pytest.raises(HardwareConfigError, match="compute.mac_array.dataflow: got 'xs'; expected"):
        MacArray(dataflow="xs")


voltages = st.floats(min_value=0.3, max_value=1.2)


@given(voltages, voltages, st.sampled_from([4, 8, 16]), st.sampled_from([8, 16]))
def test_lowering_voltage_never_raises_dynamic_energy_per_op(v1, v2, wbits, abits):
    lo, hi = sorted((v1, v2))
    arr = MacArray(weight_bits=wbits, act_bits=abits)
    vec = VectorUnit()
    op_lo = OperatingPoint("lo", lo, 1e8, 0.8)
    op_hi = OperatingPoint("hi", hi, 1e9, 0.8)
    assert 0 <= arr.energy_per_mac_J(op_lo) <= arr.energy_per_mac_J(op_hi)
    assert 0 <= vec.energy_per_op_J(op_lo) <= vec.energy_per_op_J(op_hi)
    assert 0 <= arr.leakage_at(op_lo) <= arr.leakage_at(op_hi)


def test_dynamic_energy_scales_with_voltage_squared():
    arr = MacArray()
    half = OperatingPoint("half", 0.4, 5e8, 0.8)
    assert arr.energy_per_mac_J(half) == pytest.approx(arr.energy_per_mac_J() / 4)
    assert OperatingPoint("n", 0.8, 1e9, 0.8).dynamic_scale == 1.0
    cubic = OperatingPoint("n", 0.4, 1e9, 0.8, leakage_voltage_exponent=3)
    assert cubic.leakage_scale == pytest.approx(1 / 8)


def test_mac_energy_multiplier_grows_with_product_of_widths_and_adder_linearly():
    d = compute_data()
    a = MacArray(weight_bits=8, act_bits=8, acc_bits=32)
    b = MacArray(weight_bits=16, act_bits=16, acc_bits=32)
    # doubling both operands: multiplier x4, registers (act + acc bits per MAC) grow by 8 bits
    from hw_models.techscaling import energy_factor
    f = energy_factor(a.node_m, d.node)
    expected = (d.int_multiplier_32b_energy * (256 - 64) / 1024 + d.register_energy_per_bit * 8) * f
    assert b.mac_energy_J - a.mac_energy_J == pytest.approx(expected)
    assert MacArray(acc_bits=32).mac_energy_J > MacArray(acc_bits=16).mac_energy_J


@given(st.integers(1, 64), st.integers(0, 10**6),
       st.sampled_from(["softmax", "norm", "gelu", "elementwise", "reduction"]))
def test_vector_cycles_are_lanes_times_cycles_per_element(lanes, elements, kind):
    vu = VectorUnit(lanes=lanes)
    assert vu.cycles(kind, elements) == math.ceil(elements / lanes) * vu.cycles_per_element[kind]


def test_vector_unit_overrides_and_unknown_kind():
    vu = VectorUnit(cycles_per_element={"softmax": 9})
    assert vu.cycles("softmax", 32) == 2 * 9 and vu.cycles("norm", 16) == 3
    with pytest.raises(HardwareConfigError, match="unknown op kind 'fft'"):
        vu.cycles("fft", 10)
    with pytest.raises(HardwareConfigError, match="cycles_per_element.norm"):
        VectorUnit(cycles_per_element={"norm": 0})


def test_compute_area_and_leakage_positive_and_grow_with_array():
    small, big = MacArray(rows=8, cols=8), MacArray(rows=16, cols=16)
    assert 0 < small.area_m2 < big.area_m2 and 0 < small.leakage_W < big.leakage_W
    assert big.area_m2 == pytest.approx(4 * small.area_m2)
