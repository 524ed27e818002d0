"""The one typed result of a run: what :func:`simulator.engine.simulate` and
:func:`simulator.analytic.evaluate` return, and what every report is made from.

A :class:`Result` holds the ledger (docs/interfaces.md, "Ledger": one row per cost event with the columns
``request, task, op, module, layer, component, category, energy_J, bytes, start_s, end_s``; a replayed
run keeps a :class:`simulator.results.ledger.CompactLedger` instead), the requests table (``request, task,
arrival_s, start_s, end_s, latency_s, switch, operating_point, service_s, energy_J``), the platform, the
placement, the served workload and ``meta``. Its tables are computed by :mod:`simulator.results.tables`,
each once per result and cached; its exporters live in their own modules: the tables and summary as
CSV/Parquet/JSON (:mod:`simulator.results.tables`), the text/markdown report
(:mod:`simulator.results.report`), the Perfetto timeline (:mod:`simulator.results.perfetto`) and the figures
(:mod:`simulator.results.plots`).

Everything here is SI (J, s, bytes, W, m²); the tables keep the unit in each column name.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from simulator.results import tables as _tables
from simulator.results.perfetto import PERFETTO_POWER_POINTS, perfetto_events, write_perfetto  # noqa: F401
# Names users and other layers import from here (their homes are tables, perfetto and the vocabulary).
from simulator.results.tables import (  # noqa: F401
    CATEGORIES, COMPUTE_UNITS, DEFAULT_POWER_WINDOW_S, DYNAMIC_CATEGORIES, IMPULSE_S, MAX_POWER_POINTS,
    PARQUET_ROWS, REGULATOR, STATIC_CATEGORIES, WRITE_CATEGORIES, component_kind, compute_units, json_safe,
    mapping_table_of, memory_kind, power_profile, refetch_factors, write_table)


def _get_ledger(self: Any) -> pd.DataFrame:
    if self.__dict__.get("_ledger") is None and self.__dict__.get("compact") is not None:
        self.__dict__["_ledger"] = self.compact.frame()
    return self.__dict__.get("_ledger")


def _set_ledger(self: Any, value: Any) -> None:
    from simulator.results.ledger import CompactLedger

    if isinstance(value, CompactLedger):
        self.__dict__["compact"], self.__dict__["_ledger"] = value, None
    else:
        self.__dict__["compact"], self.__dict__["_ledger"] = None, value
    self.__dict__.pop("_cache", None)


@dataclass
class Result:
    """One platform's run: returned by :func:`simulator.engine.simulate` and
    :func:`simulator.analytic.evaluate`, ready for reporting.

    ``ledger`` and ``requests`` are the run's tables (``ledger`` set to a DataFrame, or to a
    :class:`simulator.results.ledger.CompactLedger`, kept in ``compact`` and materialised on first read of
    ``ledger``); ``placement`` the :class:`simulator.prepare.placement.Placement`; ``platform`` the
    :class:`hw_models.Platform`; ``workload`` the served workload (its traces give each op's MACs);
    ``meta`` the run's facts: ``evaluator`` ("engine" or "analytic"), ``total_energy_J`` (accumulated by the
    evaluator independently of the ledger rows), ``leakage_energy_J``, ``makespan_s``, ``memory_writes``
    ({memory: {"bytes": B, "cell_writes": writes the most-written cells see}}), ``tensor_writes``,
    per-task ``lower_bound_J``, ``seed``; a study adds its mode and label, :meth:`from_run` the
    ``mappings`` and ``refetch`` of the run's preparation. ``power_window_s``: the window of the
    peak-power figure, s.

    Every table is computed once (:mod:`simulator.results.tables`) and cached on the result; the
    accessors return copies, so callers may modify them. Assigning ``ledger`` clears the cache.
    """

    ledger: pd.DataFrame
    requests: pd.DataFrame
    platform: Any
    placement: Any = None
    workload: Any = None
    meta: dict = field(default_factory=dict)
    power_window_s: float = DEFAULT_POWER_WINDOW_S

    @classmethod
    def from_run(cls, run: Any, *, prepared: Any = None, **kwargs: Any) -> "Result":
        """A new result of ``run`` (a :class:`Result` of ``simulate`` or ``evaluate``, or any object with
        its fields) with its own cache. With the run's ``prepared`` (:func:`simulator.cost.tables.prepare`),
        ``meta`` gains the per-op mapping table of the ops that have a mapping (``mappings``) and each
        memory's re-fetch factor (``refetch``). ``kwargs``: other fields (``power_window_s``)."""
        meta = dict(getattr(run, "meta", {}) or {})
        if prepared is not None and "mappings" not in meta:
            table = mapping_table_of(prepared)
            if len(table):
                meta["mappings"] = table
        if prepared is not None and "refetch" not in meta:
            stream = getattr(getattr(run, "workload", None), "stream", None)
            keys = [r.key for r in stream] if stream is not None else list(prepared.tasks)
            meta["refetch"] = refetch_factors(prepared, keys)
        ledger = run.compact if getattr(run, "compact", None) is not None else run.ledger
        return cls(ledger=ledger, requests=run.requests, platform=run.platform,
                   placement=run.placement, workload=getattr(run, "workload", None),
                   meta=meta, **kwargs)

    # ------------------------------------------------------------------ the cache
    def _table(self, name: str, build: Callable[["Result"], Any]) -> Any:
        """``build(self)`` computed once per result; the cached object itself (not a copy: for reading)."""
        cache = self.__dict__.setdefault("_cache", {})
        if name not in cache:
            cache[name] = build(self)
        return cache[name]

    def _cached(self, name: str, build: Callable[["Result"], Any]) -> Any:
        """``build(self)`` computed once per result, returned as a copy when it is a table."""
        value = self._table(name, build)
        return value.copy() if isinstance(value, pd.DataFrame) else value

    def _rows(self) -> pd.DataFrame:
        """Rows to aggregate: the ledger, or for a compact ledger its distinct rows with ``energy_J``
        and ``bytes`` already multiplied by their ``weight`` (:meth:`CompactLedger.weighted`)."""
        if self.compact is None:
            return self.ledger
        return self._table("_weighted", lambda r: r.compact.weighted())

    def ledger_of(self, requests) -> pd.DataFrame:
        """The ledger rows of the requests with these ids (without materialising the rest of a compact
        ledger)."""
        if self.compact is not None:
            return self.compact.frame(list(requests), idle=False)
        return self.ledger[self.ledger["request"].isin(set(requests))]

    # ------------------------------------------------------------------ basic facts
    @property
    def name(self) -> str:
        """The platform's name (the label of this result in tables and figures)."""
        return str(self.meta.get("label") or getattr(self.platform, "name", "platform"))

    @property
    def n_requests(self) -> int:
        """Number of requests served."""
        return int(len(self.requests))

    @property
    def total_energy_J(self) -> float:
        """All energy of the run, J (requests, idle leakage, wake-ups, refresh): the sum of the ledger."""
        return float(self._rows()["energy_J"].sum())

    @property
    def makespan_s(self) -> float:
        """Simulated time from the first arrival (or the first ledger event) to the last event, s."""
        starts, ends = [], []
        if len(self.requests):
            starts.append(float(self.requests["arrival_s"].min()))
            ends.append(float(self.requests["end_s"].max()))
        if self.compact is not None:
            lo, hi = self.compact.time_span()
            if math.isfinite(lo):
                starts.append(lo)
                ends.append(hi)
        elif len(self.ledger):
            starts.append(float(self.ledger["start_s"].min()))
            ends.append(float(self.ledger["end_s"].max()))
        return max(ends) - min(starts) if starts else 0.0

    # ------------------------------------------------------------------ tables (each computed once)
    def per_op(self) -> pd.DataFrame:
        """One row per (task, op): ``executions`` (requests that ran it), energy per category summed over
        the run (J), ``energy_J``, ``energy_per_execution_J``, ``read_bytes``/``write_bytes`` summed (bytes),
        ``time_per_execution_s`` (mean span of its events, s) and ``macs`` per execution when the trace is
        known."""
        return self._cached("per_op", _tables.per_op)

    def per_layer(self) -> pd.DataFrame:
        """Energy (J) per ledger category and in total per (task, layer), in execution order, with
        ``energy_per_request_J`` (total over the run divided by the task's requests)."""
        return self._cached("per_layer", _tables.per_layer)

    def per_memory(self) -> pd.DataFrame:
        """One row per memory of the platform: technology, kind, capacity (bytes), ``read_bytes``,
        ``write_bytes`` (bytes landed in it, task-switch loads included), ``reads``/``writes`` (word
        accesses), energy per category (J), ``dynamic_energy_J``, ``leakage_energy_J``, ``energy_J``,
        ``peak_occupancy_bytes``, ``refetch`` (bytes the ops moved to and from it over its compulsory bytes,
        every operand read and written once: 1.0 is no re-fetch; NaN for a memory without compulsory
        traffic, such as a staging buffer, or without the run's preparation) and ``area_m2``."""
        return self._cached("per_memory", _tables.per_memory)

    def per_compute(self) -> pd.DataFrame:
        """One row per compute unit: ``compute_energy_J``, ``leakage_energy_J``, ``energy_J`` (J),
        ``busy_s`` (union of its compute intervals, s), ``utilisation`` (busy / makespan, idle gaps
        included) and ``service_utilisation`` (busy / the time some request was being served)."""
        return self._cached("per_compute", _tables.per_compute)

    def per_request(self) -> pd.DataFrame:
        """The requests table plus ``energy_J`` and ``dynamic_energy_J`` of each request (J; idle
        leakage between requests is not attributed to any request)."""
        return self._cached("per_request", _tables.per_request)

    def per_task(self) -> pd.DataFrame:
        """One row per task: ``requests``, ``switches`` (requests that found another task loaded),
        ``energy_J`` and ``energy_per_request_J`` (J, attributed to its requests), latency mean, p50, p99 (s)."""
        return self._cached("per_task", _tables.per_task)

    def per_component(self) -> pd.DataFrame:
        """Energy (J) per ledger component and category with its ``kind`` (compute, sram, nvm, dram,
        interconnect): the data of the energy-breakdown figure."""
        return self._cached("per_component", _tables.per_component)

    def mapping_table(self) -> pd.DataFrame | None:
        """The per-op mapping (tiles, loop order, re-fetches) when the run's traffic had mappings
        (``meta["mappings"]``: a DataFrame, or records), else ``None``."""
        return _tables.mapping_table(self)

    def nvm_wear(self) -> pd.DataFrame:
        """For each non-volatile on-chip memory: bytes written (task-switch loads included), write rate
        (B/s), ``cell_writes`` (the writes the most-written cells see over the run, from the run's
        ``meta["memory_writes"]``: one per task-switch load plus op writes over their region; without it,
        bytes written / peak bytes resident) and the projected lifetime (s) at this rate: ``lifetime_s``
        for those cells (endurance / cell writes per s) and ``lifetime_levelled_s`` with ideal wear
        levelling over the whole capacity (capacity × endurance / write rate). Infinite when nothing is
        written."""
        return self._cached("nvm_wear", _tables.nvm_wear)

    def nvm_wear_tensors(self) -> pd.DataFrame:
        """Per tensor written in a non-volatile memory (``meta["tensor_writes"]``): bytes written, the
        writes each of its cells sees (bytes / its size), the memory's endurance and the tensor's
        lifetime at this run's rate (s; endurance / cell writes per s, the tensor at fixed addresses,
        no wear levelling). Empty without the record or without NVM writes."""
        return self._cached("nvm_wear_tensors", _tables.nvm_wear_tensors)

    def load(self) -> dict[str, float]:
        """Whether the platform keeps up with the offered load. ``arrival_rate_Hz``: requests over the span
        of their arrivals (n − 1 intervals); ``offered_utilisation``: arrival rate × mean service time
        (> 1: requests arrive faster than they are served, the queue grows without bound and the quoted
        latencies depend on the run's length); ``queue_growth``: least-squares slope of each request's
        waiting time (start − arrival) against its arrival time (s of wait per s; about offered
        utilisation − 1 when overloaded, about 0 when stable); ``overloaded``: offered utilisation > 1."""
        return dict(self._table("load", _tables.load))

    def lower_bound_J(self) -> float:
        """A floor on the run's energy, J: the sum over requests of the run's per-inference lower bound of
        the request's task (``meta["lower_bound_J"]``, from :func:`simulator.cost.tables.lower_bound`: MACs ×
        the cheapest MAC energy + compulsory bytes × the cheapest energy per byte). NaN when unknown."""
        return _tables.lower_bound_J(self)

    def summary(self) -> dict[str, Any]:
        """The headline numbers (SI units, unit in each key): energy per inference (total, dynamic and
        static, where static = leakage + DRAM refresh + wake-ups, and ``leakage_share`` = static / total),
        latency p50/p99, throughput, average and peak power, area, peak occupancy per memory, NVM writes
        and lifetime, and the lower bound with the ratio to it. Computed once per power window (the
        ledger is not expected to change after the run)."""
        return dict(self._table(("summary", self.power_window_s), _tables.summary))

    def power_profile(self, window_s: float | None = None) -> pd.DataFrame:
        """:func:`simulator.results.tables.power_profile` of this run (window ``window_s``, default
        ``power_window_s``)."""
        window = self.power_window_s if window_s is None else window_s
        if self.compact is not None:
            return power_profile(None, window, compact=self.compact)
        return power_profile(self.ledger, window)

    def peak_power_W(self, window_s: float | None = None) -> float:
        """The highest average power (W) over the windows of :meth:`power_profile` (default window
        ``power_window_s``), without building the whole profile of a long, mostly idle run
        (:func:`simulator.results.tables.peak_power`)."""
        window = self.power_window_s if window_s is None else window_s
        if self.compact is not None:
            return _tables.peak_power(None, window, compact=self.compact)
        return _tables.peak_power(self.ledger, window)

    def _tables(self) -> dict[str, pd.DataFrame]:
        """Every table by file stem, the cached objects themselves (for writing: not to be modified)."""
        out = {stem: self._table(stem, getattr(_tables, stem)) for stem in _tables.TABLE_STEMS}
        placement_table = getattr(self.placement, "table", None)
        if isinstance(placement_table, pd.DataFrame):
            out["placement"] = placement_table
        mapping = self.mapping_table()
        if mapping is not None:
            out["mapping"] = mapping
        return out

    def compute_tables(self) -> "Result":
        """Compute the summary, every table and ``summary.json``'s text now (each once, cached on the
        result), e.g. in the worker process that simulated the run, so that whoever receives the result
        only writes. Returns ``self``."""
        self.summary()
        self._tables()
        self.summary_json()
        return self

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by file stem (``per_op`` ... ``placement``, ``mapping`` when there is one), as copies."""
        return {stem: table.copy() for stem, table in self._tables().items()}

    # ------------------------------------------------------------------ exporters
    def summary_document(self) -> dict:
        """``{"summary": ..., "meta": ...}`` ready for JSON (tables such as the mapping left out; infinite
        values as ``None``)."""
        return self._cached(("summary_document", self.power_window_s), _tables.summary_document)

    def summary_json(self) -> str:
        """:meth:`summary_document` as indented JSON text (``summary.json``), computed once."""
        return self._table(("summary_json", self.power_window_s), _tables.summary_json)

    def write_into(self, folder: Path, *, ledger: bool = False) -> list[Path]:
        """Write the tables, ``summary.json`` and optionally the ledger into an existing folder (no
        atomicity: see :meth:`save`). A table of more than :data:`PARQUET_ROWS` rows (``per_request`` of a
        long run, the ledger) is written as Parquet (``<stem>.parquet``: typed columns, compressed, fast);
        the others as CSV, to open by hand. Returns the files written."""
        return _tables.write_into(self, Path(folder), ledger=ledger)

    def write_ledger_csv(self, path: Path, chunk_requests: int = 2000) -> Path:
        """Write the full ledger as CSV; a compact ledger is materialised ``chunk_requests`` requests at
        a time (so memory stays bounded), then its idle rows."""
        return _tables.write_ledger_csv(self, path, chunk_requests)

    def write_ledger_parquet(self, path: Path, chunk_requests: int = 20_000) -> Path:
        """Write the full ledger as Parquet, a compact ledger ``chunk_requests`` requests at a time (one
        row group each, so memory stays bounded), then its idle rows. Text columns are plain strings."""
        return _tables.write_ledger_parquet(self, path, chunk_requests)

    def save(self, path: str | os.PathLike, *, ledger: bool = False, overwrite: bool = False) -> Path:
        """Write every table as CSV and the summary as JSON into folder ``path`` through
        :func:`simulator.outdir.claim_output`: only a new or empty folder, or (``overwrite``) one an earlier
        save wrote; atomic (on error the folder is as it was). Returns ``path``."""
        from simulator.outdir import claim_output

        with claim_output(path, command="result", field="output folder", overwrite=overwrite) as out:
            self.write_into(out.tmp, ledger=ledger)
            out.commit({"platform": self.name, "requests": self.n_requests})
        return Path(path)

    def perfetto_events(self, *, pid: int = 1, max_detail_requests: int | None = None) -> list[dict]:
        """Chrome trace events of this run (:func:`simulator.results.perfetto.perfetto_events`)."""
        return perfetto_events(self, pid=pid, max_detail_requests=max_detail_requests)

    def to_perfetto(self, path: str | os.PathLike, *, max_detail_requests: int | None = None) -> Path:
        """Write the timeline as Chrome/Perfetto trace JSON (open in ui.perfetto.dev). Returns ``path``."""
        return write_perfetto([self], path, max_detail_requests=max_detail_requests)


Result.ledger = property(_get_ledger, _set_ledger,  # type: ignore[assignment]
                         doc="The ledger DataFrame (a compact ledger is materialised on first read).")
Result.compact = None  # type: ignore[attr-defined]  # the CompactLedger of a replayed run, else None
