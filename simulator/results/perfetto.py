"""A run's timeline as Chrome/Perfetto trace JSON (open it in https://ui.perfetto.dev): a power counter,
a track of requests and one track per component with its events (energy in J, bytes)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from simulator.results.tables import compute_units

#: Samples of the power counter track in a Perfetto export.
PERFETTO_POWER_POINTS = 2000


def perfetto_events(r: Any, *, pid: int = 1, max_detail_requests: int | None = None) -> list[dict]:
    """Chrome trace events (times in µs) for this run: a power counter (W, about
    ``PERFETTO_POWER_POINTS`` samples), a track of requests, then one track per component with an event
    per (request, op, component, category) carrying its energy (J) and bytes. Only the first
    ``max_detail_requests`` requests get op-level events (all when ``None``). Metadata comes first,
    then the events of each track in time order."""
    events: list[dict] = [{"ph": "M", "pid": pid, "name": "process_name", "args": {"name": r.name}}]
    tids = {"requests": 0}
    units = compute_units(r.platform)
    for comp in list(units) + list(getattr(r.platform, "memories", {}) or {}) + sorted(
            set(r._rows()["component"].astype(object)) - set(units)):
        tids.setdefault(comp, len(tids))
    for comp, tid in tids.items():
        events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": comp}})
    window = max(r.power_window_s, r.makespan_s / PERFETTO_POWER_POINTS)
    profile = r.power_profile(window)
    for start, power in zip(profile["start_s"].tolist(), profile["power_W"].tolist()):
        events.append({"ph": "C", "pid": pid, "name": "power (W)", "ts": round(start * 1e6, 4),
                       "args": {"W": power}})
    for q in r.requests.itertuples():
        events.append({"ph": "X", "pid": pid, "tid": 0, "name": f"request {q.request} ({q.task})",
                       "cat": "switch" if q.switch else "request", "ts": q.start_s * 1e6,
                       "dur": max(0.0, (q.end_s - q.start_s) * 1e6),
                       "args": {"task": q.task, "switch": bool(q.switch), "arrival_s": q.arrival_s,
                                "latency_s": q.latency_s}})
    if max_detail_requests is not None:
        rows = r.ledger_of(r.requests["request"].iloc[:max_detail_requests].tolist())
    else:
        rows = r.ledger
    rows = rows[rows["category"] != "leakage"]
    g = rows.groupby(["request", "op", "component", "task", "module", "category"], sort=False,
                     observed=True).agg(start_s=("start_s", "min"), end_s=("end_s", "max"),
                                        energy_J=("energy_J", "sum"), bytes=("bytes", "sum")).reset_index()
    columns = [g[c].astype(object).tolist() if c in ("task", "module", "category", "component")
               else g[c].tolist() for c in ("request", "op", "component", "task", "module", "category",
                                       "start_s", "end_s", "energy_J", "bytes")]
    for request, op, comp, task, module, cat, start, end, energy, nbytes in zip(*columns):
        events.append({"ph": "X", "pid": pid, "tid": tids[comp], "name": module or cat, "cat": cat,
                       "ts": round(start * 1e6, 4), "dur": round(max(0.0, (end - start) * 1e6), 4),
                       "args": {"request": int(request), "op": int(op), "task": task,
                                "energy_J": float(energy), "bytes": float(nbytes)}})
    # in time order per track (the counter, then each thread; an enclosing event before what it holds):
    # Perfetto sorts on load, other readers of the format do not
    head = 1 + len(tids)
    events[head:] = sorted(events[head:], key=lambda e: (e.get("tid", -1), e["ts"], -e.get("dur", 0.0)))
    return events


def write_perfetto(results: list[Any], path: str | os.PathLike, *,
                   max_detail_requests: int | None = None) -> Path:
    """Write the timelines of several results (one Perfetto process each) to one trace JSON file,
    atomically. Returns ``path``."""
    events: list[dict] = []
    for pid, result in enumerate(results, start=1):
        events.extend(perfetto_events(result, pid=pid, max_detail_requests=max_detail_requests))
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ns"}))
    os.replace(tmp, path)
    return path
