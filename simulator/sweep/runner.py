"""Running a sweep: points -> groups -> workers -> the store -> front, report and figures."""
from __future__ import annotations

import os
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from simulator.errors import SimulationConfigError
from simulator.sweep.evaluate import evaluate_unit
from simulator.sweep.points import Keys, generate, load_base, resolve, validate_axes
from simulator.sweep.spec import SweepSpec, load_spec, spec_from_dict
from simulator.sweep.store import Store, read_dataset

#: Most points one work unit evaluates (a larger group is split; each part prepares once).
MAX_UNIT = 2500
#: Seconds between chunk writes while results come in.
FLUSH_S = 5.0


def as_spec(spec: SweepSpec | str | os.PathLike | dict | None) -> SweepSpec:
    """A SweepSpec from a SweepSpec, a path, a parsed dict or None (the bundled default sweep)."""
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, dict):
        return spec_from_dict(spec)
    return load_spec(spec)


def _units(keys: Keys, items: Sequence[tuple[int, dict, str]]) -> list[list]:
    """Work units: the (index, point, point_id) items of each group (:meth:`Keys.group`), largest first,
    split into parts of at most MAX_UNIT points."""
    groups: "OrderedDict[str, list]" = OrderedDict()
    for item in items:
        groups.setdefault(keys.group(item[1]), []).append(item)
    units = []
    for pts in groups.values():
        units.extend(pts[i:i + MAX_UNIT] for i in range(0, len(pts), MAX_UNIT))
    return sorted(units, key=len, reverse=True)


def _trace_once(spec: SweepSpec, base, keys: Keys, items: Sequence[tuple[int, dict, str]]) -> None:
    """Trace every distinct workload once (into the trace cache) before the workers load them."""
    from simulator.study.runner import build_traces

    seen = set()
    for index, point, pid in items:
        key = keys.workload(point)
        if key in seen:
            continue
        seen.add(key)
        try:
            r = resolve(spec, base, index, point, pid)
        except SimulationConfigError:
            continue                               # reported as that point's row by the worker
        model, mode, adapter = r.study.platforms[0].serves(r.study)
        build_traces(r.study, mode, model=model, adapter=adapter)


class _Runner:
    """Evaluates work units serially, in a process pool or on a Dask cluster, and streams the rows into
    the store in chunks."""

    def __init__(self, spec: SweepSpec, base: Any, store: Store, chunk_rows: int, workers: int, client: Any,
                 bar: Any):
        self.spec, self.base = spec, base
        self.store, self.chunk_rows, self.workers, self.client, self.bar = store, chunk_rows, workers, client, bar
        self.pending: list[dict] = []
        self.last_flush = time.monotonic()
        self._pool = None

    def _take(self, rows: list[dict]) -> None:
        self.pending.extend(rows)
        if self.bar is not None:
            self.bar.update(len(rows))
        if len(self.pending) >= self.chunk_rows or time.monotonic() - self.last_flush > FLUSH_S:
            self.flush()

    def flush(self) -> None:
        while self.pending:
            part, self.pending = self.pending[:self.chunk_rows], self.pending[self.chunk_rows:]
            self.store.append(part)
        self.last_flush = time.monotonic()

    def run(self, units: list[list], evaluator: str) -> list[dict]:
        """Evaluate ``units``; returns every row (also written to the store)."""
        out: list[dict] = []

        def take(rows):
            out.extend(rows)
            self._take(rows)

        if not units:
            return out
        if self.client is not None:
            from distributed import as_completed

            futures = [self.client.submit(evaluate_unit, self.spec, self.base, u, evaluator, pure=False)
                       for u in units]
            for fut in as_completed(futures):
                take(fut.result())
        elif self.workers <= 1 or len(units) == 1:
            for u in units:
                take(evaluate_unit(self.spec, self.base, u, evaluator))
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed as done

            if self._pool is None:
                import multiprocessing as mp

                self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("fork"))
            futures = [self._pool.submit(evaluate_unit, self.spec, self.base, u, evaluator) for u in units]
            for fut in done(futures):
                take(fut.result())
        self.flush()
        return out

    def close(self) -> None:
        self.flush()
        if self._pool is not None:
            self._pool.shutdown()


def run_sweep(spec: SweepSpec | str | os.PathLike | dict | None, out_dir: str | os.PathLike | None = None, *,
              workers: int | None = None, client: Any = None, progress: bool = False,
              outputs: bool = True, log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Run sweep ``spec`` (a SweepSpec, a sweep file, a parsed dict, or None for the bundled default)
    into ``out_dir`` (default ``results/sweep-<name>``) and return its rows (one per point; with
    ``confirm_front`` the front's engine rows too). Points already in the store are not evaluated again
    (resume). ``workers``: processes (default: the machine's cores; 1 runs in this process);
    ``client``: a ``distributed.Client`` to run on a Dask cluster instead. ``outputs``: write
    pareto.csv, sweep.md and the figures."""
    spec = as_spec(spec)
    started = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else Path("results") / f"sweep-{spec.name}"
    say = log or (lambda text: None)
    base = load_base(spec)
    validate_axes(spec, base)
    store = Store(out, spec.name, spec.digest)
    (out / "sweep.yaml").write_text(_spec_yaml(spec))
    workers = int(workers or os.cpu_count() or 1)
    from tqdm import tqdm

    done_keys = store.keys()
    bar = tqdm(total=0, desc=f"sweep {spec.name}", unit="pt", file=sys.stderr, disable=not progress,
               dynamic_ncols=True)
    runner = _Runner(spec, base, store, spec.chunk_rows, workers, client, bar)
    keys = Keys(spec, base)
    stats = {"evaluated": 0, "stored_before": 0}
    try:
        if spec.method == "search":
            _search(spec, base, keys, runner, done_keys, stats, bar)
        else:
            points = generate(spec, base)
            ids = [keys.point_id(p) for p in points]
            todo = [(i, p, pid) for i, (p, pid) in enumerate(zip(points, ids))
                    if (pid, spec.evaluator) not in done_keys]
            stats["stored_before"] = len(points) - len(todo)
            say(f"sweep {spec.name}: {len(points)} points ({stats['stored_before']} already stored), "
                f"{spec.evaluator} evaluator")
            bar.reset(total=len(todo))
            if todo:
                _trace_once(spec, base, keys, todo)
            units = _units(keys, todo)
            runner.run(units, spec.evaluator)
            stats["evaluated"] = len(todo)
            stats["groups"] = len(units)
            stats["ids"] = ids
        runner.flush()
        frame = _current(store, spec, stats.get("ids"))
        if spec.confirm_front and spec.evaluator == "analytic":
            frame = _confirm(spec, keys, frame, store, runner, stats)
    finally:
        runner.close()
        bar.close()
    stats["seconds"] = time.perf_counter() - started
    if outputs:
        from simulator.sweep.report import write_outputs

        write_outputs(spec, frame, out, stats)
    return frame


def _current(store: Store, spec: SweepSpec, ids: Sequence[str] | None) -> pd.DataFrame:
    """The stored rows of this sweep's points (the store may hold points of an earlier version of the
    sweep file too)."""
    frame = store.load()
    if frame.empty or ids is None:
        return frame
    return frame[frame["point_id"].isin(set(ids))].reset_index(drop=True)


def _confirm(spec, keys, frame, store, runner, stats) -> pd.DataFrame:
    """Re-run the analytic front's points in the engine; store those rows (evaluator ``engine``)."""
    from simulator.sweep.pareto import front

    analytic = frame[frame["evaluator"] == "analytic"]
    top = front(analytic, spec.objectives, spec.constraints)
    done = set(frame.loc[frame["evaluator"] == "engine", "point_id"])
    items = [(int(row.point), _point_of(spec, row), row.point_id) for row in top.itertuples()
             if row.point_id not in done]
    stats["confirmed"] = len(top)
    if items:
        runner.run(_units(keys, items), "engine")
    runner.flush()
    return _current(store, spec, stats.get("ids") or list(frame["point_id"]))


def _point_of(spec, row) -> dict:
    """The point (axis path -> value as written) a stored row was evaluated for."""
    import json

    return json.loads(row.point_json)


def _spec_yaml(spec: SweepSpec) -> str:
    import yaml

    return f"# the sweep as run ({spec.source})\n" + yaml.safe_dump(spec.raw, sort_keys=False)


def _search(spec, base, keys, runner, done_keys, stats, bar) -> None:
    """Multi-objective search with optuna's NSGA-II sampler: batches of one population, each evaluated
    (grouped, in parallel) and told; stored points are looked up, not evaluated again."""
    import math

    import optuna

    from simulator.sweep.pareto import eligible

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    population = min(50, max(4, spec.n // 4))

    sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=spec.seed)
    directions = ["minimize" if s == "min" else "maximize" for s in spec.objectives.values()]
    study = optuna.create_study(directions=directions, sampler=sampler)
    axes = list(spec.axes)
    plat = [p[0] for p in base.platforms] if len(base.platforms) > 1 else None
    frame = runner.store.load()
    stored = {} if frame.empty else {row["point_id"]: row for row in frame.to_dict("records")
                                     if row["evaluator"] == spec.evaluator}
    bar.reset(total=spec.n)
    ids: list[str] = []
    index = 0
    while index < spec.n:
        batch = min(population, spec.n - index)
        trials, items = [], []
        for _ in range(batch):
            trial = study.ask()
            point = {}
            if plat:
                point["platform"] = trial.suggest_categorical("platform", plat)
            for a in axes:
                if a.discrete:
                    point[a.path] = a.values[trial.suggest_int(a.path, 0, len(a.values) - 1)]
                elif a.integer:
                    point[a.path] = a.written(trial.suggest_int(a.path, int(a.low), int(a.high), log=a.scale == "log"))
                else:
                    point[a.path] = a.written(trial.suggest_float(a.path, a.low, a.high, log=a.scale == "log"))
            trials.append(trial)
            items.append((index, point, keys.point_id(point)))
            index += 1
        todo = list({pid: (i, p, pid) for i, p, pid in items if pid not in stored}.values())
        rows = runner.run(_units(keys, todo), spec.evaluator)
        stats["evaluated"] = stats.get("evaluated", 0) + len(todo)
        bar.update(len(items) - len(todo))
        stored.update({row["point_id"]: row for row in rows})
        for trial, (_, _, pid) in zip(trials, items):
            row = stored[pid]
            ids.append(pid)
            values = [float(row[m]) for m in spec.objectives]
            if not row["feasible"] or any(math.isnan(v) for v in values):
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            ok = eligible(pd.DataFrame([row]), spec.objectives, spec.constraints)[0]
            trial.set_constraint("eligible", 0.0 if ok else 1.0)   # constraints met, not overloaded
            study.tell(trial, [v if math.isfinite(v) else 1e300 for v in values])
    stats["ids"] = ids


def load_sweep(out_dir: str | os.PathLike) -> pd.DataFrame:
    """The stored rows of the sweep in ``out_dir`` (one per point and evaluator, ordered by point)."""
    from simulator.outdir import read_marker
    from simulator.sweep.store import DATASET

    path = Path(out_dir)
    marker = read_marker(path) if path.is_dir() else None
    if marker is None or marker.get("command") != "sweep" or not (path / DATASET).is_dir():
        raise SimulationConfigError(f"{out_dir}: not a sweep folder; expected hetsim's sweep marker and "
                                    f"{DATASET}/ in it")
    return read_dataset(path / DATASET)
