"""Properties of the mapping search (simulator/prepare/mapping.py).

The closed-form fetch counts are checked against an independent path: a literal walk of the tile loop nest
with one tile per operand held in the buffer. The search is checked against brute force over its own
candidates and over the whole un-pruned ladder space.
"""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw_models import MacArray
from simulator.errors import SimulationConfigError
from simulator.prepare.mapping import (ATTENTION_ORDERS, ORDERS, Attention, Gemm, Hardware, MemoryCosts,
                               attention_candidates, attention_footprint, best_attention_mapping,
                               best_mapping, candidate_traffic, candidates, clear_cache, evaluate,
                               evaluate_attention, fetch_counts, footprint, ladder)

HOME, NVM, BUF = "dram", "nvm", "buffer"


def make_hw(capacity: float, rows: int = 4, cols: int = 4, dataflow: str = "ws",
            double: bool = False, buffer_J_per_B: float = 1e-12) -> Hardware:
    """Fixed per-byte costs (a buffer far cheaper than its homes), so only the capacity varies."""
    mac = MacArray(rows=rows, cols=cols, dataflow=dataflow)
    mems = (MemoryCosts(BUF, buffer_J_per_B, 1.2 * buffer_J_per_B, 64e9, 64e9),
            MemoryCosts(HOME, 64e-12, 64e-12, 8e9, 8e9),
            MemoryCosts(NVM, 2e-12, 30e-12, 16e9, 2e9))
    return Hardware(buffer=BUF, capacity_bytes=float(capacity), double_buffered=double, memories=mems,
                    rows=rows, cols=cols, dataflow=dataflow, clock_hz=1e9, energy_per_mac_J=0.2e-12,
                    array_key=repr(mac), cycles=mac.matmul_cycles)


def make_gemm(m: int, k: int, n: int, batch: int = 1, a_home: str = HOME, w_home: str = HOME,
              o_home: str = HOME, bits: tuple[int, int, int] = (8, 8, 8), acc_bits: int = 32) -> Gemm:
    return Gemm(batch=batch, m=m, k=k, n=n, a_bytes=bits[0] / 8, w_bytes=bits[1] / 8, o_bytes=bits[2] / 8,
                acc_bytes=acc_bits / 8, a_home=a_home, w_home=w_home, o_home=o_home)


def compulsory(g: Gemm) -> tuple[dict[str, float], dict[str, float]]:
    """Each operand once: A and W read from their homes, O written once to its home."""
    reads: dict[str, float] = {}
    for home, nbytes in ((g.a_home, g.m * g.k * g.a_bytes), (g.w_home, g.k * g.n * g.w_bytes)):
        reads[home] = reads.get(home, 0.0) + nbytes * g.batch
    return reads, {g.o_home: g.m * g.n * g.o_bytes * g.batch}


def home_traffic(traffic: dict[str, float]) -> dict[str, float]:
    return {mem: v for mem, v in traffic.items() if mem != BUF}


dims = st.integers(min_value=1, max_value=48)
homes = st.sampled_from([HOME, NVM])
gemms = st.builds(make_gemm, dims, dims, dims, st.integers(1, 3), homes, homes, homes,
                  st.sampled_from([(8, 8, 8), (16, 8, 16), (4, 4, 8)]), st.sampled_from([16, 32]))
arrays = st.tuples(st.sampled_from([2, 4, 8]), st.sampled_from([2, 4, 8]), st.sampled_from(["ws", "os", "is"]))


def walk(order: str, tiles: tuple[int, int, int], g: Gemm) -> tuple[int, int, int]:
    """Independent path: run the tile loop nest, the buffer holding one tile per operand; count A and W
    tile fetches and O tile visits (in tiles, summed over the nest)."""
    sizes = {"m": g.m, "k": g.k, "n": g.n}
    step = dict(zip("mkn", tiles))
    ranges = [range(0, sizes[d], step[d]) for d in order]
    held = {"A": None, "W": None, "O": None}
    fetched = {"A": 0, "W": 0, "O": 0}
    elements = {"A": 0, "W": 0, "O": 0}
    for idx in itertools.product(*ranges):
        at = dict(zip(order, idx))
        ext = {d: min(step[d], sizes[d] - at[d]) for d in "mkn"}
        for name, (d1, d2) in (("A", "mk"), ("W", "kn"), ("O", "mn")):
            tile = (at[d1], at[d2])
            if held[name] != tile:
                held[name] = tile
                fetched[name] += 1
                elements[name] += ext[d1] * ext[d2]
    return elements["A"], elements["W"], elements["O"]


@settings(max_examples=150, deadline=None)
@given(g=gemms, order=st.sampled_from(ORDERS), tm=st.integers(1, 48), tk=st.integers(1, 48),
       tn=st.integers(1, 48))
def test_closed_form_fetches_match_a_walk_of_the_loop_nest(g, order, tm, tk, tn):
    tiles = (min(tm, g.m), min(tk, g.k), min(tn, g.n))
    f = fetch_counts(order, tiles, g)
    a, w, o = walk(order, tiles, g)
    assert a == f["A"] * g.m * g.k
    assert w == f["W"] * g.k * g.n
    assert o == f["O"] * g.m * g.n


@settings(max_examples=100, deadline=None)
@given(g=gemms, arr=arrays, cap=st.floats(min_value=64, max_value=64 * 1024))
def test_traffic_never_below_compulsory(g, arr, cap):
    hw = make_hw(cap, *arr)
    best = best_mapping(g, hw)
    reads, writes = compulsory(g)
    for mem, nbytes in reads.items():
        assert best.reads.get(mem, 0.0) >= nbytes * (1 - 1e-12)
    for mem, nbytes in writes.items():
        assert best.writes.get(mem, 0.0) >= nbytes * (1 - 1e-12)
    # everything that reaches the array passes through the buffer at least once
    assert best.reads[BUF] >= sum(reads.values()) * (1 - 1e-12)


@settings(max_examples=100, deadline=None)
@given(g=gemms, arr=arrays, double=st.booleans(), slack=st.floats(min_value=1.0, max_value=4.0))
def test_everything_fits_gives_compulsory_home_traffic(g, arr, double, slack):
    hw = make_hw(1.0, *arr, double=double)
    need = footprint((g.m, g.k, g.n), g, hw)
    hw = make_hw(need * slack, *arr, double=double)
    best = best_mapping(g, hw)
    reads, writes = compulsory(g)
    assert home_traffic(best.reads) == pytest.approx(reads)
    assert home_traffic(best.writes) == pytest.approx(writes)
    assert best.fetches == {"A": 1, "W": 1, "O": 1}


@settings(max_examples=100, deadline=None)
@given(g=gemms, arr=arrays, cap=st.floats(min_value=64, max_value=16 * 1024),
       grow=st.floats(min_value=1.0, max_value=8.0))
def test_larger_buffer_never_costs_more_energy(g, arr, cap, grow):
    small, large = best_mapping(g, make_hw(cap, *arr)), best_mapping(g, make_hw(cap * grow, *arr))
    assert large.energy_J <= small.energy_J * (1 + 1e-9)


@settings(max_examples=100, deadline=None)
@given(dims=st.tuples(dims, dims, dims), arr=arrays, cap=st.floats(min_value=64, max_value=16 * 1024),
       grow=st.floats(min_value=1.0, max_value=8.0))
def test_larger_buffer_never_moves_more_from_home(dims, arr, cap, grow):
    # One home whose reads and writes cost the same and a free buffer: minimum energy is minimum home
    # traffic. (With homes of different costs the search may rightly move more cheap bytes to save
    # expensive ones, so bytes alone are not monotone there; energy is, above.)
    g = make_gemm(*dims)
    small = best_mapping(g, make_hw(cap, *arr, buffer_J_per_B=0.0))
    large = best_mapping(g, make_hw(cap * grow, *arr, buffer_J_per_B=0.0))
    moved = lambda m: m.reads.get(HOME, 0.0) + m.writes.get(HOME, 0.0)  # noqa: E731
    assert moved(large) <= moved(small) * (1 + 1e-9)


@settings(max_examples=60, deadline=None)
@given(g=gemms, arr=arrays, cap=st.floats(min_value=64, max_value=8 * 1024),
       objective=st.sampled_from(["energy", "latency", "edp"]))
def test_chosen_mapping_is_no_worse_than_any_candidate(g, arr, cap, objective):
    hw = make_hw(cap, *arr)
    best = best_mapping(g, hw, objective)
    cands = candidates(g, hw, objective)
    assert best.candidates_evaluated == len(cands)
    values = [evaluate(order, tiles, g, hw, objective).objective_value for order, tiles in cands]
    assert best.objective_value == min(values)
    # and no worse than the best of the whole un-pruned ladder space (every fitting tile triple, every order)
    full = [evaluate(order, t, g, hw, objective).objective_value
            for t in itertools.product(ladder(g.m), ladder(g.k), ladder(g.n))
            if footprint(t, g, hw) <= hw.capacity_bytes for order in ORDERS]
    assert best.objective_value <= min(full) * (1 + 1e-9)


@settings(max_examples=60, deadline=None)
@given(g=gemms, arr=arrays, cap=st.floats(min_value=64, max_value=64 * 1024))
def test_cycles_at_least_ideal_and_tiles_fit(g, arr, cap):
    hw = make_hw(cap, *arr)
    best = best_mapping(g, hw)
    macs = g.batch * g.m * g.k * g.n
    assert best.cycles * hw.rows * hw.cols >= macs
    assert 0 < best.utilisation <= 1
    assert best.footprint_bytes <= hw.capacity_bytes


def test_partial_sums_spill_when_k_is_outside_the_output_loops():
    g = make_gemm(8, 8, 8)
    reads, writes, f = candidate_traffic("kmn", (4, 4, 4), g, make_hw(1e6))
    assert f["O"] == 2                    # two k tiles, each revisiting every output tile
    # one partial spill at 4 bytes + the final write at 1 byte per output element; one partial read back
    assert writes[HOME] == 64 * 4 + 64 * 1
    # A once (n is inside its m loop), W twice (m is outside its n loop), O's partial sums read back once
    assert reads[HOME] == 64 * 1 + 64 * 1 * 2 + 64 * 4


def test_operands_in_the_buffer_need_no_fills_and_no_space():
    g = make_gemm(16, 16, 16, a_home=BUF)
    hw = make_hw(1e6)
    assert footprint((16, 16, 16), g, hw) == 16 * 16 * 1 + 16 * 16 * 4
    reads, writes, _ = candidate_traffic("mkn", (16, 16, 16), g, hw)
    assert set(reads) == {BUF, HOME}
    assert reads[HOME] == 16 * 16     # W only


def test_results_are_cached_and_deterministic():
    g, hw = make_gemm(64, 96, 80), make_hw(2048)
    clear_cache()
    first = best_mapping(g, hw)
    assert best_mapping(g, hw) is first
    clear_cache()
    again = best_mapping(g, hw)
    assert again == first and again is not first


def test_too_small_buffer_is_a_config_error():
    with pytest.raises(SimulationConfigError, match=r"memories\.buffer\.capacity"):
        best_mapping(make_gemm(4, 4, 4), make_hw(2))


# ---- fused attention -------------------------------------------------------------------------------------

def make_attention(bh: int, l: int, e: int, s: int, ev: int, homes: tuple[str, str, str, str]) -> Attention:
    return Attention(batch=bh, l=l, e=e, s=s, ev=ev, q_bytes=1.0, k_bytes=1.0, v_bytes=2.0, o_bytes=1.0,
                     acc_bytes=4.0, q_home=homes[0], k_home=homes[1], v_home=homes[2], o_home=homes[3])


attentions = st.builds(make_attention, st.integers(1, 4), dims, st.sampled_from([4, 8, 16]), dims,
                       st.sampled_from([4, 8, 16]), st.tuples(homes, homes, homes, homes))


def attention_compulsory(att: Attention) -> tuple[dict[str, float], dict[str, float]]:
    reads: dict[str, float] = {}
    for home, nbytes in ((att.q_home, att.l * att.e * att.q_bytes), (att.k_home, att.s * att.e * att.k_bytes),
                         (att.v_home, att.s * att.ev * att.v_bytes)):
        reads[home] = reads.get(home, 0.0) + nbytes * att.batch
    return reads, {att.o_home: att.l * att.ev * att.o_bytes * att.batch}


@settings(max_examples=80, deadline=None)
@given(att=attentions, arr=arrays, cap=st.floats(min_value=256, max_value=32 * 1024),
       grow=st.floats(min_value=1.0, max_value=8.0), objective=st.sampled_from(["energy", "latency", "edp"]))
def test_attention_search_properties(att, arr, cap, grow, objective):
    hw = make_hw(cap, *arr)
    try:
        best = best_attention_mapping(att, hw, objective)
    except SimulationConfigError:
        assert attention_footprint((1, 1), att, hw) > cap
        return
    reads, writes = attention_compulsory(att)
    for mem, nbytes in reads.items():
        assert best.reads.get(mem, 0.0) >= nbytes * (1 - 1e-12)
    for mem, nbytes in writes.items():
        assert best.writes.get(mem, 0.0) >= nbytes * (1 - 1e-12)
    assert best.cycles * hw.rows * hw.cols >= att.batch * att.l * att.s * (att.e + att.ev)
    cands = attention_candidates(att, hw, objective)
    assert best.candidates_evaluated == len(cands)
    assert best.objective_value == min(evaluate_attention(o, t, att, hw, objective).objective_value
                                       for o, t in cands)
    if objective == "energy":
        full = [evaluate_attention(o, (tq, ts), att, hw, objective).objective_value
                for tq in ladder(att.l) for ts in ladder(att.s) for o in ATTENTION_ORDERS
                if attention_footprint((tq, ts), att, hw) <= cap]
        assert best.objective_value <= min(full) * (1 + 1e-9)
        larger = best_attention_mapping(att, make_hw(cap * grow, *arr), objective)
        assert larger.energy_J <= best.energy_J * (1 + 1e-9)


@settings(max_examples=60, deadline=None)
@given(att=attentions, arr=arrays)
def test_attention_that_fits_moves_each_operand_once(att, arr):
    hw = make_hw(attention_footprint((att.l, att.s), att, make_hw(1.0, *arr)), *arr)
    best = best_attention_mapping(att, hw)
    reads, writes = attention_compulsory(att)
    assert home_traffic(best.reads) == pytest.approx(reads)
    assert home_traffic(best.writes) == pytest.approx(writes)


def test_attention_reads_keys_once_per_query_block_when_they_do_not_fit():
    att = make_attention(1, 64, 8, 64, 8, (HOME, HOME, HOME, NVM))
    m = evaluate_attention("qs", (16, 32), att, make_hw(1e6), "energy")
    assert m.fetches == {"A": 1, "W": 4, "O": 1}
    assert m.reads[HOME] == 64 * 8 * 1 + 4 * (64 * 8 * 1 + 64 * 8 * 2)
    m = evaluate_attention("sq", (16, 32), att, make_hw(1e6), "energy")
    assert m.fetches == {"A": 2, "W": 1, "O": 2}
    assert m.writes[NVM] == 64 * 8 * 4 + 64 * 8 * 1     # one partial spill, then the final output
