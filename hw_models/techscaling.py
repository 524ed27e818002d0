"""CMOS technology-node scaling factors for energy, leakage power and area.

Source: A. Stillmaker and B. Baas, "Scaling equations for the accurate prediction of CMOS device
performance from 180 nm to 7 nm", Integration 58 (2017) 74-81, doi:10.1016/j.vlsi.2017.02.002, in the
form hwcomponents uses (``Accelergy-Project/hwcomponents``, ``hwcomponents/scaling/techscaling.py``):
area by Stillmaker & Baas's relative-area table (one profile, see :func:`area_factor`), energy by a
per-node quadratic in Vdd evaluated at both nodes, leakage like energy, piecewise-linear interpolation
between tabulated nodes, and outside 130-7 nm area scaled linearly and energy with the square root of the
node ratio (IRDS 2016/2017 trends, as hwcomponents does).

All factors are dimensionless multipliers: ``value_at_to = value_at_from * factor``.
"""
from __future__ import annotations

import math
from functools import lru_cache

#: Tabulated nodes (m), largest first.
NODES_M = (130e-9, 90e-9, 65e-9, 45e-9, 32e-9, 20e-9, 16e-9, 14e-9, 10e-9, 7e-9)

#: AREA[i][j]: area at node j divided by area at node i (Stillmaker & Baas, Table via hwcomponents).
AREA = (
    (1, 0.44, 0.23, 0.16, 0.072, 0.033, 0.03, 0.027, 0.016, 0.0092),
    (2.3, 1, 0.53, 0.35, 0.16, 0.075, 0.067, 0.061, 0.036, 0.021),
    (4.3, 1.9, 1, 0.66, 0.31, 0.14, 0.13, 0.12, 0.068, 0.039),
    (6.4, 2.8, 1.5, 1, 0.46, 0.21, 0.19, 0.17, 0.1, 0.059),
    (14, 6.1, 3.3, 2.2, 1, 0.46, 0.41, 0.38, 0.22, 0.13),
    (30, 13, 7.1, 4.7, 2.2, 1, 0.89, 0.82, 0.48, 0.28),
    (34, 15, 7.9, 5.3, 2.4, 1.1, 1, 0.91, 0.54, 0.31),
    (37, 16, 8.7, 5.8, 2.7, 1.2, 1.1, 1, 0.59, 0.34),
    (63, 28, 15, 9.8, 4.5, 2.1, 1.9, 1.7, 1, 0.58),
    (110, 48, 25, 17, 7.8, 3.6, 3.2, 2.9, 1.7, 1),
)

#: Per node (a, b, c): relative switching energy a·Vdd² + b·Vdd + c (Stillmaker & Baas fits).
ENERGY_POLY = (
    (7.171, -6.709, 2.904), (4.762, -4.781, 2.092), (3.755, -4.398, 1.975), (1.103, -0.362, 0.2767),
    (0.9559, -0.7823, 0.471), (0.373, -0.1582, 0.04104), (0.2958, -0.1241, 0.03024),
    (0.2363, -0.09675, 0.02239), (0.2068, -0.09311, 0.02375), (0.1776, -0.09097, 0.02447),
)

#: Supply voltage at which energy factors are evaluated when none is given (V), as in hwcomponents.
DEFAULT_VDD_V = 0.8


def _clamp(node_m: float) -> tuple[float, float]:
    """The node inside the table and the ratio of the real node to it (1 inside the table)."""
    lo, hi = NODES_M[-1], NODES_M[0]
    if node_m < lo:
        return lo, node_m / lo
    if node_m > hi:
        return hi, node_m / hi
    return node_m, 1.0


def _index(node_m: float) -> float:
    """Fractional index of ``node_m`` in :data:`NODES_M` (linear interpolation in node size)."""
    for i in range(len(NODES_M) - 1):
        big, small = NODES_M[i], NODES_M[i + 1]
        if small <= node_m <= big:
            return i + (big - node_m) / (big - small)
    return float(len(NODES_M) - 1)


def _check(node_m: float) -> None:
    if not (node_m > 0 and math.isfinite(node_m)):
        raise ValueError(f"technology node {node_m!r} m; expected a positive size such as 22e-9")


def _log_area(node_m: float) -> float:
    """log of the area at ``node_m`` relative to 130 nm, interpolated linearly in node size."""
    i = _index(node_m)
    i0 = math.floor(i)
    i1 = min(i0 + 1, len(NODES_M) - 1)
    frac = i - i0
    return math.log(AREA[0][i0]) * (1 - frac) + math.log(AREA[0][i1]) * frac


@lru_cache(maxsize=256)
def area_factor(to_node_m: float, from_node_m: float) -> float:
    """Multiplier taking an area at ``from_node_m`` to ``to_node_m`` (1.0 exactly when they are equal).

    Uses the table's first row (areas relative to 130 nm) as one area-per-node profile, so the factor is
    monotone and composes (a→b→c equals a→c). hwcomponents interpolates the pairwise table bilinearly,
    which is not monotone near equal nodes because the table's rows are not exactly reciprocal (e.g.
    130→90 nm 0.44 but 90→130 nm 2.3); ratios from the first row differ from other rows' entries by up
    to ~15 %.
    """
    _check(to_node_m), _check(from_node_m)
    if to_node_m == from_node_m:
        return 1.0
    f_node, f_out = _clamp(from_node_m)
    t_node, t_out = _clamp(to_node_m)
    return math.exp(_log_area(t_node) - _log_area(f_node)) * t_out / f_out


def _energy_poly(node_m: float, vdd_v: float) -> float:
    i = _index(node_m)
    i0 = math.floor(i)
    i1 = min(i0 + 1, len(NODES_M) - 1)
    frac = i - i0

    def poly(k: int) -> float:
        a, b, c = ENERGY_POLY[k]
        return a * vdd_v**2 + b * vdd_v + c

    return poly(i0) * (1 - frac) + poly(i1) * frac


@lru_cache(maxsize=256)
def energy_factor(to_node_m: float, from_node_m: float, vdd_v: float = DEFAULT_VDD_V) -> float:
    """Multiplier taking a switching energy at ``from_node_m`` to ``to_node_m`` at supply ``vdd_v`` (V)."""
    _check(to_node_m), _check(from_node_m)
    if to_node_m == from_node_m:
        return 1.0
    f_node, f_out = _clamp(max(from_node_m, 1e-9))
    t_node, t_out = _clamp(max(to_node_m, 1e-9))
    return _energy_poly(t_node, vdd_v) / _energy_poly(f_node, vdd_v) * math.sqrt(t_out / f_out)


def leakage_factor(to_node_m: float, from_node_m: float, vdd_v: float = DEFAULT_VDD_V) -> float:
    """Multiplier for leakage power between nodes; hwcomponents scales it like energy (same law)."""
    return energy_factor(to_node_m, from_node_m, vdd_v)
