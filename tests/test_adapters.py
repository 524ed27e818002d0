"""Task adaptation: spec parsing, adapter parameter counts in closed form, where adapters act, labels."""
import pytest
from hypothesis import given, settings, strategies as st

from workloads import zoo
from workloads.errors import WorkloadError

torch = pytest.importorskip("torch")
A = pytest.importorskip("workloads.adapters")


def two_adapters_per_layer(h, m):
    """workloads.md: two adapters of bottleneck m in a hidden-h layer cost 2·(2·h·m + m + h)."""
    return 2 * (2 * h * m + m + h)


# -- spec parsing ------------------------------------------------------------------------------------------

@given(kind=st.sampled_from(["houlsby", "pfeiffer", "lora", "lora-merged", "prosg"]), size=st.integers(1, 4096))
def test_spec_round_trips(kind, size):
    spec = A.parse_adapter_spec(f"{kind}:{size}")
    assert (spec.kind, spec.size) == (kind, size)
    assert A.parse_adapter_spec(str(spec)) == spec


@given(experts=st.integers(1, 16), size=st.integers(1, 512))
def test_mixture_spec_round_trips(experts, size):
    spec = A.parse_adapter_spec(f"mixture:{experts}x{size}")
    assert (spec.experts, spec.size) == (experts, size)
    assert A.parse_adapter_spec(str(spec)) == spec


@pytest.mark.parametrize("text", ["houlsby", "houlsby:", "houlsby:0", "houlsby:-4", "lora:8.5", "mixture:4",
                                  "mixture:0x16", "adapterx:8", "", "houlsby:64:2"])
def test_malformed_spec_says_the_expected_form(text):
    with pytest.raises(WorkloadError) as err:
        A.parse_adapter_spec(text)
    msg = str(err.value)
    assert "expected" in msg and "houlsby:M" in msg and "mixture:ExM" in msg and "\n" not in msg


# -- bottleneck adapters -----------------------------------------------------------------------------------

@pytest.mark.parametrize("m, per_layer", [(8, 26128), (64, 198272)])
def test_albert_adapter_counts_match_the_published_figures(m, per_layer):
    model, _ = zoo.build("albert-base-v2", seq_len=8)
    assert two_adapters_per_layer(768, m) == per_layer
    assert A.add_bottleneck_adapters(model, "sst2", f"houlsby:{m}") == per_layer  # one shared layer
    assert A.adapter_parameters(model, "sst2") == per_layer


@settings(max_examples=10, deadline=None)
@given(layers=st.integers(1, 3), hidden=st.sampled_from([16, 32, 48]), m=st.integers(1, 40),
       name=st.sampled_from(["bert-base", "distilbert", "tinybert-4l-312"]))
def test_houlsby_counts_follow_the_closed_form(layers, hidden, m, name):
    model, _ = zoo.build(name, layers=layers, hidden=hidden, seq_len=4)
    assert A.add_bottleneck_adapters(model, "t", f"houlsby:{m}") == layers * two_adapters_per_layer(hidden, m)
    assert A.add_bottleneck_adapters(model, "u", f"pfeiffer:{m}") == layers * two_adapters_per_layer(hidden, m) // 2


def test_albert_per_repetition_adapters_are_twelve_times_the_shared_ones():
    model, _ = zoo.build("albert-base-v2", seq_len=8)
    shared = A.add_bottleneck_adapters(model, "shared_task", "houlsby:16")
    per_rep = A.add_bottleneck_adapters(model, "rep_task", "houlsby:16", per_repetition=True)
    assert per_rep == 12 * shared


def test_per_repetition_adapters_are_used_once_each_per_forward():
    model, inputs = zoo.build("albert-base-v2", seq_len=8, layers=5, hidden=32)
    A.add_bottleneck_adapters(model, "t", "houlsby:4", per_repetition=True)
    A.set_bottleneck_task(model, "t")
    calls: list[int] = []
    slot = model.encoder.albert_layer_groups[0].albert_layers[0].adapter_ffn
    for i, adapter in enumerate(slot.adapters["t"]):
        adapter.register_forward_hook(lambda *_a, i=i: calls.append(i))
    with torch.no_grad():
        model(**inputs)
        model(**inputs)
    assert calls == [0, 1, 2, 3, 4] * 2


def test_adapter_acts_after_the_host_projection_with_a_skip_connection():
    """With a zero up-projection the adapter is the identity (skip connection), otherwise it changes
    the output; an inactive task leaves the backbone's output untouched."""
    model, inputs = zoo.build("bert-base", layers=2, hidden=32, seq_len=6)
    with torch.no_grad():
        plain = model(**inputs).last_hidden_state.clone()
        A.add_bottleneck_adapters(model, "t", "houlsby:4")
        assert torch.equal(model(**inputs).last_hidden_state, plain)  # not active yet
        A.set_bottleneck_task(model, "t")
        changed = model(**inputs).last_hidden_state
        assert not torch.allclose(changed, plain)
        for m in model.modules():
            if isinstance(m, A.BottleneckAdapter):
                m.up.weight.zero_()
                m.up.bias.zero_()
        assert torch.allclose(model(**inputs).last_hidden_state, plain, atol=1e-6)


def test_mixture_shares_experts_and_owns_a_gate_per_task():
    model, inputs = zoo.build("bert-base", layers=2, hidden=32, seq_len=6)
    h, m, e, layers = 32, 4, 3, 2
    first = A.add_bottleneck_adapters(model, "a", f"mixture:{e}x{m}")
    second = A.add_bottleneck_adapters(model, "b", f"mixture:{e}x{m}")
    gate = h * e + e
    assert second == layers * 2 * gate
    assert first == layers * 2 * (gate + e * (2 * h * m + m + h))
    assert A.adapter_parameters(model, "b") == second
    A.set_bottleneck_task(model, "a")
    with torch.no_grad():
        out_a = model(**inputs).last_hidden_state
        A.set_bottleneck_task(model, "b")
        out_b = model(**inputs).last_hidden_state
    assert not torch.allclose(out_a, out_b)


def test_bottleneck_adapters_refuse_a_model_without_known_layers():
    with pytest.raises(WorkloadError, match="expected"):
        A.add_bottleneck_adapters(torch.nn.Sequential(torch.nn.Linear(4, 4)), "t", "houlsby:2")

    class TransformerBlock(torch.nn.Module):  # DistilBERT's class name, another model's layout
        def __init__(self):
            super().__init__()
            self.mlp = torch.nn.Linear(4, 4)

    with pytest.raises(WorkloadError, match="TransformerBlock: no Linear at 'ffn.lin2'; expected"):
        A.add_bottleneck_adapters(torch.nn.Sequential(TransformerBlock()), "t", "pfeiffer:2")


# -- LoRA and labels ---------------------------------------------------------------------------------------

def test_lora_adds_rank_r_factors_on_query_and_value_and_merging_changes_the_weights():
    model, inputs = zoo.build("bert-base", layers=2, hidden=32, seq_len=6)
    before = model.encoder.layer[0].attention.self.query.weight.clone()
    peft_model = A.add_lora(model, "sst2", 4)
    assert not peft_model.training
    shapes = {n: tuple(p.shape) for n, p in peft_model.named_parameters() if "lora_" in n}
    assert len(shapes) == 2 * 2 * 2  # layers x (query, value) x (A, B)
    assert all(s in ((4, 32), (32, 4)) for s in shapes.values())
    assert A.adapter_parameters(peft_model, "sst2") == 2 * 2 * 2 * 4 * 32
    with torch.no_grad():
        separate = peft_model(**inputs).last_hidden_state.clone()
    merged = A.merge_lora(peft_model)
    after = merged.encoder.layer[0].attention.self.query.weight
    assert not torch.allclose(before, after)
    with torch.no_grad():
        assert torch.allclose(merged(**inputs).last_hidden_state, separate, atol=1e-5)


def test_parameter_labels_give_roles_and_owners():
    labels = A.ParameterLabels(merged_task="qqp", merged={"encoder.layer.0.attention.self.query.weight"})
    cases = {
        "embeddings.word_embeddings.weight": (None, "shared"),
        "encoder.layer.0.attention.self.key.weight": (None, "shared"),
        "encoder.layer.0.attention.self.query.weight": (None, "qqp"),
        "encoder.layer.0.adapter_ffn.adapters.sst2.3.down.weight": ("adapter", "sst2"),
        "encoder.layer.0.adapter_ffn.experts.1.up.bias": ("adapter", "shared"),
        "encoder.layer.0.adapter_ffn.gates.mnli.weight": ("adapter", "mnli"),
        "base_model.model.encoder.layer.0.attention.self.query.lora_A.qnli.weight": ("adapter", "qnli"),
        "task_heads.sst2.bias": ("adapter", "sst2"),
        "prosg.proj_u.3": ("adapter", "shared"),
    }
    for name, expected in cases.items():
        assert (labels.role_of(name), labels.owner_of(name)) == expected, name


def test_lora_ops_appear_in_the_trace_with_rank_r_shapes():
    from workloads.tracer import trace_model

    h, r, seq, batch, layers = 32, 4, 6, 2, 2
    model, inputs = zoo.build("bert-base", layers=layers, hidden=h, seq_len=seq, batch=batch)
    peft_model = A.add_lora(model, "sst2", r)
    labels = A.ParameterLabels()
    trace = trace_model(peft_model, inputs, task="sst2", role_of=labels.role_of, owner_of=labels.owner_of)
    down = [op for op in trace.ops if op.kind == "matmul" and op.module.endswith("lora_A.sst2")]
    up = [op for op in trace.ops if op.kind == "matmul" and op.module.endswith("lora_B.sst2")]
    assert len(down) == len(up) == layers * 2  # query and value of every layer
    assert {op.gemm for op in down} == {(1, batch * seq, h, r)}
    assert {op.gemm for op in up} == {(1, batch * seq, r, h)}
    for op in down + up:
        factors = [trace.tensors[t] for t in op.reads if trace.tensors[t].role == "adapter"]
        assert [(f.owner, f.numel) for f in factors] == [("sst2", h * r)]
    # merged: the same model has no LoRA ops at all, only the base projections
    merged = trace_model(A.merge_lora(peft_model), inputs)
    assert not [op for op in merged.ops if "lora" in op.module]
    assert sum(op.macs for op in trace.ops) - sum(op.macs for op in merged.ops) == \
        layers * 2 * 2 * batch * seq * h * r
