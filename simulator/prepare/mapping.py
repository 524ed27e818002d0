"""Mapping: tile sizes and loop order of a matmul-like op through an on-chip staging buffer.

The hierarchy modelled is two-level, per operand: *home memory* (where placement put the tensor: ReRAM,
MRAM, DRAM, ...) -> *staging buffer* (the platform memory with ``is_buffer``) -> MAC array. A GEMM
``O[m, n] += A[m, k] · W[k, n]`` is split into tiles ``(tm, tk, tn)`` that fit the buffer together, and the
three tile loops run in one of six orders (outermost first, e.g. ``"nmk"``).

Closed-form traffic of one candidate (``P_x = ceil(X / tx)`` tiles along dimension x):

* an operand is fetched from its home once per iteration of each loop it does *not* depend on that sits
  *outside* its innermost non-trivial (``P > 1``) loop it does depend on; inner irrelevant loops reuse
  the tile held in the buffer. A (m, k) ignores n, W (k, n) ignores m, O (m, n) ignores k;
* the output visited ``v`` times (k outside its innermost m/n loop) spills ``v - 1`` partial sums to its
  home at accumulator precision and reads them back, then writes the final value once;
* buffer writes = fills from the homes + partial sums the array writes; buffer reads = what the array
  reads (per its dataflow: a weight-stationary array re-reads an input row once per column fold,
  accumulates outputs once per row fold, ...) + drains to the homes;
* MAC-array cycles are the sum of ``MacArray.matmul_cycles`` over the tiles (fill/drain per tile).

Candidates: tile sizes along each dimension are the powers of two below it and the dimension itself;
for the energy objective only the Pareto-maximal tile triples that fit the buffer are kept (growing a
tile never increases a re-fetch or fold count, so this loses nothing), for latency and EDP every fitting
triple; each in every distinct loop order. The count is reported as
``Mapping.candidates_evaluated``. The best candidate minimises energy (J), latency (s) or their product;
ties go to the first in a fixed enumeration order, so results are deterministic. Results are cached by
(shape, bytes per element, operand homes, buffer and cost parameters): traces repeat shapes.

A fused attention op (``softmax(Q·Kᵀ)·V`` per head) is blocked over query rows and key/value rows with
the scores kept in the buffer (:func:`evaluate_attention`).

Operands homed in the buffer itself need no fills and take no staging space (placement accounts for
their space). Tensors of the op that are not one of its GEMM operands (a bias, a mask) stream once from
their homes. Vector-unit ops stream once, softmax and norm twice when a row does not fit
(:func:`stream_vector_op`).
"""
from __future__ import annotations

import dataclasses
from collections import OrderedDict
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from hw_models.vocabulary import PARAMETER_ROLES
from simulator.errors import SimulationConfigError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from hw_models import Memory, Platform
    from workloads.trace import OpInfo, Trace

ORDERS = ("mkn", "mnk", "kmn", "knm", "nmk", "nkm")
"""The six loop orders over the tile loops, outermost first."""

ROW_KINDS = ("softmax", "norm")
"""Vector-op kinds that need a whole row (the last dimension of their input) before they can write."""

WEIGHT_ROLES = PARAMETER_ROLES
"""Tensor roles preferred as the W operand when element counts alone do not tell A from W."""


@dataclass(frozen=True)
class Gemm:
    """One GEMM to map: ``batch`` independent ``m × k × n`` products (a batch sharing an operand is
    folded into m or n first). Bytes per element for operands A (m×k), W (k×n), the final output O (m×n)
    and the partial sums (``acc_bytes``); ``*_home``: memory name of each operand."""
    batch: int
    m: int
    k: int
    n: int
    a_bytes: float
    w_bytes: float
    o_bytes: float
    acc_bytes: float
    a_home: str
    w_home: str
    o_home: str


@dataclass(frozen=True)
class MemoryCosts:
    """Per-byte costs of one memory used to rank candidates: J per byte read and written, and read and
    write bandwidth in bytes/s."""
    name: str
    read_J_per_B: float
    write_J_per_B: float
    read_Bps: float
    write_Bps: float


@dataclass(frozen=True)
class Hardware:
    """The hardware a mapping depends on: the staging buffer (name, capacity in bytes, whether tiles are
    double-buffered), per-byte costs of every memory, the MAC array's shape, dataflow, clock (Hz) and
    energy per MAC (J). ``cycles`` is ``MacArray.matmul_cycles`` (not part of equality: ``array_key`` is)."""
    buffer: str
    capacity_bytes: float
    double_buffered: bool
    memories: tuple[MemoryCosts, ...]
    rows: int
    cols: int
    dataflow: str
    clock_hz: float
    energy_per_mac_J: float
    array_key: str
    cycles: Callable[[int, int, int], int] = field(compare=False, hash=False, repr=False)

    def __hash__(self) -> int:  # hashed once: it is part of every cache key
        try:
            return self._hash
        except AttributeError:
            h = hash(tuple(getattr(self, f.name) for f in dataclasses.fields(self) if f.compare))
            object.__setattr__(self, "_hash", h)
            return h

    def costs(self, name: str) -> MemoryCosts:
        """Per-byte costs of memory ``name``."""
        for mem in self.memories:
            if mem.name == name:
                return mem
        raise SimulationConfigError(f"homes: memory {name!r} is not on the platform; "
                                    f"expected one of {', '.join(m.name for m in self.memories)}")


@dataclass(frozen=True)
class Mapping:
    """The chosen mapping of one matmul-like op.

    ``loop_order``: tile loops outermost first (``"nmk"``: n outermost, k innermost).
    ``tiles``: ``(tm, tk, tn)`` in elements. ``gemm``: ``(batch, m, k, n)`` actually mapped (after folding
    a shared-operand batch). ``reads``/``writes``: bytes per memory (homes and buffer) moved for the
    three GEMM operands (the op's :class:`~simulator.prepare.traffic.OpTraffic` adds its other tensors, e.g. a bias).
    ``fetches``: how many times each operand (``"A"``, ``"W"``, ``"O"``) crosses between its home and the
    buffer (O: visits, each but the last a partial-sum spill). ``cycles``: MAC-array cycles;
    ``utilisation``: MACs / (cycles × rows × cols). ``candidates_evaluated``: mappings whose cost was
    computed. ``objective``/``objective_value``: what was minimised and its value (J, s or J·s);
    ``energy_J``/``time_s``: the candidate's estimated memory + MAC energy and time (ranking only; the
    cost layer computes the reported figures). ``footprint_bytes``: buffer bytes its tiles occupy.
    """
    loop_order: str
    tiles: tuple[int, int, int]
    gemm: tuple[int, int, int, int]
    buffer: str
    reads: dict[str, float]
    writes: dict[str, float]
    fetches: dict[str, int]
    cycles: int
    utilisation: float
    candidates_evaluated: int
    objective: str
    objective_value: float
    energy_J: float
    time_s: float
    footprint_bytes: float


# ---- hardware description ----------------------------------------------------------------------------

def staging_buffer(platform: "Platform") -> "Memory | None":
    """The platform's staging buffer: its ``is_buffer`` memory (the largest if several), or None."""
    buffers = [m for m in platform.memories.values() if getattr(m, "is_buffer", False)]
    if not buffers:
        return None
    return max(buffers, key=lambda m: m.capacity_bytes)  # max keeps the first of equals (YAML order)


def memory_costs(mem: "Memory") -> MemoryCosts:
    """Per-byte read/write energy (J/B) and read/write bandwidth (B/s) of a memory."""
    read_bw = float(mem.bandwidth_Bps)
    return MemoryCosts(mem.name, float(mem.read_energy(1.0)), float(mem.write_energy(1.0)), read_bw,
                       float(getattr(mem, "write_bandwidth_Bps", read_bw)))


#: platform -> [(the objects a Hardware was built from, the Hardware)]: owned by the platform's lifetime
#: (weak key), at most :data:`_HARDWARE_PER_PLATFORM` entries each.
_HARDWARE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_HARDWARE_PER_PLATFORM = 8


def hardware(platform: "Platform", buffer: "Memory", mac: Any = None) -> Hardware:
    """The :class:`Hardware` a mapping on ``platform`` through ``buffer`` onto MAC array ``mac`` (default:
    the platform's first) depends on; built once per platform object and MAC array, and rebuilt when the
    MAC array or any memory object is replaced (the memory and compute objects themselves are treated as
    immutable: variants are new objects)."""
    mac = mac if mac is not None else platform.mac_array
    parts = (buffer, mac, *platform.memories.values())   # compared by identity (the entry holds them)
    try:
        known = _HARDWARE.setdefault(platform, [])
    except TypeError:          # an unhashable or non-weak-referenceable platform: no memo
        return _build_hardware(platform, buffer, mac)
    for held, hw in known:
        if len(held) == len(parts) and all(a is b for a, b in zip(held, parts)):
            return hw
    hw = _build_hardware(platform, buffer, mac)
    known.append((parts, hw))
    del known[:-_HARDWARE_PER_PLATFORM]                    # a few MAC arrays x buffers per platform
    return hw


def _build_hardware(platform: "Platform", buffer: "Memory", mac: Any) -> Hardware:
    clock = float(getattr(mac, "clock_hz", 0.0) or 0.0)
    return Hardware(buffer=buffer.name, capacity_bytes=float(buffer.capacity_bytes),
                    double_buffered=bool(getattr(buffer, "double_buffered", False)),
                    memories=tuple(memory_costs(m) for m in platform.memories.values()),
                    rows=int(mac.rows), cols=int(mac.cols), dataflow=str(mac.dataflow),
                    clock_hz=clock, energy_per_mac_J=float(mac.energy_per_mac_J()),
                    array_key=repr(mac), cycles=mac.matmul_cycles)


# ---- closed-form cost of one candidate -----------------------------------------------------------------

def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _folds(dim: int, tile: int, lanes: int) -> int:
    """Sum over the tiles of ``dim`` of ceil(tile size / lanes): passes of an array edge of ``lanes``."""
    return (dim // tile) * _ceil(tile, lanes) + _ceil(dim % tile, lanes)


def _tile_sizes(dim: int, tile: int) -> list[tuple[int, int]]:
    """(count, size) of the full tiles and the remainder tile along one dimension."""
    out = [(dim // tile, tile)]
    if dim % tile:
        out.append((1, dim % tile))
    return out


def fetch_counts(order: str, tiles: tuple[int, int, int], gemm: Gemm) -> dict[str, int]:
    """Times A, W and O cross between home and buffer under ``order`` and ``tiles`` (see module doc)."""
    trips = {"m": _ceil(gemm.m, tiles[0]), "k": _ceil(gemm.k, tiles[1]), "n": _ceil(gemm.n, tiles[2])}

    def count(relevant: str, irrelevant: str) -> int:
        inner = max((order.index(d) for d in relevant if trips[d] > 1), default=-1)
        return trips[irrelevant] if order.index(irrelevant) < inner else 1

    return {"A": count("mk", "n"), "W": count("kn", "m"), "O": count("mn", "k")}


def footprint(tiles: tuple[int, int, int], gemm: Gemm, hw: Hardware) -> float:
    """Buffer bytes the three tiles occupy (doubled when double-buffered); operands homed in the buffer
    take none. The output tile holds partial sums (accumulator precision)."""
    tm, tk, tn = tiles
    total = 0.0
    if gemm.a_home != hw.buffer:
        total += tm * tk * gemm.a_bytes
    if gemm.w_home != hw.buffer:
        total += tk * tn * gemm.w_bytes
    if gemm.o_home != hw.buffer:
        total += tm * tn * gemm.acc_bytes
    return total * (2 if hw.double_buffered else 1)


def _array_accesses(tiles: tuple[int, int, int], gemm: Gemm, hw: Hardware) -> tuple[int, int, int, int]:
    """Elements the MAC array reads from the buffer (A, W), and output accumulations it writes / reads."""
    tm, tk, tn = tiles
    m, k, n, rows, cols = gemm.m, gemm.k, gemm.n, hw.rows, hw.cols
    if hw.dataflow == "os":     # outputs stay in the PEs: m on rows, n on columns
        a = m * k * _folds(n, tn, cols)
        w = k * n * _folds(m, tm, rows)
        o_w = m * n * _ceil(k, tk)
    elif hw.dataflow == "is":   # inputs stay in the PEs: k on rows, m on columns
        a = m * k * _ceil(n, tn)
        w = k * n * _folds(m, tm, cols)
        o_w = m * n * _folds(k, tk, rows)
    else:                       # "ws": weights stay in the PEs: k on rows, n on columns
        a = m * k * _folds(n, tn, cols)
        w = k * n * _ceil(m, tm)
        o_w = m * n * _folds(k, tk, rows)
    return a, w, o_w, o_w - m * n


def _add(d: dict[str, float], key: str, value: float) -> None:
    if value:
        d[key] = d.get(key, 0.0) + value


def candidate_traffic(order: str, tiles: tuple[int, int, int], gemm: Gemm, hw: Hardware
                      ) -> tuple[dict[str, float], dict[str, float], dict[str, int]]:
    """(reads, writes) in bytes per memory for the whole op (all batches), and the fetch counts."""
    f = fetch_counts(order, tiles, gemm)
    m, k, n, buf = gemm.m, gemm.k, gemm.n, hw.buffer
    reads: dict[str, float] = {}
    writes: dict[str, float] = {}
    for home, nbytes in ((gemm.a_home, m * k * gemm.a_bytes * f["A"]),
                         (gemm.w_home, k * n * gemm.w_bytes * f["W"])):
        if home != buf:
            _add(reads, home, nbytes)
            _add(writes, buf, nbytes)
    if gemm.o_home != buf:
        partial = (f["O"] - 1) * m * n * gemm.acc_bytes
        final = m * n * gemm.o_bytes
        _add(reads, gemm.o_home, partial)      # partial sums read back into the buffer
        _add(writes, buf, partial)
        _add(writes, gemm.o_home, partial + final)
        _add(reads, buf, partial + final)      # drained from the buffer
    a, w, o_w, o_r = _array_accesses(tiles, gemm, hw)
    _add(reads, buf, a * gemm.a_bytes + w * gemm.w_bytes + o_r * gemm.acc_bytes)
    _add(writes, buf, o_w * gemm.acc_bytes)
    scale = gemm.batch
    return ({mem: v * scale for mem, v in reads.items()},
            {mem: v * scale for mem, v in writes.items()}, f)


def tile_cycles(tiles: tuple[int, int, int], gemm: Gemm, hw: Hardware) -> int:
    """MAC-array cycles of the whole op: ``matmul_cycles`` summed over its tiles, times the batch."""
    total = 0
    for cm, sm in _tile_sizes(gemm.m, tiles[0]):
        for ck, sk in _tile_sizes(gemm.k, tiles[1]):
            for cn, sn in _tile_sizes(gemm.n, tiles[2]):
                total += cm * ck * cn * int(hw.cycles(sm, sk, sn))
    return total * gemm.batch


def _finish(order: str, tiles: tuple[int, int, int], shape: tuple[int, int, int, int],
            reads: dict[str, float], writes: dict[str, float], fetches: dict[str, int], cycles: int,
            macs: int, used_bytes: float, hw: Hardware, objective: str) -> Mapping:
    """A :class:`Mapping` with its estimated energy (memories + MACs, J), time (compute or the busiest
    memory, s) and objective value."""
    energy = macs * hw.energy_per_mac_J
    time_s = cycles / hw.clock_hz if hw.clock_hz > 0 else 0.0
    for mem in set(reads) | set(writes):
        c = hw.costs(mem)
        r, w = reads.get(mem, 0.0), writes.get(mem, 0.0)
        energy += r * c.read_J_per_B + w * c.write_J_per_B
        time_s = max(time_s, r / c.read_Bps + w / c.write_Bps)
    value = {"energy": energy, "latency": time_s, "edp": energy * time_s}[objective]
    peak = cycles * hw.rows * hw.cols
    return Mapping(loop_order=order, tiles=tiles, gemm=shape, buffer=hw.buffer, reads=reads, writes=writes,
                   fetches=fetches, cycles=cycles, utilisation=min(1.0, macs / peak) if peak else 0.0,
                   candidates_evaluated=1, objective=objective, objective_value=value, energy_J=energy,
                   time_s=time_s, footprint_bytes=used_bytes)


def evaluate(order: str, tiles: tuple[int, int, int], gemm: Gemm, hw: Hardware, objective: str) -> Mapping:
    """The :class:`Mapping` of one GEMM candidate with its costs (no search)."""
    reads, writes, fetches = candidate_traffic(order, tiles, gemm, hw)
    return _finish(order, tiles, (gemm.batch, gemm.m, gemm.k, gemm.n), reads, writes, fetches,
                   tile_cycles(tiles, gemm, hw), gemm.batch * gemm.m * gemm.k * gemm.n,
                   footprint(tiles, gemm, hw), hw, objective)


# ---- candidate space and search ------------------------------------------------------------------------

def ladder(dim: int) -> list[int]:
    """Tile sizes tried along a dimension: powers of two below it, and the dimension itself, ascending."""
    out, p = [], 1
    while p < dim:
        out.append(p)
        p *= 2
    return out + [dim]


def candidate_tiles(gemm: Gemm, hw: Hardware, pareto: bool = True) -> list[tuple[int, int, int]]:
    """Tile triples ``(tm, tk, tn)`` from the ladders that fit the buffer. With ``pareto`` only the maximal
    ones: growing any one of them to the next ladder size would overflow the buffer. That pruning is exact
    for energy (a larger power-of-two tile coarsens the partition of its dimension, so no home re-fetch
    count and no array fold count grows) but not for time, whose per-tile fill and drain is not monotone."""
    lm, lk, ln = ladder(gemm.m), ladder(gemm.k), ladder(gemm.n)
    cap = hw.capacity_bytes

    def fits(tm: int, tk: int, tn: int) -> bool:
        return footprint((tm, tk, tn), gemm, hw) <= cap

    if not pareto:
        return [(tm, tk, tn) for tm in lm for tn in ln for tk in lk if fits(tm, tk, tn)]
    out = []
    for i, tm in enumerate(lm):
        for j, tn in enumerate(ln):
            tk = next((t for t in reversed(lk) if fits(tm, t, tn)), None)
            if tk is None:
                continue
            grow_m = i + 1 < len(lm) and fits(lm[i + 1], tk, tn)
            grow_n = j + 1 < len(ln) and fits(tm, tk, ln[j + 1])
            if not grow_m and not grow_n:
                out.append((tm, tk, tn))
    return out


def candidate_orders(tiles: tuple[int, int, int], gemm: Gemm) -> list[str]:
    """Loop orders that differ for these tiles: loops with one trip are dropped before comparing."""
    trivial = {d for d, dim, t in zip("mkn", (gemm.m, gemm.k, gemm.n), tiles) if t >= dim}
    seen, out = set(), []
    for order in ORDERS:
        key = "".join(d for d in order if d not in trivial)
        if key not in seen:
            seen.add(key)
            out.append(order)
    return out


def candidates(gemm: Gemm, hw: Hardware, objective: str = "energy") -> list[tuple[str, tuple[int, int, int]]]:
    """Every (loop order, tiles) candidate the search evaluates for ``objective``, in its fixed order:
    Pareto-maximal tiles for energy, every fitting ladder triple for latency and EDP."""
    tiles = candidate_tiles(gemm, hw, pareto=objective == "energy")
    return [(order, t) for t in tiles for order in candidate_orders(t, gemm)]


#: Most mappings remembered (least recently used dropped first). Keys are values (Gemm, Hardware, objective;
#: Hardware compares by its figures), so equal questions share an answer across platform objects.
CACHE_SIZE = 1 << 16
_CACHE: "OrderedDict[tuple, Mapping]" = OrderedDict()


def _search(key: tuple, make_candidates: Callable[[], list], score: Callable[..., Mapping],
            too_small: Callable[[], str]) -> Mapping:
    """The candidate with the lowest objective value (first of equals), cached under ``key``;
    ``too_small()`` is the error message when no candidate fits the buffer."""
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    cands = make_candidates()
    if not cands:
        raise SimulationConfigError(too_small())
    best = None
    for cand in cands:
        m = score(*cand)
        if best is None or m.objective_value < best.objective_value:
            best = m
    best = dataclasses.replace(best, candidates_evaluated=len(cands))
    _CACHE[key] = best
    if len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return best


def best_mapping(gemm: Gemm, hw: Hardware, objective: str = "energy") -> Mapping:
    """The GEMM candidate minimising ``objective`` (first of equals); cached by (gemm, hw, objective)."""
    return _search((gemm, hw, objective), lambda: candidates(gemm, hw, objective),
                   lambda order, tiles: evaluate(order, tiles, gemm, hw, objective),
                   lambda: _too_small(hw, f"a {gemm.m}x{gemm.k}x{gemm.n} GEMM", footprint((1, 1, 1), gemm, hw)))


def _too_small(hw: Hardware, what: str, need: float) -> str:
    return (f"memories.{hw.buffer}.capacity: {hw.capacity_bytes:g} bytes cannot hold one element of each "
            f"operand of {what}; expected at least {need:g} bytes")


def clear_cache() -> None:
    """Forget every cached mapping (for benchmarks measuring a cold start)."""
    _CACHE.clear()


# ---- fused attention ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Attention:
    """A fused attention op: ``batch`` heads, each ``softmax(Q·Kᵀ)·V`` with Q (l×e), K (s×e), V (s×ev)
    and O (l×ev). Bytes per element of each operand and of the scores and partial outputs (``acc_bytes``);
    ``*_home``: memory name of each operand. The score matrix never leaves the buffer."""
    batch: int
    l: int
    e: int
    s: int
    ev: int
    q_bytes: float
    k_bytes: float
    v_bytes: float
    o_bytes: float
    acc_bytes: float
    q_home: str
    k_home: str
    v_home: str
    o_home: str


ATTENTION_ORDERS = ("qs", "sq")
"""Attention loop orders: query blocks outside key/value blocks (``"qs"``, flash-attention style) or
key/value blocks outside query blocks (``"sq"``: partial outputs revisited per key/value block)."""


def attention_footprint(tiles: tuple[int, int], att: Attention, hw: Hardware) -> float:
    """Buffer bytes of a query block (``tq`` rows of Q and of the output accumulator), a key/value block
    (``ts`` rows of K and V) and their ``tq × ts`` scores; doubled when double-buffered."""
    tq, ts = tiles
    total = tq * ts * att.acc_bytes
    for home, nbytes in ((att.q_home, tq * att.e * att.q_bytes), (att.k_home, ts * att.e * att.k_bytes),
                         (att.v_home, ts * att.ev * att.v_bytes), (att.o_home, tq * att.ev * att.acc_bytes)):
        if home != hw.buffer:
            total += nbytes
    return total * (2 if hw.double_buffered else 1)


def _pieces(att: Attention) -> tuple[Gemm, Gemm]:
    """The two GEMMs of one head, Q·Kᵀ (l×e×s) and P·V (l×s×ev), for the array's access counts."""
    one = dict(batch=1, a_bytes=0.0, w_bytes=0.0, o_bytes=0.0, acc_bytes=0.0, a_home="", w_home="", o_home="")
    return Gemm(m=att.l, k=att.e, n=att.s, **one), Gemm(m=att.l, k=att.s, n=att.ev, **one)


def evaluate_attention(order: str, tiles: tuple[int, int], att: Attention, hw: Hardware,
                       objective: str) -> Mapping:
    """The :class:`Mapping` of one attention candidate (``tiles`` = (tq, ts) query and key rows).

    ``"qs"``: Q read once, K and V once per query block unless one block holds all keys, O written
    once. ``"sq"``: K and V read once, Q once per key/value block unless one block holds all queries,
    and the partial outputs (with their running max and sum) spilled and re-read per key/value block.
    The scores are written and read in the buffer by the array and once each by the softmax.
    """
    tq, ts = tiles
    pq, ps = _ceil(att.l, tq), _ceil(att.s, ts)
    if order == "qs":
        fq, fkv, vo = 1, (pq if ps > 1 else 1), 1
    else:
        fq, fkv, vo = (ps if pq > 1 else 1), 1, (ps if pq > 1 else 1)
    l, e, s, ev, buf = att.l, att.e, att.s, att.ev, hw.buffer
    reads: dict[str, float] = {}
    writes: dict[str, float] = {}
    for home, nbytes in ((att.q_home, l * e * att.q_bytes * fq), (att.k_home, s * e * att.k_bytes * fkv),
                         (att.v_home, s * ev * att.v_bytes * fkv)):
        if home != buf:
            _add(reads, home, nbytes)
            _add(writes, buf, nbytes)
    if att.o_home != buf:
        partial, final = (vo - 1) * l * ev * att.acc_bytes, l * ev * att.o_bytes
        _add(reads, att.o_home, partial)
        _add(writes, buf, partial)
        _add(writes, att.o_home, partial + final)
        _add(reads, buf, partial + final)
    qk, pv = _pieces(att)
    a1, w1, o1_w, o1_r = _array_accesses((tq, e, ts), qk, hw)
    a2, w2, o2_w, o2_r = _array_accesses((tq, ts, ev), pv, hw)
    scores = l * s * att.acc_bytes                      # the softmax reads and rewrites them once
    _add(reads, buf, a1 * att.q_bytes + w1 * att.k_bytes + o1_r * att.acc_bytes + scores
         + a2 * att.acc_bytes + w2 * att.v_bytes + o2_r * att.acc_bytes)
    _add(writes, buf, o1_w * att.acc_bytes + scores + o2_w * att.acc_bytes)
    n = att.batch
    reads = {mem: v * n for mem, v in reads.items()}
    writes = {mem: v * n for mem, v in writes.items()}
    cycles = (tile_cycles((tq, e, ts), qk, hw) + tile_cycles((tq, ts, ev), pv, hw)) * n
    return _finish(order, (tq, e, ts), (n, l, e, s), reads, writes, {"A": fq, "W": fkv, "O": vo}, cycles,
                   n * l * s * (e + ev), attention_footprint(tiles, att, hw), hw, objective)


def attention_candidates(att: Attention, hw: Hardware, objective: str = "energy"
                         ) -> list[tuple[str, tuple[int, int]]]:
    """(order, (tq, ts)) candidates: ladder sizes that fit, Pareto-maximal ones only for energy."""
    lq, ls = ladder(att.l), ladder(att.s)
    fit = [(tq, ts) for tq in lq for ts in ls if attention_footprint((tq, ts), att, hw) <= hw.capacity_bytes]
    if objective == "energy":
        fitting = set(fit)
        fit = [(tq, ts) for tq, ts in fit
               if (lq[-1] == tq or (lq[lq.index(tq) + 1], ts) not in fitting)
               and (ls[-1] == ts or (tq, ls[ls.index(ts) + 1]) not in fitting)]
    return [(order, t) for t in fit for order in ATTENTION_ORDERS]


def best_attention_mapping(att: Attention, hw: Hardware, objective: str = "energy") -> Mapping:
    """The attention candidate minimising ``objective``; cached by (attention, hw, objective)."""
    return _search((att, hw, objective), lambda: attention_candidates(att, hw, objective),
                   lambda order, tiles: evaluate_attention(order, tiles, att, hw, objective),
                   lambda: _too_small(hw, f"a {att.l}x{att.s} attention head",
                                      attention_footprint((1, 1), att, hw)))


# ---- from a traced op to a Gemm ------------------------------------------------------------------------

def _operands(op: "OpInfo", trace: "Trace") -> tuple[int, int, int] | None:
    """Tensor ids of (A, W, O): the ones the tracer recorded by argument position (``op.operands``), if
    their element counts are those of the GEMM view (``batch·m·k`` or ``m·k`` for A, ...: a
    convolution's input is not its im2col matrix, so it keeps compulsory traffic); for an op without
    recorded operands (a format-1 trace, a hand-made op) matched by element count, among several matches a
    weight-role W and a non-weight A first, then the first read (deterministic)."""
    batch, m, k, n = op.gemm
    a_sizes, w_sizes, o_sizes = (batch * m * k, m * k), (batch * k * n, k * n), (batch * m * n, m * n)
    recorded = getattr(op, "operands", None)
    if recorded is not None:
        if len(recorded) != 3:
            return None
        a, w, o = recorded
        fits = op.reads.get(a) in a_sizes and op.reads.get(w) in w_sizes and op.writes.get(o) in o_sizes
        return (a, w, o) if fits else None
    outs = [t for t, e in op.writes.items() if e in o_sizes]
    if not outs:
        return None
    order = list(op.reads)
    pairs = [(a, w) for a in order if op.reads[a] in a_sizes
             for w in order if w != a and op.reads[w] in w_sizes]
    if len(pairs) > 1:
        tensors = trace.tensors
        is_weight = lambda t: tensors[t].role in WEIGHT_ROLES  # noqa: E731
        pairs.sort(key=lambda p: (not is_weight(p[1]), is_weight(p[0])))  # stable: first read wins ties
    return (*pairs[0], outs[0]) if pairs else None


def gemm_of(op: "OpInfo", trace: "Trace", homes: dict[int, str], acc_bits: int,
            read_bytes: dict[int, float] | None = None, write_bytes: dict[int, float] | None = None
            ) -> tuple[Gemm, tuple[int, int, int]] | None:
    """The :class:`Gemm` of a matmul-like op and the tensor ids of (A, W, O): the tracer's recorded
    operands, or for a trace without them found by element counts (:func:`_operands`). None when the op's
    tensors do not match its GEMM dimensions. ``read_bytes``/``write_bytes``: the trace's, if known."""
    ids = _operands(op, trace)
    if ids is None:
        return None
    a_id, w_id, o_id = ids
    batch, m, k, n = op.gemm
    rb = read_bytes if read_bytes is not None else trace.read_bytes(op)
    wb = write_bytes if write_bytes is not None else trace.write_bytes(op)
    a_el, w_el, o_el = op.reads[a_id], op.reads[w_id], op.writes[o_id]
    a_shared = batch > 1 and a_el == m * k
    w_shared = batch > 1 and w_el == k * n
    if w_shared:
        batch, m = 1, batch * m          # one weight for every batch element: a taller GEMM
    elif a_shared:
        batch, n = 1, batch * n
    gemm = Gemm(batch=batch, m=m, k=k, n=n, a_bytes=rb[a_id] / a_el, w_bytes=rb[w_id] / w_el,
                o_bytes=wb[o_id] / o_el, acc_bytes=acc_bits / 8.0,
                a_home=homes[a_id], w_home=homes[w_id], o_home=homes[o_id])
    return gemm, ids


def attention_of(op: "OpInfo", homes: dict[int, str], acc_bits: int, read_bytes: dict[int, float],
                 write_bytes: dict[int, float]) -> tuple[Attention, tuple[int, ...]] | None:
    """The :class:`Attention` of a fused attention op with ``gemm = (heads, l, e, s)`` and the tensor ids
    of (Q, K, V, O): the tracer's recorded operands (``op.operands``) if they read ``heads·l·e``,
    ``heads·s·e`` and ``heads·s·ev`` elements and write ``heads·l·ev`` (``ev`` from the op's MACs,
    ``heads·l·s·(e + ev)``); for an op without recorded operands the first reads of those counts, in that
    order, and the write. None when they are not there."""
    bh, l, e, s = op.gemm
    ev = op.macs // (bh * l * s) - e if bh * l * s else 0
    if ev <= 0:
        return None
    wanted = [bh * l * e, bh * s * e, bh * s * ev]
    recorded = getattr(op, "operands", None)
    if recorded is not None:
        if len(recorded) != 4 or [op.reads.get(t) for t in recorded[:3]] != wanted or \
                op.writes.get(recorded[3]) != bh * l * ev:
            return None
        q, k, v, o = recorded
    else:
        ids: list[int] = []
        for tid, count in op.reads.items():
            if len(ids) < 3 and count == wanted[len(ids)]:
                ids.append(tid)
        outs = [t for t, count in op.writes.items() if count == bh * l * ev]
        if len(ids) < 3 or not outs:
            return None
        q, k, v = ids
        o = outs[0]
    att = Attention(batch=bh, l=l, e=e, s=s, ev=ev, q_bytes=read_bytes[q] / op.reads[q],
                    k_bytes=read_bytes[k] / op.reads[k], v_bytes=read_bytes[v] / op.reads[v],
                    o_bytes=write_bytes[o] / op.writes[o], acc_bytes=acc_bits / 8.0,
                    q_home=homes[q], k_home=homes[k], v_home=homes[v], o_home=homes[o])
    return att, (q, k, v, o)


def problem(op: "OpInfo", trace: "Trace", homes: dict[int, str], acc_bits: int, read_bytes: dict[int, float],
            write_bytes: dict[int, float]) -> "tuple[Gemm | Attention, tuple[int, ...]] | None":
    """What :func:`map_op` maps for ``op``: its :class:`Attention` (attention ops) or :class:`Gemm` (other
    matrix products) and the ids of the tensors that are its operands; None when the op's tensors do not
    match its GEMM dimensions."""
    if op.kind == "attention":
        return attention_of(op, homes, acc_bits, read_bytes, write_bytes)
    return gemm_of(op, trace, homes, acc_bits, read_bytes, write_bytes)


def map_op(op: "OpInfo", trace: "Trace", homes: dict[int, str], platform: "Platform", buffer: "Memory",
           *, objective: str = "energy", read_bytes: dict[int, float] | None = None,
           write_bytes: dict[int, float] | None = None, unit: str | None = None
           ) -> tuple[Mapping, dict[str, float], dict[str, float]] | None:
    """The best mapping of a matmul-like op through ``buffer`` onto MAC array ``unit`` (a name in
    ``platform.compute``; default: the first MAC array), and the op's reads and writes in bytes per
    memory: the mapping's, plus its other tensors (a bias, a mask) streamed once from their homes.
    None when the op's tensors do not match its GEMM dimensions (the caller then uses compulsory
    traffic). ``read_bytes``/``write_bytes``: the trace's per-tensor bytes of ``op``, if already known."""
    rb = read_bytes if read_bytes is not None else trace.read_bytes(op)
    wb = write_bytes if write_bytes is not None else trace.write_bytes(op)
    mac = platform.compute[unit] if unit is not None else platform.mac_array
    found = problem(op, trace, homes, mac.acc_bits, rb, wb)
    if found is None:
        return None
    hw = hardware(platform, buffer, mac)
    if op.kind == "attention":
        best = best_attention_mapping(found[0], hw, objective)
    else:
        best = best_mapping(found[0], hw, objective)
    ids = found[1]
    reads, writes = dict(best.reads), dict(best.writes)
    for tid, nbytes in rb.items():
        if tid not in ids:
            _add(reads, homes[tid], nbytes)
    for tid, nbytes in wb.items():
        if tid not in ids:
            _add(writes, homes[tid], nbytes)
    return best, reads, writes


def stream_vector_op(op: "OpInfo", trace: "Trace", homes: dict[int, str], buffer: "Memory",
                     read_bytes: dict[int, float] | None = None, write_bytes: dict[int, float] | None = None
                     ) -> tuple[dict[str, float], dict[str, float]]:
    """(reads, writes) in bytes per home memory of a vector-unit op with a staging buffer.

    Operands stream once from their homes. A softmax or norm needs a whole row (the last dimension of
    its largest input) before it can write; when that row does not fit the buffer (twice, if
    double-buffered) the input is read twice: once for the row statistics, once to normalise.
    """
    rb = read_bytes if read_bytes is not None else trace.read_bytes(op)
    wb = write_bytes if write_bytes is not None else trace.write_bytes(op)
    reads: dict[str, float] = {}
    writes: dict[str, float] = {}
    src, passes = None, 1
    if op.kind in ROW_KINDS and op.reads:
        src = max(op.reads, key=lambda t: (op.reads[t], -t))     # the largest input; lowest id on ties
        info = trace.tensors[src]
        row_bytes = info.bytes_for(info.shape[-1] if info.shape else 1)
        if row_bytes * (2 if getattr(buffer, "double_buffered", False) else 1) > buffer.capacity_bytes:
            passes = 2
    for tid, nbytes in rb.items():
        _add(reads, homes[tid], nbytes * (passes if tid == src else 1))
    for tid, nbytes in wb.items():
        _add(writes, homes[tid], nbytes)
    return reads, writes

