"""The engine's ledger builder: the rows of :class:`simulator.results.build.LedgerBuilder`, built faster.

The event simulation of a request stream with contention adds one block of op rows per request (~2,700
rows for adapter-ALBERT), all copies of a few per-(task, operating point) templates with the request's
own phase start times. :class:`EngineLedgerBuilder` keeps each request's op block as its template and
its (4, n) phase start times (s) until :meth:`EngineLedgerBuilder.columns`, then builds every column at
once: the rows every ledger drops (no energy, no bytes, not compute) are dropped from each template
once, the text columns are integer codes into a small table of distinct strings until the end, and
``text="category"`` returns them as pandas Categoricals (sorted categories, as the ledger of a
replayed run, :mod:`simulator.results.ledger`) instead of millions of Python strings that pandas would
convert one by one. Same rows in the same order with the same values as the parent's
(tests/test_engine_ledger.py). Times in s, energies in J, bytes in bytes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.results.build import LedgerBuilder, _OpRows
from simulator.results.ledger import LEDGER_COLUMNS

#: The ledger's text columns (object arrays in :meth:`LedgerBuilder.columns`).
TEXT = ("task", "module", "layer", "component", "category")
_NUMBERS = ("request", "op", "energy_J", "bytes", "start_s", "end_s")


class _Codes:
    """Distinct strings of one text column, in order of first use, and their integer codes."""
    __slots__ = ("index", "values")

    def __init__(self):
        self.index: dict[str, int] = {}
        self.values: list[str] = []

    def code(self, value: str) -> int:
        """The code of ``value`` (added if new)."""
        c = self.index.get(value)
        if c is None:
            c = self.index[value] = len(self.values)
            self.values.append(value)
        return c

    def encode(self, values) -> np.ndarray:
        """Codes of a sequence of strings (int32)."""
        code = self.code
        return np.fromiter((code(v) for v in values), dtype=np.int32, count=len(values))


class _Template:
    """The kept rows of one :class:`_OpRows` template: numbers and text codes, filtered once."""
    __slots__ = ("keep", "op_ids", "phase", "op", "duration", "energy", "bytes", "codes", "position", "main")

    def __init__(self, tpl: _OpRows, codes: dict[str, _Codes]):
        keep = (tpl.energy != 0) | (tpl.bytes != 0) | (tpl.category == "compute")
        self.keep = keep
        self.op_ids = np.asarray(tpl.op_ids)[keep].astype(np.int64)
        self.phase, self.op = tpl.phase[keep], tpl.op[keep]
        self.duration, self.energy, self.bytes = tpl.duration[keep], tpl.energy[keep], tpl.bytes[keep]
        self.codes = {"module": codes["module"].encode(np.asarray(tpl.modules)[keep].tolist()),
                      "layer": codes["layer"].encode(np.asarray(tpl.layers)[keep].tolist()),
                      "component": codes["component"].encode(tpl.component[keep].tolist()),
                      "category": codes["category"].encode(tpl.category[keep].tolist())}
        self.position = np.cumsum(keep) - 1        # row of the template -> row kept
        self.main = tpl.main


class _OpBlock:
    """One request's op rows, kept as its template and phase start times until the columns are built."""
    __slots__ = ("request", "task", "tkey", "phase_t0", "moved", "moved_units")

    def __init__(self, request, task, tkey, phase_t0, moved, moved_units):
        self.request, self.task, self.tkey, self.phase_t0 = request, task, tkey, phase_t0
        self.moved, self.moved_units = moved, moved_units


class EngineLedgerBuilder(LedgerBuilder):
    """:class:`LedgerBuilder` whose op blocks are built at :meth:`columns` time (module docstring)."""

    #: How :meth:`columns` returns the text columns by default ("object" or "category").
    text = "object"

    def __init__(self, prepared, pp, v: int = 0):
        super().__init__(prepared, pp, v)
        self._kept: dict[tuple, _Template] = {}
        self._codes = {c: _Codes() for c in TEXT}
        self._assembled: tuple | None = None     # (blocks list, how many, {column: codes or values})

    def ops(self, request: int, task: str, op_point: int, oc, phase_t0: np.ndarray, prefetch: bool,
            key: str | None = None, units: np.ndarray | None = None) -> None:
        """:meth:`LedgerBuilder.ops`, deferred: the block is kept as its template and ``phase_t0``."""
        arrays = key or task
        tkey = (arrays, op_point, prefetch)
        if tkey not in self._templates:    # the parent's template of these rows (built once)
            self._templates[tkey] = _OpRows(self.prepared, self.prepared.arrays(arrays), oc, self.pp, self.v,
                                            prefetch)
        moved = moved_units = None
        if units is not None:
            moved = np.flatnonzero(units != self.prepared.arrays(arrays).unit)
            if len(moved):
                moved_units = units[moved]
            else:
                moved = None
        self.blocks.append(_OpBlock(request, task, tkey, phase_t0, moved, moved_units))

    def _template(self, tkey) -> _Template:
        t = self._kept.get(tkey)
        if t is None:
            t = self._kept[tkey] = _Template(self._templates[tkey], self._codes)
        return t

    def columns(self, text: str | None = None) -> dict:
        """:meth:`LedgerBuilder.columns`: the same rows, values and order. ``text``: the text columns as
        object arrays of ``str`` (``"object"``, the parent's) or pandas Categoricals with sorted
        categories (``"category"``: as a replayed run's ledger; no Python string per row); default
        :attr:`text`."""
        text = text or self.text
        if not self.blocks:
            return super().columns()
        codes = self._codes
        # the blocks already assembled by an earlier call (the same list, grown since): kept as one array
        # per column, so a second call (the leakage rows added) assembles only the new blocks
        done = self._assembled
        if done is not None and done[0] is self.blocks and done[1] <= len(self.blocks):
            parts: dict[str, list] = {c: [done[2][c]] for c in LEDGER_COLUMNS}
            new = self.blocks[done[1]:]
        else:
            parts = {c: [] for c in LEDGER_COLUMNS}
            new = self.blocks
        for b in new:
            if type(b) is _OpBlock:
                t = self._template(b.tkey)
                n = len(t.energy)
                start = b.phase_t0[t.phase, t.op]
                parts["request"].append(np.full(n, b.request, dtype=np.int64))
                parts["task"].append(np.full(n, codes["task"].code(b.task), dtype=np.int32))
                parts["op"].append(t.op_ids)
                parts["module"].append(t.codes["module"])
                parts["layer"].append(t.codes["layer"])
                comp = t.codes["component"]
                if b.moved is not None:
                    comp = comp.copy()
                    units = self.pp.units
                    comp[t.position[t.main + b.moved]] = [codes["component"].code(units[u])
                                                          for u in b.moved_units.tolist()]
                parts["component"].append(comp)
                parts["category"].append(t.codes["category"])
                parts["energy_J"].append(t.energy)
                parts["bytes"].append(t.bytes)
                parts["start_s"].append(start)
                parts["end_s"].append(start + t.duration)
            else:
                keep = (b["energy_J"] != 0) | (b["bytes"] != 0) | (b["category"] == "compute")
                for c in _NUMBERS:
                    parts[c].append(np.asarray(b[c])[keep])
                for c in TEXT:
                    parts[c].append(codes[c].encode(np.asarray(b[c])[keep].tolist()))
        out = {}
        joined = {c: np.concatenate(parts[c]) for c in LEDGER_COLUMNS}
        for col in joined.values():      # shared by this call's columns and the next call: read-only
            col.flags.writeable = False
        self._assembled = (self.blocks, len(self.blocks), joined)
        for c in LEDGER_COLUMNS:
            col = joined[c]
            if c in TEXT:
                values = codes[c].values
                if text == "category":      # categories sorted, as simulator.results.ledger.categorical
                    order = sorted(range(len(values)), key=values.__getitem__)
                    rank = np.empty(len(values), dtype=np.int32)
                    rank[order] = np.arange(len(values), dtype=np.int32)
                    col = pd.Categorical.from_codes(rank[col], categories=[values[k] for k in order])
                else:
                    table = np.empty(len(values), dtype=object)
                    table[:] = values
                    col = table[col]
            elif c in ("request", "op"):
                col = col.astype(np.int64, copy=False)
            else:
                col = col.astype(np.float64, copy=False)
            out[c] = col
        return out
