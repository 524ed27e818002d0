"""A study with early exit and DVFS (issue 14): the settings validate with one-line errors, the run writes
the exit-layer histogram, energy/latency per exit layer and EdgeBERT's energy-vs-latency-target figure."""
from __future__ import annotations

import pandas as pd
import pytest

from simulator.errors import SimulationConfigError
from simulator.study.runner import run_study, save_study, study_from_dict

EE = {"name": "ee", "model": "albert-base-v2", "layers": 3, "hidden": 64, "seq_len": 16,
      "adapter": "houlsby:4", "tasks": ["a", "b"],
      "compression": {"bits": {"weight": 8, "embedding": 8, "adapter": 8, "activation": 16}},
      "scenario": {"stream": "poisson", "requests": 12, "rate": "50 Hz", "switch_probability": 0.5, "seed": 1},
      "platforms": ["edge-sram", {"platform": "edge-sram-dram", "mode": "per-task-model"}],
      "evaluator": "analytic",
      "early_exit": {"exits": "all", "table": {1: 2, 2: 1, 3: 1}},
      "dvfs": {"policy": "edgebert", "latency_target": "2 ms", "targets": ["0.2 ms", "1 ms", "5 ms"]},
      "outputs": {"formats": ["png"]}}


@pytest.mark.parametrize("change, expected", [
    ({"early_exit": {"exits": "all"}}, "early_exit: no distribution given; expected exactly one of table"),
    ({"early_exit": {"table": {1: 1}, "per_request": [1]}}, "table and per_request given"),
    ({"early_exit": {"entropy": {"first": 1.0}}}, "early_exit.entropy.threshold"),
    ({"dvfs": {"policy": "edgebert"}}, "needs latency_target"),
    ({"dvfs": {"policy": "turbo"}}, "dvfs.policy"),
])
def test_bad_early_exit_and_dvfs_settings_say_what_is_expected(change, expected):
    with pytest.raises(SimulationConfigError, match=expected) as err:
        study_from_dict({**EE, **change}, "ee.yaml")
    assert str(err.value).startswith("ee.yaml: ") and "\n" not in str(err.value)


def test_study_with_early_exit_and_dvfs_reports_exits_and_the_target_curve(tmp_path):
    config = study_from_dict(EE, "ee.yaml")
    results = run_study(config, progress=False)
    exits = None
    for key, result in results.items():
        req = result.requests
        exits = list(req["exit_layer"]) if exits is None else exits
        assert list(req["exit_layer"]) == exits and set(exits) <= {1, 2, 3}   # one stream for all platforms
        curve = result.meta["dvfs_curve"]
        assert set(curve["configuration"]) == {"no early exit", "early exit", "early exit + DVFS"}
        dv = curve[curve["configuration"] == "early exit + DVFS"].sort_values("target_s")
        assert (dv["energy_per_inference_J"].diff().dropna() <= 1e-15).all()     # looser target, no more energy
        assert (dv["missed"].diff().dropna() <= 0).all()
    out = save_study(results, config, tmp_path / "run")
    for key in results:
        per_exit = pd.read_csv(out / key / "per_exit_layer.csv")
        assert per_exit["requests"].sum() == EE["scenario"]["requests"]
        assert list(per_exit["exit_layer"]) == sorted(set(exits))
        assert per_exit["share"].sum() == pytest.approx(1.0)
        assert (out / key / "energy_vs_latency_target.csv").exists()
    report = (out / "report.md").read_text()
    assert "### Early exit" in report and "Energy per inference against the latency target" in report
    assert (out / "energy_vs_latency_target.png").exists()


def test_the_bundled_edgebert_study_loads_with_early_exit_and_dvfs():
    from simulator.study.runner import STUDIES_DIR, load_study

    config = load_study(STUDIES_DIR / "edgebert.yaml")
    assert config.early_exit.exits == "all" and config.early_exit.entropy.threshold > 0
    assert config.dvfs.policy == "edgebert" and config.dvfs.latency_target == pytest.approx(0.1)
