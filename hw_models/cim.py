"""A ReRAM compute-in-memory crossbar: weights programmed into crossbar tiles, matrix-vector products
computed in place.

Geometry: ``tiles`` crossbars of ``rows × cols`` cells of ``cell_bits`` bits. A ``weight_bits`` weight is
bit-sliced over ``slices = ceil(weight_bits / cell_bits)`` adjacent columns; an input of ``input_bits`` is
fed bit-serially, one bit per read cycle through 1-bit DACs (one per row). A (k × n) weight matrix occupies
``row_tiles = ceil(k / rows)`` × ``col_tiles = ceil(n · slices / cols)`` tiles, all read in parallel.

One matrix-vector product (one input row of k values) costs, per input bit (``input_bits`` read cycles):

- ``dac``: k row drives per column tile (the input slice is broadcast to every column tile of its rows);
- ``cell``: k · n · slices cell reads (every programmed cell of the matrix conducts);
- ``adc``: n · slices conversions per row tile (one per column, at ``adc_bits``);
- ``shift_add``: one per conversion (combining bit slices, input bits and row tiles digitally).

An (m × k)·(k × n) product of batch b is b · m such products, one after another: ``b · m · input_bits``
read cycles (the unit's clock is one read cycle). Figures per action and area come from
``hw_models/data/cim.yaml`` (ISAAC, ISCA 2016, Table I, 32 nm: each component group's power times the
100 ns read cycle over the actions it performs per cycle), scaled to the unit's node with
Stillmaker & Baas and to the operating point with V² (ADC and DAC energy scaled like logic: an
assumption). ADC energy doubles per extra bit (Walden figure of merit: an assumption). Leakage: the
periphery's area (ADCs, DACs, shift-and-add) at the logic leakage density of ``compute.yaml``.
The cells themselves (their capacity, programming energy, endurance) are a memory of the platform named
``<unit>.array`` whose technology is the unit's ``technology`` (ReRAM): programming writes are counted
there as NVM wear.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from hw_models.compute import Work, compute_data, is_matmul
from hw_models.dvfs import OperatingPoint, dynamic_scale, leakage_scale
from hw_models.errors import HardwareConfigError, check_fields
from hw_models.memory import Memory
from hw_models.schema import CimDataFile, Frequency, StrictSpec, validate
from hw_models.technology import load_technology
from hw_models.techscaling import area_factor, energy_factor, leakage_factor
from hw_models.yamlio import load_yaml

CIM_DATA = Path(__file__).parent / "data" / "cim.yaml"


@lru_cache(maxsize=1)
def cim_data() -> CimDataFile:
    """The reference crossbar figures (SI units) from ``hw_models/data/cim.yaml``; each must be cited."""
    data = validate(CimDataFile, load_yaml(CIM_DATA, what="crossbar data"), str(CIM_DATA))
    missing = [f for f in CimDataFile.model_fields if f not in ("node", "sources") and f not in data.sources]
    if missing:
        raise HardwareConfigError(f"{CIM_DATA}: sources.{missing[0]}: missing; expected a citation or "
                                  "'assumption: <why>'")
    return data


class CimCrossbarSpec(StrictSpec):
    """A ReRAM compute-in-memory crossbar in platform YAML; ``clock`` is its read-cycle rate (default:
    the reference read cycle), scaled with the operating point's frequency like every unit."""
    kind: Literal["cim_crossbar"]
    tiles: Annotated[int, Field(gt=0, le=1 << 20, strict=True)]
    rows: Annotated[int, Field(gt=0, le=4096, strict=True)] = 128
    cols: Annotated[int, Field(gt=0, le=4096, strict=True)] = 128
    cell_bits: Annotated[int, Field(gt=0, le=8, strict=True)] = 2
    weight_bits: Annotated[int, Field(gt=0, le=64, strict=True)] = 8
    input_bits: Annotated[int, Field(gt=0, le=64, strict=True)] = 8
    adc_bits: Annotated[int, Field(gt=0, le=16, strict=True)] = 8
    clock: Frequency | None = None
    technology: Annotated[str, Field(min_length=1)] = "rram"


def array_name(unit: str) -> str:
    """Name of the memory that holds the cells of CiM unit ``unit``."""
    return f"{unit}.array"


@dataclass(eq=False)
class CimCrossbar:
    """A ReRAM compute-in-memory crossbar unit (see the module docstring). Sizes in cells and bits;
    ``clock_hz``: read cycles per second at nominal voltage (default: the reference read cycle);
    ``node_m`` (m); ``technology``: the cell technology of its ``<name>.array`` memory."""
    kind: ClassVar[str] = "cim_crossbar"
    actions: ClassVar[tuple[str, ...]] = ("dac", "cell", "adc", "shift_add")
    takes: ClassVar[tuple[str, ...]] = ("macs",)     # its own work covers the op's MACs; absorbs none
    tiles: int = 64
    rows: int = 128
    cols: int = 128
    cell_bits: int = 2
    weight_bits: int = 8
    input_bits: int = 8
    adc_bits: int = 8
    clock_hz: float = 0.0
    node_m: float = 22e-9
    technology: str = "rram"
    #: energy per action at nominal voltage (J)
    action_J: dict[str, float] = field(init=False)
    leakage_W: float = field(init=False)
    area_m2: float = field(init=False)

    @classmethod
    def from_spec(cls, spec: CimCrossbarSpec, *, clock_hz: float, node_m: float) -> "CimCrossbar":
        """The crossbar of a validated YAML spec at node ``node_m`` (m); ``clock_hz`` (the platform's
        digital clock) is not its read rate: that is ``spec.clock`` or the reference read cycle."""
        return cls(tiles=spec.tiles, rows=spec.rows, cols=spec.cols, cell_bits=spec.cell_bits,
                   weight_bits=spec.weight_bits, input_bits=spec.input_bits, adc_bits=spec.adc_bits,
                   clock_hz=spec.clock or 0.0, node_m=node_m, technology=spec.technology)

    def __post_init__(self) -> None:
        d = cim_data()
        if not self.clock_hz:
            self.clock_hz = 1.0 / d.read_cycle
        check_fields(self, "compute.cim", ("tiles", "rows", "cols", "cell_bits", "weight_bits", "input_bits",
                                           "adc_bits", "clock_hz", "node_m"))
        e, a = energy_factor(self.node_m, d.node), area_factor(self.node_m, d.node)
        adc = d.adc_energy * 2.0 ** (self.adc_bits - d.adc_bits)
        self.action_J = {"dac": d.dac_energy * e, "cell": d.cell_read_energy * e, "adc": adc * e,
                         "shift_add": d.shift_add_energy * e}
        # ISAAC: one ADC (and half a shift-and-add unit) per 128 columns, one 1-bit DAC per row
        per_tile_periphery = (self.cols * (d.adc_area * 2.0 ** (self.adc_bits - d.adc_bits) + d.shift_add_area)
                              / 128 + self.rows * d.dac_area)
        periphery = self.tiles * per_tile_periphery * a
        self.area_m2 = periphery + self.tiles * self.rows * self.cols * d.cell_area * a
        self.leakage_W = (self.tiles * per_tile_periphery * compute_data().logic_leakage_per_area
                          * leakage_factor(self.node_m, d.node))

    # ---- geometry ------------------------------------------------------------------------------------
    @property
    def slices(self) -> int:
        """Columns (cells) per weight: ``ceil(weight_bits / cell_bits)``."""
        return -(-self.weight_bits // self.cell_bits)

    @property
    def capacity_bytes(self) -> int:
        """Weight bytes the crossbar holds when every cell is used (``tiles·rows·cols / slices`` weights of
        ``weight_bits``); tile fragmentation is ignored."""
        weights = self.tiles * self.rows * (self.cols // self.slices)
        return int(weights * self.weight_bits // 8)

    def tiles_for(self, k: int, n: int) -> tuple[int, int]:
        """(row tiles, column tiles) a (k × n) weight matrix occupies."""
        return math.ceil(k / self.rows), math.ceil(n * self.slices / self.cols)

    # ---- the ComputeUnit protocol --------------------------------------------------------------------
    def can_run(self, op: Any) -> bool:
        """Matrix products against a weight matrix (``matmul`` with GEMM dimensions); whether the weight
        is programmed into this crossbar is the assignment policy's business."""
        return is_matmul(op) and op.kind == "matmul"

    def work(self, op: Any) -> Work:
        """Read cycles and action counts of ``op``'s product computed in place (see the module
        docstring); utilisation = MACs over (cycles × the MACs the occupied tiles could do per cycle at
        one input bit per cycle: rows × cols / slices / input_bits per tile)."""
        batch, m, k, n = (int(x) for x in op.gemm)
        vectors = batch * m
        rt, ct = self.tiles_for(k, n)
        per_bit = {"dac": k * ct, "cell": k * n * self.slices, "adc": n * self.slices * rt}
        per_bit["shift_add"] = per_bit["adc"]
        reads = vectors * self.input_bits
        counts = {a: float(reads * c) for a, c in per_bit.items()}
        cycles = reads
        peak = cycles * rt * ct * self.rows * (self.cols // self.slices) / self.input_bits
        return Work(cycles, counts, min(1.0, op.macs / peak) if peak > 0 else 0.0)

    def absorb(self, quantity: str, amount: float) -> dict[str, float]:
        """A crossbar absorbs no other unit's arithmetic."""
        raise HardwareConfigError(f"compute: a cim_crossbar cannot take {quantity} of an op run elsewhere")

    def action_energy_J(self, op_point: OperatingPoint | None = None) -> dict[str, float]:
        """Energy (J) of one DAC drive, cell read, ADC conversion and shift-add at ``op_point``."""
        s = dynamic_scale(op_point)
        return {a: j * s for a, j in self.action_J.items()}

    def leakage_at(self, op_point: OperatingPoint | None = None) -> float:
        """Leakage power (W) of the periphery at ``op_point``."""
        return self.leakage_W * leakage_scale(op_point)

    def cells(self, unit: str, relative_to: Path | None = None) -> Memory:
        """The memory holding this crossbar's cells, named :func:`array_name` (``unit``): its technology
        at the crossbar's weight capacity, one bank per tile, word = one crossbar row of cells. Its area
        and leakage are the unit's (:attr:`area_m2`), not counted twice; programming writes and their
        wear are counted on it."""
        try:
            tech = load_technology(self.technology, relative_to=relative_to)
        except HardwareConfigError as exc:
            raise HardwareConfigError(f"compute.{unit}.technology: {exc}") from None
        if tech.is_dram:
            raise HardwareConfigError(f"compute.{unit}.technology: {tech.name!r} is DRAM; expected an on-chip "
                                      "(non-volatile) cell technology")
        mem = Memory.from_technology(array_name(unit), tech, self.capacity_bytes, word_bits=self.cols,
                                     banks=self.tiles, node_m=self.node_m)
        return replace(mem, area_m2=0.0, leakage_W=0.0, gated_leakage_W=0.0, in_unit=unit)

    def mvm_energy_J(self, k: int, n: int, op_point: OperatingPoint | None = None) -> float:
        """Energy (J) of one matrix-vector product against a (k × n) weight matrix."""
        rt, ct = self.tiles_for(k, n)
        e = self.action_energy_J(op_point)
        return self.input_bits * (k * ct * e["dac"] + k * n * self.slices * e["cell"]
                                  + n * self.slices * rt * (e["adc"] + e["shift_add"]))
