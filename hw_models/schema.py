"""The validated shape of the YAML files (technology files and platform files), as pydantic v2 models.

Quantities are written with units (``"2 MiB"``, ``"6.18 pJ"``) and arrive here already converted to SI
floats. Unknown keys are rejected. :func:`validate` turns pydantic's error report into the package's one-line
:class:`~hw_models.errors.HardwareConfigError` naming the file, the field path and what was expected.
Cross-references (a memory naming a technology, a link naming a memory, ...) are checked later, by the code
that builds the objects, because only it knows what exists.
"""
from __future__ import annotations

import math
import types
import typing
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from hw_models.errors import HardwareConfigError
from hw_models.units import parse_quantity
from hw_models.yamlio import shorten
from hw_models.vocabulary import ADAPTER_MODES, ON_OVERFLOW, POWER_POLICIES


def _quantity(dimension: str, allow_inf: bool = False):
    def parse(value: Any) -> float:
        if allow_inf and (value == "inf" or (isinstance(value, float) and math.isinf(value))):
            return math.inf
        return parse_quantity(value, dimension)
    return BeforeValidator(parse)


def _dimensionless_or_inf(value: Any) -> Any:
    return math.inf if value == "inf" else value


def within(low: float | None, high: float, shown: str):
    """A plausibility bound: values outside ``[low, high]`` (SI) fail with ``got <v>; expected <shown>``."""
    def check(value: float | None) -> float | None:
        if value is not None and (value > high or (low is not None and value < low)):
            raise ValueError(f"got {value:.4g} (SI units); expected {shown}, hetsim's plausible range")
        return value
    return AfterValidator(check)


# Generic quantities (also used by study files: a request rate, a period).
Bytes = Annotated[float, _quantity("bytes"), Field(gt=0)]
Energy = Annotated[float, _quantity("energy"), Field(ge=0)]
Time = Annotated[float, _quantity("time"), Field(ge=0)]
PositiveTime = Annotated[float, _quantity("time"), Field(gt=0)]
TimeOrInf = Annotated[float, _quantity("time", allow_inf=True), Field(ge=0)]
Power = Annotated[float, _quantity("power"), Field(ge=0)]
Area = Annotated[float, _quantity("area"), Field(ge=0)]
Frequency = Annotated[float, _quantity("frequency"), Field(gt=0)]
Voltage = Annotated[float, _quantity("voltage"), Field(gt=0)]
Current = Annotated[float, _quantity("current"), Field(ge=0)]
Length = Annotated[float, _quantity("length"), Field(gt=0)]
PowerDensity = Annotated[float, _quantity("power_density"), Field(ge=0)]
Rate = Annotated[float, _quantity("rate"), Field(gt=0)]
Count = Annotated[int, Field(gt=0, strict=True)]

# Hardware quantities with plausibility bounds (issue 9): generous for any edge-to-datacentre part, but a
# capacity of 1e30 B or a clock of 1 mHz is a typo, not a design point.
Capacity = Annotated[Bytes, within(1, 2.0**40, "1 B to 1 TiB")]
AccessEnergy = Annotated[Energy, within(None, 1e-6, "at most 1 uJ per access or bit")]
WakeupEnergy = Annotated[Energy, within(None, 1e-3, "at most 1 mJ")]
Latency = Annotated[PositiveTime, within(None, 1.0, "at most 1 s")]
WakeupTime = Annotated[Time, within(None, 1.0, "at most 1 s")]
StaticPower = Annotated[Power, within(None, 1e3, "at most 1 kW")]
ChipArea = Annotated[Area, within(None, 1e-2, "at most 10000 mm2")]
Clock = Annotated[Frequency, within(1e3, 1e11, "1 kHz to 100 GHz")]
TransferRate = Annotated[Rate, within(1e3, 1e11, "1 kT/s to 100 GT/s")]
SupplyVoltage = Annotated[Voltage, within(0.05, 5.0, "0.05 V to 5 V")]
SupplyCurrent = Annotated[Current, within(None, 100.0, "at most 100 A")]
Node = Annotated[Length, within(1e-9, 1e-5, "1 nm to 10 um")]
LeakageDensity = Annotated[PowerDensity, within(None, 1e7, "at most 1e7 W/m2 (10 W/mm2)")]


def _count(high: int):
    """A whole number from 1 to ``high`` (a plausibility bound on widths, ranks, counts)."""
    return Annotated[int, Field(gt=0, le=high, strict=True)]


#: Public name of :func:`_count` for unit specs in their own modules (compute.py, cim.py).
count_upto = _count


Name = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: The base of every YAML spec model (unknown keys rejected, frozen); unit kinds define theirs on it.
StrictSpec = _Strict


# ---- technology files (hw_models/data/technologies/*.yaml) ------------------------------------------------

class ReferencePointSpec(_Strict):
    """The cited operating point of an on-chip array: at exactly these, a memory returns these figures."""
    node: Node
    capacity: Capacity
    word_bits: _count(65536)
    read_energy: AccessEnergy
    write_energy: AccessEnergy
    read_latency: Latency
    write_latency: Latency
    leakage: StaticPower
    area: ChipArea


class RailCurrentsSpec(_Strict):
    """The datasheet currents (IDD) of one supply rail of one DRAM channel, and the rail's voltage."""
    voltage: SupplyVoltage
    idd0: SupplyCurrent        # one bank activate-precharge, tRC apart
    idd2n: SupplyCurrent       # precharge standby (all banks closed, clock on)
    idd2p: SupplyCurrent       # precharge power-down
    idd3n: SupplyCurrent       # active standby (a bank open)
    idd4r: SupplyCurrent       # burst read
    idd4w: SupplyCurrent       # burst write
    idd5ab: SupplyCurrent      # all-bank refresh, averaged over the refresh interval
    idd6: SupplyCurrent        # self-refresh


class DramCurrentsSpec(_Strict):
    """A DRAM channel described by its datasheet currents per rail, the way DRAMPower reads a memspec:
    the clock, tRC and tRAS (clock cycles) for the activate energy, tXP / tXSR (cycles) for the exits."""
    rails: Annotated[dict[Name, RailCurrentsSpec], Field(min_length=1)]
    clock: Clock
    tRC: Count
    tRAS: Count
    tXP: Count
    tXSR: Count


class DramSpec(_Strict):
    """Off-chip DRAM per device (package) of ``device_capacity`` with ``channels`` channels. Either
    ``currents`` (per channel; the figures below are then derived, see :mod:`hw_models.dram`) or the final
    figures: energies per bit transferred (I/O included), ``activate_energy`` per row opened and closed
    in one channel (``row_bytes`` per row), powers per device."""
    device_capacity: Capacity
    channels: _count(64)
    channel_width_bits: _count(1024)
    data_rate: TransferRate
    access_latency: Latency
    row_bytes: Capacity
    currents: DramCurrentsSpec | None = None
    read_energy_per_bit: AccessEnergy | None = None
    write_energy_per_bit: AccessEnergy | None = None
    activate_energy: AccessEnergy | None = None
    background_power: StaticPower | None = None        # precharge standby: on, idle, banks closed
    active_standby_power: StaticPower | None = None    # a bank open (charged while transferring)
    refresh_power: StaticPower | None = None           # average refresh on top of standby
    power_down_power: StaticPower | None = None        # precharge power-down
    power_down_exit_latency: WakeupTime | None = None
    self_refresh_power: StaticPower | None = None
    self_refresh_exit_latency: WakeupTime | None = None


class ScalingSpec(_Strict):
    """How an on-chip array given by a cited reference point scales with capacity, banks and word width:
    by the ratios of CACTI's SRAM table (``hw_models/data/cacti``) of the ``periphery`` flavour between the
    requested geometry and the reference one (one bank). ``write_node_scaled``: whether write energy and
    latency follow CMOS node scaling (false for NVM: the cell's switching current and time set them)."""
    periphery: Literal["itrs-hp", "itrs-lstp"] = "itrs-lstp"
    write_node_scaled: bool = True


class CactiSpec(_Strict):
    """An SRAM whose figures are CACTI's own (``hw_models/data/cacti/<table>.csv``, one ``flavour``).
    ``reference_capacity`` / ``reference_word_bits``: the point shown by ``hetsim platforms technologies``
    and at which ``wakeup_energy`` is given (it scales with the array's leakage)."""
    table: Name = "sram"
    flavour: Literal["itrs-hp", "itrs-lstp"]
    reference_capacity: Capacity
    reference_word_bits: _count(65536) = 64


class RetentionVoltageSpec(_Strict):
    """An SRAM's data-retention (drowsy) state: the array's supply lowered to a voltage that keeps its
    contents. ``leakage_fraction``: leakage in that state / powered-on leakage; waking costs
    ``wakeup_latency`` and ``wakeup_energy_fraction`` × the technology's (full power-up) wake-up energy."""
    leakage_fraction: Annotated[float, Field(gt=0, le=1)]
    wakeup_latency: WakeupTime
    wakeup_energy_fraction: Annotated[float, Field(ge=0, le=1)]


class TechnologyFile(_Strict):
    """One file under ``hw_models/data/technologies``."""
    name: Name
    description: str
    source: str = ""          # short provenance label shown in tables and reports ("NVMExplorer", ...)
    kind: Literal["sram", "nvm", "dram"]
    volatile: bool
    reference: ReferencePointSpec | None = None
    cacti: CactiSpec | None = None
    dram: DramSpec | None = None
    endurance: Annotated[float, BeforeValidator(_dimensionless_or_inf), Field(gt=0)]
    retention: TimeOrInf
    wakeup_latency: WakeupTime
    wakeup_energy: WakeupEnergy
    gated_leakage_fraction: Annotated[float, Field(ge=0, le=1)]
    retention_voltage: RetentionVoltageSpec | None = None   # SRAM only: the retain_when_idle state
    scaling: ScalingSpec | None = None
    sources: dict[str, Annotated[str, Field(min_length=3)]]


class ComputeDataFile(_Strict):
    """``hw_models/data/compute.yaml``: reference figures of the arithmetic the compute units are built of."""
    node: Node
    int_multiplier_32b_energy: AccessEnergy
    int_adder_32b_energy: AccessEnergy
    register_energy_per_bit: AccessEnergy
    int_multiplier_32b_area: ChipArea
    int_adder_32b_area: ChipArea
    register_area_per_bit: ChipArea
    logic_leakage_per_area: LeakageDensity
    #: power-gating a compute unit between requests: idle cycles (at its clock) above which gating saves
    #: energy (the wake-up energy is the unit's leakage over this many cycles), and cycles to wake
    power_gate_break_even_cycles: Annotated[float, Field(ge=0, le=1e6)]
    power_gate_wakeup_cycles: Annotated[float, Field(ge=0, le=1e6)]
    sources: dict[str, str]


class CimDataFile(_Strict):
    """``hw_models/data/cim.yaml``: reference figures of a ReRAM crossbar tile and its periphery."""
    node: Length
    read_cycle: PositiveTime
    adc_bits: Count
    adc_energy: Energy
    adc_area: Area
    dac_energy: Energy
    dac_area: Area
    cell_read_energy: Energy
    cell_area: Area
    shift_add_energy: Energy
    shift_add_area: Area
    sources: dict[str, str]


# ---- platform files (hw_models/platforms/*.yaml) ----------------------------------------------------------

class MemorySpec(_Strict):
    """One memory instance of a platform."""
    technology: Annotated[str, Field(min_length=1)]
    capacity: Capacity
    word_bits: _count(65536) = 64
    banks: _count(65536) = 1
    ports: _count(64) = 1
    clock: Clock | None = None
    backed_by: Name | None = None
    is_buffer: bool = False
    double_buffered: bool = False
    channels: _count(64) | None = None
    #: between requests (simulator.cost.power_states): always_on, gate_when_idle (data lost),
    #: retain_when_idle (NVM off, SRAM retention voltage, DRAM self-refresh), power_down_when_idle (DRAM)
    power_state: Literal[POWER_POLICIES] | None = None      # type: ignore[valid-type]
    description: str = ""


def _compute_units(value: Any) -> Any:
    """``compute:`` as ``{name: unit mapping}``: each entry is validated against the spec of its ``kind``
    (an entry named after a kind may omit ``kind``: the old ``{mac_array: ..., vector_unit: ...}`` form)."""
    if not isinstance(value, dict):
        return value
    from hw_models.registry import UNIT_SPECS   # the unit modules import this one: look up at use
    out = {}
    for name, spec in value.items():
        if isinstance(spec, dict) and "kind" not in spec and name in UNIT_SPECS:
            spec = {"kind": name, **spec}
        if not isinstance(spec, dict):
            raise ValueError(f"{name}: got {type(spec).__name__}; expected a mapping with a kind")
        kind = spec.get("kind")
        if kind not in UNIT_SPECS:
            raise ValueError(f"{name}.kind: got {kind!r}; expected one of {', '.join(UNIT_SPECS)}")
        try:
            out[name] = UNIT_SPECS[kind].model_validate(spec)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in (name, *err["loc"]))
            raise ValueError(f"{where}: {explain_error(err, UNIT_SPECS[kind])}") from None
    return out


class AssignmentSpec(_Strict):
    """A user mapping of ops to a compute unit: ops whose kind equals ``match``, or whose module path
    matches it as a glob (``*attention*``), run on ``unit``."""
    match: Annotated[str, Field(min_length=1)]
    unit: Name


class LinkSpec(_Strict):
    """A link between two memories or a memory and ``compute``."""
    src: Name
    dst: Name
    width_bits: _count(65536)
    clock: Clock
    energy_per_bit: AccessEnergy


class PlacementSpec(_Strict):
    roles: dict[Name, Annotated[list[Name], Field(min_length=1)]]
    on_overflow: Literal[ON_OVERFLOW] = "next"              # type: ignore[valid-type]
    adapters: Literal[ADAPTER_MODES] = "resident"           # type: ignore[valid-type]
    power_gating: bool = False


class VoltageDomainSpec(_Strict):
    """What scales with the operating point: these memories (on-chip) and compute units."""
    memories: list[Name] = []
    units: list[Name] = []


class OperatingPointSpec(_Strict):
    voltage: SupplyVoltage
    frequency: Clock


class PlatformFile(_Strict):
    """One platform YAML file."""
    name: Name
    description: str = ""
    node: Node
    nominal_voltage: SupplyVoltage
    leakage_voltage_exponent: Annotated[float, Field(ge=0, le=10)] = 1.0
    memories: Annotated[dict[Name, MemorySpec], Field(min_length=1)]
    compute: Annotated[dict[Name, Any], BeforeValidator(_compute_units), Field(min_length=1)]
    assignment: list[AssignmentSpec] = []
    links: Annotated[list[LinkSpec], Field(min_length=1)]
    placement: PlacementSpec
    operating_points: Annotated[dict[Name, OperatingPointSpec], Field(min_length=1)]
    voltage_domain: VoltageDomainSpec | None = None   # default: every compute unit, no memory
    default_operating_point: Name
    prefetch_depth: Annotated[int, Field(ge=0, le=1024, strict=True)] = 0
    assumptions: list[str] = []


Model = TypeVar("Model", bound=BaseModel)


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``loc`` (None when it cannot be told)."""
    current: Any = model
    parts = list(loc)
    while parts:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(parts.pop(0)))
            if field is None:
                return None
            current = field.annotation
            continue
        origin = typing.get_origin(current)
        if origin is Annotated:
            current = typing.get_args(current)[0]
        elif origin in (typing.Union, types.UnionType):
            current = next((a for a in typing.get_args(current) if a is not type(None)), None)
        elif origin in (dict, list):
            parts.pop(0)  # the mapping key or list index
            current = typing.get_args(current)[-1]
        else:
            return None
    while typing.get_origin(current) in (Annotated, typing.Union, types.UnionType):
        current = next(a for a in typing.get_args(current) if a is not type(None))
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def explain_error(err: dict, model: type[BaseModel] | None = None) -> str:
    """``<what was wrong>; expected <what>`` for one entry of pydantic's ``ValidationError.errors()``.
    With ``model`` (the validated class), an unknown key's message lists the keys allowed there."""
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        owner = _model_at(model, tuple(err["loc"][:-1])) if model is not None else None
        keys = ", ".join(owner.model_fields) if owner else "the documented keys"
        return f"unknown key; expected one of {keys}"
    if kind == "missing":
        return "missing; expected a value"
    if kind == "value_error":
        text = msg.removeprefix("Value error, ")
        return text if "expected" in text else f"{text}; expected a valid value"
    if kind in ("greater_than", "greater_than_equal", "less_than_equal", "less_than"):
        return f"got {shorten(err.get('input'))}; expected a value {msg.lower().removeprefix('input should be ')}"
    if kind == "literal_error":
        return f"got {shorten(err.get('input'))}; expected {msg.removeprefix('Input should be ')}"
    return f"got {shorten(err.get('input'))}; expected {msg.removeprefix('Input should be ').lower()}"


def validate(model: type[Model], data: Any, source: str) -> Model:
    """Validate ``data`` (parsed YAML) against ``model``; raise one-line :class:`HardwareConfigError`."""
    if not isinstance(data, dict):
        raise HardwareConfigError(f"{source}: (top level): got {type(data).__name__}; expected a mapping")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        text = explain_error(err, model)
        if err["type"] == "value_error" and err["loc"] == ("compute",) and ": " in text:
            inner, text = text.split(": ", 1)       # a unit's own field path (see _compute_units)
            path = f"compute.{inner}"
        raise HardwareConfigError(f"{source}: {path}: {text}") from None


