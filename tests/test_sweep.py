"""``hetsim sweep``: a point's row equals ``hetsim run`` on the same configuration (closed form and engine),
a point rebuilt from YAML equals a platform written by hand, the Pareto front against brute force, bad
sweep files are one line before any work, the store resumes without re-evaluating."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hw_models.loader import load_platform, platform_path
from simulator.cli import main as cli
from simulator.errors import SimulationConfigError
from simulator.study.runner import load_study, run_study
from simulator.sweep import load_sweep, pareto_mask, run_sweep
from simulator.sweep.metrics import SUMMARY_METRICS, TIMELINE_METRICS

#: Technologies, buffer sizes and rates of the agreement sweep (names of bundled files, not figures).
TECHS = ["rram", "stt-mram", "sram-lstp"]


@pytest.fixture(scope="module")
def small(sweep_root):
    """A folder with the small study (tests/conftest.py)."""
    return sweep_root


def _sweep(root: Path, name: str, axes: dict, platform: str = "edge-rram", **extra) -> Path:
    doc = {"name": name, "study": "study.yaml", "platform": platform, "axes": axes, **extra}
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _by_hand(root: Path, tag: str, changes: dict, rate: str | None = None, evaluator: str = "analytic",
             platform: str | Path = "edge-rram"):
    """``hetsim run`` of the small study on ``platform`` (bundled name or file) edited by hand (a new
    platform file)."""
    data = yaml.safe_load(platform_path(platform).read_text())
    for path, value in changes.items():
        node = data
        *keys, last = path.split(".")
        for k in keys:
            node = node[int(k)] if isinstance(node, list) else node[k]
        node[last] = value
    pfile = root / f"hand-{tag}.yaml"
    pfile.write_text(yaml.safe_dump(data, sort_keys=False))
    study = yaml.safe_load((root / "study.yaml").read_text())
    study["platforms"] = [str(pfile)]
    study["evaluator"] = evaluator
    if rate:
        study["scenario"]["rate"] = rate
    sfile = root / f"hand-{tag}-study.yaml"
    sfile.write_text(yaml.safe_dump(study, sort_keys=False))
    (result,) = run_study(load_study(sfile), progress=False).values()
    return result


def _agree(row: pd.Series, result, skip=()) -> None:
    summary = result.summary()
    for m in SUMMARY_METRICS:
        if m in skip:
            continue
        want, got = float(summary[m]), float(row[m])
        if math.isinf(want):
            assert math.isinf(got), m
        else:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-18), m


@pytest.fixture(scope="module")
def agreement(small):
    spec = _sweep(small, "agree", {"platform.memories.backbone.technology": TECHS,
                                   "platform.memories.buffer.capacity": ["4 KiB", "256 KiB"],
                                   "study.scenario.rate": ["5 Hz", "20 kHz"]})
    frame = run_sweep(spec, small / "agree-out", workers=1)
    return small, frame


def test_a_points_row_equals_hetsim_run_on_the_same_configuration(agreement):
    root, frame = agreement
    assert len(frame) == 12 and frame["point_id"].is_unique
    for i, row in frame.iterrows():
        tech = row["platform.memories.backbone.technology"]
        cap = f"{int(row['platform.memories.buffer.capacity'])} B"
        rate = f"{row['study.scenario.rate']!r} Hz"
        result = _by_hand(root, f"a{i}", {"memories.backbone.technology": tech, "memories.buffer.capacity": cap},
                          rate)
        _agree(row, result, skip=TIMELINE_METRICS)
        assert row["overloaded"] == result.summary()["overloaded"]
        assert math.isnan(row["peak_power_W"])        # needs the timeline: not given by the closed form
        assert row["feasible"] and row["reason"] == ""
        per_memory = result.per_memory().set_index("memory")["refetch"]
        for mem, factor in per_memory.items():       # the store's re-fetch column is per_memory.csv's
            if math.isnan(factor):
                assert f"refetch_{mem}" not in row or math.isnan(row[f"refetch_{mem}"])
            else:
                assert row[f"refetch_{mem}"] == pytest.approx(factor, rel=1e-12)
        assert (per_memory.dropna() >= 1.0 - 1e-12).all()


def test_refetch_grows_as_the_staging_buffer_shrinks(agreement):
    _, frame = agreement
    by_buffer = frame.groupby("platform.memories.buffer.capacity")["refetch_act_sram"].max()
    assert by_buffer.iloc[0] > by_buffer.iloc[-1] >= 1.0     # 4 KiB re-fetches more than 256 KiB


def test_mapping_table_counts_the_candidates_each_search_evaluated(agreement):
    from simulator.cost.tables import prepare
    from simulator.prepare import mapping as mp
    from simulator.sweep.evaluate import workload_of

    root, _ = agreement
    result = _by_hand(root, "cands", {})
    table = result.mapping_table()
    assert "candidates" in table and (table["candidates"] >= 1).all()
    study = yaml.safe_load((root / "study.yaml").read_text())
    platform = load_platform("edge-rram")
    config = load_study(root / "hand-cands-study.yaml")
    workload = workload_of(config, "adapters")
    prepared = prepare(workload, platform)
    buffer = mp.staging_buffer(platform)
    hw = mp.hardware(platform, buffer)
    checked = 0
    for task, ta in prepared.tasks.items():
        trace = workload.traces[task]
        homes = prepared.placement.homes(trace)
        for op, tr in zip(trace.ops, ta.traffic):
            if tr.mapping is None or op.kind == "attention":
                continue
            gemm, _ = mp.gemm_of(op, trace, homes, platform.mac_array.acc_bits)
            want = len(mp.candidates(gemm, hw, "energy"))
            got = table[(table["task"] == task) & (table["op"] == op.id)]["candidates"].iloc[0]
            assert got == want
            checked += 1
    assert checked > 0 and study


def test_overloaded_when_the_arrival_rate_exceeds_what_the_platform_serves(agreement):
    _, frame = agreement
    util = frame["offered_utilisation"]
    assert (frame["overloaded"] == (util > 1.0)).all()
    assert np.allclose(util, frame["arrival_rate_Hz"] * frame["service_mean_s"], rtol=1e-12)
    assert frame["overloaded"].any() and not frame["overloaded"].all()


def test_engine_row_equals_hetsim_run_in_the_engine(small):
    spec = _sweep(small, "engine", {"platform.memories.backbone.technology": ["stt-mram", "rram"]},
                  evaluator="engine")
    frame = run_sweep(spec, small / "engine-out", workers=1)
    assert list(frame["evaluator"]) == ["engine", "engine"]
    for _, row in frame.iterrows():
        tech = row["platform.memories.backbone.technology"]
        result = _by_hand(small, f"e-{tech}", {"memories.backbone.technology": tech}, evaluator="engine")
        _agree(row, result)


def test_max_in_flight_axis_runs_the_engine_with_contention_and_the_closed_form_refuses_it(small):
    axes = {"study.scenario.max_in_flight": [1, 2], "study.scenario.rate": ["20 kHz"]}
    engine = run_sweep(_sweep(small, "in-flight", axes, evaluator="engine"), small / "in-flight-out", workers=1)
    assert engine["feasible"].all()
    one, two = (engine[engine["study.scenario.max_in_flight"] == k].iloc[0] for k in (1, 2))
    assert two["latency_p99_s"] != one["latency_p99_s"]            # contention changed the schedule
    study = yaml.safe_load((small / "study.yaml").read_text())
    study["scenario"].update(max_in_flight=2, rate="20 kHz")
    study["evaluator"] = "engine"
    sfile = small / "in-flight-2-study.yaml"
    sfile.write_text(yaml.safe_dump(study, sort_keys=False))
    (result,) = run_study(load_study(sfile), progress=False).values()
    _agree(two, result)
    with pytest.raises(SimulationConfigError, match=r"axes\.study\.scenario\.max_in_flight: value 2: .*"
                                                    "evaluator: analytic .*expected 1, or evaluator: engine"):
        run_sweep(_sweep(small, "in-flight-cf", axes), small / "in-flight-cf-out", workers=1)
    assert not (small / "in-flight-cf-out").exists()                  # refused before any work


def test_default_operating_point_axis_rows_equal_hetsim_run(small):
    """Variants of one preparation that differ in their default operating point: requests that name none
    run at each variant's own (not at the first variant's)."""
    spec = _sweep(small, "dvfs-axis", {"platform.default_operating_point": ["nominal", "low"],
                                       "platform.memories.backbone.technology": ["rram", "stt-mram"]})
    frame = run_sweep(spec, small / "dvfs-axis-out", workers=1)
    assert len(frame) == 4
    for i, row in frame.iterrows():
        op, tech = row["platform.default_operating_point"], row["platform.memories.backbone.technology"]
        result = _by_hand(small, f"op{i}", {"default_operating_point": op, "memories.backbone.technology": tech})
        _agree(row, result, skip=TIMELINE_METRICS)
    by_op = frame.groupby("platform.default_operating_point")["latency_mean_s"].mean()
    assert by_op["low"] > by_op["nominal"]


def _two_mac_arrays(root: Path) -> Path:
    """edge-rram with a second, larger MAC array of another dataflow and accumulator width that runs
    the attention ops (a user mapping): four compute units' worth of distinct figures."""
    data = yaml.safe_load(platform_path("edge-rram").read_text())
    data["compute"] = {**data["compute"], "big": {"kind": "mac_array", "rows": 32, "cols": 8, "dataflow": "os",
                                                  "weight_bits": 8, "act_bits": 16, "acc_bits": 32}}
    data["assignment"] = [{"match": "attention", "unit": "big"}]
    path = root / "two-macs.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("platform", ["edge-cim", "two-mac-arrays"])
def test_rows_on_platforms_with_other_compute_units_equal_hetsim_run(small, platform):
    """The closed form over any set of compute units (edge-cim: MAC array, vector unit and a CiM
    crossbar; edge-rram with a second MAC array that runs attention) agrees with ``hetsim run`` per point,
    with variants that share a preparation (technology, banks: the mapping check per unit) and others
    that do not (buffer size)."""
    from hw_models.loader import load_platform

    base = str(_two_mac_arrays(small)) if platform == "two-mac-arrays" else platform
    assert len(load_platform(base).compute) >= 3
    spec = _sweep(small, f"units-{platform}", {"platform.memories.backbone.technology": ["rram", "stt-mram"],
                                               "platform.memories.backbone.banks": [2, 8],
                                               "platform.memories.buffer.capacity": ["16 KiB", "128 KiB"]},
                  platform=base)
    frame = run_sweep(spec, small / f"units-{platform}-out", workers=1)
    assert len(frame) == 8 and frame["feasible"].all(), frame["reason"].tolist()
    for i, row in frame.iterrows():
        cap = f"{int(row['platform.memories.buffer.capacity'])} B"
        result = _by_hand(small, f"{platform}-{i}", {"memories.backbone.technology": row["platform.memories.backbone.technology"],
                                                     "memories.backbone.banks": int(row["platform.memories.backbone.banks"]),
                                                     "memories.buffer.capacity": cap}, platform=base)
        _agree(row, result, skip=TIMELINE_METRICS)


def test_an_op_is_mapped_onto_the_mac_array_that_runs_it(small):
    """A matrix product assigned to a second MAC array is tiled for that array's shape, dataflow and
    accumulator width, not the first one's."""
    from hw_models.loader import load_platform
    from simulator.cost.tables import prepare
    from simulator.prepare import mapping as mp
    from simulator.sweep.evaluate import workload_of

    platform = load_platform(_two_mac_arrays(small))
    config = load_study(small / "study.yaml")
    prepared = prepare(workload_of(config, "adapters"), platform)
    buffer = mp.staging_buffer(platform)
    checked = 0
    for task, ta in prepared.tasks.items():
        trace = prepared.workload.traces[task]
        homes = prepared.placement.homes(trace)
        for op, tr in zip(trace.ops, ta.traffic):
            if tr.mapping is None or op.kind != "attention":
                continue
            assert tr.compute_unit == "big"
            big = platform.compute["big"]
            att = mp.problem(op, trace, homes, big.acc_bits, trace.read_bytes(op), trace.write_bytes(op))[0]
            want = mp.best_attention_mapping(att, mp.hardware(platform, buffer, big), "energy")
            first = mp.best_attention_mapping(
                mp.problem(op, trace, homes, platform.mac_array.acc_bits, trace.read_bytes(op),
                           trace.write_bytes(op))[0], mp.hardware(platform, buffer), "energy")
            assert (tr.mapping.cycles, tr.mapping.tiles) == (want.cycles, want.tiles)
            assert tr.mapping.cycles != first.cycles          # the 16 x 16 array would take other cycles
            checked += 1
    assert checked > 0


def test_a_platform_without_a_mac_array_is_a_row_with_the_reason(small, capsys):
    """edge-cim without its MAC array cannot run attention's MACs (no unit takes them): each point is a
    ``feasible = false`` row carrying the model's own message (as ``hetsim run`` says it), not an error
    of the sweep's mapping check."""
    from hw_models.loader import load_platform

    data = yaml.safe_load(platform_path("edge-cim").read_text())
    del data["compute"]["mac_array"]
    data["voltage_domain"]["units"].remove("mac_array")
    path = small / "cim-no-mac.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert load_platform(path).mac_array is None
    frame = run_sweep(_sweep(small, "no-mac", {"platform.memories.buffer.capacity": ["16 KiB", "128 KiB"]},
                             platform=str(path)), small / "no-mac-out", workers=1)
    assert len(frame) == 2 and not frame["feasible"].any()
    study = yaml.safe_load((small / "study.yaml").read_text())
    study["platforms"] = [str(path)]
    (small / "no-mac-study.yaml").write_text(yaml.safe_dump(study))
    assert cli.main(["run", str(small / "no-mac-study.yaml"), "-o", str(small / "no-mac-run"), "--no-progress"]) == 2
    said = capsys.readouterr().err.strip().splitlines()[-1]
    for reason in frame["reason"]:
        assert reason.startswith("compute: op ") and "error:" not in reason and reason in said


def test_a_point_rebuilt_from_yaml_equals_a_platform_written_by_hand(small):
    from simulator.sweep.points import load_base, resolve, validate_axes
    from simulator.sweep.spec import load_spec

    spec = load_spec(_sweep(small, "rebuild", {"platform.memories.backbone.banks": [2, 4],
                                               "platform.memories.buffer.capacity": ["64 KiB"],
                                               "platform.links.1.width_bits": [64]}))
    base = load_base(spec)
    validate_axes(spec, base)
    point = {"platform.memories.backbone.banks": 4, "platform.memories.buffer.capacity": "64 KiB",
             "platform.links.1.width_bits": 64}
    built = resolve(spec, base, 0, point).platform()
    data = yaml.safe_load(platform_path("edge-rram").read_text())
    data["memories"]["backbone"]["banks"] = 4
    data["memories"]["buffer"]["capacity"] = "65536 B"
    data["links"][1]["width_bits"] = 64
    (small / "by-hand.yaml").write_text(yaml.safe_dump(data))
    hand = load_platform(small / "by-hand.yaml")
    for name, mem in hand.memories.items():
        other = built.memories[name]
        for attr in ("capacity_bytes", "read_latency_s", "bandwidth_Bps", "leakage_W", "area_m2"):
            assert getattr(other, attr) == getattr(mem, attr), (name, attr)
        assert other.read_energy(1.0) == mem.read_energy(1.0)
    assert [lk.bandwidth_Bps for lk in built.links] == [lk.bandwidth_Bps for lk in hand.links]
    assert built.area_m2 == hand.area_m2
    # and the unchanged platform's figures differ where the axis changed them
    assert load_platform("edge-rram").links[1].bandwidth_Bps != built.links[1].bandwidth_Bps


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=30),
       st.lists(st.sampled_from(["min", "max"]), min_size=3, max_size=3))
def test_pareto_front_matches_brute_force_dominance(points, senses):
    values = np.array(points, dtype=float)
    mask = pareto_mask(values, senses)
    sign = np.array([1.0 if s == "min" else -1.0 for s in senses])
    x = values * sign
    for i in range(len(x)):
        dominated = any((x[j] <= x[i]).all() and (x[j] < x[i]).any() for j in range(len(x)) if j != i)
        assert mask[i] == (not dominated)


def test_pareto_ignores_nan_rows():
    assert list(pareto_mask(np.array([[1.0, np.nan], [2.0, 2.0]]))) == [False, True]


@pytest.mark.parametrize("axes, extra, needle", [
    ({"platform.memories.backbone.bankz": [2]}, {}, "axes.platform.memories.backbone.bankz: value 2:"),
    ({"platform.memories.buffer.capacity": ["12 parsecs"]}, {}, "axes.platform.memories.buffer.capacity: value"),
    ({"platform.memories.buffer.capacity": [4096]}, {}, "bare number"),
    ({"platform.memories.backbone.technology": ["unobtainium"]}, {}, "unobtainium"),
    ({"study.scenario.rate": ["2 Hz"]}, {"constraints": ["latency_p99_s <= 5 parsecs"]}, "constraints.0"),
    ({"study.scenario.rate": ["2 Hz"]}, {"constraints": ["lateness <= 5 ms"]}, "unknown metric 'lateness'"),
    ({"platform..x": [1]}, {}, "malformed path"),
    ({"study.scenario.rate": {"from": "1 Hz", "to": "8 Hz"}}, {}, "steps: missing"),
    ({"study.scenario.rate": ["2 Hz"]}, {"objectives": {"joy": "max"}}, "objectives.joy: unknown metric"),
    ({"study.scenario.rate": ["2 Hz"]}, {"method": {"lhs": 0}}, "method.lhs"),
])
def test_bad_sweep_is_one_line_before_any_work(small, capsys, axes, extra, needle):
    spec = _sweep(small, "bad", axes, **extra)
    out = small / "bad-out"
    code = cli.main(["sweep", str(spec), "-o", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"hetsim: error: {spec}: ") and needle in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_a_folder_holding_something_else_is_refused(small, capsys):
    spec = _sweep(small, "refuse", {"study.scenario.rate": ["2 Hz"]})
    out = small / "someone-elses"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    assert cli.main(["sweep", str(spec), "-o", str(out), "--no-progress"]) == 2
    assert "--out: holds files hetsim did not write (such as thesis.tex)" in capsys.readouterr().err
    assert (out / "thesis.tex").read_text() == "precious" and sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


def test_rerun_evaluates_only_points_not_stored(small):
    axes = {"platform.memories.backbone.technology": ["rram", "stt-mram"], "study.scenario.rate": ["5 Hz"]}
    first = run_sweep(_sweep(small, "grow", axes), small / "grow-out", workers=1)
    axes["study.scenario.rate"] = ["5 Hz", "50 Hz"]
    second = run_sweep(_sweep(small, "grow", axes), small / "grow-out", workers=1)
    assert len(second) == 4
    parts = sorted((small / "grow-out" / "points.parquet").glob("part-*.parquet"))
    assert len(parts) == 2                              # the second run stored only the two new points
    kept = second.set_index("point_id").loc[first["point_id"]]
    pd.testing.assert_frame_equal(kept.reset_index()[first.columns], first, check_like=True)
    assert load_sweep(small / "grow-out").equals(second)
