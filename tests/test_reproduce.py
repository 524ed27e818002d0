"""``hetsim reproduce``: every recipe runs at reduced size and writes its files; the numbers behind one
figure per recipe equal an independent computation from ``hetsim run`` / ``hetsim trace`` outputs; the
style checks catch overlapping labels and axes without units; the output folder guard holds."""
from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from simulator.cli.main import main
from simulator.reproduce import core, plots, style
from simulator.reproduce.recipes import early_exit as early_exit_recipe
from simulator.reproduce.recipes import generation as generation_recipe
from simulator.reproduce.recipes import mappings as mappings_recipe
from simulator.reproduce.recipes import methods as methods_recipe
from simulator.reproduce.recipes import nvm_choice
from simulator.reproduce.recipes import pareto as pareto_recipe

RECIPES_DIR = core.RECIPES_DIR


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """``hetsim reproduce all --quick`` once for the module: (exit code, output folder)."""
    out = tmp_path_factory.mktemp("reproduce") / "out"
    code = main(["reproduce", "all", "--quick", "-o", str(out), "--no-progress"])
    return code, out


def _recipe_names() -> list[str]:
    return [r.name for r in core.resolve(["all"])]


# -- every recipe at reduced size ----------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", _recipe_names())
def test_each_recipe_writes_png_pdf_csv_and_a_caption(quick_run, name):
    code, out = quick_run
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    recipe = next(r for r in summary["recipes"] if r["name"] == name)
    assert recipe["figures"], f"{name} drew no figure"
    md = (out / "reproduce.md").read_text()
    for fig in recipe["figures"]:
        stem = fig["stem"]
        for ext in ("png", "pdf", "csv"):
            path = out / f"{stem}.{ext}"
            assert path.is_file() and path.stat().st_size > 0, path
        assert (out / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
        data = pd.read_csv(out / f"{stem}.csv")
        assert len(data) > 0
        assert f"![{fig['title']}]({stem}.png)" in md
        assert fig["problems"] == [], f"{stem}: {fig['problems']}"   # no overlapping labels, units on axes
    section = md.split(f"## {name}:", 1)[1].split("\n## ", 1)[0]
    for part in ("What it shows.", "What the seed papers publish.", "What this run gives.",
                 "Assumptions that drive the difference."):
        assert section.count(part) == len(recipe["figures"])


@pytest.mark.slow
def test_footprint_equals_hetsim_trace_of_four_tasks(quick_run, tmp_path):
    """adapter-ALBERT and per-task ALBERT at 4 tasks: the recipe (2 traced tasks, shared once + N x one
    task) against ``hetsim trace`` of 4 tasks, summing every distinct parameter tensor's stored bytes."""
    from workloads import load_trace

    _, out = quick_run
    data = pd.read_csv(out / "footprint-tasks.csv")
    storage = "8-bit, emb. 60 % pruned"
    bits = "weight=8,embedding=8,adapter=8,activation=16,input=16,output=16"
    tasks = ["t1", "t2", "t3", "t4"]
    cases = {"adapter-ALBERT m=8, per rep.": ["--adapter", "houlsby:8", "--per-repetition"],
             "N x ALBERT (fine-tuned)": []}
    for design, extra in cases.items():
        target = tmp_path / design.replace(" ", "_").replace(",", "").replace("=", "") / "m.trace.json.gz"
        target.parent.mkdir()
        assert main(["trace", "albert-base-v2", *extra, "--tasks", ",".join(tasks), "--seq-len", "16",
                     "--bits", bits, "--sparsity", "embedding=0.6", "-o", str(target)]) == 0
        traces = [load_trace(target.with_name(f"m.{t}.trace.json.gz")) for t in tasks]
        params = {}
        for task, trace in zip(tasks, traces):
            for t in trace.tensors.values():
                if t.role in ("weight", "embedding", "adapter"):
                    # a fine-tuned model per task owns every parameter; adapter-ALBERT shares the backbone
                    owner = task if not extra else t.owner
                    params[(owner, t.name)] = t.stored_bytes
        expected = sum(params.values())
        row = data[(data["design"] == design) & (data["storage"] == storage) & (data["tasks"] == 4)]
        assert len(row) == 1
        assert row["parameter_bytes"].iloc[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.slow
def test_mappings_bars_equal_hetsim_run_of_the_bundled_study(quick_run, tmp_path):
    import yaml

    _, out = quick_run
    run_dir = tmp_path / "run"
    study = yaml.safe_load((RECIPES_DIR / "mappings.yaml").read_text())
    study["seq_len"] = mappings_recipe.QUICK_SEQ_LEN           # what --quick runs
    study["platforms"] = [{**p, "platform": str(RECIPES_DIR / p["platform"])} if "/" in p["platform"] else p
                          for p in study["platforms"]]
    (tmp_path / "mappings.yaml").write_text(yaml.safe_dump(study))
    assert main(["run", str(tmp_path / "mappings.yaml"), "--requests", str(mappings_recipe.QUICK_REQUESTS),
                 "-o", str(run_dir), "--no-progress"]) == 0
    summary = pd.read_csv(run_dir / "summary.csv").set_index("platform")
    bars = pd.read_csv(out / "mappings-bars.csv").set_index("label")
    assert sorted(bars.index) == sorted(summary.index)
    for label, row in bars.iterrows():
        for col in ("energy_per_inference_J", "latency_p99_s", "average_power_W", "area_m2"):
            assert row[col] == pytest.approx(summary.loc[label, col], rel=1e-9), (label, col)
        parts = sum(row[f"{k}_energy_per_inference_J"] for k in plots.KINDS)
        assert parts == pytest.approx(row["energy_per_inference_J"], rel=1e-9)
    # the switch-probability figure at the study's own probability is the bar figure
    switch = pd.read_csv(out / "mappings-switch.csv")
    at = switch[switch["switch_probability"] == 0.3].set_index("label")
    for label in bars.index:
        assert at.loc[label, "energy_per_inference_J"] == pytest.approx(bars.loc[label, "energy_per_inference_J"])


@pytest.mark.slow
def test_nvm_choice_point_equals_hetsim_run_of_an_edited_platform(quick_run, tmp_path):
    """One (technology, rate) point against ``hetsim run`` of a platform file edited by text and the
    recipe's study at that rate."""
    import yaml

    from hw_models.loader import platform_path

    _, out = quick_run
    data = pd.read_csv(out / "nvm-choice.csv")
    tech, rate = "stt-mram", nvm_choice.QUICK_RATES_HZ[1]
    text = platform_path("edge-rram").read_text()
    head, sep, tail = text.partition("  backbone:\n    technology: rram")
    assert sep, "edge-rram's backbone is no longer ReRAM: update this test"
    (tmp_path / "edited.yaml").write_text(head + f"  backbone:\n    technology: {tech}" + tail)
    study = yaml.safe_load((RECIPES_DIR / "nvm-choice.yaml").read_text())
    study["platforms"] = ["edited.yaml"]
    study["scenario"]["rate"] = f"{rate} Hz"
    study["scenario"]["requests"] = nvm_choice.QUICK_REQUESTS
    study["seq_len"] = nvm_choice.QUICK_SEQ_LEN
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    assert main(["run", str(tmp_path / "study.yaml"), "-o", str(tmp_path / "run"), "--no-progress"]) == 0
    expected = pd.read_csv(tmp_path / "run" / "summary.csv")["energy_per_inference_J"].iloc[0]
    row = data[(data["kind"] == "point") & (data["technology"] == tech) & np.isclose(data["rate_Hz"], rate)]
    assert len(row) == 1
    assert row["energy_per_inference_J"].iloc[0] == pytest.approx(expected, rel=1e-9)


def _quick_study(name: str, recipe, tmp_path: Path) -> Path:
    """The recipe's bundled study as --quick runs it (fewer requests, shorter sequence), for hetsim run."""
    import yaml

    study = yaml.safe_load((RECIPES_DIR / name).read_text())
    study["seq_len"] = recipe.QUICK_SEQ_LEN
    study["scenario"]["requests"] = recipe.QUICK_REQUESTS
    for p in study["platforms"]:
        if isinstance(p, dict) and "/" in p["platform"]:
            p["platform"] = str(RECIPES_DIR / p["platform"])
    path = tmp_path / name
    path.write_text(yaml.safe_dump(study))
    return path


@pytest.mark.slow
def test_early_exit_curves_equal_hetsim_runs_energy_vs_latency_target(quick_run, tmp_path):
    _, out = quick_run
    study = _quick_study("early-exit.yaml", early_exit_recipe, tmp_path)
    assert main(["run", str(study), "-o", str(tmp_path / "run"), "--no-progress"]) == 0
    data = pd.read_csv(out / "early-exit.csv")
    for platform, rows in data.groupby("platform"):
        ref = pd.read_csv(tmp_path / "run" / platform / "energy_vs_latency_target.csv")
        mine = rows.sort_values(["target_s", "configuration"]).reset_index(drop=True)
        ref = ref.sort_values(["target_s", "configuration"]).reset_index(drop=True)
        assert len(mine) == len(ref) > 0
        assert np.allclose(mine["target_s"], ref["target_s"])
        assert list(mine["configuration"]) == list(ref["configuration"])
        assert np.allclose(mine["energy_per_inference_J"], ref["energy_per_inference_J"], rtol=1e-9)
        assert list(mine["missed"]) == list(ref["missed"])


def test_generation_quick_sizes_change_only_what_each_study_sets():
    from simulator.study.runner import load_study

    path = RECIPES_DIR / "generation.yaml"
    quick = core.load_spec(path, generation_recipe.GenerationSpec, quick=True)
    lightlm, prosg = (generation_recipe.study_of(quick, w, path) for w in quick.workloads)
    assert (lightlm.generation.beams, prosg.generation.beams) == (4, 1)       # RWKV sets no beam search
    assert lightlm.generation.items == 50 and prosg.generation.new_tokens == 3
    assert lightlm.scenario.requests == prosg.scenario.requests == 4 and prosg.layers == 2
    full = core.load_spec(path, generation_recipe.GenerationSpec)
    for w in full.workloads:   # the full run is each study as hetsim run runs it
        assert generation_recipe.study_of(full, w, path) == load_study(RECIPES_DIR / w.study)


def test_early_exit_ratios_are_energy_over_dvfs_energy():
    curve = pd.DataFrame({"target_s": [0.1] * 3 + [0.2] * 3,
                          "configuration": ["no early exit", "early exit", "early exit + DVFS"] * 2,
                          "energy_per_inference_J": [7.0, 2.5, 1.0, 6.0, 3.0, 2.0], "missed": [0, 0, 0, 0, 0, 1]})
    r = early_exit_recipe.ratios(curve)
    assert list(r["no_exit_over_dvfs"]) == [7.0, 3.0]
    assert list(r["exit_over_dvfs"]) == [2.5, 1.5]
    assert list(r["dvfs_meets_target"]) == [True, False]


@pytest.mark.slow
def test_methods_equal_hetsim_run_and_footprint_equals_the_placement_table(quick_run, tmp_path):
    _, out = quick_run
    study = _quick_study("methods.yaml", methods_recipe, tmp_path)
    assert main(["run", str(study), "-o", str(tmp_path / "run"), "--no-progress"]) == 0
    summary = pd.read_csv(tmp_path / "run" / "summary.csv").set_index("platform")
    data = pd.read_csv(out / "methods.csv").set_index("label")
    assert sorted(data.index) == sorted(summary.index)
    for label, row in data.iterrows():
        for col in ("energy_per_inference_J", "latency_p99_s", "area_m2"):
            assert row[col] == pytest.approx(summary.loc[label, col], rel=1e-9), (label, col)
        placement = pd.read_csv(tmp_path / "run" / label / "placement.csv")
        params = placement[placement["role"].isin(["weight", "embedding", "adapter"])]
        assert row["parameter_bytes"] == pytest.approx(params["bytes"].sum(), rel=1e-12)


@pytest.mark.slow
def test_pareto_front_equals_hetsim_sweep_and_a_brute_force_front(quick_run, tmp_path):
    """The recipe's points and front against ``hetsim sweep`` of the same (reduced) sweep file: the same
    points with the same objectives, the same front as its pareto.csv, and that front equal to a brute-force
    dominance check over the sweep's stored rows."""
    import yaml

    from simulator.sweep import load_sweep

    _, out = quick_run
    data = pd.read_csv(out / "pareto.csv")
    sweep = pareto_recipe.sweep_dict(RECIPES_DIR / "pareto.yaml", quick=True)
    (tmp_path / "pareto.yaml").write_text(yaml.safe_dump(sweep, sort_keys=False))
    assert main(["sweep", str(tmp_path / "pareto.yaml"), "-o", str(tmp_path / "sweep"), "--workers", "1",
                 "--no-progress"]) == 0
    rows = load_sweep(tmp_path / "sweep")
    axes = list(sweep["axes"])
    objectives = list(sweep["objectives"])
    key = lambda frame: frame[axes].astype(str).agg("|".join, axis=1)  # noqa: E731
    mine, ref = data.set_index(key(data)), rows.set_index(key(rows))
    assert sorted(mine.index) == sorted(ref.index) and len(mine) == len(data)
    for col in objectives:
        assert np.allclose(mine[col].to_numpy(float), ref.loc[mine.index, col].to_numpy(float), rtol=1e-9)
    front_csv = pd.read_csv(tmp_path / "sweep" / "pareto.csv")
    assert set(key(front_csv)) == set(mine.index[mine["on_front"]])
    # brute force: a ranked point is on the front unless another is no worse everywhere and better somewhere
    ranked = ref[ref["feasible"].astype(bool) & ~ref["overloaded"].astype(bool)]
    values = ranked[objectives].to_numpy(float)
    on = [not any((values[j] <= values[i]).all() and (values[j] < values[i]).any() for j in range(len(values)))
          for i in range(len(values))]
    assert set(ranked.index[on]) == set(mine.index[mine["on_front"]])
    assert 0 < sum(on) < len(data)


@pytest.mark.slow
def test_pareto_point_of_edge_rram_as_shipped_equals_hetsim_run(quick_run, tmp_path):
    """edge-rram as shipped is one of the sweep's points: its row equals ``hetsim run`` of the default
    study on edge-rram at the recipe's reduced size (closed form, as the sweep evaluates)."""
    import yaml

    from simulator.study.runner import STUDIES_DIR

    _, out = quick_run
    data = pd.read_csv(out / "pareto.csv")
    shipped = np.ones(len(data), dtype=bool)
    for col, value in pareto_recipe.SHIPPED.items():
        shipped &= (data[col] == value).to_numpy()
    assert shipped.sum() == 1
    row = data[shipped].iloc[0]
    study = yaml.safe_load((STUDIES_DIR / "default.yaml").read_text())
    study.update(platforms=["edge-rram"], evaluator="analytic", seq_len=pareto_recipe.QUICK_SEQ_LEN)
    study["scenario"]["requests"] = pareto_recipe.QUICK_REQUESTS
    study["outputs"] = {"figures": False}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    assert main(["run", str(tmp_path / "study.yaml"), "-o", str(tmp_path / "run"), "--no-progress"]) == 0
    summary = pd.read_csv(tmp_path / "run" / "summary.csv").iloc[0]
    for col in ("energy_per_inference_J", "area_m2", "latency_p99_s", "leakage_energy_per_inference_J"):
        assert row[col] == pytest.approx(summary[col], rel=1e-9), col


@pytest.mark.slow
@pytest.mark.parametrize("technology", ["stt-mram", "sram-hp"])
def test_generation_equals_hetsim_run_of_an_edited_platform(quick_run, tmp_path, technology):
    """For each workload, the recipe's row for one technology of the temporary memory against ``hetsim run``
    of the workload's study (at the recipe's reduced size) on gen-temp.yaml edited by text (that memory's
    technology and capacity): energy per generated token, the memory's writes and lifetime."""
    import yaml

    _, out = quick_run
    data = pd.read_csv(out / "generation.csv")
    spec = core.read_yaml(RECIPES_DIR / "generation.yaml")
    quick = spec["quick"]
    text = (RECIPES_DIR / "platforms" / "gen-temp.yaml").read_text()
    head, sep, tail = text.partition("  temp:\n    technology: rram")
    assert sep, "gen-temp's temp memory is no longer ReRAM first: update this test"
    for i, w in enumerate(spec["workloads"]):
        folder = tmp_path / f"w{i}"
        folder.mkdir()
        edited = tail.replace("capacity: 16 MiB", f"capacity: {w['capacity']}", 1)   # temp's own line comes first
        (folder / "gen-temp.yaml").write_text(head + f"  temp:\n    technology: {technology}" + edited)
        study = yaml.safe_load((RECIPES_DIR / w["study"]).read_text())
        study["platforms"] = ["gen-temp.yaml"]
        study["scenario"]["requests"] = quick["requests"]
        study.update(layers=quick["layers"], hidden=quick["hidden"])
        study["generation"].update({k: v for k, v in quick["generation"].items() if k in study["generation"]})
        (folder / "study.yaml").write_text(yaml.safe_dump(study))
        assert main(["run", str(folder / "study.yaml"), "-o", str(folder / "run"), "--no-progress"]) == 0
        summary = pd.read_csv(folder / "run" / "summary.csv").iloc[0]
        memories = pd.read_csv(folder / "run" / "gen-temp" / "per_memory.csv").set_index("memory")
        wear = pd.read_csv(folder / "run" / "gen-temp" / "nvm_wear.csv").set_index("memory")
        row = data[(data["workload"] == w["label"]) & (data["technology"] == technology)]
        assert len(row) == 1
        row = row.iloc[0]
        tokens = study["generation"]["new_tokens"]
        assert row["tokens_per_request"] == tokens
        assert row["energy_per_token_J"] == pytest.approx(summary["energy_per_inference_J"] / tokens, rel=1e-9)
        parts = row[["rest_energy_per_token_J", "memory_dynamic_energy_per_token_J",
                     "memory_static_energy_per_token_J"]].sum()
        assert parts == pytest.approx(row["energy_per_token_J"], rel=1e-9)
        temp = memories.loc["temp"]
        n = summary["requests"]
        assert row["memory_static_energy_per_token_J"] == pytest.approx(
            (temp["energy_J"] - temp["dynamic_energy_J"]) / n / tokens, rel=1e-9)
        assert row["memory_write_bytes_per_request"] == pytest.approx(temp["write_bytes"] / n, rel=1e-9)
        assert row["memory_write_bytes_per_request"] > 0           # generation writes its temporaries there
        per_token = pd.read_csv(folder / "run" / "gen-temp" / "per_token.csv")
        assert row["prefill_op_energy_J"] == pytest.approx(per_token["energy_per_request_J"].iloc[0], rel=1e-9)
        assert row["decode_step_op_energy_J"] == pytest.approx(
            per_token.loc[per_token["step"] >= 1, "energy_per_request_J"].mean(), rel=1e-9)
        if technology.startswith("sram"):
            assert "temp" not in wear.index and math.isinf(row["memory_lifetime_s"])
        else:
            assert row["memory_lifetime_s"] == pytest.approx(wear.loc["temp", "lifetime_s"], rel=1e-9)
            assert math.isfinite(row["memory_lifetime_s"])


# -- pieces, fast ----------------------------------------------------------------------------------------

def test_crossovers_lie_where_the_interpolated_curves_meet():
    rates = np.logspace(-2, 1, 7)
    a = 5.0 / rates + 1.0          # leakage-heavy: falls fast
    b = 1.0 / rates + 3.0          # dynamic-heavy: flat
    data = pd.DataFrame({"technology": ["a"] * 7 + ["b"] * 7, "rate_Hz": list(rates) * 2,
                         "energy_per_inference_J": list(a) + list(b)})
    cross = nvm_choice.crossovers(data)
    assert len(cross) == 1
    r = cross["rate_Hz"].iloc[0]
    assert 1.0 < r < 3.0                       # exact crossing: 4/r = 2 -> r = 2
    assert cross["cheaper_above"].iloc[0] == "a"
    la = np.interp(np.log(r), np.log(rates), np.log(a))
    lb = np.interp(np.log(r), np.log(rates), np.log(b))
    assert la == pytest.approx(lb, abs=1e-12)
    assert math.log(cross["energy_per_inference_J"].iloc[0]) == pytest.approx(la)


def test_no_crossover_when_one_curve_is_always_below():
    rates = [0.1, 1.0, 10.0]
    data = pd.DataFrame({"technology": ["a"] * 3 + ["b"] * 3, "rate_Hz": rates * 2,
                         "energy_per_inference_J": [1, 2, 3, 2, 3, 4]})
    assert nvm_choice.crossovers(data).empty


def test_overlap_check_finds_overlapping_labels_and_not_separate_ones():
    with style.paper_style():
        fig, ax = style.figure()
        ax.set_xlabel("rate (Hz)")
        ax.set_ylabel("energy (mJ)")
        ax.plot([1, 2], [1, 2])
        ax.text(0.5, 0.5, "first label", transform=ax.transAxes)
        assert style.overlapping_texts(fig) == []
        ax.text(0.52, 0.5, "second label", transform=ax.transAxes)
        assert ("first label", "second label") in style.overlapping_texts(fig)
        matplotlib.pyplot.close(fig)


def test_unit_check_flags_an_axis_without_a_unit_and_skips_categories():
    with style.paper_style():
        fig, (a, b) = style.figure(2, 1)
        a.plot([1, 2], [3, 4])
        a.set_xlabel("rate (Hz)")
        a.set_ylabel("energy")
        b.bar(["edge-sram", "edge-rram"], [1, 2])
        b.set_ylabel("area (mm²)")
        problems = style.unlabelled_axes(fig)
        matplotlib.pyplot.close(fig)
    assert problems == ["axes: y: 'energy'"]


def test_list_names_every_recipe(capsys):
    assert main(["reproduce", "--list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == _recipe_names()
    assert {"footprint", "mappings", "nvm-choice"} <= set(listed)


def test_unknown_name_is_one_line_exit_2(capsys, tmp_path):
    assert main(["reproduce", "nosuch", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nosuch" in err[0] and "footprint" in err[0]
    assert not (tmp_path / "o").exists()


def test_a_folder_with_a_users_file_is_refused_and_kept(capsys, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("keep")
    assert main(["reproduce", "footprint", "--quick", "-o", str(out)]) == 2
    assert (out / "thesis.tex").read_text() == "keep"
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_bundled_studies_validate():
    from simulator.study.runner import load_study

    for name in ("mappings.yaml", "nvm-choice.yaml", "early-exit.yaml", "methods.yaml", "generation-lightlm.yaml",
                 "generation-prosg.yaml"):
        config = load_study(RECIPES_DIR / name)
        assert config.platforms
