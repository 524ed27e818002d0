"""Reading platform YAML files: bundled platforms by name, or any file by path."""
from __future__ import annotations

import hashlib
from pathlib import Path

from hw_models.cim import array_name
from hw_models.dvfs import OperatingPoint
from hw_models.errors import HardwareConfigError
from hw_models.link import Link
from hw_models.memo import Memo
from hw_models.memory import Memory
from hw_models.placement_policy import PlacementPolicy
from hw_models.registry import build_unit, fresh_copy
from hw_models.platform import Platform
from hw_models.schema import PlatformFile, validate
from hw_models.technology import load_technology
from hw_models.yamlio import load_yaml

PLATFORMS_DIR = Path(__file__).parent / "platforms"


def list_platforms() -> list[str]:
    """Names of the bundled platforms (``hw_models/platforms/*.yaml``)."""
    return sorted(p.stem for p in PLATFORMS_DIR.glob("*.yaml"))


def platform_path(path_or_name: str | Path) -> Path:
    """The file of a bundled platform name, or ``path_or_name`` itself when it is a path (HardwareConfigError
    for an unknown name or a folder, FileNotFoundError for a missing file)."""
    text = str(path_or_name)
    if len(text) > 4096 or "\0" in text:
        raise HardwareConfigError(f"{text[:60]}...: not a platform name or path; expected a platform name "
                                  f"or a path to a platform YAML file")
    if text in list_platforms():
        return PLATFORMS_DIR / f"{text}.yaml"
    path = Path(text)
    if path.suffix not in (".yaml", ".yml") and not path.exists():
        raise HardwareConfigError(f"{text}: unknown platform; expected one of {', '.join(list_platforms())} "
                                  f"or a path to a platform YAML file")
    if path.is_dir():
        raise HardwareConfigError(f"{text}: is a folder; expected a platform YAML file or one of "
                                  f"{', '.join(list_platforms())}")
    if not path.is_file():
        raise FileNotFoundError(2, "no such file", str(path))
    return path


def load_platform(path_or_name: str | Path) -> Platform:
    """Load, validate and build a platform from a bundled name (``"edge-rram"``) or a YAML path.

    Any problem raises :class:`HardwareConfigError` with one line ``<file>: <field.path>: <problem>;
    expected <what>``.
    """
    path = platform_path(path_or_name)
    spec = validate(PlatformFile, load_yaml(path, what="platform"), str(path))
    try:
        return build_platform(spec, source=str(path), base_dir=path.parent)
    except HardwareConfigError as exc:
        raise HardwareConfigError(f"{path}: {exc}") from None


#: (the technology's value key, the other arguments) -> Memory: see :func:`_memory`.
_MEMORIES = Memo(16384)


def _value_key(tech) -> str:
    """A digest of technology ``tech``'s value (every field, as its repr gives it), computed once per
    technology object and kept on it (technologies are frozen): equal technologies read from one file
    twice share memoised memories, and no key outlives the values it stands for."""
    known = tech.__dict__.get("_value_key")
    if known is None:
        known = tech.__dict__["_value_key"] = hashlib.sha256(repr(tech).encode()).hexdigest()
    return known


def _memory(name: str, tech, capacity: int, word_bits: int, banks: int, ports: int, node: float,
            clock: float | None, backed_by: str | None, is_buffer: bool, double_buffered: bool,
            channels: int | None) -> Memory:
    """``Memory.from_technology`` of these arguments, derived once per distinct arguments (technologies are
    loaded once; a sweep builds the same few memories thousands of times) and returned as a fresh copy
    each time (a platform may set fields of its own memories)."""
    key = (_value_key(tech), name, capacity, word_bits, banks, ports, node, clock, backed_by, is_buffer,
           double_buffered, channels)
    known = _MEMORIES.get(key)
    if known is None:
        known = _MEMORIES[key] = Memory.from_technology(
            name, tech, capacity, word_bits=word_bits, banks=banks, ports=ports, node_m=node, clock_hz=clock,
            backed_by=backed_by, is_buffer=is_buffer, double_buffered=double_buffered, channels=channels)
    return fresh_copy(known)


def build_platform(spec: PlatformFile, source: str = "", base_dir: Path | None = None) -> Platform:
    """Build a :class:`Platform` from a validated :class:`PlatformFile` (errors carry no file name)."""
    memories = {}
    for name, m in spec.memories.items():
        try:
            tech = load_technology(m.technology, relative_to=base_dir)
        except HardwareConfigError as exc:
            raise HardwareConfigError(f"memories.{name}.technology: {exc}") from None
        if m.channels is not None and not tech.is_dram:
            raise HardwareConfigError(f"memories.{name}.channels: set on the on-chip technology "
                                      f"{tech.name!r}; expected channels only for DRAM")
        if m.clock is not None and tech.is_dram:
            raise HardwareConfigError(f"memories.{name}.clock: set on the DRAM technology {tech.name!r}; "
                                      f"expected no clock (DRAM bandwidth comes from its data rate)")
        memories[name] = _memory(name, tech, int(m.capacity), m.word_bits, m.banks, m.ports, spec.node, m.clock,
                                 m.backed_by, m.is_buffer, m.double_buffered, m.channels)
        memories[name].power_state = _check_power_state(name, m.power_state, tech, memories[name])
    points = {name: OperatingPoint(name, op.voltage, op.frequency, spec.nominal_voltage,
                                   spec.leakage_voltage_exponent)
              for name, op in spec.operating_points.items()}
    if spec.default_operating_point not in points:
        raise HardwareConfigError(f"default_operating_point: got {spec.default_operating_point!r}; "
                                  f"expected one of {', '.join(points)}")
    clock = points[spec.default_operating_point].frequency_Hz
    compute = {}
    for name, u in spec.compute.items():
        compute[name] = build_unit(name, u, clock, spec.node)
        if u.kind == "cim_crossbar":
            if name in memories or array_name(name) in memories:
                raise HardwareConfigError(f"compute.{name}: its cells are the memory {array_name(name)!r}, "
                                          "which the memories already name; expected distinct names")
            memories[array_name(name)] = compute[name].cells(name, relative_to=base_dir)
    links = [Link(li.src, li.dst, li.width_bits, li.clock, li.energy_per_bit) for li in spec.links]
    pl = spec.placement
    placement = PlacementPolicy(roles={r: list(ms) for r, ms in pl.roles.items()},
                                on_overflow=pl.on_overflow, adapters=pl.adapters,
                                power_gating=pl.power_gating)
    return Platform(name=spec.name, memories=memories, mac_array=None, vector_unit=None, compute=compute,
                    assignment=[(a.match, a.unit) for a in spec.assignment],
                    links=links, placement=placement, operating_points=points,
                    default_operating_point=spec.default_operating_point,
                    prefetch_depth=spec.prefetch_depth, source=source, description=spec.description,
                    node_m=spec.node, assumptions=list(spec.assumptions),
                    voltage_domain=None if spec.voltage_domain is None else {
                        "memories": list(spec.voltage_domain.memories), "units": list(spec.voltage_domain.units)})


def _check_power_state(name: str, state: str | None, tech, memory: Memory) -> str | None:
    """A memory's idle power state must be one its technology has: power-down is DRAM's; gating (data
    lost) is for on-chip arrays; retention is NVM powered off, DRAM self-refresh, or SRAM at its
    data-retention voltage (when the technology file gives one). Whether a gated array holds data the
    next request needs is the placement's business (simulator.cost.power_states.check_placement)."""
    allowed = {"dram": ("always_on", "retain_when_idle", "power_down_when_idle"),
               "nvm": ("always_on", "gate_when_idle", "retain_when_idle"),
               "sram": ("always_on", "gate_when_idle") + (
                   ("retain_when_idle",) if memory.retention_leakage_W is not None else ())}[tech.kind]
    if state is not None and state not in allowed:
        why = (" (the technology gives no retention_voltage)" if tech.kind == "sram"
               and state == "retain_when_idle" else "")
        raise HardwareConfigError(f"memories.{name}.power_state: got {state!r} for {tech.kind} technology "
                                  f"{tech.name!r}{why}; expected one of {', '.join(allowed)}")
    return state
