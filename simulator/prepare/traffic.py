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

from hw_models.cim import array_name
from hw_models.compute import is_matmul, unknown_op_elements, vector_elements  # noqa: F401  (re-exported)
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
    """True when the op is a matrix product a MAC array runs: a matmul/attention kind with GEMM dimensions."""
    return is_matmul(op)


def default_unit(op: "OpInfo", platform: "Platform") -> str:
    """The unit the kind-match rule of :mod:`simulator.prepare.assign` gives ``op`` when no crossbar holds
    its weights and no user mapping applies: the first MAC array for matrix products, else the first
    vector unit (else the first unit that can run it)."""
    prefer = ("mac_array", "vector_unit") if is_matmul(op) else ("vector_unit", "mac_array")
    for kind in prefer:
        for name in platform.units_of(kind):
            if platform.compute[name].can_run(op):
                return name
    for name, unit in platform.compute.items():
        if unit.kind != "cim_crossbar" and unit.can_run(op):
            return name
    raise SimulationConfigError(f"compute: no unit of platform {platform.name} can run op {op.id} ({op.kind}); "
                                "expected a unit of a kind that runs it")


def compute_cycles(op: "OpInfo", platform: "Platform", unit: str | None = None) -> tuple[str, int, float]:
    """(compute unit name, cycles, utilisation) of the op on ``unit`` (default: :func:`default_unit`)
    without tiling (the whole GEMM at once): the unit's :meth:`~hw_models.compute.ComputeUnit.work`."""
    name = unit if unit is not None else default_unit(op, platform)
    w = platform.compute[name].work(op)
    return name, int(w.cycles), w.utilisation


def op_traffic(op: "OpInfo", trace: "Trace", homes: dict[int, str], platform: "Platform", *,
               objective: str = "energy", unit: str | None = None) -> OpTraffic:
    """Bytes per memory, compute unit, cycles and utilisation of one op.

    ``homes`` maps each tensor id the op touches to the name of the memory it is placed in. ``unit``:
    the compute unit that runs the op (default: :func:`default_unit`). On a compute-in-memory crossbar
    the weights held in its cells are computed on in place: they move no bytes (no buffer, no tiling).
    ``objective`` (``"energy"``, ``"latency"`` or ``"edp"``) is what the mapping minimises when the
    platform has a staging buffer; it has no effect otherwise.
    """
    if objective not in OBJECTIVES:
        raise SimulationConfigError(f"objective: got {objective!r}; expected one of {', '.join(OBJECTIVES)}")
    rb, wb = trace.read_bytes(op), trace.write_bytes(op)
    unit, cycles, util = compute_cycles(op, platform, unit)
    if platform.compute[unit].kind == "cim_crossbar":
        cells = array_name(unit)
        rb = {tid: b for tid, b in rb.items() if homes.get(tid) != cells}
        reads, writes = _per_home(rb, homes, "read"), _per_home(wb, homes, "written")
        return OpTraffic(reads=dict(reads), writes=dict(writes), compute_unit=unit, cycles=cycles,
                         utilisation=util, mapping=None, compulsory_reads=reads, compulsory_writes=writes)
    reads, writes = _per_home(rb, homes, "read"), _per_home(wb, homes, "written")
    from simulator.prepare import mapping as mapping_mod  # local import: keeps `import simulator.prepare.traffic` light
    buffer = mapping_mod.staging_buffer(platform)
    if buffer is not None:
        if uses_mac_array(op) and platform.compute[unit].kind == "mac_array":
            found = mapping_mod.map_op(op, trace, homes, platform, buffer, objective=objective,
                                       read_bytes=rb, write_bytes=wb, unit=unit)
            if found is not None:
                chosen, m_reads, m_writes = found
                return OpTraffic(reads=m_reads, writes=m_writes, compute_unit=unit,
                                 cycles=chosen.cycles, utilisation=chosen.utilisation, mapping=chosen,
                                 compulsory_reads=reads, compulsory_writes=writes)
        else:
            s_reads, s_writes = mapping_mod.stream_vector_op(op, trace, homes, buffer, rb, wb)
            return OpTraffic(reads=s_reads, writes=s_writes, compute_unit=unit, cycles=cycles,
                             utilisation=util, mapping=None, compulsory_reads=reads, compulsory_writes=writes)
    return OpTraffic(reads=dict(reads), writes=dict(writes), compute_unit=unit, cycles=cycles,
                     utilisation=util, mapping=None, compulsory_reads=reads, compulsory_writes=writes)
