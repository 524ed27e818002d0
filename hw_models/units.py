"""Quantities with units at the YAML edge: ``"2 MiB"``, ``"6.18 pJ"``, ``"1 ns"``, ``"200 MHz"`` -> SI floats.

Inside hetsim every number is SI (bytes, J, s, W, m², Hz, V); this module is the one place that turns a
written quantity into SI and back into a readable string for reports. ``KB``/``MB``/``GB`` are decimal
(10³, 10⁶, 10⁹ bytes) and ``KiB``/``MiB``/``GiB`` binary (2¹⁰, 2²⁰, 2³⁰), as IEC 80000-13 defines
them.
"""
from __future__ import annotations

import math
import re
from decimal import Decimal

from hw_models.yamlio import shorten

_PREFIX = {"p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "K": 1e3,
           "M": 1e6, "G": 1e9, "T": 1e12, "f": 1e-15}

#: dimension -> (unit symbol -> SI multiplier). The example is shown in error messages.
UNITS: dict[str, dict[str, float]] = {
    "bytes": {"B": 1.0, "KB": 1e3, "kB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 2.0**10, "MiB": 2.0**20,
              "GiB": 2.0**30, "b": 1 / 8, "bit": 1 / 8, "Kib": 2.0**10 / 8, "Mib": 2.0**20 / 8,
              "Gib": 2.0**30 / 8, "Gb": 1e9 / 8, "Mb": 1e6 / 8},
    "energy": {p + "J": f for p, f in _PREFIX.items() if p in ("f", "p", "n", "u", "µ", "m", "")},
    "time": {**{p + "s": f for p, f in _PREFIX.items() if p in ("p", "n", "u", "µ", "m", "")},
             "min": 60.0, "h": 3600.0, "day": 86400.0, "days": 86400.0, "year": 3.15576e7,
             "years": 3.15576e7},
    "power": {p + "W": f for p, f in _PREFIX.items() if p in ("p", "n", "u", "µ", "m", "")},
    "area": {"m2": 1.0, "m²": 1.0, "mm2": 1e-6, "mm²": 1e-6, "um2": 1e-12, "µm2": 1e-12, "µm²": 1e-12,
             "um²": 1e-12},
    "frequency": {"Hz": 1.0, "kHz": 1e3, "MHz": 1e6, "GHz": 1e9},
    "voltage": {"V": 1.0, "mV": 1e-3},
    "current": {"A": 1.0, "mA": 1e-3, "uA": 1e-6, "µA": 1e-6},
    "length": {"m": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "nm": 1e-9},
    "rate": {"T/s": 1.0, "MT/s": 1e6, "GT/s": 1e9},
    "power_density": {"nW/um2": 1e-9 / 1e-12, "uW/um2": 1e-6 / 1e-12, "W/m2": 1.0, "mW/mm2": 1e-3 / 1e-6},
}

EXAMPLES = {"bytes": "'2 MiB'", "energy": "'6.18 pJ'", "time": "'1 ns'", "power": "'12 mW'",
            "area": "'0.5 mm2'", "frequency": "'200 MHz'", "voltage": "'0.8 V'", "current": "'27 mA'", "length": "'22 nm'",
            "rate": "'3200 MT/s'", "power_density": "'4 nW/um2'"}

_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\s\d].*?)?\s*$")


class UnitError(ValueError):
    """A written quantity could not be read; the message ends with ``expected <what>``."""


def parse_quantity(text: object, dimension: str) -> float:
    """Parse ``text`` such as ``"6.18 pJ"`` as a quantity of ``dimension`` and return it in SI units.

    Raises :class:`UnitError` for a bare number, an unknown unit or a unit of another dimension.
    """
    units = UNITS[dimension]
    wanted = f"{dimension.replace('_', ' ')} with a unit, such as {EXAMPLES[dimension]}"
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise UnitError(f"got {shorten(text)}; expected {wanted}")
    if isinstance(text, (int, float)):
        raise UnitError(f"got the bare number {shorten(text)}; expected {wanted}")
    match = _QUANTITY.match(text)
    if not match:
        raise UnitError(f"cannot read {shorten(text)}; expected {wanted}")
    number, unit = match.group(1), (match.group(2) or "").strip()
    if not unit:
        raise UnitError(f"{shorten(text)} has no unit; expected {wanted}")
    if unit not in units:
        raise UnitError(f"unknown {dimension} unit {shorten(unit)} in {shorten(text)}; expected one of "
                        f"{', '.join(sorted(units))}")
    # Decimal arithmetic, so "1.13 pJ" becomes the float nearest 1.13e-12 (the cited figure, exactly)
    value = float(Decimal(number) * Decimal(repr(units[unit])))
    if not math.isfinite(value):
        raise UnitError(f"{shorten(text)} is not finite; expected a finite {wanted}")
    return value


def format_si(value: float, unit: str, scale: float, digits: int = 3) -> str:
    """Format an SI ``value`` in a report unit: ``format_si(6.18e-12, "pJ", 1e-12) == "6.18 pJ"``."""
    if math.isinf(value):
        return "inf"
    return f"{value / scale:.{digits}g} {unit}"
