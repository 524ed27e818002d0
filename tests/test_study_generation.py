"""Generation in studies (issue 14): a study with `generation:` traces LightLM's beam search (constrained to
a trie) once, places it on a bundled platform (outputs fall back to DRAM) and reports per-token energy and
latency."""
from __future__ import annotations

import pandas as pd
import pytest

from simulator.results.report import token_table
from simulator.study.runner import run_study, save_study, study_from_dict

GEN = {"name": "gen", "model": "lightlm", "layers": 1, "hidden": 32, "tasks": ["rec"],
       "generation": {"prompt_len": 4, "new_tokens": 2, "beams": 2, "constrained": "trie", "items": 5},
       "scenario": {"stream": "fixed", "requests": 3, "period": "50 ms"},
       "platforms": ["edge-rram", "edge-sram"], "evaluator": "analytic", "outputs": {"formats": ["png"]}}


def test_a_generation_study_reports_energy_and_latency_per_token(tmp_path):
    config = study_from_dict(GEN, "gen.yaml")
    results = run_study(config, progress=False)
    for key, result in results.items():
        tokens = token_table(result)
        assert list(tokens["step"]) == [0, 1, 2]
        # the steps' ops add up to the requests' op energy
        ops = result.ledger[(result.ledger["request"] >= 0) & (result.ledger["op"] >= 0)]
        assert tokens["energy_per_request_J"].sum() == pytest.approx(ops["energy_J"].sum() / 3, rel=1e-9)
        assert (tokens["latency_s"] > 0).all()
        assert tokens["energy_per_request_J"][0] > tokens["energy_per_request_J"][1]   # the prefill encodes
        trace = result.workload.traces["rec"]
        assert trace.meta["kind"] == "generation" and trace.meta["constrained"] == "trie"
        assert any(op.aten == "aten.topk.default" for op in trace.ops)
    out = save_study(results, config, tmp_path / "run")
    assert len(pd.read_csv(out / "edge-rram" / "per_token.csv")) == 3
    assert "### Per generated token" in (out / "report.md").read_text()


def test_generation_with_an_encoder_adapter_says_what_is_expected():
    from simulator.errors import SimulationConfigError

    config = study_from_dict({**GEN, "adapter": "houlsby:8"}, "gen.yaml")
    with pytest.raises(SimulationConfigError, match=r"^gen\.yaml: generation: adapter: 'houlsby:8'"):
        run_study(config, progress=False)


def test_lightlm_beam_search_outputs_place_on_every_bundled_platform():
    from hw_models import list_platforms, load_platform
    from simulator.prepare import streams
    from simulator.prepare.placement import place
    from simulator.prepare.served_workload import Workload
    from workloads.generation import trace_generation

    # 40 beams x 32k vocabulary: one step's logits (5.1 MB in fp32) outgrow every act_sram (4 MiB)
    trace = trace_generation("lightlm", new_tokens=1, seq_len=4, layers=1, hidden=32, beams=40, task="rec")
    logits = max(t.stored_bytes for t in trace.tensors.values() if t.role == "output")
    assert logits > 4 * 2**20
    workload = Workload("gen", {"rec": trace}, streams.fixed(["rec"], 0.1))
    for name in list_platforms():
        platform = load_platform(name)
        first = platform.placement.memories_for("output")[0]
        table = place(workload, platform).table
        spilled = table[(table["role"] == "output") & (table["memory"] != first)]
        assert spilled["bytes"].max() >= logits, name   # the fallback took what the first choice could not hold


def test_prosg_factor_writes_per_step_land_where_the_policy_puts_them(tmp_path):
    import yaml

    from hw_models.loader import PLATFORMS_DIR

    # a variant of edge-rram whose adapters (ProSG's factors among them) live in the ReRAM backbone
    doc = yaml.safe_load((PLATFORMS_DIR / "edge-rram.yaml").read_text())
    doc["name"] = "rram-factors"
    doc["placement"]["roles"]["adapter"] = ["backbone", "act_sram"]
    (tmp_path / "rram-factors.yaml").write_text(yaml.safe_dump(doc))
    study = {"name": "prosg", "model": "rwkv", "layers": 2, "hidden": 32, "tasks": ["chat"], "adapter": "prosg:2",
             "generation": {"prompt_len": 3, "new_tokens": 2},
             "scenario": {"stream": "fixed", "requests": 2, "period": "50 ms"}, "evaluator": "analytic",
             "platforms": ["edge-rram", "rram-factors.yaml"], "outputs": {"formats": ["png"]}}
    (tmp_path / "prosg.yaml").write_text(yaml.safe_dump(study))
    from simulator.study.runner import load_study

    results = run_study(load_study(tmp_path / "prosg.yaml"), progress=False)
    factor_bytes = 2 * 2 * 2 * (32 + 32) * 4          # layers x (key, value) x r x (d_in + d_out) x fp32
    sram, nvm = token_table(results["edge-rram"]), token_table(results["rram-factors"])
    assert list(nvm["nvm_write_bytes"]) == [0.0, factor_bytes, 0.0]   # written once, after the prefill
    assert (sram["nvm_write_bytes"] == 0).all()
    assert sram["write_bytes"][1] == pytest.approx(nvm["write_bytes"][1])  # the same bytes, another memory
    wear = results["rram-factors"].nvm_wear()
    assert wear.set_index("memory").loc["backbone", "write_bytes"] == pytest.approx(2 * factor_bytes)
