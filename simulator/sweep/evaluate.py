"""Evaluating one group of sweep points: the points that share a workload, a request stream and the
platform structure a preparation depends on. Runs in a worker process or on a Dask worker.

The traces come from the trace cache (the parent traced each workload once before dispatching); the
group prepares once and serves every variant :func:`simulator.sweep.mapcheck.served` accepts, then
prepares again for the first variant it does not, and so on. A group whose placement fails gives one
``feasible = false`` row per point with the reason.
"""
from __future__ import annotations

import dataclasses
import json
import math
import traceback
from typing import Sequence


from simulator.errors import SimulationConfigError
from simulator.sweep.metrics import METRICS, SUMMARY_METRICS


def arrival_rate(study) -> float:
    """The scenario's mean arrival rate (Hz): ``rate`` for Poisson arrivals, else 1 / ``period``."""
    sc = study.scenario
    return float(sc.rate) if sc.stream == "poisson" else 1.0 / float(sc.period)


#: The traces of the last few workloads this process evaluated (a worker's units mostly share one): the
#: trace cache on disk is read once per workload per worker, not once per unit.
_TRACES: dict = {}


def workload_of(study, mode: str, model: str | None = None, adapter: str | None = None):
    """The study's Workload for serving ``mode`` with ``model``/``adapter`` (default: the study's): traces
    through the trace cache, the stream with its early-exit layers, as ``hetsim run`` builds them."""
    from simulator.prepare.served_workload import Workload
    from simulator.study.runner import build_stream, build_traces, exit_stream

    model = model or study.model
    adapter = (adapter or study.adapter) if mode == "adapters" else None
    meta = {"study": study.name, "model": model, "mode": mode, "adapter": adapter,
            "compression": study.compression.model_dump(), "seed": study.scenario.seed}
    key = (json.dumps(study.model_dump(mode="json", exclude={"scenario"}), sort_keys=True, default=str), mode, model,
           adapter)                          # everything but the request stream: what the traces can follow from
    traces = _TRACES.pop(key, None)
    if traces is None:
        traces = build_traces(study, mode, model=model, adapter=adapter)
    _TRACES[key] = traces                    # most recent last
    while len(_TRACES) > 4:
        _TRACES.pop(next(iter(_TRACES)))
    return Workload(f"{study.name}:{mode}", traces, exit_stream(study, build_stream(study), traces), meta)


def _base_row(r, evaluator: str) -> dict:
    from simulator._version import __version__

    return {"point_id": r.point_id, "point": r.index, "platform": r.platform_key, "mode": r.mode,
            **r.values, "point_json": json.dumps(r.point, sort_keys=True, default=str), "evaluator": evaluator, "hetsim_version": __version__}


def _failed(r, evaluator: str, reason: str) -> dict:
    return {**_base_row(r, evaluator), **{m: math.nan for m in METRICS}, "feasible": False,
            "overloaded": False, "reason": reason}


def _finish_row(r, evaluator: str, metrics: dict, refetch: dict[str, float]) -> dict:
    row = {**_base_row(r, evaluator), **{m: float(metrics.get(m, math.nan)) for m in METRICS}}
    row["feasible"] = bool(metrics.get("feasible", True))
    row["overloaded"] = bool(metrics.get("overloaded", False))
    row["reason"] = "" if row["feasible"] else "placement exceeds a memory's capacity"
    row.update({f"refetch_{m}": float(v) for m, v in refetch.items()})
    return row


def evaluate_group(points: Sequence, evaluator: str = "analytic") -> list[dict]:
    """Rows (dicts: point_id, axis columns, metrics, feasible, overloaded, reason, evaluator, ...) of the
    resolved ``points`` (one group: same workload, stream and placement-relevant structure)."""
    from simulator.cost.tables import platform_params, prepare
    from simulator.sweep.fast import evaluate_fast, refetch, take
    from simulator.sweep.mapcheck import placement_served, served
    from simulator.study.runner import build_stream, exit_stream

    points = list(points)
    first = points[0]
    try:
        entry = first.study.platforms[0]
        model, mode, adapter = entry.serves(first.study)
        workload = workload_of(first.study, mode, model, adapter)
        streams = {}
        for r in points:
            if r.stream_key not in streams:
                streams[r.stream_key] = workload.with_stream(exit_stream(r.study, build_stream(r.study),
                                                                         workload.traces)) \
                    if r.study is not first.study else workload
        platforms = [r.platform() for r in points]
    except SimulationConfigError as exc:
        return [_failed(r, evaluator, str(exc).splitlines()[0]) for r in points]
    rows: dict[int, dict] = {}
    todo = list(range(len(points)))
    while todo:
        base = todo[0]
        try:
            prepared = prepare(workload, platforms[base])
        except SimulationConfigError as exc:
            # the same failure for every point with these capacities (the rest of the group's structure
            # is shared); points with other capacities are prepared on their own
            reason = str(exc).splitlines()[0]
            caps = {m: mem.capacity_bytes for m, mem in platforms[base].memories.items()}
            for i in todo:
                if {m: mem.capacity_bytes for m, mem in platforms[i].memories.items()} == caps:
                    rows[i] = _failed(points[i], evaluator, reason)
            todo = [i for i in todo if i not in rows]
            continue
        group = [platforms[i] for i in todo]
        pp = platform_params(group, prepared.memories)
        ok = placement_served(prepared, group)
        ok &= served(prepared, group, pp)
        ok[0] = True
        mine = [(i, k) for k, (i, keep) in enumerate(zip(todo, ok)) if keep]
        for key, wl in streams.items():
            here = [i for i, _ in mine if points[i].stream_key == key]
            if not here:
                continue
            prep = dataclasses.replace(prepared, workload=wl)
            ref = refetch(prep)
            if evaluator == "analytic" and points[here[0]].study.dvfs is None:
                at = [k for i, k in mine if points[i].stream_key == key]
                table = evaluate_fast(prep, [platforms[i] for i in here],
                                      pp=pp if len(at) == len(todo) else take(pp, at))
                for i, rec in zip(here, table.to_dict("records")):
                    rows[i] = _finish_row(points[i], evaluator, rec, ref)
            else:
                for i in here:     # the engine, or the closed form per point (DVFS assigns per platform)
                    rows[i] = _finish_row(points[i], evaluator, run_metrics(wl, prep, platforms[i], points[i].study,
                                                                            evaluator), ref)
        todo = [i for i, keep in zip(todo, ok) if not keep]
    return [rows[i] for i in range(len(points))]


def run_metrics(workload, prepared, platform, study, evaluator: str = "engine") -> dict:
    """Every summary metric of one run on ``platform`` (served by ``prepared``) through the study's own
    path: DVFS assignment when the study has one, then the SimPy engine or the closed form, then
    :meth:`Result.summary`."""
    from simulator.results.result import Result

    prepared = dataclasses.replace(prepared, platform=platform, workload=workload)
    if study.dvfs is not None:
        from simulator.study.runner import _apply_dvfs

        workload, _ = _apply_dvfs(study, study.platforms[0], platform, workload, prepared)
        prepared.workload = workload
    if evaluator == "engine":
        from simulator.engine.discrete_event import simulate

        sc = study.scenario
        run = simulate(workload, platform, prepared=prepared, seed=sc.seed, max_in_flight=sc.max_in_flight,
                       engine=sc.engine)
    else:
        from simulator.analytic.closed_form import evaluate

        run = evaluate(workload, platform, prepared=prepared)
    result = Result.from_run(run, prepared=prepared)
    summary = result.summary()
    out = {m: summary.get(m, math.nan) for m in SUMMARY_METRICS}
    out["service_mean_s"] = float(result.requests["service_s"].mean()) if len(result.requests) else math.nan
    out["overloaded"] = bool(summary.get("overloaded", False))
    cap = {m: platform.memories[m].capacity_bytes for m in prepared.memories}
    out["feasible"] = all(prepared.placement.occupancy.get(m, 0.0) <= cap[m] for m in cap)
    return out


def safe_evaluate_group(points: Sequence, evaluator: str = "analytic") -> list[dict]:
    """:func:`evaluate_group`, with an unexpected error turned into ``feasible = false`` rows that carry
    the error (a sweep never aborts for one group); user errors keep their one line."""
    try:
        return evaluate_group(points, evaluator)
    except Exception as exc:   # noqa: BLE001 - reported per point, not swallowed
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        tb = traceback.format_exc(limit=1).strip().splitlines()[-1]
        return [_failed(r, evaluator, f"error: {type(exc).__name__}: {line}" if line else tb) for r in points]


class _Unresolved:
    """What a failed row needs of a point that could not be resolved."""

    def __init__(self, index: int, point: dict, point_id: str, platform_key: str, mode: str):
        self.index, self.point, self.point_id, self.platform_key, self.mode = index, point, point_id, platform_key, mode
        self.values = {p: (v if isinstance(v, str) else float(v) if isinstance(v, (int, float)) else str(v))
                       for p, v in point.items()}


def evaluate_unit(spec, base, items: Sequence[tuple[int, dict, str]], evaluator: str | None = None) -> list[dict]:
    """Resolve ``items`` ((index, point, point_id)) through the normal loaders and evaluate them, grouped by
    preparation. A point that does not resolve (a combination of values the loaders refuse) is a
    ``feasible = false`` row with the loader's message. Runs in a worker process or on a Dask worker."""
    from simulator.sweep.points import resolve

    evaluator = evaluator or spec.evaluator
    rows: dict[int, dict] = {}
    groups: dict[str, list] = {}
    for index, point, pid in items:
        try:
            r = resolve(spec, base, index, point, pid)
        except SimulationConfigError as exc:
            key = point.get("platform", base.platforms[0][0])
            mode = next(p[3] for p in base.platforms if p[0] == key)
            rows[index] = _failed(_Unresolved(index, point, pid, key, mode), evaluator, str(exc).splitlines()[0])
            continue
        groups.setdefault(r.prep_key, []).append(r)
    for group in groups.values():
        for r, row in zip(group, safe_evaluate_group(group, evaluator)):
            rows[r.index] = row
    return [rows[index] for index, _, _ in items]
