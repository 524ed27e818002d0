"""The model zoo: parameter counts against the published table and closed forms, overrides, errors."""
import pytest
from hypothesis import given, settings, strategies as st

from workloads import zoo
from workloads.errors import WorkloadError

torch = pytest.importorskip("torch")

#: shared/reference/workloads.md, "Backbones" table (rwkv: without its untied LM head).
TABLE = {
    "albert-base-v2": 11.68e6, "bert-base": 109.5e6, "distilbert": 66.4e6, "tinybert-4l-312": 14.35e6,
    "mobilebert": 24.8e6, "rubert-tiny2": 29.2e6, "lightlm": 35.5e6, "rwkv": 130.7e6,
}


def test_zoo_lists_every_model_of_the_table():
    assert sorted(zoo.list_models()) == sorted(TABLE)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_parameter_count_matches_workloads_table_within_one_percent(name):
    d = zoo.describe(name)
    assert d["backbone_parameters"] == pytest.approx(TABLE[name], rel=0.01)


def test_albert_parameter_breakdown_matches_the_table():
    model = zoo._instantiate("albert-base-v2", zoo.make_config("albert-base-v2"), device="meta")
    count = zoo.count_parameters
    assert model.embeddings.word_embeddings.weight.numel() == pytest.approx(3.84e6, rel=0.01)
    assert count(model.encoder.albert_layer_groups) == pytest.approx(7.09e6, rel=0.01)
    assert count(model.encoder.embedding_hidden_mapping_in) == pytest.approx(0.10e6, rel=0.02)
    assert count(model.pooler) == pytest.approx(0.59e6, rel=0.01)


def test_rwkv_head_is_untied_and_counted_separately():
    d = zoo.describe("rwkv")
    vocab, hidden = 50277, 768
    assert d["parameters"] - d["backbone_parameters"] == vocab * hidden


def bert_parameters(vocab, positions, types, h, layers, ffn):
    """BertModel's parameters in closed form: embeddings + LN, per layer QKV+O, FFN, two LNs; pooler."""
    embeddings = (vocab + positions + types) * h + 2 * h
    layer = 4 * (h * h + h) + (h * ffn + ffn) + (ffn * h + h) + 2 * 2 * h
    return embeddings + layers * layer + h * h + h


@settings(max_examples=15, deadline=None)
@given(layers=st.integers(1, 6), hidden=st.sampled_from([24, 48, 64, 96, 120, 312]))
def test_bert_overrides_match_the_closed_form(layers, hidden):
    d = zoo.describe("bert-base", layers=layers, hidden=hidden)
    ffn = round(3072 * hidden / 768)
    assert d["layers"] == layers and d["hidden"] == hidden
    assert d["config"]["intermediate_size"] == ffn
    assert hidden % d["config"]["num_attention_heads"] == 0
    assert d["parameters"] == bert_parameters(30522, 512, 2, hidden, layers, ffn)
    assert d["reference_parameters"] is None


def test_lightlm_keeps_its_narrow_ffn_when_narrowed():
    d = zoo.describe("lightlm", hidden=128, layers=2)
    assert d["config"]["d_ff"] == 16
    assert d["config"]["num_layers"] == d["config"]["num_decoder_layers"] == 2


def test_build_gives_eval_model_and_inputs_of_the_requested_shape():
    model, inputs = zoo.build("tinybert-4l-312", seq_len=20, batch=3, layers=1)
    assert not model.training
    assert tuple(inputs["input_ids"].shape) == (3, 20)
    assert int(inputs["input_ids"].max()) < model.config.vocab_size
    with torch.no_grad():
        out = model(**inputs)
    assert tuple(out.last_hidden_state.shape) == (3, 20, 312)


def test_lightlm_inputs_include_decoder_ids_of_item_length():
    model, inputs = zoo.build("lightlm", seq_len=12, layers=1, hidden=64, decoder_len=5)
    assert tuple(inputs["decoder_input_ids"].shape) == (1, 5)


def test_build_is_deterministic_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a, ia = zoo.build("bert-base", layers=1, hidden=32, seq_len=8)
    b, ib = zoo.build("bert-base", layers=1, hidden=32, seq_len=8)
    assert torch.equal(torch.rand(3), expected)
    assert torch.equal(ia["input_ids"], ib["input_ids"])
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb and torch.equal(pa, pb)
    c, _ = zoo.build("bert-base", layers=1, hidden=32, seq_len=8, seed=1)
    assert not torch.equal(a.embeddings.word_embeddings.weight, c.embeddings.word_embeddings.weight)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(WorkloadError) as err:
        zoo.build("gpt-17")
    msg = str(err.value)
    assert "gpt-17" in msg and "expected" in msg
    for name in TABLE:
        assert name in msg


@pytest.mark.parametrize("kwargs, what", [
    (dict(layers=0), "layers"), (dict(seq_len=-1), "seq_len"), (dict(not_a_field=3), "not_a_field"),
])
def test_bad_overrides_say_what_is_expected(kwargs, what):
    with pytest.raises(WorkloadError, match=f"{what}.*expected"):
        zoo.build("tinybert-4l-312", **kwargs)


def test_models_command_lists_every_model_with_its_parameters(capsys):
    import json

    from simulator.cli.main import main

    assert main(["models", "--json"]) == 0
    rows = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(TABLE)
    for name, ref in TABLE.items():
        assert rows[name]["backbone_parameters"] == pytest.approx(ref, rel=0.01)
    assert main(["models"]) == 0
    table = capsys.readouterr().out
    assert all(name in table for name in TABLE) and "11.68 M" in table


@pytest.mark.parametrize("argv, message", [
    (["models", "no-such-model"], "unknown model 'no-such-model'; expected one of albert-base-v2"),
    (["models", "--layers", "0"], "--layers/--hidden: given without NAME"),
    (["models", "rwkv", "--layers", "1"], "rwkv: layers: 1; expected at least 2"),
    (["models", "bert-base", "--hidden", "-3"], "hidden: -3 is not a whole number >= 1"),
])
def test_models_command_bad_input_exits_2_with_one_line(argv, message, capsys):
    from simulator.cli.main import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
