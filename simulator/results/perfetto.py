"""A run's timeline as Chrome/Perfetto trace JSON (open it in https://ui.perfetto.dev): a power counter,
a track of requests and one track per component with its events (energy in J, bytes)."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from simulator.results.tables import compute_units

#: Samples of the power counter track in a Perfetto export.
PERFETTO_POWER_POINTS = 2000


def perfetto_events(r: Any, *, pid: int = 1, max_detail_requests: int | None = None) -> list[dict]:
    """Chrome trace events (times in µs) for this run: a power counter (W, about
    ``PERFETTO_POWER_POINTS`` samples), a track of requests, then one track per component with an event
    per (request, op, component, category) carrying its energy (J) and bytes. Only the first
    ``max_detail_requests`` requests get op-level events (all when ``None``). Metadata comes first,
    then the events of each track in time order. (The events :func:`write_perfetto` writes, parsed.)"""
    return [json.loads(text) for text in perfetto_json_events(r, pid=pid, max_detail_requests=max_detail_requests)]


def _numbers(values: list) -> list[str]:
    """Each value (a Python float) as ``json.dumps`` writes it: ``repr``, NaN and infinities as their
    JavaScript names."""
    if np.isfinite(np.asarray(values, dtype=float)).all():
        return list(map(float.__repr__, values))
    names = {math.inf: "Infinity", -math.inf: "-Infinity"}
    return ["NaN" if x != x else names.get(x) or float.__repr__(x) for x in values]


def perfetto_json_events(r: Any, *, pid: int = 1, max_detail_requests: int | None = None) -> list[str]:
    """The events of :func:`perfetto_events`, each as the JSON text ``json.dumps`` gives it, in order.
    Built column-wise and formatted from templates (tens of thousands of events per run): no dict per
    event, one ``numpy.lexsort`` for the order instead of a sort with a key function."""
    meta = [json.dumps({"ph": "M", "pid": pid, "name": "process_name", "args": {"name": r.name}})]
    tids = {"requests": 0}
    units = compute_units(r.platform)
    for comp in list(units) + list(getattr(r.platform, "memories", {}) or {}) + sorted(
            set(r._rows()["component"].astype(object)) - set(units)):
        tids.setdefault(comp, len(tids))
    for comp, tid in tids.items():
        meta.append(json.dumps({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": comp}}))
    events: list[str] = []
    keys: list[tuple[list, list, list]] = []       # per part: tid, ts and -dur of its events (the order)
    window = max(r.power_window_s, r.makespan_s / PERFETTO_POWER_POINTS)
    profile = r.power_profile(window)
    ts = [round(start * 1e6, 4) for start in profile["start_s"].tolist()]
    events += [f'{{"ph": "C", "pid": {pid}, "name": "power (W)", "ts": {t}, "args": {{"W": {w}}}}}'
               for t, w in zip(_numbers(ts), _numbers(profile["power_W"].tolist()))]
    keys.append(([-1] * len(ts), ts, [-0.0] * len(ts)))
    q = r.requests
    start, end = q["start_s"].tolist(), q["end_s"].tolist()
    ts = [s * 1e6 for s in start]
    dur = [max(0.0, (e - s) * 1e6) for s, e in zip(start, end)]
    for request, task, switch, t, d, arrival, latency in zip(
            q["request"].tolist(), q["task"].astype(object).tolist(), q["switch"].tolist(), _numbers(ts),
            _numbers(dur), _numbers(q["arrival_s"].tolist()), _numbers(q["latency_s"].tolist())):
        events.append(f'{{"ph": "X", "pid": {pid}, "tid": 0, "name": {json.dumps(f"request {request} ({task})")}, '
                      f'"cat": "{"switch" if switch else "request"}", "ts": {t}, "dur": {d}, '
                      f'"args": {{"task": {json.dumps(task)}, "switch": {"true" if switch else "false"}, '
                      f'"arrival_s": {arrival}, "latency_s": {latency}}}}}')
    keys.append(([0] * len(ts), ts, [-d for d in dur]))
    if max_detail_requests is not None:
        rows = r.ledger_of(r.requests["request"].iloc[:max_detail_requests].tolist())
    else:
        rows = r.ledger
    rows = rows[rows["category"] != "leakage"]
    g = rows.groupby(["request", "op", "component", "task", "module", "category"], sort=False,
                     observed=True).agg(start_s=("start_s", "min"), end_s=("end_s", "max"),
                                        energy_J=("energy_J", "sum"), bytes=("bytes", "sum")).reset_index()
    request, op = g["request"].tolist(), g["op"].tolist()
    comp, task, module, cat = (g[c].astype(object).tolist() for c in ("component", "task", "module", "category"))
    start, end = g["start_s"].tolist(), g["end_s"].tolist()
    ts = [round(s * 1e6, 4) for s in start]
    dur = [round(max(0.0, (e - s) * 1e6), 4) for s, e in zip(start, end)]
    tid_of = [tids[c] for c in comp]
    neg = [-d for d in dur]
    quoted = {v: json.dumps(v) for v in {*module, *cat, *task}}   # the few distinct strings, as JSON once
    for rq, o, tid, m, c, tk, t, d, e, b in zip(request, op, tid_of, module, cat, task, _numbers(ts), _numbers(dur),
                                               _numbers(g["energy_J"].astype(float).tolist()),
                                               _numbers(g["bytes"].astype(float).tolist())):
        events.append(f'{{"ph": "X", "pid": {pid}, "tid": {tid}, "name": {quoted[m or c]}, "cat": {quoted[c]}, '
                      f'"ts": {t}, "dur": {d}, "args": {{"request": {int(rq)}, "op": {int(o)}, "task": {quoted[tk]}, '
                      f'"energy_J": {e}, "bytes": {b}}}}}')
    keys.append((tid_of, ts, neg))
    # in time order per track (the counter, then each thread; an enclosing event before what it holds):
    # Perfetto sorts on load, other readers of the format do not. lexsort is stable: ties keep this order
    tid_key, ts_key, dur_key = (np.concatenate([np.asarray(k[i], dtype=float) for k in keys]) for i in range(3))
    order = np.lexsort((dur_key, ts_key, tid_key))
    return meta + [events[i] for i in order.tolist()]


def write_perfetto(results: list[Any], path: str | os.PathLike, *,
                   max_detail_requests: int | None = None) -> Path:
    """Write the timelines of several results (one Perfetto process each) to one trace JSON file,
    atomically. Returns ``path``."""
    events: list[str] = []
    for pid, result in enumerate(results, start=1):
        events.extend(perfetto_json_events(result, pid=pid, max_detail_requests=max_detail_requests))
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text('{"traceEvents": [' + ", ".join(events) + '], "displayTimeUnit": "ns"}')
    os.replace(tmp, path)
    return path
