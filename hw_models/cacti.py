"""CACTI 7's SRAM characterisation, committed as data, and its interpolation.

The table ``hw_models/data/cacti/sram.csv`` holds CACTI 7 runs (``benchmarks/cacti_sram.py`` regenerates it;
``hw_models/data/cacti/README.md`` says how CACTI was built and configured) over capacity (bytes), banks and
word width (bits) for two cell/periphery flavours, ``itrs-hp`` and ``itrs-lstp``, at CACTI 7's nodes (22, 32,
45, 65, 90 nm; a full grid at the reference node, 22 nm, a coarser one at the others). Each row gives the read
and write energy per access (J), the leakage of the whole array (W), its area (m²), the access time and the
random cycle time (s).

:func:`array_figures` interpolates the table: multilinear in (log2 capacity, log2 banks, log2 word) on the
logarithm of each figure, so between two grid points a figure follows the power law through them, lies
between them and reproduces every committed point exactly. Outside the grid it extrapolates with the slope
of the edge cell. Grid points CACTI cannot build (fewer than 64 words per bank) are filled at load time by
extrapolating along capacity from the two smallest buildable capacities at the same banks and word.

Nodes: at a table node the figures are the reference node's interpolated figures times the node's ratio to
them, the ratio interpolated the same way on the node's own grid (:class:`NodeTables`). On a grid point of
the node this is the node's committed figure; where the node's grid is as fine as the reference's it *is*
the multilinear interpolation of the node's own figures; on a coarser grid it keeps the reference node's
fine structure (CACTI's organisation changes with capacity and banks) and interpolates only the node
scaling. Between two table nodes each figure is interpolated linearly in log(figure) over log(node) (the
power law through the two nodes); outside the nodes' range :func:`array_figures` returns the nearest table
node's figures and the caller scales them (``hw_models/memory.py``, Stillmaker & Baas).
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

    def is_grid_point(self, capacity_bytes: float, banks: float, word_bits: float) -> bool:
        """Whether the geometry is one of the grid's points (measured or filled)."""
        return (capacity_bytes in self.capacities and banks in self.banks and word_bits in self.words)

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


@dataclass(frozen=True)
class NodeTables:
    """One flavour at every node of a table: ``tables[node_m]`` (ascending nodes). ``reference`` is the node
    whose grid is the finest (the smallest node, 22 nm). At another node the figures are the reference's
    times ``ratios[node_m]``, the node's committed figures over the reference's at the node's grid points
    (both interpolated as :meth:`ArrayTable.point` does), so a node's grid point returns its own figure."""
    flavour: str
    tables: dict
    ratios: dict

    @property
    def nodes_m(self) -> tuple[float, ...]:
        """The table's nodes (m), ascending."""
        return tuple(sorted(self.tables))

    @property
    def reference(self) -> ArrayTable:
        """The table at the reference (smallest) node."""
        return self.tables[self.nodes_m[0]]

    def clamp(self, node_m: float) -> float:
        """``node_m`` if it lies within the table's nodes, else the nearest table node (m). Within 1e-6
        relative of a table node: that node exactly."""
        nodes = self.nodes_m
        for n in nodes:
            if abs(node_m - n) <= 1e-6 * n:
                return n
        return min(max(node_m, nodes[0]), nodes[-1])

    def at_node(self, node_m: float, capacity_bytes: float, banks: float, word_bits: float) -> dict[str, float]:
        """The figures (SI) at a table node ``node_m``."""
        ref = self.reference.point(capacity_bytes, banks, word_bits)
        if node_m == self.nodes_m[0]:
            return ref
        table = self.tables[node_m]
        if table.is_grid_point(capacity_bytes, banks, word_bits):   # the node's own committed figures
            return table.point(capacity_bytes, banks, word_bits)
        ratio = self.ratios[node_m].point(capacity_bytes, banks, word_bits)
        return {f: ref[f] * ratio[f] for f in FIGURES}

    def point(self, node_m: float, capacity_bytes: float, banks: float, word_bits: float) -> dict[str, float]:
        """The figures (SI) at ``node_m`` (clamped to the table's nodes, see :meth:`clamp`): a table node's
        figures, or between two nodes the power law in the node through theirs."""
        node = self.clamp(node_m)
        nodes = self.nodes_m
        if node in self.tables:
            return self.at_node(node, capacity_bytes, banks, word_bits)
        hi = next(i for i, n in enumerate(nodes) if n > node)
        lo_n, hi_n = nodes[hi - 1], nodes[hi]
        t = (math.log(node) - math.log(lo_n)) / (math.log(hi_n) - math.log(lo_n))
        a = self.at_node(lo_n, capacity_bytes, banks, word_bits)
        b = self.at_node(hi_n, capacity_bytes, banks, word_bits)
        return {f: math.exp((1 - t) * math.log(a[f]) + t * math.log(b[f])) for f in FIGURES}


def _array_table(path: Path, flavour: str, node_nm: float, rows: list[dict], source: str) -> ArrayTable:
    caps = np.array(sorted({int(r["capacity_bytes"]) for r in rows}), dtype=float)
    banks = np.array(sorted({int(r["banks"]) for r in rows}), dtype=float)
    words = np.array(sorted({int(r["word_bits"]) for r in rows}), dtype=float)
    values = np.full((len(caps), len(banks), len(words), len(FIGURES)), np.nan)
    measured = np.zeros(values.shape[:3], dtype=bool)
    for r in rows:
        i = int(np.searchsorted(caps, int(r["capacity_bytes"])))
        j = int(np.searchsorted(banks, int(r["banks"])))
        k = int(np.searchsorted(words, int(r["word_bits"])))
        values[i, j, k] = [float(r[f]) for f in FIGURES]
        measured[i, j, k] = True
    if np.any(values[measured] <= 0):
        raise HardwareConfigError(f"{path}: flavour {flavour}, {node_nm:g} nm: a figure <= 0; expected positive "
                                  f"figures")
    _fill_unbuildable(values, measured, caps)
    return ArrayTable(flavour=flavour, node_m=node_nm * 1e-9, capacities=caps, banks=banks, words=words,
                      values=values, measured=measured, source=source)


@lru_cache(maxsize=None)
def load_nodes(name: str = "sram") -> dict[str, NodeTables]:
    """The CACTI table ``hw_models/data/cacti/<name>.csv`` by flavour, every node."""
    path = CACTI_DIR / f"{name}.csv"
    if not path.is_file():
        raise HardwareConfigError(f"cacti.table: no table {name!r} in {CACTI_DIR}; expected e.g. 'sram'")
    text = path.read_text().splitlines()
    lines = [ln for ln in text if ln and not ln.startswith("#")]
    header = [ln[2:] for ln in text if ln.startswith("# ")]
    source = f"hw_models/data/cacti/{name}.csv: " + " ".join(header)
    rows = list(csv.DictReader(lines))
    out = {}
    for flavour in sorted({r["flavour"] for r in rows}):
        mine = [r for r in rows if r["flavour"] == flavour]
        tables = {}
        for node_nm in sorted({float(r["node_nm"]) for r in mine}):
            t = _array_table(path, flavour, node_nm, [r for r in mine if float(r["node_nm"]) == node_nm], source)
            tables[t.node_m] = t
        ref = tables[min(tables)]
        ratios = {}
        for node_m, t in tables.items():
            if t is ref:
                continue
            vals = np.empty_like(t.values)
            for i, c in enumerate(t.capacities):
                for j, b in enumerate(t.banks):
                    for k, w in enumerate(t.words):
                        r = ref.point(c, b, w)
                        vals[i, j, k] = t.values[i, j, k] / np.array([r[f] for f in FIGURES])
            ratios[node_m] = ArrayTable(flavour=flavour, node_m=node_m, capacities=t.capacities, banks=t.banks,
                                        words=t.words, values=vals, measured=t.measured,
                                        source=f"{source} (ratio to {ref.node_m * 1e9:g} nm)")
        out[flavour] = NodeTables(flavour=flavour, tables=tables, ratios=ratios)
    return out


def load_table(name: str = "sram", node_m: float | None = None) -> dict[str, ArrayTable]:
    """The CACTI table ``hw_models/data/cacti/<name>.csv`` by flavour at one of its nodes (``node_m``, m;
    default the reference node, 22 nm)."""
    out = {}
    for flavour, nt in load_nodes(name).items():
        node = nt.nodes_m[0] if node_m is None else nt.clamp(node_m)
        if node not in nt.tables:
            raise HardwareConfigError(f"cacti.table: {name!r} has no rows at {node_m * 1e9:g} nm; expected one "
                                      f"of {', '.join(f'{n * 1e9:g}' for n in nt.nodes_m)} nm")
        out[flavour] = nt.tables[node]
    return out


def table_node(flavour: str, node_m: float | None, table: str = "sram") -> float:
    """The node (m) whose figures :func:`array_figures` returns for ``node_m``: ``node_m`` itself within the
    table's nodes, else the nearest table node (the caller scales from it); None: the reference node."""
    nt = _flavour(flavour, table)
    return nt.nodes_m[0] if node_m is None else nt.clamp(node_m)


def _flavour(flavour: str, table: str) -> NodeTables:
    tables = load_nodes(table)
    if flavour not in tables:
        raise HardwareConfigError(f"cacti.flavour: got {flavour!r}; expected one of {', '.join(sorted(tables))}")
    return tables[flavour]


def array_figures(flavour: str, capacity_bytes: float, banks: float, word_bits: float,
                  table: str = "sram", node_m: float | None = None) -> dict[str, float]:
    """CACTI's figures (SI units) for one array at node ``node_m`` (m; None: the reference node, 22 nm;
    outside the table's nodes: the nearest node's, :func:`table_node`); see :class:`NodeTables`.
    A pure function of its arguments and the committed table (loaded once): memoised, each call gets its
    own copy of the figures (a sweep builds the same few arrays thousands of times)."""
    return dict(_array_figures(flavour, capacity_bytes, banks, word_bits, table, node_m))


@lru_cache(maxsize=65536)
def _array_figures(flavour: str, capacity_bytes: float, banks: float, word_bits: float,
                   table: str, node_m: float | None = None) -> dict[str, float]:
    nt = _flavour(flavour, table)
    if node_m is None:
        return nt.reference.point(capacity_bytes, banks, word_bits)
    return nt.point(node_m, capacity_bytes, banks, word_bits)
