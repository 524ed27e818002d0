"""The tables of a run's :class:`~simulator.results.result.Result` and how they are written.

Each function here computes one table (or the summary) from a result: the ledger (or a compact
ledger's weighted distinct rows, ``Result._rows()``), the requests table, the platform, the placement and
``meta``. :class:`~simulator.results.result.Result` calls each once and caches it (``per_task`` reuses
``per_request``, ``nvm_wear`` reuses ``per_memory``, the summary reuses both), so writing a run folder
computes every table once. :func:`write_into` writes them: CSV for the tables users open by hand,
Parquet above :data:`PARQUET_ROWS` rows.

Everything here is SI (J, s, bytes, W, m²); the tables keep the unit in each column name. Conversion to
pJ, µs, mm² happens only in :mod:`simulator.results.report` and :mod:`simulator.results.plots`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

# Ledger cost categories (docs/interfaces.md) from the shared vocabulary: dynamic (something was done),
# static (time passed or a power state changed), and those whose bytes land in the row's component.
from hw_models.vocabulary import DYNAMIC_CATEGORIES, STATIC_CATEGORIES, WRITE_CATEGORIES
from hw_models.vocabulary import LEDGER_CATEGORIES as CATEGORIES

#: Compute components of a platform that does not name its units (``platform.compute``).
COMPUTE_UNITS = ("mac_array", "vector_unit")


def compute_units(platform: Any) -> tuple[str, ...]:
    """Names of the platform's compute units, in its order (the MAC array and the vector unit for a
    platform object that does not list them)."""
    compute = getattr(platform, "compute", None)
    return tuple(compute) if compute else COMPUTE_UNITS


#: Default averaging window of the peak-power figure, s.
DEFAULT_POWER_WINDOW_S = 1e-6
#: Most grid points a power profile is evaluated on (the window widens past this).
MAX_POWER_POINTS = 2_000_000
#: Events shorter than this (s) count as impulses in power profiles: a femtosecond is far below any
#: hardware time step, and spreading a joule-scale energy over a rounding-sized duration overflows.
IMPULSE_S = 1e-15


def memory_kind(memory: Any) -> str:
    """``"dram"``, ``"nvm"`` (keeps data without power) or ``"sram"`` (on-chip volatile) for a Memory."""
    if getattr(memory, "is_dram", False):
        return "dram"
    return "sram" if getattr(memory, "volatile", True) else "nvm"


#: Ledger component of DVFS transitions (the compute domain's regulator and PLL), kind ``compute``.
REGULATOR = "dvfs_regulator"


def component_kind(component: str, platform: Any) -> str:
    """The group a ledger component belongs to: ``compute``, ``sram``, ``nvm``, ``dram`` or ``interconnect``."""
    if component in compute_units(platform) or component == REGULATOR:
        return "compute"
    memories = getattr(platform, "memories", {})
    if component in memories:
        return memory_kind(memories[component])
    return "interconnect" if "->" in component else "other"


def _as_float(value: Any) -> Any:
    """A JSON-safe scalar: numpy numbers become Python numbers, infinities and NaN become ``None``."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def json_safe(obj: Any) -> Any:
    """Recursively JSON-safe copy of dicts/lists of scalars (infinite values become ``None``)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return _as_float(obj)


def _power_steps(ledger: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative energy E(t) of the ledger as breakpoints ``t`` (s), values ``E(t)`` (J, right-continuous)
    and slopes (W) on ``[t_k, t_k+1)``. Each event spreads its energy uniformly over ``[start, end]``;
    an event shorter than :data:`IMPULSE_S` is a step at its start."""
    start = ledger["start_s"].to_numpy(float)
    end = np.maximum(ledger["end_s"].to_numpy(float), start)
    energy = ledger["energy_J"].to_numpy(float)
    dur = end - start
    ramp = dur > IMPULSE_S
    power = np.where(ramp, energy / np.where(ramp, dur, 1.0), 0.0)
    t = np.unique(np.concatenate([start, end]))
    dslope = np.zeros(t.size)
    np.add.at(dslope, np.searchsorted(t, start[ramp]), power[ramp])
    np.add.at(dslope, np.searchsorted(t, end[ramp]), -power[ramp])
    jumps = np.zeros(t.size)
    np.add.at(jumps, np.searchsorted(t, start[~ramp]), energy[~ramp])
    slope = np.cumsum(dslope)
    gained = np.concatenate([[0.0], slope[:-1] * np.diff(t)])
    return t, np.cumsum(gained + jumps), slope


def power_profile(ledger: pd.DataFrame | None, window_s: float = DEFAULT_POWER_WINDOW_S, *,
                  compact: Any = None) -> pd.DataFrame:
    """Average power in consecutive windows of about ``window_s`` seconds, s (narrowed so that whole
    windows tile the run, widened so that at most ``MAX_POWER_POINTS`` do): columns ``start_s``,
    ``end_s``, ``power_W``. With ``compact`` (a :class:`simulator.results.ledger.CompactLedger`) the cumulative
    energy is evaluated from its shapes, without materialising ``ledger``."""
    if compact is not None:
        t0, t1 = compact.time_span()
        if not math.isfinite(t0):
            return pd.DataFrame({"start_s": [], "end_s": [], "power_W": []})
        energy_at = compact.cumulative_energy
        total = float(compact.weighted()["energy_J"].sum())
    else:
        if ledger.empty:
            return pd.DataFrame({"start_s": [], "end_s": [], "power_W": []})
        t, e_at, slope = _power_steps(ledger)
        t0, t1, total = float(t[0]), float(t[-1]), float(e_at[-1])

        def energy_at(grid: np.ndarray) -> np.ndarray:
            k = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, t.size - 1)
            return e_at[k] + slope[k] * (grid - t[k])
    n = 1
    window = window_s
    if t1 > t0:  # windows tile the run exactly, so the busiest is never below the average
        n = max(1, min(MAX_POWER_POINTS, math.ceil((t1 - t0) / window_s)))
        window = (t1 - t0) / n
    grid = t0 + window * np.arange(n + 1)
    # read E(t) just before each boundary (1e-9 of a window): an impulse at a boundary goes to the window it
    # starts, whichever way the rounding of its time went (a replayed request's times are sums in another
    # order than the full simulation's, equal to ~1e-21 s)
    cumulative = energy_at(grid - 1e-9 * window)
    cumulative[0] = 0.0  # left limit: impulses at the first instant fall in the first window
    cumulative[-1] = max(cumulative[-1], total)  # impulses at the very end
    return pd.DataFrame({"start_s": grid[:-1], "end_s": grid[1:], "power_W": np.diff(cumulative) / window})


#: Grids larger than this (points) find the peak of a compact ledger's power profile from the windows that
#: can hold it (:func:`peak_power`) instead of evaluating every window.
SPARSE_PEAK_POINTS = 100_000


def peak_power(ledger: pd.DataFrame | None, window_s: float = DEFAULT_POWER_WINDOW_S, *,
               compact: Any = None) -> float:
    """The highest average power (W) over the windows of :func:`power_profile` (0 without events).

    For a compact ledger on a grid of more than :data:`SPARSE_PEAK_POINTS` points only the windows that
    can hold the peak are evaluated, with the same formula at the same grid points: every window that
    overlaps a request or holds a boundary between pieces (requests, idle gaps), and the middle window of
    each idle gap. Any other window lies inside one idle gap, where the power is that gap's constant, so
    the result is the full profile's maximum (to rounding, if an idle gap held the peak). A run mostly
    idle (the default study: a few per cent of its 2,000,000 windows busy) costs a fraction of the
    profile."""
    if compact is None:
        profile = power_profile(ledger, window_s)
        return float(profile["power_W"].max()) if len(profile) else 0.0
    t0, t1 = compact.time_span()
    if not math.isfinite(t0):
        return 0.0
    n = max(1, min(MAX_POWER_POINTS, math.ceil((t1 - t0) / window_s))) if t1 > t0 else 1
    if n + 1 <= SPARSE_PEAK_POINTS:
        return float(power_profile(None, window_s, compact=compact)["power_W"].max())
    window = (t1 - t0) / n
    starts, _, (kind, lengths) = compact.pieces()
    ends = starts + lengths
    first = np.floor((starts - t0) / window).astype(np.int64) - 1       # a window of margin either side
    last = np.floor((ends - t0) / window).astype(np.int64) + 1
    busy = kind >= 0
    lo = np.concatenate([first[busy], first, last - 2, [0, n - 1]])
    hi = np.concatenate([last[busy], first + 2, last, [0, n - 1]])
    middle = np.floor((starts[~busy] + lengths[~busy] / 2 - t0) / window).astype(np.int64)
    lo, hi = np.clip(np.concatenate([lo, middle]), 0, n - 1), np.clip(np.concatenate([hi, middle]), 0, n - 1)
    cover = np.zeros(n + 1, dtype=np.int64)                                  # windows in [lo, hi], marked
    np.add.at(cover, lo, 1)
    np.add.at(cover, hi + 1, -1)
    chosen = np.cumsum(cover[:-1]) > 0
    if int(chosen.sum()) >= n // 2:          # mostly busy: the whole profile is as cheap
        return float(power_profile(None, window_s, compact=compact)["power_W"].max())
    windows = np.flatnonzero(chosen)
    ends_too = np.zeros(n + 1, dtype=bool)
    ends_too[windows] = ends_too[windows + 1] = True
    points = np.flatnonzero(ends_too)                                        # grid indices, 0 .. n
    cumulative = compact.cumulative_energy(t0 + window * points - 1e-9 * window)   # as power_profile
    if points[0] == 0:
        cumulative[0] = 0.0                   # as power_profile: impulses at the first instant
    if points[-1] == n:
        cumulative[-1] = max(cumulative[-1], float(compact.weighted()["energy_J"].sum()))
    at = np.searchsorted(points, windows)
    return float(np.max((cumulative[at + 1] - cumulative[at]) / window))


def _union_length(starts: np.ndarray, ends: np.ndarray) -> float:
    """Total length (s) of the union of the intervals ``[starts, ends]``."""
    if starts.size == 0:
        return 0.0
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], np.maximum(ends[order], starts[order])
    reach = np.maximum.accumulate(e)
    prev_reach = np.concatenate([[-np.inf], reach[:-1]])
    return float(np.sum(np.clip(reach - np.maximum(s, prev_reach), 0.0, None)))


#: Tables longer than this (rows) are written as Parquet instead of CSV (``per_request`` of a run of more
#: than 100,000 requests, the ledger of all but the shortest runs).
PARQUET_ROWS = 100_000


def write_table(table: pd.DataFrame, folder: Path, stem: str) -> Path:
    """``table`` as ``folder/<stem>.csv``, or ``<stem>.parquet`` when it has more than
    :data:`PARQUET_ROWS` rows. Returns the path."""
    if len(table) > PARQUET_ROWS:
        path = folder / f"{stem}.parquet"
        _plain_text(table.copy()).to_parquet(path, index=False)
    else:
        path = folder / f"{stem}.csv"
        table.to_csv(path, index=False)
    return path


def _plain_text(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its categorical columns as plain text (tables look the same whatever the ledger's
    column types)."""
    for c in table.columns:
        if isinstance(table[c].dtype, pd.CategoricalDtype):
            table[c] = table[c].astype(object)
    return table


def _percentile(values: pd.Series, q: float) -> float:
    """The q-th percentile (linear interpolation) of ``values``, NaN when empty."""
    return float(np.percentile(values.to_numpy(float), q)) if len(values) else float("nan")


def _category_pivot(rows: pd.DataFrame, keys: list[str], value: str = "energy_J") -> pd.DataFrame:
    """``rows`` summed by ``keys`` with one ``<category>_<value>`` column per ledger category."""
    table = rows.pivot_table(index=keys, columns="category", values=value, aggfunc="sum",
                             fill_value=0.0, observed=True)
    table.columns = table.columns.astype(object)
    if isinstance(table.index, pd.CategoricalIndex):
        table.index = table.index.astype(object)
    table = table.reindex(columns=list(CATEGORIES), fill_value=0.0)
    table.columns = [f"{c}_{value}" for c in table.columns]
    return table


def per_op(r: Any) -> pd.DataFrame:
    """The per-(task, op) table of :meth:`Result.per_op`."""
    all_rows = r._rows()
    rows = all_rows[all_rows["op"] >= 0]
    keys = ["task", "op", "module", "layer"]
    unit = "unit" if r.compact is not None else "request"
    if rows.empty:
        return pd.DataFrame(columns=keys + ["executions", "energy_J"])
    table = _category_pivot(rows, keys)
    table["energy_J"] = table.sum(axis=1)
    grouped = rows.groupby(keys, sort=False, observed=True)
    if r.compact is not None:   # each shape that runs the op counts its requests
        units = rows.groupby(keys + [unit], sort=False, observed=True)["weight"].first()
        table["executions"] = units.groupby(level=keys, observed=True).sum().astype(np.int64)
    else:
        table["executions"] = grouped["request"].nunique()
    table["energy_per_execution_J"] = table["energy_J"] / table["executions"]
    reads = rows["category"] == "read"
    table["read_bytes"] = rows[reads].groupby(keys, observed=True)["bytes"].sum()
    table["write_bytes"] = rows[rows["category"] == "write"].groupby(keys, observed=True)["bytes"].sum()
    if r.compact is not None:
        spans = rows.groupby(keys + [unit], observed=True).agg(s=("start_s", "min"), e=("end_s", "max"),
                                                                 w=("weight", "first"))
        weighted = ((spans["e"] - spans["s"]) * spans["w"]).groupby(level=keys, observed=True).sum()
        table["time_per_execution_s"] = weighted / spans["w"].groupby(level=keys, observed=True).sum()
    else:
        spans = rows.groupby(keys + ["request"], observed=True).agg(s=("start_s", "min"), e=("end_s", "max"))
        table["time_per_execution_s"] = (spans["e"] - spans["s"]).groupby(level=keys, observed=True).mean()
    table = table.fillna({"read_bytes": 0.0, "write_bytes": 0.0}).reset_index()
    table = _plain_text(table)
    table["macs"] = [_op_macs(r, task, op) for task, op in zip(table["task"], table["op"])]
    return table.sort_values(["task", "op"], kind="stable").reset_index(drop=True)


def _op_macs(r: Any, task: str, op: int) -> float:
    """MACs of one op of a task's trace (NaN when the workload is not known)."""
    traces = getattr(r.workload, "traces", None) or {}
    trace = traces.get(task)
    if trace is None or op >= len(trace.ops):
        return float("nan")
    return float(trace.ops[op].macs)


def per_layer(r: Any) -> pd.DataFrame:
    """The per-(task, layer) table of :meth:`Result.per_layer`."""
    all_rows = r._rows()
    rows = all_rows[all_rows["op"] >= 0]
    keys = ["task", "layer"]
    if rows.empty:
        return pd.DataFrame(columns=keys + ["energy_J"])
    table = _category_pivot(rows, keys)
    table["energy_J"] = table.sum(axis=1)
    table["first_op"] = rows.groupby(keys, observed=True)["op"].min()
    table = _plain_text(table.reset_index()).sort_values(["task", "first_op"], kind="stable")
    counts = r.requests.groupby("task", observed=True).size()
    table["energy_per_request_J"] = table["energy_J"] / table["task"].astype(object).map(counts).astype(float)
    return table.drop(columns="first_op").reset_index(drop=True)


def per_memory(r: Any) -> pd.DataFrame:
    """The per-memory table of :meth:`Result.per_memory`."""
    memories = getattr(r.platform, "memories", {}) or {}
    all_rows = r._rows()
    rows = all_rows[all_rows["component"].isin(list(memories))]
    energy = _category_pivot(rows, ["component"]).reindex(list(memories), fill_value=0.0)
    nbytes = _category_pivot(rows, ["component"], "bytes").reindex(list(memories), fill_value=0.0)
    occupancy = getattr(r.placement, "occupancy", None) or {}
    records = []
    for name, mem in memories.items():
        word = max(1.0, getattr(mem, "word_bits", 8) / 8.0)
        read_b = float(nbytes.loc[name, "read_bytes"])
        write_b = float(sum(nbytes.loc[name, f"{c}_bytes"] for c in WRITE_CATEGORIES))
        e = energy.loc[name]
        dynamic = float(sum(e[f"{c}_energy_J"] for c in DYNAMIC_CATEGORIES))
        records.append({
            "memory": name, "technology": getattr(mem, "technology", ""), "kind": memory_kind(mem),
            "capacity_bytes": getattr(mem, "capacity_bytes", float("nan")),
            "read_bytes": read_b, "write_bytes": write_b,
            "reads": math.ceil(read_b / word), "writes": math.ceil(write_b / word),
            **{f"{c}_energy_J": float(e[f"{c}_energy_J"]) for c in CATEGORIES},
            "dynamic_energy_J": dynamic, "leakage_energy_J": float(e["leakage_energy_J"]),
            "energy_J": float(e.sum()),
            "peak_occupancy_bytes": float(occupancy.get(name, 0.0)),
            "refetch": float((r.meta.get("refetch") or {}).get(name, float("nan"))),
            "area_m2": getattr(mem, "area_m2", float("nan")),
        })
    return pd.DataFrame.from_records(records)


def per_compute(r: Any) -> pd.DataFrame:
    """The per-compute-unit table of :meth:`Result.per_compute`."""
    records = []
    all_rows = r._rows()
    makespan = r.makespan_s
    service = _union_length(r.requests["start_s"].to_numpy(float), r.requests["end_s"].to_numpy(float))
    for unit in compute_units(r.platform):
        rows = all_rows[all_rows["component"] == unit]
        compute = rows[rows["category"] == "compute"]
        if r.compact is not None:
            busy = r.compact.busy_s(unit, "compute")
        else:
            busy = _union_length(compute["start_s"].to_numpy(float), compute["end_s"].to_numpy(float))
        records.append({
            "unit": unit,
            "compute_energy_J": float(compute["energy_J"].sum()),
            "leakage_energy_J": float(rows.loc[rows["category"] == "leakage", "energy_J"].sum()),
            "energy_J": float(rows["energy_J"].sum()),
            "busy_s": busy, "utilisation": busy / makespan if makespan > 0 else 0.0,
            "service_utilisation": busy / service if service > 0 else 0.0,
        })
    return pd.DataFrame.from_records(records)


def per_request(r: Any) -> pd.DataFrame:
    """The per-request table of :meth:`Result.per_request`."""
    table = r.requests.copy()
    if r.compact is not None:
        energy, dynamic = r.compact.request_sums()
        by_id = pd.Series(energy, index=r.compact.request)
        table["energy_J"] = table["request"].map(by_id).fillna(0.0).astype(float)
        table["dynamic_energy_J"] = table["request"].map(
            pd.Series(dynamic, index=r.compact.request)).fillna(0.0).astype(float)
        return table
    rows = r.ledger[r.ledger["request"] >= 0]
    total = rows.groupby("request")["energy_J"].sum()
    dynamic = rows[rows["category"].isin(DYNAMIC_CATEGORIES)].groupby("request")["energy_J"].sum()
    table["energy_J"] = table["request"].map(total).fillna(0.0).astype(float)
    table["dynamic_energy_J"] = table["request"].map(dynamic).fillna(0.0).astype(float)
    return table


def per_task(r: Any) -> pd.DataFrame:
    """The per-task table of :meth:`Result.per_task`."""
    req = r.per_request()
    req["task"] = req["task"].astype(object)
    grouped = req.groupby("task", sort=True)
    table = pd.DataFrame({
        "requests": grouped.size(),
        "switches": grouped["switch"].sum().astype(int),
        "energy_J": grouped["energy_J"].sum(),
        "latency_mean_s": grouped["latency_s"].mean(),
        "latency_p50_s": grouped["latency_s"].quantile(0.50),
        "latency_p99_s": grouped["latency_s"].quantile(0.99),
    })
    table["energy_per_request_J"] = table["energy_J"] / table["requests"]
    return table.reset_index()


def per_component(r: Any) -> pd.DataFrame:
    """The per-component table of :meth:`Result.per_component`."""
    table = _category_pivot(r._rows(), ["component"]).reset_index()
    table["energy_J"] = table[[f"{c}_energy_J" for c in CATEGORIES]].sum(axis=1)
    table["kind"] = [component_kind(c, r.platform) for c in table["component"]]
    table["component"] = table["component"].astype(object)
    return table


def mapping_table(r: Any) -> pd.DataFrame | None:
    """The per-op mapping (tiles, loop order, re-fetches) when the run's traffic had mappings
    (``meta["mappings"]``: a DataFrame, or records), else ``None``."""
    mappings = r.meta.get("mappings")
    if mappings is None:
        return None
    table = mappings if isinstance(mappings, pd.DataFrame) else pd.DataFrame.from_records(mappings)
    return None if table.empty else table


def nvm_wear(r: Any) -> pd.DataFrame:
    """The NVM wear table of :meth:`Result.nvm_wear`."""
    mem = r.per_memory()
    memories = getattr(r.platform, "memories", {}) or {}
    recorded = r.meta.get("memory_writes") or {}
    span = r.makespan_s
    records = []
    for row in mem[mem["kind"] == "nvm"].itertuples():
        endurance = float(getattr(memories[row.memory], "endurance_writes", math.inf))
        if row.memory in recorded:
            cell_writes = float(recorded[row.memory]["cell_writes"])
        else:
            cell_writes = row.write_bytes / row.peak_occupancy_bytes if row.peak_occupancy_bytes else 0.0
        rate = row.write_bytes / span if span > 0 else 0.0
        cell_rate = cell_writes / span if span > 0 else 0.0
        records.append({
            "memory": row.memory, "write_bytes": row.write_bytes, "write_rate_Bps": rate,
            "cell_writes": cell_writes, "endurance_writes": endurance,
            "lifetime_s": endurance / cell_rate if cell_rate > 0 else math.inf,
            "lifetime_levelled_s": row.capacity_bytes * endurance / rate if rate > 0 else math.inf,
        })
    return pd.DataFrame.from_records(records, columns=[
        "memory", "write_bytes", "write_rate_Bps", "cell_writes", "endurance_writes", "lifetime_s",
        "lifetime_levelled_s"])


def nvm_wear_tensors(r: Any) -> pd.DataFrame:
    """Per tensor written in a non-volatile memory (``meta["tensor_writes"]``): bytes written, the
    writes each of its cells sees (bytes / its size), the memory's endurance and the tensor's
    lifetime at this run's rate (s; endurance / cell writes per s, the tensor at fixed addresses,
    no wear levelling). Empty without the record or without NVM writes."""
    memories = getattr(r.platform, "memories", {}) or {}
    span = r.makespan_s
    rows = []
    for t in r.meta.get("tensor_writes") or []:
        mem = memories.get(t["memory"])
        if mem is None or getattr(mem, "volatile", True):
            continue
        endurance = float(getattr(mem, "endurance_writes", math.inf))
        cell_rate = t["cell_writes"] / span if span > 0 else 0.0
        rows.append({**t, "endurance_writes": endurance,
                     "lifetime_s": endurance / cell_rate if cell_rate > 0 else math.inf})
    return pd.DataFrame.from_records(rows, columns=[
        "memory", "tensor", "role", "owner", "task", "size_bytes", "write_bytes", "cell_writes",
        "endurance_writes", "lifetime_s"])


def load(r: Any) -> dict[str, float]:
    """Whether the platform keeps up with the offered load. ``arrival_rate_Hz``: requests over the span
    of their arrivals (n − 1 intervals); ``offered_utilisation``: arrival rate × mean service time
    (> 1: requests arrive faster than they are served, the queue grows without bound and the quoted
    latencies depend on the run's length); ``queue_growth``: least-squares slope of each request's
    waiting time (start − arrival) against its arrival time (s of wait per s; about offered
    utilisation − 1 when overloaded, about 0 when stable); ``overloaded``: offered utilisation > 1."""
    req = r.requests
    if len(req) < 2:
        return {"arrival_rate_Hz": float("nan"), "offered_utilisation": float("nan"),
                "queue_growth": 0.0, "overloaded": False}
    arrival = req["arrival_s"].to_numpy(float)
    start, end = req["start_s"].to_numpy(float), req["end_s"].to_numpy(float)
    span = float(arrival.max() - arrival.min())
    rate = (len(req) - 1) / span if span > 0 else math.inf
    service = float(np.mean(end - start))
    wait = start - arrival
    a = arrival - arrival.mean()
    denom = float(np.dot(a, a))
    growth = float(np.dot(a, wait - wait.mean()) / denom) if denom > 0 else 0.0
    rho = rate * service
    return {"arrival_rate_Hz": rate, "offered_utilisation": rho, "queue_growth": growth,
            "overloaded": bool(rho > 1.0)}


def lower_bound_J(r: Any) -> float:
    """A floor on the run's energy, J: the sum over requests of the run's per-inference lower bound of
    the request's task (``meta["lower_bound_J"]``, from :func:`simulator.cost.tables.lower_bound`: MACs ×
    the cheapest MAC energy + compulsory bytes × the cheapest energy per byte). NaN when unknown."""
    bounds = r.meta.get("lower_bound_J")
    if not isinstance(bounds, dict) or not len(r.requests):
        return float("nan")
    keys = r.meta.get("request_keys")                                  # early exits: their own floor
    counts = (pd.Series(keys, dtype=object) if keys else r.requests["task"].astype(object)).value_counts()
    return float(sum(bounds[key] * float(k) for key, k in counts.items()))


def summary(r: Any) -> dict[str, Any]:
    """The headline numbers of :meth:`Result.summary`."""
    n = max(1, r.n_requests)
    total = r.total_energy_J
    cats = r._rows().groupby("category", observed=True)["energy_J"].sum()
    cats = cats.set_axis(cats.index.astype(object)).reindex(list(CATEGORIES), fill_value=0.0)
    span = r.makespan_s
    lat = r.requests["latency_s"] if len(r.requests) else pd.Series(dtype=float)
    bound = r.lower_bound_J()
    wear = r.nvm_wear()
    occupancy = getattr(r.placement, "occupancy", None) or {}
    out: dict[str, Any] = {
        "platform": r.name,
        "requests": r.n_requests,
        "switches": int(r.requests["switch"].sum()) if len(r.requests) else 0,
        "energy_J": total,
        "energy_per_inference_J": total / n,
        "dynamic_energy_per_inference_J": float(cats[list(DYNAMIC_CATEGORIES)].sum()) / n,
        "leakage_energy_per_inference_J": float(cats[list(STATIC_CATEGORIES)].sum()) / n,
        "leakage_share": float(cats[list(STATIC_CATEGORIES)].sum()) / total if total > 0 else 0.0,
        **{f"{c}_energy_J": float(cats[c]) for c in CATEGORIES},
        "latency_mean_s": float(lat.mean()) if len(lat) else float("nan"),
        "latency_p50_s": _percentile(lat, 50),
        "latency_p99_s": _percentile(lat, 99),
        "makespan_s": span,
        "throughput_rps": r.n_requests / span if span > 0 else float("nan"),
        "average_power_W": total / span if span > 0 else float("nan"),
        "peak_power_W": r.peak_power_W(),
        "power_window_s": r.power_window_s,
        "area_m2": float(getattr(r.platform, "area_m2", float("nan"))),
        "peak_occupancy_bytes": {k: float(v) for k, v in occupancy.items()},
        "nvm_write_bytes": float(wear["write_bytes"].sum()),
        "nvm_lifetime_s": float(wear["lifetime_s"].min()) if len(wear) else math.inf,
        "nvm_lifetime_levelled_s": float(wear["lifetime_levelled_s"].min()) if len(wear) else math.inf,
        **r.load(),
        "lower_bound_J": bound,
        "lower_bound_per_inference_J": bound / n,
        "ratio_to_lower_bound": total / bound if bound and bound > 0 else float("nan"),
    }
    by_kind = r.per_component().groupby("kind")["energy_J"].sum()
    for kind in ("compute", "sram", "nvm", "dram", "interconnect"):
        out[f"{kind}_energy_per_inference_J"] = float(by_kind.get(kind, 0.0)) / n
    return out


def mapping_table_of(prepared: Any) -> pd.DataFrame:
    """One row per (task, op) whose traffic has a tiling mapping (:class:`simulator.prepare.mapping.Mapping`):
    loop order, tiles (elements), the mapped GEMM, operand fetch counts, MAC-array cycles, utilisation,
    the buffer bytes the tiles occupy, the objective and ``candidates``: how many mappings the search
    evaluated for the op (its search budget)."""
    records = []
    for task, arrays in prepared.tasks.items():
        for op_id, module, traffic in zip(arrays.op_ids, arrays.modules, arrays.traffic):
            m = getattr(traffic, "mapping", None)
            if m is None:
                continue
            records.append({"task": task, "op": int(op_id), "module": module, "buffer": m.buffer,
                            "loop_order": m.loop_order, "tile_m": m.tiles[0], "tile_k": m.tiles[1],
                            "tile_n": m.tiles[2], "batch": m.gemm[0], "m": m.gemm[1], "k": m.gemm[2],
                            "n": m.gemm[3], **{f"fetches_{k}": v for k, v in sorted(m.fetches.items())},
                            "cycles": m.cycles, "utilisation": m.utilisation,
                            "footprint_bytes": m.footprint_bytes, "objective": m.objective,
                            "candidates": m.candidates_evaluated})
    return pd.DataFrame.from_records(records)


def refetch_factors(prepared: Any, tasks: Sequence[str]) -> dict[str, float]:
    """Per home memory: bytes the ops moved to and from it over their compulsory bytes (every operand read
    and written once), over one request of each task in ``tasks`` (a run's request tasks, repeats
    counted; a request key of an early exit counts its prefix of ops). 1.0 means no re-fetch; memories
    without compulsory traffic (a staging buffer) are left out."""
    from collections import Counter

    moved: dict[str, float] = {}
    base: dict[str, float] = {}
    for task, n in Counter(tasks).items():
        arrays = prepared.arrays(task) if hasattr(prepared, "arrays") else prepared.tasks[task]
        for tr in arrays.traffic:
            for m in set(tr.compulsory_reads) | set(tr.compulsory_writes):
                base[m] = base.get(m, 0.0) + n * (tr.compulsory_reads.get(m, 0.0) + tr.compulsory_writes.get(m, 0.0))
                moved[m] = moved.get(m, 0.0) + n * (tr.reads.get(m, 0.0) + tr.writes.get(m, 0.0))
    return {m: moved[m] / base[m] for m in prepared.memories if base.get(m, 0.0) > 0}



# ------------------------------------------------------------------------------------------ writing
#: Every table a result writes, by file stem, in the order they are written.
TABLE_STEMS = ("per_op", "per_layer", "per_memory", "per_compute", "per_task", "per_request", "per_component",
               "nvm_wear", "nvm_wear_tensors")


def summary_document(r: Any) -> dict:
    """``{"summary": ..., "meta": ...}`` of :meth:`Result.summary_document`."""
    meta = {k: v for k, v in r.meta.items() if not isinstance(v, pd.DataFrame)}
    return json_safe({"summary": r.summary(), "meta": meta})


def summary_json(r: Any) -> str:
    """:func:`summary_document` of ``r`` as indented JSON text (what ``summary.json`` holds)."""
    return json.dumps(summary_document(r), indent=2, default=str)


def write_into(r: Any, folder: Path, *, ledger: bool = False) -> list[Path]:
    """Write the tables of ``r``, ``summary.json`` and optionally the ledger into an existing folder
    (:meth:`Result.write_into`). Returns the files written."""
    written = [write_table(table, folder, stem) for stem, table in r._tables().items()]
    if ledger:
        rows = len(r.compact) if r.compact is not None else len(r.ledger)
        if rows > PARQUET_ROWS:
            written.append(write_ledger_parquet(r, folder / "ledger.parquet"))
        else:
            written.append(write_ledger_csv(r, folder / "ledger.csv"))
    written.append(folder / "summary.json")
    written[-1].write_text(r.summary_json() + "\n")
    return written


def write_ledger_csv(r: Any, path: Path, chunk_requests: int = 2000) -> Path:
    """Write the full ledger of ``r`` as CSV; a compact ledger is materialised ``chunk_requests`` requests
    at a time (so memory stays bounded), then its idle rows."""
    if r.compact is None:
        r.ledger.to_csv(path, index=False)
        return path
    ids = r.compact.request
    with open(path, "w", newline="") as fh:
        for lo in range(0, max(1, len(ids)), chunk_requests):
            part = r.compact.frame(ids[lo:lo + chunk_requests], idle=False)
            part.to_csv(fh, index=False, header=lo == 0)
        idle = r.compact.frame([], idle=True)
        idle.to_csv(fh, index=False, header=len(ids) == 0)
    return path


def write_ledger_parquet(r: Any, path: Path, chunk_requests: int = 20_000) -> Path:
    """Write the full ledger of ``r`` as Parquet, a compact ledger ``chunk_requests`` requests at a time
    (one row group each, so memory stays bounded), then its idle rows. Text columns are plain strings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def arrow(frame: pd.DataFrame):
        return pa.Table.from_pandas(_plain_text(frame.copy()), preserve_index=False)

    if r.compact is None:
        pq.write_table(arrow(r.ledger), path)
        return path
    ids = r.compact.request
    writer = None
    try:
        parts = [ids[lo:lo + chunk_requests] for lo in range(0, len(ids), chunk_requests)]
        for part in [*parts, None]:
            frame = r.compact.frame([], idle=True) if part is None else r.compact.frame(part, idle=False)
            table = arrow(frame)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table.cast(writer.schema))
    finally:
        if writer is not None:
            writer.close()
    return path
