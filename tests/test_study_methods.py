"""Methods side by side (issue 14): the adapter spec and mode per platform entry; the numbers equal those
of separate single-method studies; the report and the energy figure group by method and platform."""
from __future__ import annotations

import pytest

from simulator.results.report import comparison_table, method_labels
from simulator.study.runner import run_study, study_from_dict

BASE = {"name": "methods", "model": "albert-base-v2", "layers": 2, "hidden": 64, "seq_len": 16,
        "adapter": "houlsby:4", "tasks": ["a", "b"],
        "compression": {"bits": {"weight": 8, "embedding": 8, "adapter": 8, "activation": 16}},
        "scenario": {"stream": "poisson", "requests": 8, "rate": "50 Hz", "switch_probability": 0.5, "seed": 4},
        "evaluator": "analytic"}
ENTRIES = [
    {"platform": "edge-rram", "label": "rram-houlsby"},                         # the study's adapter
    {"platform": "edge-sram-dram", "mode": "per-task-model", "label": "dram-per-task"},
    {"platform": "edge-rram", "adapter": "lora:2", "label": "rram-lora"},
    {"platform": "edge-rram", "adapter": "mixture:2x4", "label": "rram-mixture"},
]


def test_per_platform_methods_equal_separate_single_method_studies():
    together = run_study(study_from_dict({**BASE, "platforms": ENTRIES}, "m.yaml"), progress=False)
    # grouped by method in order of first appearance
    assert list(together) == ["rram-houlsby", "dram-per-task", "rram-lora", "rram-mixture"]
    for entry in ENTRIES:
        single = {**BASE, "platforms": [{k: v for k, v in entry.items() if k != "adapter"}]}
        if "adapter" in entry:
            single["adapter"] = entry["adapter"]
        alone = run_study(study_from_dict(single, "s.yaml"), progress=False)[entry["label"]]
        both = together[entry["label"]]
        for field in ("energy_per_inference_J", "latency_p99_s", "leakage_share", "area_m2"):
            assert both.summary()[field] == pytest.approx(alone.summary()[field], rel=1e-12), (entry, field)
        assert both.meta["method"] == alone.meta["method"]
    assert {r.meta["method"] for r in together.values()} == {"houlsby:4", "per-task model", "lora:2",
                                                             "mixture:2x4"}
    table = comparison_table(together)
    assert list(table["method"]) == ["houlsby:4", "per-task model", "lora:2", "mixture:2x4"]
    # methods differ in what they cost: the separate adapters of LoRA are not the houlsby numbers
    assert together["rram-lora"].summary()["energy_per_inference_J"] != \
        together["rram-houlsby"].summary()["energy_per_inference_J"]


def test_one_method_adds_no_method_column():
    results = run_study(study_from_dict({**BASE, "platforms": ["edge-rram", "edge-sram"]}, "m.yaml"),
                        progress=False)
    assert method_labels(results) == {} and "method" not in comparison_table(results)


def test_a_bad_per_platform_adapter_names_the_study_and_the_spec():
    from simulator.errors import SimulationConfigError

    config = study_from_dict({**BASE, "platforms": [{"platform": "edge-rram", "adapter": "houlsby"}]}, "m.yaml")
    with pytest.raises(SimulationConfigError, match=r"^m\.yaml: adapter: 'houlsby': malformed"):
        run_study(config, progress=False)
