"""The ledger's columns (docs/interfaces.md, "Ledger") and the compact ledger: each request shape's rows
stored once, each request as (shape, start time).

A replayed run (:mod:`simulator.engine.replay`) serves every request of a shape (task, operating point, wake-up,
task switch) with the same timeline shifted to the request's start. :class:`CompactLedger` keeps exactly
that: the rows of one request of each shape with times relative to the request's start (s), one shape
index and one start time per request, and the idle intervals between requests with their leakage per
component. Its memory grows with the number of shapes (a few dozen) plus ~20 bytes per request and
~(8 + 8·C) bytes per idle gap, instead of ~2,700 ledger rows per request.

:meth:`CompactLedger.frame` materialises the ordinary ledger (docs/interfaces.md, "Ledger"; text
columns as pandas categoricals) for all requests or a few; :meth:`CompactLedger.weighted` gives the
distinct rows with their multiplicity, from which :class:`simulator.results.result.Result` computes every table
without materialising the ledger. Energies in J, bytes in bytes, times in s.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from hw_models.vocabulary import LEDGER_CATEGORIES

#: One row per cost event. Energies in J, bytes in bytes, times in s.
LEDGER_COLUMNS = ("request", "task", "op", "module", "layer", "component", "category",
                  "energy_J", "bytes", "start_s", "end_s")

#: The ledger's ``category`` values (the shared vocabulary's LEDGER_CATEGORIES).
CATEGORIES = LEDGER_CATEGORIES

#: One row per request. Times in s; ``latency_s = end_s - arrival_s`` (queueing included),
#: ``service_s = end_s - start_s``; ``energy_J`` is the request's share of the ledger (its rows).
REQUEST_COLUMNS = ("request", "task", "arrival_s", "start_s", "end_s", "latency_s", "switch",
                   "operating_point", "service_s", "energy_J")

#: Text columns of the ledger (stored as pandas categoricals, categories sorted).
TEXT_COLUMNS = ("task", "module", "layer", "component", "category")


def categorical(values: np.ndarray | Sequence[str]) -> pd.Categorical:
    """``values`` as a pandas Categorical whose categories are sorted (so sorting by the column sorts
    the text, as with plain strings)."""
    values = np.asarray(values, dtype=object)
    return pd.Categorical(values, categories=sorted(set(values.tolist())))


@dataclass
class Shape:
    """The ledger rows of one request of a shape (:data:`LEDGER_COLUMNS` except ``request``; times
    relative to the request's start, s), its service time ``duration_s`` (s) and energy (J)."""
    key: tuple
    rows: dict[str, np.ndarray]
    duration_s: float

    @property
    def n_rows(self) -> int:
        """Ledger rows of one request of this shape."""
        return len(self.rows["energy_J"])

    @property
    def energy_J(self) -> float:
        """All energy of one request of this shape (J)."""
        return float(self.rows["energy_J"].sum())

    @property
    def dynamic_J(self) -> float:
        """Energy of one request of this shape in the dynamic categories (J)."""
        from hw_models.vocabulary import DYNAMIC_CATEGORIES
        return float(self.rows["energy_J"][np.isin(self.rows["category"], DYNAMIC_CATEGORIES)].sum())


class CompactLedger:
    """A run's ledger as shapes, per-request (shape, start) and idle intervals (module docstring).

    ``shapes``: the :class:`Shape` list; ``request``/``shape_of``/``start_s``: per request (in service
    order) its id, shape index and start time (s); ``idle``: (g, 2) idle intervals [start, end] (s);
    ``idle_J``: (g, C) leakage of each of ``idle_components`` in each interval (J), booked under
    ``idle_categories`` (``leakage``, or ``refresh`` for a gated DRAM)."""

    def __init__(self, shapes: list[Shape], request: np.ndarray, shape_of: np.ndarray, start_s: np.ndarray,
                 idle: np.ndarray, idle_J: np.ndarray, idle_components: Sequence[str],
                 idle_categories: Sequence[str]):
        self.shapes = shapes
        self.request = np.asarray(request, dtype=np.int64)
        self.shape_of = np.asarray(shape_of, dtype=np.int32)
        self.start_s = np.asarray(start_s, dtype=float)
        self.idle = np.asarray(idle, dtype=float).reshape(-1, 2)
        self.idle_J = np.asarray(idle_J, dtype=float).reshape(len(self.idle), len(idle_components))
        self.idle_components = np.asarray(idle_components, dtype=object)
        self.idle_categories = np.asarray(idle_categories, dtype=object)

    # ---------------------------------------------------------------- facts
    def __len__(self) -> int:
        """Ledger rows the materialised ledger would have."""
        per_shape = np.array([s.n_rows for s in self.shapes], dtype=np.int64)
        idle_rows = int(np.count_nonzero(self.idle_J))
        return int(per_shape[self.shape_of].sum()) + idle_rows

    @property
    def counts(self) -> np.ndarray:
        """Requests of each shape."""
        return np.bincount(self.shape_of, minlength=len(self.shapes))

    @property
    def nbytes(self) -> int:
        """Memory held (bytes, numpy arrays only)."""
        shape_bytes = sum(a.nbytes for s in self.shapes for a in s.rows.values())
        return int(shape_bytes + self.request.nbytes + self.shape_of.nbytes + self.start_s.nbytes
                   + self.idle.nbytes + self.idle_J.nbytes)

    def end_s(self) -> np.ndarray:
        """End of each request's service (s)."""
        durations = np.array([s.duration_s for s in self.shapes], dtype=float)
        return self.start_s + durations[self.shape_of]

    def time_span(self) -> tuple[float, float]:
        """(first start, last end) of any ledger row (s); (nan, nan) when there is none."""
        lo, hi = [], []
        for k, s in enumerate(self.shapes):
            mine = self.shape_of == k
            if s.n_rows and mine.any():
                lo.append(float(self.start_s[mine].min() + s.rows["start_s"].min()))
                hi.append(float((self.start_s[mine] + s.rows["end_s"].max()).max()))
        if len(self.idle) and self.idle_J.any():
            lo.append(float(self.idle[:, 0].min()))
            hi.append(float(self.idle[:, 1].max()))
        return (min(lo), max(hi)) if lo else (float("nan"), float("nan"))

    # ---------------------------------------------------------------- views
    def frame(self, requests: Sequence[int] | None = None, *, idle: bool | None = None) -> pd.DataFrame:
        """The ledger (:data:`LEDGER_COLUMNS`, text columns categorical) of ``requests`` (ids; all when
        ``None``) in service order, followed by the idle rows (request -1; by default only with all
        requests)."""
        if requests is None:
            positions = np.arange(len(self.request))
        else:
            wanted = np.isin(self.request, np.asarray(list(requests), dtype=np.int64))
            positions = np.flatnonzero(wanted)
        idle = requests is None if idle is None else idle
        parts: dict[str, list] = {c: [] for c in LEDGER_COLUMNS}
        n_rows = np.array([s.n_rows for s in self.shapes], dtype=np.int64)
        shape_pos = self.shape_of[positions]
        # the rows of every request of a shape at once: tile its rows, add each request's start
        order = np.argsort(shape_pos, kind="stable")
        bounds = np.searchsorted(shape_pos[order], np.arange(len(self.shapes) + 1))
        blocks: list[tuple[np.ndarray, dict]] = []
        for k, s in enumerate(self.shapes):
            mine = positions[order[bounds[k]:bounds[k + 1]]]
            if not len(mine) or not n_rows[k]:
                continue
            m, r = len(mine), n_rows[k]
            rows = {c: np.tile(s.rows[c], m) for c in LEDGER_COLUMNS if c not in ("request", "start_s", "end_s")}
            shift = np.repeat(self.start_s[mine], r)
            rows["start_s"] = np.tile(s.rows["start_s"], m) + shift
            rows["end_s"] = np.tile(s.rows["end_s"], m) + shift
            rows["request"] = np.repeat(self.request[mine], r)
            blocks.append((np.repeat(mine, r) * (int(n_rows.max()) + 1) + np.tile(np.arange(r), m), rows))
        if blocks:
            key = np.concatenate([b[0] for b in blocks])
            sort = np.argsort(key, kind="stable")                 # back to service order
            for c in LEDGER_COLUMNS:
                parts[c].append(np.concatenate([b[1][c] for b in blocks])[sort])
        if idle and len(self.idle):
            g, C = self.idle_J.shape
            keep = (self.idle_J != 0).ravel()
            parts["request"].append(np.full(int(keep.sum()), -1, dtype=np.int64))
            parts["task"].append(np.full(int(keep.sum()), "", dtype=object))
            parts["op"].append(np.full(int(keep.sum()), -1, dtype=np.int64))
            parts["module"].append(np.full(int(keep.sum()), "", dtype=object))
            parts["layer"].append(np.full(int(keep.sum()), "", dtype=object))
            parts["component"].append(np.tile(self.idle_components, g)[keep])
            parts["category"].append(np.tile(self.idle_categories, g)[keep])
            parts["energy_J"].append(self.idle_J.ravel()[keep])
            parts["bytes"].append(np.zeros(int(keep.sum())))
            parts["start_s"].append(np.repeat(self.idle[:, 0], C)[keep])
            parts["end_s"].append(np.repeat(self.idle[:, 1], C)[keep])
        cols: dict[str, object] = {}
        for c in LEDGER_COLUMNS:
            if parts[c]:
                values = np.concatenate(parts[c])
            else:
                values = np.zeros(0, dtype=object if c in TEXT_COLUMNS else (np.int64 if c in ("request", "op")
                                                                             else float))
            if c in TEXT_COLUMNS:
                values = categorical(values)
            elif c in ("request", "op"):
                values = values.astype(np.int64)
            else:
                values = values.astype(np.float64)
            cols[c] = values
        return pd.DataFrame(cols, columns=list(LEDGER_COLUMNS))

    def weighted(self) -> pd.DataFrame:
        """The distinct rows, enough for every sum over the ledger: each shape's rows once with ``unit``
        (the shape index) and ``weight`` (its requests; ``energy_J`` and ``bytes`` already multiplied by
        it, times relative to the request's start), then one row per idle (component, category) with
        the idle energy summed (``unit`` -1, weight 1). ``request`` is -2 on shape rows (a stand-in:
        per-request sums use the shape's) and -1 on idle rows."""
        if getattr(self, "_weighted", None) is None:
            self._weighted = self._build_weighted()
        return self._weighted

    def _build_weighted(self) -> pd.DataFrame:
        counts = self.counts
        cols: dict[str, list] = {c: [] for c in (*LEDGER_COLUMNS, "unit", "weight")}
        for k, s in enumerate(self.shapes):
            if not counts[k] or not s.n_rows:
                continue
            n, w = s.n_rows, float(counts[k])
            for c in LEDGER_COLUMNS:
                if c == "request":
                    cols[c].append(np.full(n, -2, dtype=np.int64))
                elif c in ("energy_J", "bytes"):
                    cols[c].append(s.rows[c] * w)
                else:
                    cols[c].append(s.rows[c])
            cols["unit"].append(np.full(n, k, dtype=np.int64))
            cols["weight"].append(np.full(n, w))
        if len(self.idle):
            total = self.idle_J.sum(axis=0)
            keep = (self.idle_J != 0).any(axis=0)
            m = int(keep.sum())
            for c, v in (("request", np.full(m, -1, dtype=np.int64)), ("task", np.full(m, "", dtype=object)),
                         ("op", np.full(m, -1, dtype=np.int64)), ("module", np.full(m, "", dtype=object)),
                         ("layer", np.full(m, "", dtype=object)), ("component", self.idle_components[keep]),
                         ("category", self.idle_categories[keep]), ("energy_J", total[keep]),
                         ("bytes", np.zeros(m)), ("start_s", np.zeros(m)), ("end_s", np.zeros(m)),
                         ("unit", np.full(m, -1, dtype=np.int64)), ("weight", np.ones(m))):
                cols[c].append(v)
        out = {}
        for c, parts in cols.items():
            values = np.concatenate(parts) if parts else np.zeros(0, dtype=object if c in TEXT_COLUMNS else float)
            out[c] = categorical(values) if c in TEXT_COLUMNS else values
        return pd.DataFrame(out)

    # ---------------------------------------------------------------- time-resolved quantities
    def pieces(self) -> tuple[np.ndarray, np.ndarray, list]:
        """The run as consecutive pieces in time order: (starts (s), energies before each piece (J),
        per piece ``("shape", k)`` or ``("idle", power W, length s)``). Requests do not overlap in a
        replayed run, so the pieces tile [first start, last end]."""
        end = self.end_s()
        shape_J = np.array([s.energy_J for s in self.shapes], dtype=float)
        starts = np.concatenate([self.start_s, self.idle[:, 0]])
        energy = np.concatenate([shape_J[self.shape_of], self.idle_J.sum(axis=1)])
        kind = np.concatenate([self.shape_of.astype(np.int64), -1 - np.arange(len(self.idle))])
        lengths = np.concatenate([end - self.start_s, self.idle[:, 1] - self.idle[:, 0]])
        order = np.lexsort((lengths, starts))                      # a zero-length piece first at a tie
        return starts[order], np.concatenate([[0.0], np.cumsum(energy[order])[:-1]]), (kind[order], lengths[order])

    def cumulative_energy(self, times: np.ndarray) -> np.ndarray:
        """E(t): the energy (J) of every ledger event spread uniformly over [start, end] (a zero-length
        event a step at its start), right-continuous, at ``times`` (s, sorted or not)."""
        starts, before, (kind, lengths) = self.pieces()
        times = np.asarray(times, dtype=float)
        out = np.zeros(times.shape)
        if not len(starts):
            return out
        piece = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(starts) - 1)
        x = times - starts[piece]
        out = before[piece].copy()
        pk = kind[piece]
        curves = self._curves()
        idle_sel = []
        for k, sel in self._points_by_kind(times, piece, pk):
            if k < 0:
                idle_sel.append(sel)
                continue
            if k not in curves:
                continue
            t, e_at, slope = curves[k]
            xs = x[sel]
            j = np.clip(np.searchsorted(t, xs, side="right") - 1, 0, t.size - 1)
            val = e_at[j] + slope[j] * (xs - t[j])
            val = np.where(xs < t[0], 0.0, np.where(xs > t[-1], e_at[-1], val))
            out[sel] += val
        if idle_sel:
            sel = np.concatenate(idle_sel)
            g = -1 - pk[sel]
            length = self.idle[g, 1] - self.idle[g, 0]
            frac = np.clip(np.divide(x[sel], length, out=np.ones(len(g)), where=length > 0), 0.0, 1.0)
            out[sel] += self._idle_total[g] * frac
        return out

    @staticmethod
    def _points_by_kind(times: np.ndarray, piece: np.ndarray, pk: np.ndarray):
        """(piece kind, indices of the grid points in pieces of that kind) for :meth:`cumulative_energy`:
        shape kinds one by one, idle gaps (kinds < 0) together as kind -1. A sorted grid (a power
        profile's) visits the pieces in order, so each piece's points are one contiguous run and no sort
        of the grid is needed; otherwise the points are grouped by a stable sort."""
        n = len(times)
        if times.ndim == 1 and n > 1 and bool(np.all(times[1:] >= times[:-1])):
            lo = np.concatenate([[0], np.flatnonzero(piece[1:] != piece[:-1]) + 1])
            run_kind = pk[lo]
            length = np.diff(np.concatenate([lo, [n]]))
            shapes = run_kind >= 0
            idle = ~shapes
            if idle.any():
                yield -1, np.flatnonzero(pk < 0)
            for k in np.unique(run_kind[shapes]).tolist():
                runs = np.flatnonzero(run_kind == k)
                counts = length[runs]
                first = np.repeat(lo[runs] - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
                yield k, first + np.arange(int(counts.sum()))
            return
        order = np.argsort(pk, kind="stable")
        sorted_kind = pk[order]
        idle = int(np.searchsorted(sorted_kind, 0, side="left"))
        if idle:
            yield -1, order[:idle]
        kinds = np.unique(sorted_kind[idle:])
        lo = np.searchsorted(sorted_kind, kinds, side="left")
        hi = np.searchsorted(sorted_kind, kinds, side="right")
        for k, a, b in zip(kinds.tolist(), lo.tolist(), hi.tolist()):
            yield k, order[a:b]

    def _curves(self) -> dict[int, tuple]:
        """Per shape with rows, its cumulative energy as breakpoints (:func:`_power_steps`), cached."""
        from simulator.results.tables import _power_steps

        if getattr(self, "_curve_cache", None) is None:
            self._curve_cache = {}
            for k, s in enumerate(self.shapes):
                if s.n_rows:
                    frame = pd.DataFrame({c: s.rows[c] for c in ("energy_J", "start_s", "end_s")})
                    self._curve_cache[k] = _power_steps(frame)
            self._idle_total = self.idle_J.sum(axis=1)
        return self._curve_cache

    def busy_s(self, component: str, category: str = "compute") -> float:
        """Length (s) of the union of ``component``'s ``category`` intervals over the run: each shape's
        union times its requests (requests never overlap in a replayed run)."""
        from simulator.results.tables import _union_length

        counts = self.counts
        total = 0.0
        for k, s in enumerate(self.shapes):
            if not counts[k]:
                continue
            sel = (s.rows["component"] == component) & (s.rows["category"] == category)
            total += counts[k] * _union_length(s.rows["start_s"][sel], s.rows["end_s"][sel])
        return total

    def request_sums(self) -> tuple[np.ndarray, np.ndarray]:
        """Per request (service order): (energy J, dynamic energy J) of its rows."""
        total = np.array([s.energy_J for s in self.shapes], dtype=float)
        dynamic = np.array([s.dynamic_J for s in self.shapes], dtype=float)
        return total[self.shape_of], dynamic[self.shape_of]
