"""The compute unit kinds a platform may hold: kind -> (YAML spec model, unit class).

Adding a kind of unit: write its class (satisfying :class:`hw_models.compute.ComputeUnit`, with a
``from_spec`` classmethod) and its spec model beside it, add one line here, and add the kind to
``hw_models.vocabulary.UNIT_KINDS`` (tests check the two agree). See docs/adding-hardware.md.
"""
from __future__ import annotations

import copy
from typing import Any

from hw_models.cim import CimCrossbar, CimCrossbarSpec
from hw_models.compute import MacArray, MacArraySpec, VectorUnit, VectorUnitSpec
from hw_models.errors import HardwareConfigError

#: kind -> (spec model of its YAML entry, unit class)
UNIT_TYPES: dict[str, tuple[type, Any]] = {
    "mac_array": (MacArraySpec, MacArray),
    "vector_unit": (VectorUnitSpec, VectorUnit),
    "cim_crossbar": (CimCrossbarSpec, CimCrossbar),
}
#: kind -> spec model (what hw_models.schema validates each ``compute:`` entry against)
UNIT_SPECS = {kind: spec for kind, (spec, _cls) in UNIT_TYPES.items()}


def build_unit(name: str, spec: Any, clock_hz: float, node_m: float) -> Any:
    """The unit named ``name`` of validated spec ``spec``; digital units run at the platform's nominal
    clock ``clock_hz`` (Hz), all at node ``node_m`` (m)."""
    try:
        cls = UNIT_TYPES[spec.kind][1]
    except KeyError:
        raise HardwareConfigError(f"compute.{name}.kind: got {spec.kind!r}; expected one of "
                                  f"{', '.join(UNIT_TYPES)}") from None
    key = (name, cls, repr(spec), clock_hz, node_m)
    known = _UNITS.get(key)
    if known is None:
        known = _UNITS[key] = cls.from_spec(spec, clock_hz=clock_hz, node_m=node_m)
        if len(_UNITS) > 4096:
            _UNITS.pop(next(iter(_UNITS)))
    return fresh_copy(known)


#: (name, class, the spec's repr, clock, node) -> unit: a unit is a pure function of these (and the bundled
#: data files, loaded once), so a sweep building thousands of platforms derives each distinct unit once.
_UNITS: dict[tuple, Any] = {}


def fresh_copy(obj: Any) -> Any:
    """A shallow copy of a dataclass instance (what ``copy.copy`` gives, without its generic protocol)."""
    if not hasattr(obj, "__dict__") or hasattr(type(obj), "__slots__"):
        return copy.copy(obj)
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    return new
