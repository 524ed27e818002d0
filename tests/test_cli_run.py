"""``hetsim run``: bad input exits 2 with one line and leaves no results; reports and figures agree with
the results they draw; one slow end-to-end run of the default study (fewer requests), reproducible."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from simulator.cli import main as cli
from simulator.processes import can_fork
from simulator.results import plots, report
from simulator.results.result import Result

LEDGER_COLUMNS = ["request", "task", "op", "module", "layer", "component", "category", "energy_J", "bytes",
                  "start_s", "end_s"]


def _bad(tmp_path, text: str):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, needle", [
    ("model: albert-base-v2\ntasks: [a]\nplatforms: [edge-sram]\nscenario: {rate: fast}\n", "scenario.rate"),
    ("model: albert-base-v2\ntasks: [a]\nplatforms: [edge-sram]\nextra: 1\n", "extra: unknown key"),
    ("model: [\n", "expected valid YAML"),
    ("model: albert-base-v2\ntasks: [a]\nplatforms: [no-such-platform]\n", "platforms.0.platform"),
    ("model: gpt-17\ntasks: [a]\nplatforms: [edge-sram]\n", "model: unknown model 'gpt-17'; expected"),
    ("model: albert-base-v2\nadapter: houlsby\ntasks: [a]\nplatforms: [edge-sram]\n", "adapter: 'houlsby'"),
])
def test_bad_study_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch, text, needle):
    monkeypatch.chdir(tmp_path)
    path = _bad(tmp_path, text)
    code = cli.main(["run", str(path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"hetsim: error: {path}: ") and needle in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "results").exists()


def test_missing_file_and_bad_overrides_exit_2(tmp_path, capsys):
    assert cli.main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert cli.main(["run", "--platforms", "edge-nothing", "--no-progress"]) == 2
    assert "--platforms: edge-nothing" in capsys.readouterr().err
    assert cli.main(["run", "--requests", "0", "--no-progress"]) == 2
    assert "--requests: got 0" in capsys.readouterr().err


def test_output_folder_of_other_files_is_refused_before_running(tmp_path, capsys):
    (tmp_path / "thesis.tex").write_text("precious")
    (tmp_path / "summary.json").write_text("{}")  # looks like results; only hetsim's marker counts
    for extra in ([], ["--overwrite"]):
        assert cli.main(["run", "-o", str(tmp_path), "--no-progress", *extra]) == 2
        assert "--out: holds files hetsim did not write" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json", "thesis.tex"]


def test_run_help_explains_the_command(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for needle in ("CONFIG", "--requests", "--platforms", "--no-progress", "-o OUT", "default study"):
        assert needle in text


# -- report and figures against hand-built results ---------------------------------------------------

class _Mem:
    def __init__(self, technology, volatile=True, is_dram=False):
        self.technology, self.volatile, self.is_dram = technology, volatile, is_dram
        self.capacity_bytes, self.word_bits, self.area_m2, self.endurance_writes = 1 << 20, 64, 1e-6, 1e12


class _Platform:
    def __init__(self, name, nvm):
        self.name = name
        self.memories = {"act": _Mem("sram-hp"), "backbone": _Mem("rram" if nvm else "sram-hp", volatile=not nvm),
                         "dram": _Mem("lpddr4", is_dram=True)}
        self.area_m2 = 2e-6 if nvm else 5e-6


def _result(name: str, scale: float, nvm: bool) -> Result:
    rows, reqs = [], []
    for r in range(3):
        t0 = r * 0.1
        for op, (comp, cat, e) in enumerate([("backbone", "read", 2e-6), ("mac_array", "compute", 5e-6),
                                             ("act", "write", 1e-6), ("backbone", "switch_load", 3e-6 * (r == 1)),
                                             ("dram->act", "transfer", 0.5e-6), ("act", "leakage", 1e-6)]):
            rows.append([r, "a" if r < 1 else "b", op, f"m{op}", "layer#1", comp, cat, e * scale, 64.0,
                         t0 + op * 1e-3, t0 + (op + 1) * 1e-3])
        reqs.append([r, "a" if r < 1 else "b", t0, t0, t0 + 6e-3, 6e-3, r == 1, "nominal"])
    rows.append([-1, "", -1, "", "", "backbone", "leakage", 4e-6 * scale, 0.0, 0.006, 0.3])
    ledger = pd.DataFrame(rows, columns=LEDGER_COLUMNS)
    requests = pd.DataFrame(reqs, columns=["request", "task", "arrival_s", "start_s", "end_s", "latency_s",
                                           "switch", "operating_point"])
    return Result(ledger, requests, _Platform(name, nvm), meta={"lower_bound_J": {"a": 1e-6, "b": 1e-6},
                                                                   "mode": "adapters", "model": "toy"})


def _results():
    return {"sram": _result("sram", 1.0, False), "rram": _result("rram", 0.5, True)}


def test_comparison_table_and_breakdown_agree_with_the_summaries():
    results = _results()
    table = report.comparison_table(results).set_index("platform")
    unit, scale = report.energy_unit(r.summary()["energy_per_inference_J"] for r in results.values())
    assert unit == "µJ" and scale == 1e-6  # the toy's 6..12 µJ
    components, dynamic, static = plots.breakdown_data(results)
    for i, (key, result) in enumerate(results.items()):
        s = result.summary()
        assert math.isclose(table.loc[key, "energy/inf (µJ)"], s["energy_per_inference_J"] * 1e6)
        parts = sum(table.loc[key, f"{h} (µJ)"] for _, h in report.GROUPS)
        assert math.isclose(parts, table.loc[key, "energy/inf (µJ)"], rel_tol=1e-12)
        drawn = sum(dynamic[c][i] + static[c][i] for c in components)
        assert math.isclose(drawn, s["energy_per_inference_J"], rel_tol=1e-12)
        assert math.isclose(table.loc[key, "leakage (%)"], 100 * s["leakage_share"])
    assert "interconnect" in components and "mac_array" in components
    assert table.loc["rram", "NVM (µJ)"] > 0 and table.loc["sram", "NVM (µJ)"] == 0


def test_figures_and_report_are_written_and_readable(tmp_path):
    results = _results()
    paths = plots.energy_breakdown(results, tmp_path / "eb", ("png", "pdf"))
    paths += plots.timeline(results, tmp_path / "tl", ("png", "pdf"), requests=2)
    for p in paths:
        head = p.read_bytes()[:8]
        assert head.startswith(b"\x89PNG") if p.suffix == ".png" else head.startswith(b"%PDF")
    import matplotlib.image

    assert matplotlib.image.imread(tmp_path / "eb.png").shape[1] > 600  # readable at print size

    class Config:  # the attributes write_report reads from a StudyConfig
        from simulator.study.runner import default_study
        _c = default_study()
        name, description, model, adapter, per_repetition = "t", "", "toy", "houlsby:8", False
        seq_len, tasks, compression, scenario, evaluator = 8, ["a", "b"], _c.compression, _c.scenario, "engine"

    md = report.write_report(results, Config, tmp_path / "report.md", {"energy_breakdown": paths[:1]}).read_text()
    assert "| platform |" in md and "![Energy per inference by component]" in md and "### NVM wear" in md
    assert md.count("\n## ") >= 4


@pytest.mark.skipif(not can_fork(), reason="needs os.fork")
def test_formats_drawn_at_once_are_the_same_files_and_a_failure_in_the_child_is_raised(tmp_path):
    """``concurrent=True`` (a figure worker's): the PDF drawn in a forked child beside the PNG in this
    process gives the same bytes as one after the other; a format that fails in the child fails the call."""
    results = _results()
    for name, kwargs in (("energy_breakdown", {}), ("timeline", {"requests": 2})):
        one = getattr(plots, name)(results, tmp_path / f"{name}-serial", ("png", "pdf"), **kwargs)
        both = getattr(plots, name)(results, tmp_path / f"{name}-forked", ("png", "pdf"), concurrent=True, **kwargs)
        assert [p.suffix for p in both] == [".png", ".pdf"]
        for a, b in zip(one, both):
            assert a.read_bytes() == b.read_bytes(), b.name
    with pytest.raises(RuntimeError, match=r"eb\.nope failed in a forked process: ValueError"):
        plots.energy_breakdown(results, tmp_path / "eb", ("png", "nope"), concurrent=True)
    assert (tmp_path / "eb.png").exists()   # this process's format was drawn; the child's failed


def test_save_study_writes_everything_or_nothing(tmp_path, monkeypatch):
    from simulator.study.runner import default_study, save_study

    config = default_study()
    out = save_study(_results(), config, tmp_path / "run")
    names = {p.name for p in out.iterdir()}
    assert {"summary.csv", "summary.json", "report.md", "energy_breakdown.png", "energy_breakdown.pdf",
            "timeline.png", "timeline.pdf", "timeline.perfetto.json", "study.yaml", "sram", "rram"} <= names
    assert pd.read_csv(out / "summary.csv")["platform"].tolist() == ["sram", "rram"]

    def broken(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(plots, "timeline", broken)
    with pytest.raises(RuntimeError):
        save_study(_results(), config, tmp_path / "second")
    with pytest.raises(RuntimeError):
        save_study(_results(), config, out, overwrite=True)  # an existing run folder is left as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert {p.name for p in out.iterdir()} == names


@pytest.mark.parametrize("values, unit", [([0.0], "nJ"), ([5e-6, 2e-9], "µJ"), ([9.99e-4], "µJ"),
                                          ([1e-3], "mJ"), ([27.4e-3, 1e-6], "mJ"), ([3.0], "J"), ([5e6], "J")])
def test_energy_unit_reads_below_a_thousand(values, unit):
    assert report.energy_unit(values)[0] == unit


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 6)), max_size=15))
def test_merged_spans_cover_exactly_the_union(intervals):
    starts = np.array([a for a, _ in intervals], float)
    widths = np.array([w for _, w in intervals], float)
    merged = plots.merge_spans(starts, widths)
    covered = {x for a, w in intervals for x in range(a, a + w)}
    assert {x for a, w in merged for x in range(int(a), int(a + w))} == covered
    assert all(a + w < b for (a, w), (b, _) in zip(merged, merged[1:]))  # disjoint, sorted


def test_timeline_removes_idle_time_only_where_nothing_is_in_service():
    """Requests one after another are laid end to end (each gap removed); requests served at once keep
    their overlap (they share a shift); every lane's bars are the requests' rows moved by that shift."""
    from simulator import testing as ht
    from simulator.engine.discrete_event import simulate
    from simulator.prepare import streams

    workload = ht.make_workload(("t0", "t1"), streams.fixed(["t0", "t1", "t0", "t1"], 1e-3))
    platform = ht.make_platform()
    for in_flight in (1, 2):
        run = Result.from_run(simulate(workload.with_stream(streams.fixed(["t0", "t1", "t0"], 0.0)
                                                            if in_flight == 2 else workload.stream),
                                       platform, max_in_flight=in_flight))
        req = run.requests.reset_index(drop=True)
        lanes, bars, marks = plots._timeline_lanes(run, len(req))
        x = np.array([m for m, _ in marks]) / 1e3
        if in_flight == 1:     # end to end: each request starts where the previous one's service ended
            assert np.allclose(x, np.concatenate([[0.0], np.cumsum(req["service_s"].to_numpy())[:-1]]))
        else:                  # all arrive at once: one busy period, the real start times (from the first)
            assert np.allclose(x, req["start_s"].to_numpy() - req["start_s"].iloc[0])
            assert (req["start_s"].to_numpy()[1:] < req["end_s"].to_numpy()[:-1]).any()
        total = sum(w for spans in bars.values() for _, w in spans)
        assert total > 0 and max(a + w for spans in bars.values() for a, w in spans) <= \
            (x[-1] + req["service_s"].max()) * 1e3 * (1 + 1e-9)


def test_request_labels_that_would_collide_go_to_a_second_line():
    assert plots._label_rows([(0.0, "#0 t0"), (100.0, "#1 t1"), (200.0, "#2 t0")]) == [0, 0, 0]
    assert plots._label_rows([(0.0, "#0 t0 (switch)"), (1.0, "#1 t1"), (100.0, "#2 t0")]) == [0, 1, 0]


def test_timeline_window_contains_the_first_switch():
    req = pd.DataFrame({"switch": [True, False, False, False, False, True, False, False]})
    window = plots.timeline_window(req, 4)
    assert len(window) == 4 and 5 in window
    assert plots.timeline_window(pd.DataFrame({"switch": [True, False]}), 4) == [0, 1]


# -- end to end ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_default_study_end_to_end_is_reproducible(tmp_path, capsys):
    outs = [tmp_path / "one", tmp_path / "two"]
    for out in outs:
        assert cli.main(["run", "--requests", "12", "--no-progress", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "edge-sram-dram" in printed and "energy/inf (mJ)" in printed and str(outs[0]) in printed
    for name in ("report.md", "summary.csv", "summary.json", "energy_breakdown.png", "energy_breakdown.pdf",
                 "timeline.png", "timeline.pdf", "timeline.perfetto.json", "study.yaml"):
        assert (outs[0] / name).is_file(), name
    for key in ("edge-sram-dram", "edge-sram-reload", "edge-sram", "edge-rram", "edge-mram", "edge-cim"):
        for table in ("per_op", "per_layer", "per_memory", "per_compute", "per_task", "per_request",
                      "placement"):
            assert (outs[0] / key / f"{table}.csv").is_file()
    a, b = (pd.read_csv(o / "summary.csv") for o in outs)
    pd.testing.assert_frame_equal(a, b)  # same config and seed, same numbers
    summary = a.set_index("platform")
    assert (summary["requests"] == 12).all()
    assert (summary["ratio_to_lower_bound"] >= 1.0).all()
    # the conventional per-task model streams its weights from DRAM; the shared backbones do not
    assert summary.loc["edge-sram-dram", "dram_energy_per_inference_J"] > \
        summary.loc["edge-rram", "dram_energy_per_inference_J"]
    doc = json.loads((outs[0] / "summary.json").read_text())
    assert set(doc) == {"edge-sram-dram", "edge-sram-reload", "edge-sram", "edge-rram", "edge-mram", "edge-cim"}
    events = json.loads((outs[0] / "timeline.perfetto.json").read_text())["traceEvents"]
    assert sum(e["ph"] == "X" and e.get("tid") == 0 for e in events) == 12 * len(doc)
    again = yaml.safe_load((outs[0] / "study.yaml").read_text())
    assert again["scenario"]["requests"] == 12
    for key in doc:  # the tables on disk add up to the run's total
        total = doc[key]["summary"]["energy_J"]
        assert np.isclose(pd.read_csv(outs[0] / key / "per_component.csv")["energy_J"].sum(), total, rtol=1e-9)
        attributed = pd.read_csv(outs[0] / key / "per_request.csv")["energy_J"].sum()
        assert attributed <= total * (1 + 1e-12)  # idle leakage belongs to no request
