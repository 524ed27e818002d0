"""A platform: memories, compute units, links, placement policy and DVFS operating points, checked whole.

Compute units are a named collection (``Platform.compute``: name -> unit, each a
:class:`hw_models.compute.ComputeUnit`); ``mac_array`` / ``vector_unit`` name the first unit of that
kind (None when there is none). ``assignment`` is the user's op -> unit mapping (``(match, unit)``
pairs; see :mod:`simulator.prepare.assign`). A compute-in-memory unit's cells are the memory
``<unit>.array`` (added by the loader; it needs no link: its weights are computed on in place).

:class:`Platform` can be built directly from objects (tests and sweeps do) or from YAML by
:func:`hw_models.loader.load_platform`. Construction checks everything that spans more than one field:
names that must exist, buffers that may not be homes, and that every memory can reach the compute units.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from typing import Any

from hw_models.compute import ComputeUnit, MacArray, VectorUnit
from hw_models.dvfs import OperatingPoint
from hw_models.errors import HardwareConfigError
from hw_models.link import COMPUTE, Link
from hw_models.memory import Memory
from hw_models.placement_policy import ADAPTER_MODES, ON_OVERFLOW, ROLES, PlacementPolicy


@dataclass(eq=False)
class Platform:
    """A whole accelerator. ``memories`` keep their YAML order; ``source`` is the file it came from."""
    name: str
    memories: dict[str, Memory]
    mac_array: MacArray | None
    vector_unit: VectorUnit | None
    links: list[Link]
    placement: PlacementPolicy
    operating_points: dict[str, OperatingPoint]
    default_operating_point: str
    prefetch_depth: int = 0
    source: str = ""
    description: str = ""
    node_m: float = 22e-9
    assumptions: list[str] = field(default_factory=list)
    #: the compute units by name, in YAML order (default: ``vector_unit`` and ``mac_array`` given above)
    compute: dict[str, Any] = field(default_factory=dict)
    #: the user's op -> unit mapping: (match, unit name) pairs, first match wins
    assignment: list[tuple[str, str]] = field(default_factory=list)
    #: what scales with the operating point: {"memories": [...], "units": [...]}; None = every compute
    #: unit and no memory. In the domain, energies scale by (V/Vnom)², leakage by the leakage law and
    #: clocks (a memory's latency and bandwidth too) with the frequency; outside, nominal figures.
    voltage_domain: dict[str, list[str]] | None = None

    def __post_init__(self) -> None:
        if not self.compute:
            self.compute = {n: u for n, u in (("vector_unit", self.vector_unit), ("mac_array", self.mac_array))
                            if u is not None}
        else:
            self.compute = dict(self.compute)
        self.mac_array = self.first_unit("mac_array")
        self.vector_unit = self.first_unit("vector_unit")
        check_platform(self)
        self._links_by_ends: dict[frozenset[str], Link] = {}
        for link in self.links:  # the first link listed between two endpoints wins
            self._links_by_ends.setdefault(frozenset((link.src, link.dst)), link)

    def in_voltage_domain(self, name: str) -> bool:
        """True when memory or compute unit ``name`` scales with the operating point (``voltage_domain``)."""
        if self.voltage_domain is None:
            return name in self.compute
        return name in self.voltage_domain.get("memories", ()) or name in self.voltage_domain.get("units", ())

    def first_unit(self, kind: str) -> Any:
        """The first compute unit of ``kind`` (YAML order), or None."""
        return next((u for u in self.compute.values() if u.kind == kind), None)

    def units_of(self, kind: str) -> list[str]:
        """Names of the compute units of ``kind``, in YAML order."""
        return [n for n, u in self.compute.items() if u.kind == kind]

    @property
    def area_m2(self) -> float:
        """On-chip area (m²): on-chip memories and every compute unit (DRAM is off chip: 0)."""
        return sum(m.area_m2 for m in self.memories.values()) + sum(u.area_m2 for u in self.compute.values())

    @property
    def leakage_W(self) -> float:
        """Idle power of everything powered on, at nominal voltage (W), DRAM background included."""
        return (sum(m.leakage_W for m in self.memories.values())
                + sum(u.leakage_W for u in self.compute.values()))

    @property
    def operating_point(self) -> OperatingPoint:
        """The default operating point."""
        return self.operating_points[self.default_operating_point]

    @property
    def buffers(self) -> list[str]:
        """Names of the on-chip staging buffers (``is_buffer``), in YAML order."""
        return [name for name, m in self.memories.items() if m.is_buffer]

    def link_between(self, a: str, b: str) -> Link | None:
        """The link joining ``a`` and ``b`` (memory names or ``"compute"``), either direction, or None."""
        return self._links_by_ends.get(frozenset((a, b)))


def _fail(path: str, problem: str) -> None:
    raise HardwareConfigError(f"{path}: {problem}")


#: The members ``isinstance(x, ComputeUnit)`` checks (every one must exist on ``x``), listed once: the runtime
#: protocol check lists them again on every call (~0.1 ms each; a sweep builds thousands of platforms).
UNIT_MEMBERS: tuple[str, ...] = tuple(sorted(set(ComputeUnit.__annotations__) | {
    n for n, v in vars(ComputeUnit).items() if callable(v) and not n.startswith("_")}))


def is_compute_unit(unit: Any) -> bool:
    """``isinstance(unit, ComputeUnit)``: every member of the protocol exists on ``unit``."""
    return all(hasattr(unit, n) for n in UNIT_MEMBERS)


def check_platform(p: Platform) -> None:
    """Raise :class:`HardwareConfigError` (path without file) for any inconsistency between fields."""
    if not p.compute:
        _fail("compute", "empty; expected at least one compute unit")
    for name, unit in p.compute.items():
        if not is_compute_unit(unit):
            _fail(f"compute.{name}", f"got {type(unit).__name__}; expected a compute unit (kind, actions, "
                  "can_run, work, absorb, action_energy_J, leakage_at)")
        if name in p.memories or name == COMPUTE:
            _fail(f"compute.{name}", "names a memory too; expected unit names distinct from memory names")
    for i, (match, unit) in enumerate(p.assignment):
        if unit not in p.compute:
            _fail(f"assignment.{i}.unit", f"unknown unit {unit!r}; expected one of {', '.join(p.compute)}")
    for kind, pool in (("memories", p.memories), ("units", p.compute)):
        for i, name in enumerate((p.voltage_domain or {}).get(kind, ())):
            if name not in pool:
                _fail(f"voltage_domain.{kind}.{i}", f"unknown {kind[:-1] if kind == 'units' else 'memory'} "
                      f"{name!r}; expected one of {', '.join(pool)}")
            if kind == "memories" and pool[name].is_dram:
                _fail(f"voltage_domain.memories.{i}", f"{name!r} is off-chip DRAM; expected on-chip memories "
                      "(DRAM keeps its own supply)")
    in_unit = {m for m, mem in p.memories.items() if getattr(mem, "in_unit", None)}
    names = set(p.memories)
    for name, mem in p.memories.items():
        if mem.name != name:
            _fail(f"memories.{name}", f"memory object is named {mem.name!r}; expected {name!r}")
        if mem.backed_by is not None and (mem.backed_by not in names or mem.backed_by == name):
            _fail(f"memories.{name}.backed_by", f"got {mem.backed_by!r}; expected another memory of this "
                  f"platform ({', '.join(sorted(names - {name}))})")
    endpoints = names | {COMPUTE}
    for i, link in enumerate(p.links):
        for end in ("src", "dst"):
            if getattr(link, end) not in endpoints:
                _fail(f"links.{i}.{end}", f"unknown endpoint {getattr(link, end)!r}; expected 'compute' or "
                      f"one of {', '.join(sorted(names))}")
        if link.src == link.dst:
            _fail(f"links.{i}", f"links {link.src!r} to itself; expected two different endpoints")
    reachable = {COMPUTE}
    grew = True
    while grew:
        grew = False
        for link in p.links:
            if (link.src in reachable) != (link.dst in reachable):
                reachable |= {link.src, link.dst}
                grew = True
    for name in p.memories:
        if name not in reachable and name not in in_unit:
            _fail(f"memories.{name}", "has no link (direct or through other memories) to compute; expected "
                  f"a links entry joining {name!r} to 'compute' or to a memory that reaches it")
    for name, m in p.memories.items():
        if m.double_buffered and not m.is_buffer:
            _fail(f"memories.{name}.double_buffered", "set on a home memory; expected double_buffered only "
                  "on a staging buffer (is_buffer: true)")
    pol = p.placement
    for role, homes in pol.roles.items():
        if role not in ROLES:
            _fail(f"placement.roles.{role}", f"unknown tensor role; expected one of {', '.join(ROLES)}")
        for j, home in enumerate(homes):
            if home not in names:
                _fail(f"placement.roles.{role}.{j}", f"unknown memory {home!r}; expected one of "
                      f"{', '.join(sorted(names))}")
            if p.memories[home].is_buffer:
                _fail(f"placement.roles.{role}.{j}", f"{home!r} is a staging buffer (is_buffer); expected a "
                      "home memory")
    if pol.on_overflow not in ON_OVERFLOW:
        _fail("placement.on_overflow", f"got {pol.on_overflow!r}; expected one of {', '.join(ON_OVERFLOW)}")
    if pol.adapters not in ADAPTER_MODES:
        _fail("placement.adapters", f"got {pol.adapters!r}; expected one of {', '.join(ADAPTER_MODES)}")
    if p.default_operating_point not in p.operating_points:
        _fail("default_operating_point", f"got {p.default_operating_point!r}; expected one of "
              f"{', '.join(p.operating_points) or '(none defined)'}")
    if not (isinstance(p.prefetch_depth, int) and p.prefetch_depth >= 0):
        _fail("prefetch_depth", f"got {p.prefetch_depth!r}; expected an integer >= 0")
