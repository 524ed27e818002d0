"""op_traffic (simulator/prepare/traffic.py) on real platforms and hand-built traces: compulsory traffic without a
buffer, the mapping's traffic with one, and the bounds that tie the two together."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw_models import load_platform
from simulator.errors import SimulationConfigError
from simulator.prepare.traffic import op_traffic
from workloads.trace import OpInfo, TensorInfo, Trace

A, W, O, BIAS = 0, 1, 2, 3


@pytest.fixture(scope="module")
def rram():
    return load_platform("edge-rram")


def with_buffer(platform, capacity: float | None):
    """The platform with its buffer resized (same per-access costs), or demoted to a plain memory (None)."""
    name = platform.buffers[0]
    buf = platform.memories[name]
    new = (dataclasses.replace(buf, is_buffer=False, double_buffered=False) if capacity is None
           else dataclasses.replace(buf, capacity_bytes=int(capacity)))
    return dataclasses.replace(platform, memories={**platform.memories, name: new})


def gemm_trace(m: int, k: int, n: int, batch: int = 1, shared_w: bool = True, bits: int = 8,
               bias: bool = False, kind: str = "matmul") -> tuple[Trace, OpInfo]:
    """One linear (shared weight) or batched matmul (per-batch second operand) op."""
    wb = 1 if shared_w else batch
    tensors = {A: TensorInfo(A, "x", "activation", (batch, m, k), batch * m * k, bits),
               W: TensorInfo(W, "w", "weight" if shared_w else "activation", (wb, k, n), wb * k * n, bits),
               O: TensorInfo(O, "y", "activation", (batch, m, n), batch * m * n, bits)}
    reads = {A: batch * m * k, W: wb * k * n}
    if bias:
        tensors[BIAS] = TensorInfo(BIAS, "b", "weight", (n,), n, bits)
        reads[BIAS] = n
    op = OpInfo(0, "layer.linear", "layer#1", "aten.mm.default", kind, batch * m * k * n, 0, reads,
                {O: batch * m * n}, (), (batch, m, k, n))
    return Trace("t", None, tensors, [op]), op


def vector_trace(rows: int, cols: int, kind: str, bits: int = 16) -> tuple[Trace, OpInfo]:
    tensors = {A: TensorInfo(A, "x", "activation", (rows, cols), rows * cols, bits),
               O: TensorInfo(O, "y", "activation", (rows, cols), rows * cols, bits)}
    op = OpInfo(0, "layer.softmax", "layer#1", f"aten.{kind}.default", kind, 0, rows * cols,
                {A: rows * cols}, {O: rows * cols}, (), None)
    return Trace("t", None, tensors, [op]), op


HOMES = {A: "act_sram", W: "backbone", O: "act_sram", BIAS: "backbone"}


def compulsory(trace: Trace, op: OpInfo, homes: dict[int, str]) -> tuple[dict, dict]:
    reads, writes = {}, {}
    for tid, n in op.reads.items():
        reads[homes[tid]] = reads.get(homes[tid], 0.0) + trace.tensors[tid].bytes_for(n)
    for tid, n in op.writes.items():
        writes[homes[tid]] = writes.get(homes[tid], 0.0) + trace.tensors[tid].bytes_for(n)
    return reads, writes


def test_without_a_buffer_traffic_is_compulsory(rram):
    plat = with_buffer(rram, None)
    trace, op = gemm_trace(128, 768, 768, bias=True)
    t = op_traffic(op, trace, HOMES, plat)
    reads, writes = compulsory(trace, op, HOMES)
    assert t.reads == pytest.approx(reads) and t.writes == pytest.approx(writes)
    assert t.mapping is None and t.loop_order is None and t.tiles is None
    assert t.compute_unit == "mac_array"
    assert t.cycles == plat.mac_array.matmul_cycles(128, 768, 768)
    assert t.utilisation == pytest.approx(op.macs / (t.cycles * 16 * 16))
    assert t.refetch == pytest.approx({"act_sram": 1.0, "backbone": 1.0})


def test_vector_ops_run_on_the_vector_unit(rram):
    trace, op = vector_trace(128, 768, "norm")
    t = op_traffic(op, trace, HOMES, rram)
    assert t.compute_unit == "vector_unit"
    assert t.cycles == rram.vector_unit.cycles("norm", 128 * 768)
    assert t.reads == pytest.approx({"act_sram": 128 * 768 * 2.0})


def test_softmax_rows_that_do_not_fit_are_read_twice(rram):
    trace, op = vector_trace(4, 4096, "softmax")          # rows of 8 KiB at 16 bit
    fits = op_traffic(op, trace, HOMES, with_buffer(rram, 64 * 1024))
    too_small = op_traffic(op, trace, HOMES, with_buffer(rram, 4 * 1024))
    assert fits.reads["act_sram"] == pytest.approx(4 * 4096 * 2)
    assert too_small.reads["act_sram"] == pytest.approx(2 * 4 * 4096 * 2)
    assert too_small.writes == fits.writes
    assert too_small.refetch["act_sram"] == pytest.approx(1.5)


shapes = st.tuples(st.sampled_from([1, 8, 32, 128]), st.sampled_from([16, 64, 96, 768]),
                   st.sampled_from([16, 64, 128, 768]), st.sampled_from([1, 2, 4]), st.booleans())


@settings(max_examples=40, deadline=None)
@given(shape=shapes, cap_kib=st.sampled_from([2, 8, 32, 128, 1024]))
def test_with_a_buffer_traffic_is_bounded_by_compulsory(rram, shape, cap_kib):
    m, k, n, batch, shared = shape
    trace, op = gemm_trace(m, k, n, batch, shared_w=shared, bias=shared)
    plat = with_buffer(rram, cap_kib * 1024)
    t = op_traffic(op, trace, HOMES, plat)
    reads, writes = compulsory(trace, op, HOMES)
    assert t.mapping is not None and t.mapping.candidates_evaluated >= 1
    for mem, nbytes in reads.items():
        assert t.reads[mem] >= nbytes * (1 - 1e-12)
    for mem, nbytes in writes.items():
        assert t.writes[mem] >= nbytes * (1 - 1e-12)
    assert all(f >= 1 - 1e-12 for f in t.refetch.values())
    assert t.cycles * 16 * 16 >= op.macs
    assert t.mapping.footprint_bytes <= cap_kib * 1024
    whole = op_traffic(op, trace, HOMES, with_buffer(rram, 64 * 1024 * 1024))
    assert whole.refetch == pytest.approx(dict.fromkeys(whole.refetch, 1.0))


@settings(max_examples=30, deadline=None)
@given(shape=shapes, cap_kib=st.sampled_from([2, 8, 32, 128]), grow=st.sampled_from([2, 4, 16]))
def test_larger_buffer_never_costs_more(rram, shape, cap_kib, grow):
    m, k, n, batch, shared = shape
    trace, op = gemm_trace(m, k, n, batch, shared_w=shared)
    small = op_traffic(op, trace, HOMES, with_buffer(rram, cap_kib * 1024))
    large = op_traffic(op, trace, HOMES, with_buffer(rram, cap_kib * 1024 * grow))
    assert large.mapping.energy_J <= small.mapping.energy_J * (1 + 1e-9)


def test_a_shared_weight_batch_is_one_taller_gemm(rram):
    batched, op_b = gemm_trace(32, 768, 768, batch=4, shared_w=True)
    flat, op_f = gemm_trace(128, 768, 768, batch=1)
    plat = with_buffer(rram, 32 * 1024)
    tb, tf = op_traffic(op_b, batched, HOMES, plat), op_traffic(op_f, flat, HOMES, plat)
    assert tb.reads == pytest.approx(tf.reads) and tb.writes == pytest.approx(tf.writes)
    assert tb.mapping.gemm == (1, 128, 768, 768)


def test_a_bias_streams_once_on_top_of_the_gemm(rram):
    plat = with_buffer(rram, 16 * 1024)
    with_bias, op_b = gemm_trace(128, 768, 768, bias=True)
    without, op_n = gemm_trace(128, 768, 768)
    tb, tn = op_traffic(op_b, with_bias, HOMES, plat), op_traffic(op_n, without, HOMES, plat)
    assert tb.reads["backbone"] - tn.reads["backbone"] == pytest.approx(768)
    assert tb.loop_order == tn.loop_order and tb.tiles == tn.tiles


def test_objectives_trade_energy_for_time(rram):
    trace, op = gemm_trace(128, 768, 3072)
    plat = with_buffer(rram, 16 * 1024)
    e = op_traffic(op, trace, HOMES, plat, objective="energy").mapping
    t = op_traffic(op, trace, HOMES, plat, objective="latency").mapping
    d = op_traffic(op, trace, HOMES, plat, objective="edp").mapping
    assert e.energy_J <= t.energy_J and t.time_s <= e.time_s
    assert d.energy_J * d.time_s <= min(e.energy_J * e.time_s, t.energy_J * t.time_s) * (1 + 1e-12)


def test_user_errors_are_one_line_config_errors(rram):
    trace, op = gemm_trace(8, 8, 8)
    with pytest.raises(SimulationConfigError, match="objective"):
        op_traffic(op, trace, HOMES, rram, objective="speed")
    with pytest.raises(SimulationConfigError, match=r"homes\.1"):
        op_traffic(op, trace, {A: "act_sram", O: "act_sram"}, rram)


def attention_trace(heads: int, seq: int, dim: int, bits: int = 16) -> tuple[Trace, OpInfo]:
    """One fused attention op as the tracer records it: Q, K, V read, O written, gemm (heads, l, e, s)."""
    n = heads * seq * dim
    tensors = {i: TensorInfo(i, name, "activation", (heads, seq, dim), n, bits)
               for i, name in enumerate(("q", "k", "v", "o"))}
    op = OpInfo(0, "layer.attention", "layer#1", "aten._scaled_dot_product_flash_attention_for_cpu.default",
                "attention", heads * seq * seq * 2 * dim, heads * seq * seq * 5, {0: n, 1: n, 2: n}, {3: n},
                (), (heads, seq, dim, seq))
    return Trace("t", None, tensors, [op]), op


ATT_HOMES = dict.fromkeys(range(4), "act_sram")


def test_fused_attention_counts_both_gemms(rram):
    trace, op = attention_trace(12, 128, 64)
    plain = op_traffic(op, trace, ATT_HOMES, with_buffer(rram, None))
    mac = rram.mac_array
    assert plain.cycles == 12 * (mac.matmul_cycles(128, 64, 128) + mac.matmul_cycles(128, 128, 64))
    mapped = op_traffic(op, trace, ATT_HOMES, rram)
    assert mapped.loop_order in ("qs", "sq") and mapped.mapping.gemm == (12, 128, 64, 128)
    assert mapped.cycles * 16 * 16 >= op.macs
    assert mapped.refetch == pytest.approx({"act_sram": 1.0})     # one head's K and V fit in 128 KiB


def test_long_sequence_attention_refetches_keys(rram):
    trace, op = attention_trace(2, 2048, 64)                        # K and V of a head: 512 KiB
    t = op_traffic(op, trace, ATT_HOMES, rram)
    assert t.refetch["act_sram"] > 1.0
    assert t.mapping.footprint_bytes <= rram.memories["buffer"].capacity_bytes


def test_a_component_replaced_in_place_is_seen(rram):
    plat = with_buffer(rram, 16 * 1024)          # a fresh platform object, safe to modify
    trace, op = gemm_trace(128, 768, 768)
    before = op_traffic(op, trace, HOMES, plat)
    bigger = dataclasses.replace(plat.mac_array, rows=32, cols=32)   # the unit as the platform names it
    plat.compute = {n: bigger if u is plat.mac_array else u for n, u in plat.compute.items()}
    plat.mac_array = bigger
    after = op_traffic(op, trace, HOMES, plat)
    assert after.cycles < before.cycles
    plat.memories["buffer"] = dataclasses.replace(plat.memories["buffer"], capacity_bytes=4 << 20)
    assert op_traffic(op, trace, HOMES, plat).refetch == pytest.approx({"act_sram": 1.0, "backbone": 1.0})
