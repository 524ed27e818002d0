"""Replay (one simulated request per shape, replayed at each start) equals the full event simulation.

Every table, the summary, the power profile and the requests of a replayed run are compared with those of
``simulate(..., replay=False)`` (every request's events through SimPy) on random platforms, workloads and
streams with task switches, wake-ups after idle gaps, several operating points, DVFS transitions and
prefetch.
"""
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from simulator import testing as ht
from simulator.prepare import streams
from simulator.cost.tables import prepare
from simulator.engine.discrete_event import simulate
from simulator.results.result import Result

REL = 1e-9


def _close(a, b, what: str, rel: float = REL) -> None:
    """Numbers equal to ``rel`` relative; times compared relative to the run's largest time."""
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
            assert (a is None and b is None) or (math.isnan(a) and math.isnan(b)), what
            return
        assert math.isclose(a, b, rel_tol=rel, abs_tol=1e-300), f"{what}: {a} != {b}"
    else:
        assert a == b, f"{what}: {a!r} != {b!r}"


def _frames_close(a: pd.DataFrame, b: pd.DataFrame, what: str, atol: float = 0.0) -> None:
    assert list(a.columns) == list(b.columns), what
    assert len(a) == len(b), f"{what}: {len(a)} rows != {len(b)}"
    for c in a.columns:
        x, y = a[c].reset_index(drop=True), b[c].reset_index(drop=True)
        if pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x):
            np.testing.assert_allclose(x.to_numpy(float), y.to_numpy(float), rtol=REL, atol=atol,
                                       err_msg=f"{what}.{c}")
        else:
            assert x.astype(object).tolist() == y.astype(object).tolist(), f"{what}.{c}"


def _with_points(stream, names, draw_points, transitions=None):
    transitions = transitions or [(0.0, 0.0)] * len(stream)
    return streams.RequestStream(tuple(streams.Request(r.id, r.arrival_s, r.task, p, transition_s=ts,
                                                       transition_J=tj)
                                       for r, p, (ts, tj) in zip(stream, draw_points, transitions)))


def _check_equal(replayed, full) -> None:
    assert replayed.compact is not None and full.compact is None
    t_max = float(full.requests["end_s"].max())
    atol_t = 1e-12 * max(t_max, 1e-9)  # absolute times accumulate rounding in the full simulation
    _frames_close(replayed.requests, full.requests, "requests", atol=atol_t)
    a, b = Result.from_run(replayed), Result.from_run(full)
    for stem, table in b.tables().items():
        other = a.tables()[stem]
        atol = atol_t if stem in ("per_request", "per_op", "per_compute") else 0.0
        if stem == "per_compute":
            # busy time / served time: the busy time's rounding (atol_t, as busy_s) over the served time
            # (the union of the requests' intervals, far shorter than the run on a sparse stream)
            served = float((full.requests["end_s"] - full.requests["start_s"]).sum())
            ratio = "service_utilisation"
            np.testing.assert_allclose(other[ratio].to_numpy(float), table[ratio].to_numpy(float), rtol=REL,
                                       atol=2 * atol_t / max(served, 1e-300), err_msg=f"{stem}.{ratio}")
            other, table = other.drop(columns=ratio), table.drop(columns=ratio)
        _frames_close(other, table, stem, atol=atol)
    sa, sb = a.summary(), b.summary()
    assert sa.keys() == sb.keys()
    for k in sb:
        if isinstance(sb[k], dict):
            assert sa[k].keys() == sb[k].keys()
            for j in sb[k]:
                _close(sa[k][j], sb[k][j], f"summary.{k}.{j}")
        elif k == "peak_power_W":   # differences of a cumulative sum: rounding scales with the total
            _close(sa[k], sb[k], k, rel=1e-6)
        else:
            _close(sa[k], sb[k], f"summary.{k}")
    _close(replayed.meta["total_energy_J"], full.meta["total_energy_J"], "total_energy_J")
    for m, w in full.meta["memory_writes"].items():
        for key, v in w.items():
            _close(replayed.meta["memory_writes"][m][key], v, f"memory_writes.{m}.{key}")
    assert len(replayed.meta["tensor_writes"]) == len(full.meta["tensor_writes"])
    for ta, tb in zip(replayed.meta["tensor_writes"], full.meta["tensor_writes"]):
        for key, v in tb.items():
            _close(ta[key], v, f"tensor_writes.{tb['tensor']}.{key}")
    # the materialised ledger: the same rows per (request, op, component, category)
    keys = ["request", "op", "component", "category"]

    def agg(ledger):
        ledger = ledger.assign(component=ledger["component"].astype(object),
                               category=ledger["category"].astype(object))
        return ledger.groupby(keys, sort=True).agg(energy_J=("energy_J", "sum"), bytes=("bytes", "sum"),
                                                   start_s=("start_s", "min"), end_s=("end_s", "max"),
                                                   n=("energy_J", "size")).reset_index()
    la, lb = agg(replayed.ledger), agg(full.ledger)
    _frames_close(la[keys + ["n", "energy_J", "bytes"]], lb[keys + ["n", "energy_J", "bytes"]], "ledger")
    _frames_close(la[["start_s", "end_s"]], lb[["start_s", "end_s"]], "ledger times", atol=atol_t)
    ht.check_run(replayed)


@given(scenario=ht.scenarios(), data=st.data())
@settings(max_examples=60, deadline=None)
def test_replay_equals_the_full_simulation(scenario, data):
    workload, platform = scenario
    names = list(platform.operating_points) if hasattr(platform, "operating_points") else [None]
    points = data.draw(st.lists(st.sampled_from(names + [None]), min_size=len(workload.stream),
                                max_size=len(workload.stream)))
    transitions = data.draw(st.lists(st.sampled_from([(0.0, 0.0), (2e-7, 1e-9), (0.0, 3e-10)]),
                                     min_size=len(workload.stream), max_size=len(workload.stream)))
    workload = workload.with_stream(_with_points(workload.stream, names, points, transitions))
    prepared = prepare(workload, platform)
    replayed = simulate(workload, platform, prepared=prepared)
    full = simulate(workload, platform, prepared=prepared, replay=False)
    _check_equal(replayed, full)


@given(platform=ht.platforms(power_gating=True, adapters="load_on_switch"), seed=st.integers(0, 2**31),
       n=st.integers(5, 40), rate=st.sampled_from([1e2, 1e4, 1e6]))
@settings(max_examples=20, deadline=None)
def test_replay_equals_the_full_simulation_on_long_streams(platform, seed, n, rate):
    """Switches, wake-ups (gaps) and back-to-back requests (queueing) in one stream."""
    stream = streams.poisson({"t0": 1.0, "t1": 1.0, "t2": 0.5}, n, rate, 0.4, seed)
    workload = ht.make_workload(("t0", "t1", "t2"), stream=stream)
    prepared = prepare(workload, platform)
    replayed = simulate(workload, platform, prepared=prepared)
    assert replayed.meta["shapes"] <= 3 * 2 * 2 * len(platform.operating_points)
    _check_equal(replayed, simulate(workload, platform, prepared=prepared, replay=False))


def test_replay_needs_one_request_in_flight():
    workload = ht.make_workload()
    platform = ht.make_platform()
    assert simulate(workload, platform, max_in_flight=2).compact is None
    assert simulate(workload, platform).compact is not None


def test_compact_ledger_stays_small_as_requests_grow():
    """The compact ledger of 20,000 requests holds its shapes once: far less than one row per event."""
    platform = ht.make_platform(power_gating=True, adapters="load_on_switch")
    stream = streams.poisson({"t0": 1.0, "t1": 1.0}, 20_000, 1e3, 0.3, 1)
    run = simulate(ht.make_workload(("t0", "t1"), stream=stream), platform)
    cl = run.compact
    assert len(cl.shapes) <= 8
    assert len(cl) > 20 * 20_000                     # the ledger it stands for
    assert cl.nbytes < 200 * 20_000                  # bytes held: per request and per gap, not per row
    result = Result.from_run(run)
    assert result.per_op()["executions"].sum() > 0
    assert "_ledger" not in run.__dict__ or run.__dict__["_ledger"] is None  # nothing materialised


@pytest.mark.parametrize("depth", [0, 2])
def test_replay_tables_equal_full_tables_on_a_fixed_case(depth):
    """A deterministic case that always exercises switches, wake-ups and queueing."""
    platform = ht.make_platform(power_gating=True, adapters="load_on_switch", prefetch_depth=depth,
                                op_points={"nominal": (0.8, 1e9), "low": (0.6, 4e8)})
    tasks = ["t0", "t0", "t1", "t1", "t0", "t1", "t1", "t0"]
    stream = streams.RequestStream(tuple(streams.Request(i, t, task, "low" if i % 3 == 0 else None)
                                         for i, (t, task) in enumerate(zip(
                                             [0, 0, 0, 1e-3, 1e-3, 5e-3, 5e-3, 2e-2], tasks))))
    workload = ht.make_workload(("t0", "t1"), stream=stream)
    prepared = prepare(workload, platform)
    replayed = simulate(workload, platform, prepared=prepared)
    full = simulate(workload, platform, prepared=prepared, replay=False)
    assert int(full.requests["switch"].sum()) >= 4
    assert (full.ledger["category"] == "wakeup").any()
    _check_equal(replayed, full)


def _replayed_result():
    platform = ht.make_platform(power_gating=True, adapters="load_on_switch")
    stream = streams.poisson({"t0": 1.0, "t1": 1.0}, 40, 1e4, 0.4, 3)
    return Result.from_run(simulate(ht.make_workload(("t0", "t1"), stream=stream), platform))


def test_large_tables_are_parquet_and_read_back_equal(tmp_path, monkeypatch):
    from simulator.results import tables

    monkeypatch.setattr(tables, "PARQUET_ROWS", 30)
    res = _replayed_result()
    written = {p.name for p in res.write_into(tmp_path, ledger=True)}
    assert {"per_request.parquet", "ledger.parquet", "per_memory.csv", "summary.json"} <= written
    assert "per_request.csv" not in written
    _frames_close(pd.read_parquet(tmp_path / "per_request.parquet"), res.per_request().assign(
        task=lambda t: t["task"].astype(object), operating_point=lambda t: t["operating_point"].astype(object)),
        "per_request.parquet")
    back = pd.read_parquet(tmp_path / "ledger.parquet")
    full = res.ledger
    assert len(back) == len(full)
    keys = ["request", "op", "component", "category", "start_s"]
    a = back.sort_values(keys, kind="stable").reset_index(drop=True)
    b = full.assign(**{c: full[c].astype(object) for c in ("task", "module", "layer", "component", "category")}
                    ).sort_values(keys, kind="stable").reset_index(drop=True)
    _frames_close(a, b, "ledger.parquet")


def test_each_table_is_computed_once_per_result(monkeypatch):
    from simulator.results import tables

    calls: dict[str, int] = {}
    for name in ("per_memory", "per_component", "per_request", "nvm_wear", "per_op"):
        original = getattr(tables, name)

        def counted(result, _original=original, _name=name):
            calls[_name] = calls.get(_name, 0) + 1
            return _original(result)
        monkeypatch.setattr(tables, name, counted)
    res = _replayed_result()
    res.tables()
    res.summary()
    res.nvm_wear()
    res.per_task()
    table = res.per_memory()
    table["energy_J"] = -1.0                         # a caller's copy: the cached table is untouched
    assert (res.per_memory()["energy_J"] >= 0).all()
    assert calls == {name: 1 for name in calls} and len(calls) == 5


def test_cumulative_energy_of_a_sorted_grid_equals_the_same_points_in_any_order():
    # a sorted grid (a power profile's) takes the contiguous-runs path, a shuffled one the sorting path
    c = _replayed_result().compact
    t0, t1 = c.time_span()
    grid = np.linspace(t0 - 1e-4, t1 + 1e-4, 20_001)
    perm = np.random.default_rng(7).permutation(len(grid))
    sorted_path = c.cumulative_energy(grid)
    assert np.all(np.diff(sorted_path) >= -1e-18) and sorted_path[-1] > 0
    assert np.array_equal(sorted_path[perm], c.cumulative_energy(grid[perm]))


def test_tables_computed_where_the_run_was_simulated_equal_tables_computed_later():
    import pickle

    run = _replayed_result()
    early = pickle.loads(pickle.dumps(Result.from_run(run).compute_tables()))   # as a worker sends it back
    late = Result.from_run(run)
    assert early.summary_json() == late.summary_json()
    for stem, table in late.tables().items():
        pd.testing.assert_frame_equal(early.tables()[stem], table, check_exact=True, obj=stem)


@pytest.mark.parametrize("rate_hz, gating", [(1e2, True), (3e3, False), (1e5, True)])
def test_peak_power_from_the_windows_that_can_hold_it_equals_the_whole_profiles(monkeypatch, rate_hz, gating):
    from simulator.results import tables

    platform = ht.make_platform(power_gating=gating, adapters="load_on_switch")
    stream = streams.poisson({"t0": 1.0, "t1": 1.0}, 30, rate_hz, 0.4, 5)
    res = Result.from_run(simulate(ht.make_workload(("t0", "t1"), stream=stream), platform))
    full = float(res.power_profile()["power_W"].max())
    evaluated = []
    real = type(res.compact).cumulative_energy

    def counted(self, times):
        evaluated.append(len(times))
        return real(self, times)
    monkeypatch.setattr(type(res.compact), "cumulative_energy", counted)
    monkeypatch.setattr(tables, "SPARSE_PEAK_POINTS", 0)
    assert res.peak_power_W() == pytest.approx(full, rel=1e-12)
    if rate_hz <= 1e2:     # mostly idle: a fraction of the grid evaluated
        assert evaluated and evaluated[0] < 0.5 * len(res.power_profile())
