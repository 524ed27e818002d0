"""CACTI 7's SRAM characterisation, committed as data, and its interpolation.

The table ``hw_models/data/cacti/sram.csv`` holds CACTI 7 runs (``benchmarks/cacti_sram.py`` regenerates it;
``hw_models/data/cacti/README.md`` says how CACTI was built and configured) over capacity (bytes), banks and
word width (bits) for two cell/periphery flavours, ``itrs-hp`` and ``itrs-lstp``, at 22 nm. Each row gives
the read and write energy per access (J), the leakage of the whole array (W), its area (m²), the access time
and the random cycle time (s).

:func:`array_figures` interpolates the table: multilinear in (log2 capacity, log2 banks, log2 word) on the
logarithm of each figure, so between two grid points a figure follows the power law through them, lies
between them and reproduces every committed point exactly. Outside the grid it extrapolates with the slope
of the edge cell. Grid points CACTI cannot build (fewer than 64 words per bank) are filled at load time by
extrapolating along capacity from the two smallest buildable capacities at the same banks and word.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from hw_models.errors import HardwareConfigError

CACTI_DIR = Path(__file__).parent / "data" / "cacti"

#: The figures of a table row, in the order of :attr:`ArrayTable.values`' last axis.
FIGURES = ("read_energy_J", "write_energy_J", "leakage_W", "area_m2", "access_time_s", "cycle_time_s")

#: The cell / periphery flavours a table holds.
FLAVOURS = ("itrs-hp", "itrs-lstp")


@dataclass(frozen=True)
class ArrayTable:
    """One flavour at one node: ``values[i, j, k, f]`` is figure ``FIGURES[f]`` (SI) at capacity
    ``capacities[i]`` (bytes), ``banks[j]`` and ``words[k]`` (bits); ``measured[i, j, k]`` is False where
    CACTI could not build the array and the value was extrapolated."""
    flavour: str
    node_m: float
    capacities: np.ndarray
    banks: np.ndarray
    words: np.ndarray
    values: np.ndarray
    measured: np.ndarray
    source: str
    log_values: np.ndarray = None  # log of values, computed once

    def __post_init__(self):
        object.__setattr__(self, "log_values", np.log(self.values))
        object.__setattr__(self, "_axes", (np.log2(self.capacities), np.log2(self.banks), np.log2(self.words)))

    def point(self, capacity_bytes: float, banks: float, word_bits: float) -> dict[str, float]:
        """The figures (SI) of an array of ``capacity_bytes`` bytes, ``banks`` banks and ``word_bits``-bit
        words, interpolated (see the module docstring)."""
        coords = (math.log2(capacity_bytes), math.log2(banks), math.log2(word_bits))
        axes, logv = self._axes, self.log_values
        idx, wts = [], []
        for x, ax in zip(coords, axes):
            if len(ax) == 1:
                idx.append((0, 0))
                wts.append(0.0)
                continue
            i = int(np.clip(np.searchsorted(ax, x, side="right") - 1, 0, len(ax) - 2))
            idx.append((i, i + 1))
            wts.append((x - ax[i]) / (ax[i + 1] - ax[i]))  # outside [0, 1]: extrapolation
        if all(w in (0.0, 1.0) for w in wts):  # a grid point: the committed figures, exactly
            i, j, k = (ix[int(w)] for ix, w in zip(idx, wts))
            return self.grid_point(i, j, k)
        out = np.zeros(len(FIGURES))
        for a in (0, 1):
            for b in (0, 1):
                for c in (0, 1):
                    w = ((wts[0] if a else 1 - wts[0]) * (wts[1] if b else 1 - wts[1])
                         * (wts[2] if c else 1 - wts[2]))
                    if w != 0.0:
                        out += w * logv[idx[0][a], idx[1][b], idx[2][c]]
        return dict(zip(FIGURES, np.exp(out).tolist()))

    def grid_point(self, i: int, j: int, k: int) -> dict[str, float]:
        """The committed figures at grid indices (capacity ``i``, banks ``j``, word ``k``)."""
        return dict(zip(FIGURES, self.values[i, j, k].tolist()))


def _fill_unbuildable(values: np.ndarray, measured: np.ndarray, caps: np.ndarray) -> None:
    """Fill, in place, the grid points CACTI could not build (too small for the bank count) by extending
    the log-log line through the two smallest measured capacities at the same banks and word."""
    lc = np.log2(caps)
    for j in range(values.shape[1]):
        for k in range(values.shape[2]):
            ok = np.nonzero(measured[:, j, k])[0]
            if len(ok) == len(caps):
                continue
            if len(ok) < 2:
                raise HardwareConfigError(f"CACTI table: fewer than two buildable capacities at bank index {j}, "
                                          f"word index {k}; expected at least two to extrapolate from")
            i0, i1 = ok[0], ok[1]
            slope = (np.log(values[i1, j, k]) - np.log(values[i0, j, k])) / (lc[i1] - lc[i0])
            for i in range(len(caps)):
                if not measured[i, j, k]:
                    values[i, j, k] = np.exp(np.log(values[i0, j, k]) + slope * (lc[i] - lc[i0]))


@lru_cache(maxsize=None)
def load_table(name: str = "sram") -> dict[str, ArrayTable]:
    """The CACTI table ``hw_models/data/cacti/<name>.csv`` by flavour."""
    path = CACTI_DIR / f"{name}.csv"
    if not path.is_file():
        raise HardwareConfigError(f"cacti.table: no table {name!r} in {CACTI_DIR}; expected e.g. 'sram'")
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    header = [ln[2:] for ln in path.read_text().splitlines() if ln.startswith("# ")]
    rows = list(csv.DictReader(lines))
    out = {}
    for flavour in sorted({r["flavour"] for r in rows}):
        mine = [r for r in rows if r["flavour"] == flavour]
        nodes = {float(r["node_nm"]) for r in mine}
        if len(nodes) != 1:
            raise HardwareConfigError(f"{path}: flavour {flavour}: rows at nodes {sorted(nodes)}; expected one node")
        caps = np.array(sorted({int(r["capacity_bytes"]) for r in mine}), dtype=float)
        banks = np.array(sorted({int(r["banks"]) for r in mine}), dtype=float)
        words = np.array(sorted({int(r["word_bits"]) for r in mine}), dtype=float)
        values = np.full((len(caps), len(banks), len(words), len(FIGURES)), np.nan)
        measured = np.zeros(values.shape[:3], dtype=bool)
        for r in mine:
            i = int(np.searchsorted(caps, int(r["capacity_bytes"])))
            j = int(np.searchsorted(banks, int(r["banks"])))
            k = int(np.searchsorted(words, int(r["word_bits"])))
            values[i, j, k] = [float(r[f]) for f in FIGURES]
            measured[i, j, k] = True
        if np.any(values[measured] <= 0):
            raise HardwareConfigError(f"{path}: flavour {flavour}: a figure <= 0; expected positive figures")
        _fill_unbuildable(values, measured, caps)
        out[flavour] = ArrayTable(flavour=flavour, node_m=nodes.pop() * 1e-9, capacities=caps, banks=banks,
                                  words=words, values=values, measured=measured,
                                  source=f"hw_models/data/cacti/{name}.csv: " + " ".join(header))
    return out


def array_figures(flavour: str, capacity_bytes: float, banks: float, word_bits: float,
                  table: str = "sram") -> dict[str, float]:
    """CACTI's figures (SI units, at the table's node) for one array; see :class:`ArrayTable.point`.
    A pure function of its arguments and the committed table (loaded once): memoised, each call gets its
    own copy of the figures (a sweep builds the same few arrays thousands of times)."""
    return dict(_array_figures(flavour, capacity_bytes, banks, word_bits, table))


@lru_cache(maxsize=65536)
def _array_figures(flavour: str, capacity_bytes: float, banks: float, word_bits: float,
                   table: str) -> dict[str, float]:
    tables = load_table(table)
    if flavour not in tables:
        raise HardwareConfigError(f"cacti.flavour: got {flavour!r}; expected one of {', '.join(sorted(tables))}")
    return tables[flavour].point(capacity_bytes, banks, word_bits)
