"""Compute units: the systolic MAC array and the vector / special-function unit, behind one protocol.

Every unit kind (these two, :class:`hw_models.cim.CimCrossbar`, any added later) satisfies
:class:`ComputeUnit`: which ops it can run, the :class:`Work` (cycles of its clock and counts of its named
energy *actions*) of running one, the energy of each action at an operating point, leakage and area. In the
spirit of hwcomponents' components, whose actions return energy and latency. :data:`UNIT_CLASSES` maps each
kind (``hw_models.vocabulary.UNIT_KINDS``) to its class; a platform holds any number of named units.

Energies come from the Aladdin 40 nm arithmetic figures in ``hw_models/data/compute.yaml`` (multiplier
energy grows with the product of the operand widths, adder energy linearly, as hwcomponents does), scaled to
the unit's node with Stillmaker & Baas and to the operating point with V². Area and leakage per processing
element are assumptions stated in that file.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import Field

from hw_models.dvfs import OperatingPoint, dynamic_scale, leakage_scale
from hw_models.errors import HardwareConfigError, check_fields
from hw_models.schema import ComputeDataFile, Name, StrictSpec, validate
from hw_models.techscaling import area_factor, energy_factor, leakage_factor
from hw_models.vocabulary import MATMUL_KINDS
from hw_models.yamlio import load_yaml

COMPUTE_DATA = Path(__file__).parent / "data" / "compute.yaml"
DATAFLOWS = ("ws", "os", "is")


@lru_cache(maxsize=1)
def compute_data() -> ComputeDataFile:
    """The reference arithmetic figures (SI units) from ``hw_models/data/compute.yaml``; each must be cited."""
    data = validate(ComputeDataFile, load_yaml(COMPUTE_DATA, what="compute data"), str(COMPUTE_DATA))
    for figure in ComputeDataFile.model_fields:
        if figure not in ("node", "sources") and figure not in data.sources:
            raise HardwareConfigError(f"{COMPUTE_DATA}: sources.{figure}: missing; expected a citation or "
                                      f"'assumption: <why>'")
    return data


@dataclass(frozen=True)
class Work:
    """What running one op costs a unit: ``cycles`` of the unit's clock, ``counts`` of each of its energy
    actions (``{action: count}``; energy = Σ count × :meth:`ComputeUnit.action_energy_J`), and
    ``utilisation`` (useful fraction of the unit's peak over those cycles, 0..1)."""
    cycles: int
    counts: dict[str, float]
    utilisation: float


@runtime_checkable
class ComputeUnit(Protocol):
    """The protocol every compute unit kind satisfies. Ops are duck-typed (``workloads.trace.OpInfo``:
    ``kind``, ``gemm``, ``macs``, ``other_ops``, ``reads``, ``writes``); hw_models never imports workloads.

    ``kind`` (class constant, one of ``UNIT_KINDS``); ``actions``: the names of its energy actions;
    ``takes``: which of an op's arithmetic quantities (``"macs"``, ``"other_ops"``) it can absorb for an
    op that runs on another unit (a MAC op's bias adds go to a vector unit); ``clock_hz`` (Hz at the
    nominal operating point), ``area_m2`` (m²), ``leakage_W`` (W at nominal voltage)."""
    kind: ClassVar[str]
    actions: ClassVar[tuple[str, ...]]
    takes: ClassVar[tuple[str, ...]]
    clock_hz: float
    area_m2: float
    leakage_W: float

    def can_run(self, op: Any) -> bool:
        """True when this unit can execute ``op`` (its kind and shape)."""
        ...

    def work(self, op: Any) -> Work:
        """Cycles and action counts of running ``op`` whole (no tiling) on this unit."""
        ...

    def absorb(self, quantity: str, amount: float) -> dict[str, float]:
        """Action counts for ``amount`` of ``quantity`` (one of ``takes``) done for an op run elsewhere."""
        ...

    def action_energy_J(self, op_point: OperatingPoint | None = None) -> dict[str, float]:
        """Energy (J) of one of each action at ``op_point`` (nominal when None)."""
        ...

    def leakage_at(self, op_point: OperatingPoint | None = None) -> float:
        """Leakage power (W) at ``op_point``."""
        ...


def unit_signature(unit: Any) -> tuple:
    """A value key of a unit: its kind and the values of its constructor fields. Two units with equal
    signatures are interchangeable (same costs): the engine pools them."""
    return (unit.kind,) + tuple((f.name, repr(getattr(unit, f.name))) for f in fields(unit) if f.init)


def is_matmul(op: Any) -> bool:
    """True for a matrix product whose GEMM dimensions the trace gives (MAC arrays and crossbars run it)."""
    return op.kind in MATMUL_KINDS and op.gemm is not None


def vector_elements(op: Any) -> int:
    """Elements a vector-unit op processes: the largest element count it reads from or writes to one
    tensor (an element-wise add of two N-element tensors processes N). An ``unknown`` op (no counting
    rule in the tracer) is costed conservatively: see :func:`unknown_op_elements`."""
    if op.kind == "unknown":
        return unknown_op_elements(op)
    counts = list(op.reads.values()) + list(op.writes.values())
    return int(max(counts)) if counts else 0


def unknown_op_elements(op: Any) -> int:
    """The conservative stand-in for an op the tracer could not classify (kind ``unknown``, 0 MACs
    recorded): one vector operation, and one vector-unit element slot, per element it reads and per
    element it writes, summed over its tensors (assumption: an upper bound for element-wise, copy and
    reduction work; a hidden gemm is still undercounted, which is why the tracer warns and the report
    names these ops)."""
    return int(sum(op.reads.values()) + sum(op.writes.values()))


def other_ops(op: Any) -> float:
    """The op's non-MAC operations as costed: the trace's count, or for an ``unknown`` op at least
    :func:`unknown_op_elements`."""
    return float(max(op.other_ops, unknown_op_elements(op)) if op.kind == "unknown" else op.other_ops)


@dataclass(frozen=True)
class ArithmeticCost:
    """Energy (J), area (m²) and leakage (W) of one multiply-accumulate datapath at ``node_m``."""
    energy_J: float
    area_m2: float
    leakage_W: float


def datapath_cost(mult_bits: tuple[int, int], add_bits: int, register_bits: int,
                  node_m: float) -> ArithmeticCost:
    """A multiplier of ``mult_bits`` operands, an adder of ``add_bits`` and ``register_bits`` of registers
    switched per operation, at node ``node_m`` (m), nominal voltage."""
    d = compute_data()
    mult = mult_bits[0] * mult_bits[1] / (32 * 32)
    add = add_bits / 32
    energy = (d.int_multiplier_32b_energy * mult + d.int_adder_32b_energy * add
              + d.register_energy_per_bit * register_bits)
    area = (d.int_multiplier_32b_area * mult + d.int_adder_32b_area * add
            + d.register_area_per_bit * register_bits)
    return ArithmeticCost(energy_J=energy * energy_factor(node_m, d.node),
                          area_m2=area * area_factor(node_m, d.node),
                          leakage_W=area * d.logic_leakage_per_area * leakage_factor(node_m, d.node))


@lru_cache(maxsize=65536)
def systolic_cycles(rows: int, cols: int, dataflow: str, m: int, k: int, n: int) -> int:
    """Cycles of an (m×k)·(k×n) product on a rows×cols array (see :meth:`MacArray.matmul_cycles`)."""
    if dataflow == "os":
        spatial_r, spatial_c, temporal = m, n, k
        fill_drain = rows + cols - 2      # operands skew in while the previous fold's outputs drain
    elif dataflow == "ws":
        spatial_r, spatial_c, temporal = k, n, m
        fill_drain = 2 * rows + cols - 2  # weight load (rows), input skew (rows), output skew (cols)
    else:  # "is"
        spatial_r, spatial_c, temporal = k, m, n
        fill_drain = 2 * rows + cols - 2
    folds = math.ceil(spatial_r / rows) * math.ceil(spatial_c / cols)
    # SCALE-Sim counts the last cycle from 0 (hence -1); never below one MAC step per fold and element
    return max(folds * (temporal + fill_drain) - 1, folds * temporal)


class MacArraySpec(StrictSpec):
    """A systolic MAC array in platform YAML; its clock is the platform's operating-point frequency."""
    kind: Literal["mac_array"] = "mac_array"
    rows: Annotated[int, Field(gt=0, le=4096, strict=True)]
    cols: Annotated[int, Field(gt=0, le=4096, strict=True)]
    dataflow: Literal["ws", "os", "is"]
    weight_bits: Annotated[int, Field(gt=0, le=64, strict=True)]
    act_bits: Annotated[int, Field(gt=0, le=64, strict=True)]
    acc_bits: Annotated[int, Field(gt=0, le=128, strict=True)]


class VectorUnitSpec(StrictSpec):
    """A vector / special-function unit in platform YAML; its clock is the platform's operating-point
    frequency."""
    kind: Literal["vector_unit"] = "vector_unit"
    lanes: Annotated[int, Field(gt=0, le=65536, strict=True)]
    op_bits: Annotated[int, Field(gt=0, le=64, strict=True)] = 16
    cycles_per_element: dict[Name, Annotated[int, Field(gt=0, le=10**6, strict=True)]] = {}


@dataclass(eq=False)
class MacArray:
    """A rows×cols systolic MAC array. ``dataflow``: "ws" (weight-), "os" (output-) or "is" (input-
    stationary); operand widths in bits; ``clock_hz`` (Hz) at nominal voltage; ``node_m`` (m).
    One action, ``mac`` (J per multiply-accumulate)."""
    kind: ClassVar[str] = "mac_array"
    actions: ClassVar[tuple[str, ...]] = ("mac",)
    takes: ClassVar[tuple[str, ...]] = ("macs",)
    rows: int = 16
    cols: int = 16
    dataflow: str = "ws"
    weight_bits: int = 8
    act_bits: int = 16
    acc_bits: int = 32
    clock_hz: float = 1e9
    node_m: float = 22e-9
    #: energy of one MAC at nominal voltage (J)
    mac_energy_J: float = field(init=False)
    #: leakage of the whole array at nominal voltage (W)
    leakage_W: float = field(init=False)
    #: area of the whole array (m²)
    area_m2: float = field(init=False)

    @classmethod
    def from_spec(cls, spec: MacArraySpec, *, clock_hz: float, node_m: float) -> "MacArray":
        """The array of a validated YAML spec at the platform's nominal clock (Hz) and node (m)."""
        return cls(rows=spec.rows, cols=spec.cols, dataflow=spec.dataflow, weight_bits=spec.weight_bits,
                   act_bits=spec.act_bits, acc_bits=spec.acc_bits, clock_hz=clock_hz, node_m=node_m)

    def __post_init__(self) -> None:
        if self.dataflow not in DATAFLOWS:
            raise HardwareConfigError(f"compute.mac_array.dataflow: got {self.dataflow!r}; expected one of "
                                      f"{', '.join(DATAFLOWS)}")
        check_fields(self, "compute.mac_array",
                     ("rows", "cols", "weight_bits", "act_bits", "acc_bits", "clock_hz", "node_m"))
        # per MAC: one weight×activation multiply, one accumulate, and the moving operand and partial sum
        # passing through the PE's registers
        pe = datapath_cost((self.weight_bits, self.act_bits), self.acc_bits,
                           self.act_bits + self.acc_bits, self.node_m)
        pe_storage = datapath_cost((0, 0), 0, self.weight_bits + self.act_bits + self.acc_bits, self.node_m)
        n_pe = self.rows * self.cols
        self.mac_energy_J = pe.energy_J
        self.area_m2 = n_pe * (pe.area_m2 + pe_storage.area_m2)
        self.leakage_W = n_pe * (pe.leakage_W + pe_storage.leakage_W)

    @property
    def peak_macs_per_cycle(self) -> int:
        """MACs per cycle with every PE busy."""
        return self.rows * self.cols

    def matmul_cycles(self, m: int, k: int, n: int) -> int:
        """Cycles for an (m×k)·(k×n) product, with tiling (folds), fill and drain.

        The dataflow maps two of the three dimensions onto the array (os: m×n, ws: k×n, is: k×m) and
        streams the third (temporal, T). The product runs in ``folds = ceil(S_r/rows)·ceil(S_c/cols)``
        array-sized pieces, back to back; each costs T cycles plus fill and drain:
        ws/is ``2·rows + cols − 2`` (weight/input load, operand skew, output skew) and os
        ``rows + cols − 2`` (SCALE-Sim overlaps an output fold's drain with the next fold's fill).
        Total ``folds·(T + fill_drain) − 1``.

        Calibrated against SCALE-Sim v3.0.0 "Total Cycles" (benchmarks/calibrate_scalesim.py, ideal
        bandwidth): on 16×16 and 32×32 arrays, all three dataflows, GEMMs 128×768×768, 128×768×3072,
        128×3072×768, 128×64×128, 128×128×64 and 128×768×64, and on 16×32, 32×16 and 8×8 arrays,
        the model reproduces SCALE-Sim's cycle counts exactly: 0.00 % error on all 36 transformer
        cases (e.g. 16×16 128×768×768: ws 400 895, os 306 431, is 312 575 cycles; 16×16 ws 128×768×3072:
        1 603 583; 32×32 os 128×64×128: 2 015) and on the 27 non-square and 8×8 cases.
        """
        if m <= 0 or k <= 0 or n <= 0:
            raise ValueError(f"matmul_cycles: dimensions must be positive; got m={m}, k={k}, n={n}")
        return systolic_cycles(self.rows, self.cols, self.dataflow, int(m), int(k), int(n))

    def energy_per_mac_J(self, op_point: OperatingPoint | None = None) -> float:
        """Dynamic energy of one MAC (J) at ``op_point`` (nominal when None)."""
        return self.mac_energy_J * dynamic_scale(op_point)

    def leakage_at(self, op_point: OperatingPoint | None = None) -> float:
        """Leakage power of the array (W) at ``op_point``."""
        return self.leakage_W * leakage_scale(op_point)

    # ---- the ComputeUnit protocol ---------------------------------------------------------------------
    def can_run(self, op: Any) -> bool:
        """Matrix products with GEMM dimensions (``matmul``, fused ``attention``)."""
        return is_matmul(op)

    def work(self, op: Any) -> Work:
        """Cycles of the whole GEMM (batch × :meth:`matmul_cycles`; a fused attention is Q·Kᵀ then P·V)
        and its MACs; utilisation = MACs / (cycles × rows × cols)."""
        batch, m, k, n = op.gemm
        cycles = int(self.matmul_cycles(m, k, n))
        ev = op.macs // (batch * m * n) - k if op.kind == "attention" and batch * m * n else 0
        if ev > 0:   # fused attention: Q·Kᵀ (m×k×n) then P·V (m×n×ev)
            cycles += int(self.matmul_cycles(m, n, ev))
        cycles *= int(batch)
        peak = cycles * self.rows * self.cols
        return Work(cycles, {"mac": float(op.macs)}, min(1.0, op.macs / peak) if peak > 0 else 0.0)

    def absorb(self, quantity: str, amount: float) -> dict[str, float]:
        """MACs of an op run elsewhere, one ``mac`` action each."""
        return {"mac": float(amount)}

    def action_energy_J(self, op_point: OperatingPoint | None = None) -> dict[str, float]:
        """``{"mac": J per MAC}`` at ``op_point``."""
        return {"mac": self.energy_per_mac_J(op_point)}


#: Default cycles per element per lane for each op kind (assumptions; a platform may override them):
#: softmax = max, subtract-and-exp (LUT), sum, divide; norm = mean, variance, scale-and-shift; gelu = LUT
#: lookup and multiply; everything else one cycle.
DEFAULT_CYCLES_PER_ELEMENT = {"elementwise": 1, "reduction": 1, "softmax": 4, "norm": 3, "gelu": 2,
                              "embedding_lookup": 1, "copy": 1, "unknown": 1, "matmul": 1, "attention": 1}


@dataclass(eq=False)
class VectorUnit:
    """A ``lanes``-wide vector / special-function unit of ``op_bits``-bit datapaths at ``clock_hz`` (Hz).
    One action, ``op`` (J per element operation)."""
    kind: ClassVar[str] = "vector_unit"
    actions: ClassVar[tuple[str, ...]] = ("op",)
    takes: ClassVar[tuple[str, ...]] = ("other_ops",)
    lanes: int = 16
    clock_hz: float = 1e9
    op_bits: int = 16
    node_m: float = 22e-9
    cycles_per_element: dict[str, int] = field(default_factory=dict)
    #: energy of one element operation at nominal voltage (J): one multiply and one add of op_bits
    op_energy_J: float = field(init=False)
    leakage_W: float = field(init=False)
    area_m2: float = field(init=False)

    @classmethod
    def from_spec(cls, spec: VectorUnitSpec, *, clock_hz: float, node_m: float) -> "VectorUnit":
        """The unit of a validated YAML spec at the platform's nominal clock (Hz) and node (m)."""
        return cls(lanes=spec.lanes, clock_hz=clock_hz, op_bits=spec.op_bits, node_m=node_m,
                   cycles_per_element=dict(spec.cycles_per_element))

    def __post_init__(self) -> None:
        check_fields(self, "compute.vector_unit", ("lanes", "clock_hz", "op_bits", "node_m"))
        self.cycles_per_element = {**DEFAULT_CYCLES_PER_ELEMENT, **self.cycles_per_element}
        for kind, cycles in self.cycles_per_element.items():
            if not (isinstance(cycles, int) and cycles > 0):
                raise HardwareConfigError(f"compute.vector_unit.cycles_per_element.{kind}: got {cycles!r}; "
                                          f"expected a positive integer")
        lane = datapath_cost((self.op_bits, self.op_bits), self.op_bits, 2 * self.op_bits, self.node_m)
        self.op_energy_J = lane.energy_J
        self.area_m2 = self.lanes * lane.area_m2
        self.leakage_W = self.lanes * lane.leakage_W

    def cycles(self, kind: str, elements: int) -> int:
        """Cycles for an op of ``kind`` on ``elements`` elements: ceil(elements/lanes) × cycles/element."""
        try:
            per = self.cycles_per_element[kind]
        except KeyError:
            raise HardwareConfigError(f"vector_unit.cycles: unknown op kind {kind!r}; expected one of "
                                      f"{', '.join(sorted(self.cycles_per_element))}") from None
        return -(-int(elements) // self.lanes) * per if elements > 0 else 0

    def energy_per_op_J(self, op_point: OperatingPoint | None = None) -> float:
        """Dynamic energy of one element operation (J) at ``op_point`` (nominal when None)."""
        return self.op_energy_J * dynamic_scale(op_point)

    def leakage_at(self, op_point: OperatingPoint | None = None) -> float:
        """Leakage power of the unit (W) at ``op_point``."""
        return self.leakage_W * leakage_scale(op_point)

    # ---- the ComputeUnit protocol ---------------------------------------------------------------------
    def can_run(self, op: Any) -> bool:
        """Any op whose kind has a cycles-per-element figure (every trace kind by default)."""
        return op.kind in self.cycles_per_element

    def work(self, op: Any) -> Work:
        """``ceil(elements / lanes) × cycles per element`` cycles (:func:`vector_elements`) and the op's
        non-MAC operations; utilisation = elements / (cycles × lanes)."""
        elements = vector_elements(op)
        cycles = int(self.cycles(op.kind, elements)) if elements > 0 else 0
        peak = cycles * self.lanes
        return Work(cycles, {"op": other_ops(op)}, min(1.0, elements / peak) if peak > 0 else 0.0)

    def absorb(self, quantity: str, amount: float) -> dict[str, float]:
        """Non-MAC operations of an op run elsewhere, one ``op`` action each."""
        return {"op": float(amount)}

    def action_energy_J(self, op_point: OperatingPoint | None = None) -> dict[str, float]:
        """``{"op": J per element operation}`` at ``op_point``."""
        return {"op": self.energy_per_op_J(op_point)}
