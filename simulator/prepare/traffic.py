"""Per-op data movement: bytes read from and written to each memory, and the compute unit's cycles.

:func:`op_traffic` is the one entry point the cost layer (``simulator/cost/tables.py``) calls, once per op,
while it prepares a workload. Without an on-chip staging buffer (no memory with ``is_buffer``) an op moves
its *compulsory* traffic: every tensor it reads is read once from its home memory and every tensor it
writes is written once to its home. With a buffer, matmul-like ops are tiled by
:func:`simulator.prepare.mapping.map_matmul` (re-fetches, partial-sum spills, buffer traffic) and vector ops stream
through :func:`simulator.prepare.mapping.stream_vector_op`.

Units: bytes, cycles of the unit's own clock.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hw_models.vocabulary import MATMUL_KINDS
from simulator.errors import SimulationConfigError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from hw_models import Platform
    from simulator.prepare.mapping import Mapping
    from workloads.trace import OpInfo, Trace

MAC_KINDS = MATMUL_KINDS
"""Op kinds that run on the MAC array when the trace gives their GEMM dimensions."""

OBJECTIVES = ("energy", "latency", "edp")
"""What a mapping minimises: energy (J), latency (s) or their product (J·s)."""


@dataclass
class OpTraffic:
    """What one op moves and computes.

    ``reads``/``writes``: bytes per memory name (home memories and, with a buffer, the buffer).
    ``compulsory_reads``/``compulsory_writes``: bytes per home memory if every tensor moved exactly once.
    ``cycles``: cycles of the compute unit's clock. ``utilisation``: useful fraction of the unit's
    peak (MACs over cycles × rows × cols for the MAC array; elements over cycles × lanes for the vector
    unit), 0..1. ``mapping``: the tiling chosen for a matmul-like op on a platform with a buffer, else None.
    """
    reads: dict[str, float]
    writes: dict[str, float]
    compute_unit: str
    cycles: int
    utilisation: float
    mapping: "Mapping | None" = None
    compulsory_reads: dict[str, float] = field(default_factory=dict)
    compulsory_writes: dict[str, float] = field(default_factory=dict)

    @property
    def refetch(self) -> dict[str, float]:
        """Bytes moved over compulsory bytes (reads + writes), per home memory; 1.0 = no re-fetch."""
        out = {}
        for mem in sorted(set(self.compulsory_reads) | set(self.compulsory_writes)):
            base = self.compulsory_reads.get(mem, 0.0) + self.compulsory_writes.get(mem, 0.0)
            if base > 0:
                out[mem] = (self.reads.get(mem, 0.0) + self.writes.get(mem, 0.0)) / base
        return out

    @property
    def loop_order(self) -> str | None:
        """Loop order of the mapping, outermost first (e.g. ``"nmk"``), or None without a mapping."""
        return self.mapping.loop_order if self.mapping is not None else None

    @property
    def tiles(self) -> tuple[int, int, int] | None:
        """Tile sizes ``(m, k, n)`` in elements of the mapping, or None without a mapping."""
        return self.mapping.tiles if self.mapping is not None else None


def _per_home(byte_map: dict[int, float], homes: dict[int, str], what: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for tid, nbytes in byte_map.items():
        mem = homes.get(tid)
        if mem is None:
            raise SimulationConfigError(f"homes.{tid}: tensor {what} by the op has no home memory; "
                                        f"expected every tensor the op touches to be placed")
        out[mem] = out.get(mem, 0.0) + float(nbytes)
    return out


def uses_mac_array(op: "OpInfo") -> bool:
    """True when the op runs on the MAC array: a matmul/attention kind with GEMM dimensions."""
    return op.kind in MAC_KINDS and op.gemm is not None


def vector_elements(op: "OpInfo") -> int:
    """Elements a vector-unit op processes: the largest element count it reads from or writes to one
    tensor (an element-wise add of two N-element tensors processes N). An ``unknown`` op (no counting
    rule in the tracer) is costed conservatively: see :func:`unknown_op_elements`."""
    if op.kind == "unknown":
        return unknown_op_elements(op)
    counts = list(op.reads.values()) + list(op.writes.values())
    return int(max(counts)) if counts else 0


def unknown_op_elements(op: "OpInfo") -> int:
    """The conservative stand-in for an op the tracer could not classify (kind ``unknown``, 0 MACs
    recorded): one vector operation, and one vector-unit element slot, per element it reads and per
    element it writes, summed over its tensors (assumption: an upper bound for element-wise, copy and
    reduction work; a hidden gemm is still undercounted, which is why the tracer warns and the report
    names these ops)."""
    return int(sum(op.reads.values()) + sum(op.writes.values()))


def compute_cycles(op: "OpInfo", platform: "Platform") -> tuple[str, int, float]:
    """(compute unit, cycles, utilisation) of the op without tiling (the whole GEMM at once)."""
    if uses_mac_array(op):
        batch, m, k, n = op.gemm
        mac = platform.mac_array
        cycles = int(mac.matmul_cycles(m, k, n))
        ev = op.macs // (batch * m * n) - k if op.kind == "attention" and batch * m * n else 0
        if ev > 0:   # fused attention: Q·Kᵀ (m×k×n) then P·V (m×n×ev)
            cycles += int(mac.matmul_cycles(m, n, ev))
        cycles *= int(batch)
        peak = cycles * mac.rows * mac.cols
        return "mac_array", cycles, (min(1.0, op.macs / peak) if peak > 0 else 0.0)
    elements = vector_elements(op)
    vec = platform.vector_unit
    cycles = int(vec.cycles(op.kind, elements)) if elements > 0 else 0
    peak = cycles * vec.lanes
    return "vector_unit", cycles, (min(1.0, elements / peak) if peak > 0 else 0.0)


def op_traffic(op: "OpInfo", trace: "Trace", homes: dict[int, str], platform: "Platform", *,
               objective: str = "energy") -> OpTraffic:
    """Bytes per memory, compute unit, cycles and utilisation of one op.

    ``homes`` maps each tensor id the op touches to the name of the memory it is placed in.
    ``objective`` (``"energy"``, ``"latency"`` or ``"edp"``) is what the mapping minimises when the
    platform has a staging buffer; it has no effect otherwise.
    """
    if objective not in OBJECTIVES:
        raise SimulationConfigError(f"objective: got {objective!r}; expected one of {', '.join(OBJECTIVES)}")
    rb, wb = trace.read_bytes(op), trace.write_bytes(op)
    reads, writes = _per_home(rb, homes, "read"), _per_home(wb, homes, "written")
    from simulator.prepare import mapping as mapping_mod  # local import: keeps `import simulator.prepare.traffic` light
    buffer = mapping_mod.staging_buffer(platform)
    unit, cycles, util = compute_cycles(op, platform)
    if buffer is not None:
        if uses_mac_array(op):
            found = mapping_mod.map_op(op, trace, homes, platform, buffer, objective=objective,
                                       read_bytes=rb, write_bytes=wb)
            if found is not None:
                chosen, m_reads, m_writes = found
                return OpTraffic(reads=m_reads, writes=m_writes, compute_unit="mac_array",
                                 cycles=chosen.cycles, utilisation=chosen.utilisation, mapping=chosen,
                                 compulsory_reads=reads, compulsory_writes=writes)
        else:
            s_reads, s_writes = mapping_mod.stream_vector_op(op, trace, homes, buffer, rb, wb)
            return OpTraffic(reads=s_reads, writes=s_writes, compute_unit=unit, cycles=cycles,
                             utilisation=util, mapping=None, compulsory_reads=reads, compulsory_writes=writes)
    return OpTraffic(reads=dict(reads), writes=dict(writes), compute_unit=unit, cycles=cycles,
                     utilisation=util, mapping=None, compulsory_reads=reads, compulsory_writes=writes)
