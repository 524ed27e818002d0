"""Result tables, summary, atomic saving and Perfetto export, on ledgers built here by hand (so the
expected numbers are known) and checked for agreement between independent groupings."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.results import result as R
from simulator.results import tables as T
from simulator.errors import SimulationConfigError
from simulator.results.result import Result, power_profile
from simulator.testing import scenarios

LEDGER_COLUMNS = ["request", "task", "op", "module", "layer", "component", "category", "energy_J", "bytes",
                  "start_s", "end_s"]


def _memory(name, *, volatile=True, is_dram=False, endurance=math.inf, capacity=1 << 20, word_bits=64,
            read_pJ_per_byte=1.0):
    """A memory with the attributes Result reads (linear read energy, pJ per byte)."""
    return SimpleNamespace(name=name, technology=name, volatile=volatile, is_dram=is_dram,
                           endurance_writes=endurance, capacity_bytes=capacity, word_bits=word_bits,
                           area_m2=1e-6, read_energy=lambda n, e=read_pJ_per_byte: n * e * 1e-12)


def _platform(mac_pJ=0.5):
    memories = {"sram": _memory("sram", read_pJ_per_byte=0.2), "nvm": _memory("nvm", volatile=False,
                endurance=1e6, capacity=4096), "dram": _memory("dram", is_dram=True, read_pJ_per_byte=8.0)}
    mac = SimpleNamespace(energy_per_mac_J=lambda op=None: mac_pJ * 1e-12 * (op.scale if op else 1.0))
    points = {"low": SimpleNamespace(scale=0.5), "high": SimpleNamespace(scale=1.2)}
    return SimpleNamespace(name="toy", memories=memories, mac_array=mac, operating_points=points,
                           area_m2=3e-6)


COMPONENTS = [("sram", "read"), ("nvm", "read"), ("dram", "read"), ("sram", "write"), ("nvm", "switch_load"),
              ("mac_array", "compute"), ("vector_unit", "compute"), ("dram->sram", "transfer")]


def _amount(lo, hi):
    """Zero or a value in [lo, hi]: physical magnitudes, not subnormal floats."""
    return st.one_of(st.just(0.0), st.floats(lo, hi))


@st.composite
def runs(draw):
    """A random ledger of requests running ops on the toy platform, with idle leakage between them."""
    n_req = draw(st.integers(1, 6))
    rows, reqs, t = [], [], 0.0
    tasks = ["a", "b"]
    for r in range(n_req):
        task = draw(st.sampled_from(tasks))
        t += draw(_amount(1e-9, 1e-3))
        if t > 0:
            rows.append([-1, "", -1, "", "", "sram", "leakage", draw(_amount(1e-12, 1e-6)), 0.0, 0.0 if not reqs
                         else reqs[-1][4], t])
        start = t
        for op in range(draw(st.integers(1, 5))):
            for comp, cat in draw(st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=4)):
                dur = draw(_amount(1e-9, 1e-5))
                rows.append([r, task, op, f"m{op}", f"layer#{op % 2}", comp, cat,
                             draw(_amount(1e-15, 1e-6)), draw(_amount(1, 1e4)), t, t + dur])
                t += dur
        reqs.append([r, task, start, start, t, t - start, bool(r and task != reqs[-1][1]), "nominal"])
    ledger = pd.DataFrame(rows, columns=LEDGER_COLUMNS)
    requests = pd.DataFrame(reqs, columns=["request", "task", "arrival_s", "start_s", "end_s", "latency_s",
                                           "switch", "operating_point"])
    return Result(ledger=ledger, requests=requests, platform=_platform(),
                  placement=SimpleNamespace(occupancy={"sram": 100.0}, table=pd.DataFrame({"tensor": ["w"]})))


@settings(max_examples=25, deadline=None)
@given(runs())
def test_every_grouping_sums_to_the_ledger_total(result):
    total = result.total_energy_J
    close = lambda x: math.isclose(x, total, rel_tol=1e-9, abs_tol=1e-21)  # noqa: E731
    by_memory = result.per_memory()["energy_J"].sum()
    by_compute = result.per_compute()["energy_J"].sum()
    links = result.ledger.loc[result.ledger["component"].str.contains("->"), "energy_J"].sum()
    assert close(by_memory + by_compute + links)
    assert close(result.per_component()["energy_J"].sum())
    idle = result.ledger.loc[result.ledger["request"] < 0, "energy_J"].sum()
    op_less = result.ledger.loc[result.ledger["op"] < 0, "energy_J"].sum()
    assert close(result.per_request()["energy_J"].sum() + idle)
    assert close(result.per_task()["energy_J"].sum() + idle)
    assert close(result.per_op()["energy_J"].sum() + op_less)
    assert close(result.per_layer()["energy_J"].sum() + op_less)
    s = result.summary()
    assert close(s["energy_per_inference_J"] * result.n_requests)
    parts = sum(s[f"{k}_energy_per_inference_J"] for k in ("compute", "sram", "nvm", "dram", "interconnect"))
    assert close(parts * result.n_requests)
    for table in result.tables().values():
        numeric = table.select_dtypes("number")
        assert (numeric.fillna(0).to_numpy() >= 0).all()


@settings(max_examples=40, deadline=None)
@given(runs(), st.sampled_from([1e-7, 1e-6, 1e-5]))
def test_power_profile_integrates_to_the_energy_and_peak_is_at_least_average(result, window):
    profile = power_profile(result.ledger, window)
    width = (profile["end_s"] - profile["start_s"]).to_numpy()
    assert math.isclose(float((profile["power_W"] * width).sum()), result.total_energy_J, rel_tol=1e-7,
                        abs_tol=1e-18)
    result.power_window_s = window
    s = result.summary()
    if s["makespan_s"] > 0:
        assert s["peak_power_W"] >= s["average_power_W"] * (1 - 1e-9)


def test_power_profile_of_one_ramp_and_one_impulse_by_hand():
    ledger = pd.DataFrame([[0, "a", 0, "m", "l", "sram", "read", 4e-6, 0, 0.0, 4e-6],
                           [0, "a", 1, "m", "l", "sram", "read", 1e-6, 0, 2.5e-6, 2.5e-6]],
                          columns=LEDGER_COLUMNS)
    profile = power_profile(ledger, 1e-6)
    assert np.allclose(profile["power_W"], [1.0, 1.0, 2.0, 1.0])


@pytest.mark.parametrize("shift", [0.0, -1e-21, 1e-21])
def test_an_impulse_at_a_window_boundary_lands_in_the_window_it_starts_whatever_its_rounding(shift):
    """A replayed request's start can be 1e-21 s either side of the full simulation's: same profile."""
    ledger = pd.DataFrame([[0, "a", 0, "m", "l", "sram", "read", 4e-6, 0, 0.0, 4e-6],
                           [0, "a", 1, "m", "l", "sram", "read", 1e-6, 0, 2e-6 + shift, 2e-6 + shift]],
                          columns=LEDGER_COLUMNS)
    profile = power_profile(ledger, 1e-6)
    assert np.allclose(profile["power_W"], [1.0, 1.0, 2.0, 1.0], rtol=1e-6)


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 20)), max_size=12))
def test_union_length_matches_a_brute_force_count(intervals):
    starts = np.array([s for s, _ in intervals], float)
    ends = np.array([s + d for s, d in intervals], float)
    covered = {x for s, d in intervals for x in range(s, s + d)}
    assert T._union_length(starts, ends) == len(covered)


def _requests(n: int, period: float = 3.0, latency: float = 1.0, task: str = "a") -> pd.DataFrame:
    """``n`` requests of one task, one every ``period`` s, each served for ``latency`` s on arrival."""
    arrivals = [period * i for i in range(n)]
    return pd.DataFrame({"request": range(n), "task": [task] * n, "arrival_s": arrivals, "start_s": arrivals,
                         "end_s": [a + latency for a in arrivals], "latency_s": [latency] * n,
                         "switch": [True] + [False] * (n - 1), "operating_point": ["n"] * n})


def test_lower_bound_is_the_runs_per_task_bound_times_its_requests():
    ledger = pd.DataFrame([[r, "a", 0, "m", "l", "mac_array", "compute", 1e-9, 0, 3.0 * r, 3.0 * r + 0.5]
                           for r in (0, 1)], columns=LEDGER_COLUMNS)
    result = Result(ledger, _requests(2, latency=0.5), _platform(), meta={"lower_bound_J": {"a": 2.5e-10}})
    s = result.summary()
    assert math.isclose(s["lower_bound_J"], 5e-10) and math.isclose(s["ratio_to_lower_bound"], 4.0)
    assert s["latency_p50_s"] == 0.5 and s["throughput_rps"] == pytest.approx(2 / 3.5)
    assert math.isnan(Result(ledger, _requests(2), _platform()).summary()["ratio_to_lower_bound"])


def test_nvm_lifetime_by_hand():
    # 3 switch loads of 1024 B into a 4096 B NVM (endurance 1e6) holding 2048 B, over 10 s.
    rows = [[i, "a", -1, "", "", "nvm", "switch_load", 1e-9, 1024.0, 3.0 * i, 3.0 * i + 1] for i in range(3)]
    ledger = pd.DataFrame(rows + [[-1, "", -1, "", "", "sram", "leakage", 1e-9, 0.0, 0.0, 10.0]],
                          columns=LEDGER_COLUMNS)
    placement = SimpleNamespace(occupancy={"nvm": 2048.0}, table=None)
    wear = Result(ledger, _requests(3), _platform(), placement).nvm_wear().set_index("memory")
    assert wear.loc["nvm", "write_bytes"] == 3072 and wear.loc["nvm", "cell_writes"] == 1.5
    assert math.isclose(wear.loc["nvm", "lifetime_s"], 1e6 / (1.5 / 10))
    assert math.isclose(wear.loc["nvm", "lifetime_levelled_s"], 4096 * 1e6 / (3072 / 10))
    recorded = {"memory_writes": {"nvm": {"bytes": 3072.0, "cell_writes": 3.0}}}
    wear = Result(ledger, _requests(3), _platform(), placement, meta=recorded).nvm_wear()
    assert math.isclose(wear["lifetime_s"].iloc[0], 1e6 / 0.3)


@settings(max_examples=10, deadline=None)
@given(runs())
def test_save_round_trips_every_table(tmp_path_factory, result):
    out = result.save(tmp_path_factory.mktemp("r") / "run")
    for stem, table in result.tables().items():
        back = pd.read_csv(out / f"{stem}.csv")
        assert list(back.columns) == [str(c) for c in table.columns]
        assert len(back) == len(table)
        numeric = table.select_dtypes("number").columns
        assert np.allclose(back[numeric].to_numpy(float), table[numeric].to_numpy(float), equal_nan=True)
    summary = json.loads((out / "summary.json").read_text())["summary"]
    assert math.isclose(summary["energy_J"], result.total_energy_J, rel_tol=1e-12, abs_tol=1e-30)


@settings(max_examples=3, deadline=None)
@given(runs())
def test_a_failing_save_leaves_nothing_and_keeps_the_old_folder(tmp_path_factory, result):
    tmp_path = tmp_path_factory.mktemp("fail")
    target = tmp_path / "run"
    calls = []

    def fail_half_way(self, folder, **kw):
        (folder / "per_op.csv").write_text("half")
        calls.append(folder)
        raise RuntimeError("disk full")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Result, "write_into", fail_half_way)
        with pytest.raises(RuntimeError):
            result.save(target)
        assert not target.exists() and not calls[0].exists() and list(tmp_path.iterdir()) == []
    result.save(target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    (target / "keep.txt").write_text("mine")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Result, "write_into", fail_half_way)
        with pytest.raises(RuntimeError):
            result.save(target, overwrite=True)
    after = {p.name: p.read_bytes() for p in target.iterdir()}
    assert after == {**before, "keep.txt": b"mine"} and len(list(tmp_path.iterdir())) == 1


@settings(max_examples=3, deadline=None)
@given(runs())
def test_save_refuses_a_folder_of_other_files_and_an_earlier_save_without_overwrite(tmp_path_factory, result):
    tmp_path = tmp_path_factory.mktemp("refuse")
    (tmp_path / "mine.txt").write_text("keep")
    (tmp_path / "summary.json").write_text("{}")  # looks like results, but hetsim's marker is missing
    for target in (tmp_path, tmp_path / "mine.txt"):
        with pytest.raises(SimulationConfigError):
            result.save(target, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt", "summary.json"]
    out = result.save(tmp_path / "run")
    with pytest.raises(SimulationConfigError, match="--overwrite"):
        result.save(out)
    (out / "notes.txt").write_text("keep")
    result.save(out, overwrite=True)
    assert (out / "notes.txt").read_text() == "keep" and (out / "summary.json").exists()


@settings(max_examples=20, deadline=None)
@given(runs())
def test_perfetto_events_carry_all_non_leakage_energy(tmp_path_factory, result):
    path = result.to_perfetto(tmp_path_factory.mktemp("p") / "t.json")
    text = path.read_text()
    assert json.dumps(json.loads(text)) == text    # written from templates: exactly what json.dumps writes
    events = json.loads(text)["traceEvents"]
    spans = [e for e in events if e["ph"] == "X" and e["tid"] != 0]
    assert all(e["ph"] in ("X", "M", "C") for e in events)
    counter = [e for e in events if e["ph"] == "C"]
    assert 0 < len(counter) <= R.PERFETTO_POWER_POINTS + 1 and all(e["args"]["W"] >= -1e-12 for e in counter)
    expected = result.ledger.loc[result.ledger["category"] != "leakage", "energy_J"].sum()
    assert math.isclose(sum(e["args"]["energy_J"] for e in spans), expected, rel_tol=1e-9, abs_tol=1e-21)
    assert sum(e["ph"] == "X" and e["tid"] == 0 for e in events) == result.n_requests
    assert all(e["dur"] >= 0 for e in spans)
    first_event = next(i for i, e in enumerate(events) if e["ph"] != "M")
    assert all(e["ph"] != "M" for e in events[first_event:])  # metadata first
    last: dict = {}
    for e in events[first_event:]:  # then each track in time order (the file is not sorted by readers)
        track = (e["pid"], e.get("tid"), e["ph"])
        assert e["ts"] >= last.get(track, -math.inf)
        last[track] = e["ts"]


def test_mapping_table_lists_exactly_the_mapped_ops():
    mapping = SimpleNamespace(buffer="buf", loop_order="mnk", tiles=(16, 32, 64), gemm=(1, 128, 768, 768),
                              fetches={"A": 3, "W": 1, "O": 1}, cycles=1000, utilisation=0.5,
                              footprint_bytes=4096.0, objective="energy", candidates_evaluated=42)
    arrays = SimpleNamespace(op_ids=np.array([0, 1, 2]), modules=np.array(["a", "b", "c"], dtype=object),
                             traffic=[SimpleNamespace(mapping=None), SimpleNamespace(mapping=mapping),
                                      SimpleNamespace(mapping=None)])
    table = R.mapping_table_of(SimpleNamespace(tasks={"t": arrays}))
    assert table[["task", "op", "module", "tile_k", "fetches_A", "k", "candidates"]].values.tolist() == \
        [["t", 1, "b", 32, 3, 768, 42]]
    empty = R.mapping_table_of(SimpleNamespace(tasks={"t": SimpleNamespace(op_ids=[], modules=[], traffic=[])}))
    assert empty.empty


# -- on real engine runs (random platforms and workloads from simulator.testing) ------------------------

@settings(max_examples=15, deadline=None)
@given(scenarios())
def test_results_of_engine_runs_agree_with_the_engines_own_totals(scenario):
    from simulator.cost.tables import prepare
    from simulator.engine.discrete_event import simulate

    workload, platform = scenario
    prepared = prepare(workload, platform)
    result = Result.from_run(simulate(workload, platform, prepared=prepared), prepared=prepared)
    total = result.meta["total_energy_J"]  # accumulated by the engine apart from the ledger rows
    assert math.isclose(result.total_energy_J, total, rel_tol=1e-9)
    parts = result.per_component()
    assert math.isclose(parts["energy_J"].sum(), total, rel_tol=1e-9)
    by_unit = result.per_memory()["energy_J"].sum() + result.per_compute()["energy_J"].sum() + \
        parts.loc[parts["kind"] == "interconnect", "energy_J"].sum()
    assert math.isclose(by_unit, total, rel_tol=1e-9)
    s = result.summary()
    assert s["ratio_to_lower_bound"] >= 1.0 - 1e-9  # the bound is a floor on the dynamic energy alone
    assert s["latency_p50_s"] <= s["latency_p99_s"] + 1e-15
    assert s["peak_power_W"] >= s["average_power_W"] * (1 - 1e-9)
    macs = result.per_op().groupby("task")["macs"].first()
    assert (macs.dropna() >= 0).all()
    engine_request_energy = result.requests.set_index("request")["energy_J"]
    ours = result.per_request().set_index("request")["energy_J"]
    assert np.allclose(ours, engine_request_energy, rtol=1e-12, atol=0)


@settings(max_examples=25, deadline=None)
@given(runs())
def test_compute_utilisation_over_service_time_bounds_the_one_over_the_run(result):
    """Busy time over the time requests were served is at least busy over the whole run (which includes
    idle gaps), and at most 1 for compute rows that lie inside their requests."""
    table = result.per_compute()
    # the generated requests follow one another without overlap, so the served time is their sum
    served = float((result.requests["end_s"] - result.requests["start_s"]).sum())
    for _, row in table.iterrows():
        assert row["service_utilisation"] >= row["utilisation"] - 1e-12
        assert row["service_utilisation"] <= 1 + 1e-9
        expected = row["busy_s"] / served if served > 0 else 0.0
        assert math.isclose(row["service_utilisation"], expected, rel_tol=1e-9, abs_tol=1e-15)


@settings(max_examples=15, deadline=None)
@given(scenario=scenarios(), in_flight=st.integers(1, 3))
def test_perfetto_tracks_of_a_simulated_run_are_in_time_order(scenario, in_flight):
    from simulator.engine.discrete_event import simulate

    workload, platform = scenario
    events = Result.from_run(simulate(workload, platform, max_in_flight=in_flight)).perfetto_events()
    last: dict = {}
    for e in events:
        if e["ph"] == "M":
            assert not last, "metadata after events"
            continue
        track = (e["pid"], e.get("tid"), e["ph"])
        assert e["ts"] >= last.get(track, -math.inf), f"track {track} steps back"
        last[track] = e["ts"]


@settings(max_examples=5, deadline=None)
@given(runs())
def test_the_studys_summary_json_is_each_platforms_document_nested(tmp_path_factory, result):
    from simulator.results.report import write_summary_json

    folder = tmp_path_factory.mktemp("summary")
    results = {"a": result, "b \"quoted\"": Result.from_run(result, power_window_s=result.power_window_s * 2)}
    path = write_summary_json(results, folder / "summary.json")
    assert path.read_text() == json.dumps({k: r.summary_document() for k, r in results.items()}, indent=2,
                                          default=str) + "\n"
    assert json.loads(path.read_text())["a"] == json.loads(result.summary_json())
