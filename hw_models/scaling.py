"""Scaling laws of on-chip memory arrays with capacity and word width.

Capacity: every figure follows a power law ``value = value_ref * (capacity / capacity_ref) ** exponent``.
The exponents are fitted (least squares in log-log space) to a published table stored as data
(``hw_models/data/scaling/<law>.yaml``; the bundled one is CACTI's SRAM table, where per-access energy grows
close to the square root of the capacity and leakage and area close to linearly). At the reference capacity
the factor is exactly 1, so a memory returns its cited figures.

Word width: per-access energy grows as ``(word_bits / word_bits_ref) ** word_width_exponent`` (default 1:
each extra bit is one more bit line and sense amplifier; an assumption stated in each technology file);
latency, leakage and area do not depend on the word width at a fixed capacity (same bits, same array).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hw_models.errors import HardwareConfigError
from hw_models.schema import CapacityLawFile, validate
from hw_models.yamlio import load_yaml

LAWS_DIR = Path(__file__).parent / "data" / "scaling"


def fit_exponent(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log(ys) against log(xs): the exponent of the best power law (dimensionless)."""
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


@dataclass(frozen=True)
class CapacityLaw:
    """Exponents (dimensionless) of ``value ~ capacity ** exponent`` for each figure of a memory array."""
    name: str
    read_energy: float
    write_energy: float
    latency: float
    leakage: float
    area: float
    source: str

    @staticmethod
    def factor(capacity_bytes: float, reference_bytes: float, exponent: float) -> float:
        """``(capacity / reference) ** exponent``; exactly 1.0 at the reference capacity."""
        if capacity_bytes == reference_bytes:
            return 1.0
        return (capacity_bytes / reference_bytes) ** exponent


def word_width_factor(word_bits: int, reference_bits: int, exponent: float) -> float:
    """Per-access energy multiplier for a word of ``word_bits`` instead of ``reference_bits``."""
    if word_bits == reference_bits:
        return 1.0
    return (word_bits / reference_bits) ** exponent


@lru_cache(maxsize=None)
def load_capacity_law(name: str) -> CapacityLaw:
    """The capacity law ``name`` fitted to its table in ``hw_models/data/scaling/<name>.yaml``."""
    path = LAWS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in LAWS_DIR.glob("*.yaml")))
        raise HardwareConfigError(f"scaling.capacity_law: unknown law {name!r}; expected one of {known}")
    spec = validate(CapacityLawFile, load_yaml(path, what="capacity law"), str(path))
    caps = [row.capacity for row in spec.table]

    def fit(field: str) -> float:
        return fit_exponent(caps, [max(getattr(row, field), 1e-300) for row in spec.table])

    return CapacityLaw(name=spec.name, read_energy=fit("read_energy"), write_energy=fit("write_energy"),
                       latency=spec.latency_exponent, leakage=fit("leakage"), area=fit("area"),
                       source=f"{spec.source}; latency: {spec.latency_source}")
