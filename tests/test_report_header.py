"""The line that says what each request runs (report.md's header, `hetsim run`'s first line): a generation
study shows its prompt, new tokens, beams and trie, and only an adapter it names, never the study-wide
encoder default or the sequence length it does not use."""
from pathlib import Path

from simulator.results.report import effective_adapter, workload_summary
from simulator.study.runner import default_study, load_study

RECIPES = Path(__file__).resolve().parents[1] / "simulator" / "reproduce" / "recipes"


def test_an_encoder_study_shows_model_adapter_and_sequence_length():
    config = default_study()
    assert workload_summary(config, markdown=True) == (
        "model: `albert-base-v2`, adapter `houlsby:8` (one per repetition), sequence length 128")


def test_a_generation_study_shows_what_it_generates_not_the_defaults_it_ignores():
    lightlm = load_study(str(RECIPES / "generation-lightlm.yaml"))
    line = workload_summary(lightlm)
    g = lightlm.generation
    assert effective_adapter(lightlm) is None and "adapter none" in line and "houlsby" not in line
    assert "sequence length" not in line
    assert f"prompt {g.prompt_len} tokens, {g.new_tokens} new tokens, {g.beams} beam" in line
    assert ("trie of" in line) == (g.constrained == "trie")
    prosg = load_study(str(RECIPES / "generation-prosg.yaml"))
    assert effective_adapter(prosg).startswith("prosg") and f"adapter {prosg.adapter}" in workload_summary(prosg)
