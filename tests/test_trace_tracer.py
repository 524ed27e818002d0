"""The tracer against hand counts: MACs from model configs, weight sharing, views, gathers, in-place ops,
multi-step state, and failure modes."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import flop_registry

from workloads import WorkloadError, trace_model
from workloads.tracer import Tracer, _gemm_of

aten = torch.ops.aten


# -- MACs from the config: the formula each test checks the trace against --------------------------------

def encoder_macs(*, layers, hidden, ffn, seq, batch, pooler, embedding_projection=0):
    """Q, K, V, output projections (4·h²) and FFN (2·h·f) per token; attention scores and the weighted
    sum of values (2·L²·h) per sequence; plus the pooler (h² per sequence) and ALBERT's embedding → hidden
    projection (e·h per token)."""
    per_layer = batch * seq * (4 * hidden * hidden + 2 * hidden * ffn) + 2 * batch * seq * seq * hidden
    return (layers * per_layer + (batch * hidden * hidden if pooler else 0)
            + batch * seq * embedding_projection * hidden)


def config_macs(family, cfg, seq, batch):
    if family == "distilbert":
        return encoder_macs(layers=cfg.n_layers, hidden=cfg.dim, ffn=cfg.hidden_dim, seq=seq, batch=batch,
                            pooler=False)
    return encoder_macs(layers=cfg.num_hidden_layers, hidden=cfg.hidden_size, ffn=cfg.intermediate_size,
                        seq=seq, batch=batch, pooler=True,
                        embedding_projection=cfg.embedding_size if family == "albert" else 0)


def small(family, layers=2):
    import transformers
    if family == "bert":
        cfg = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=layers,
                                      num_attention_heads=4, intermediate_size=48)
        return transformers.BertModel(cfg), cfg
    if family == "albert":
        cfg = transformers.AlbertConfig(vocab_size=100, embedding_size=16, hidden_size=32,
                                        num_hidden_layers=layers, num_attention_heads=4, intermediate_size=48,
                                        hidden_act="gelu_new")
        return transformers.AlbertModel(cfg), cfg
    cfg = transformers.DistilBertConfig(vocab_size=100, dim=32, n_layers=layers, n_heads=4, hidden_dim=48)
    return transformers.DistilBertModel(cfg), cfg


def ids(batch, seq, vocab=100):
    return {"input_ids": torch.randint(0, vocab, (batch, seq), generator=torch.Generator().manual_seed(0))}


@pytest.mark.parametrize("family", ["bert", "albert", "distilbert"])
@pytest.mark.parametrize("seq, batch", [(16, 1), (24, 3)])
def test_small_encoder_macs_match_config_formula(family, seq, batch):
    model, cfg = small(family)
    trace = trace_model(model, ids(batch, seq))
    assert trace.summary()["macs"] == pytest.approx(config_macs(family, cfg, seq, batch), rel=0.005)
    assert trace.summary()["unknown_ops"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("name, family", [("bert-base", "bert"), ("distilbert", "distilbert"),
                                          ("albert-base-v2", "albert")])
def test_full_size_macs_at_sequence_128_match_config_formula(name, family):
    from workloads import zoo
    model, inputs = zoo.build(name, seq_len=128)
    trace = trace_model(model, inputs, name=name)
    expected = config_macs(family, model.config, 128, 1)
    assert trace.summary()["macs"] == pytest.approx(expected, rel=0.005)
    if family == "albert":  # workloads.md: 327 MiB of weights read per forward from 44.6 MiB unique
        s = trace.summary()
        assert s["weight_bytes_read"] / 2**20 == pytest.approx(327, rel=0.01)
        assert s["unique_weight_bytes"] / 2**20 == pytest.approx(44.6, rel=0.01)


# -- identity of weights ---------------------------------------------------------------------------------

def test_albert_shared_layer_weights_are_read_once_per_repetition():
    model, cfg = small("albert", layers=12)
    trace = trace_model(model, ids(1, 8))
    df = trace.tensor_reads()
    shared = df[df.name.str.contains("albert_layer_groups") & (df.role == "weight")]
    assert len(shared) == len(list(model.encoder.albert_layer_groups.parameters()))
    assert set(shared.reads) == {12}
    layer_ops = [op for op in trace.ops if "albert_layer_groups" in op.module]
    assert {op.module.split("albert_layer_groups.0")[1].split(".")[0] for op in layer_ops} == \
        {f"#{k}" for k in range(1, 13)}
    assert {op.layer for op in layer_ops} == {f"layer#{k}" for k in range(12)}


def test_bert_layer_weights_are_read_once_and_transposed_views_are_the_weight():
    model, cfg = small("bert", layers=3)
    trace = trace_model(model, ids(2, 8))
    df = trace.tensor_reads()
    params = dict(model.named_parameters())
    layer = df[df.name.str.startswith("encoder.layer.") & (df.role == "weight")]
    assert set(layer.reads) == {1}
    assert set(layer.name) == {n for n in params if n.startswith("encoder.layer.")}
    for row in layer.itertuples():  # linear weights are read through t(): still the parameter, all of it
        assert row.numel == params[row.name].numel() == row.elements_read
    assert not df[df.role == "weight"].name.str.contains("@").any()


def test_embedding_reads_only_looked_up_rows_and_id_buffers_are_inputs():
    model, cfg = small("bert")
    batch, seq = 2, 8
    trace = trace_model(model, ids(batch, seq))
    df = trace.tensor_reads().set_index("name")
    assert df.loc["embeddings.word_embeddings.weight", "role"] == "embedding"
    assert df.loc["embeddings.word_embeddings.weight", "elements_read"] == batch * seq * cfg.hidden_size
    assert df.loc["embeddings.position_embeddings.weight", "elements_read"] == seq * cfg.hidden_size
    assert df.loc["embeddings.position_ids", "role"] == "input"
    assert df.loc["embeddings.token_type_ids", "role"] == "input"
    assert df.loc["input.input_ids", "role"] == "input"
    assert (df.role == "output").sum() >= 1


# -- plain user modules ----------------------------------------------------------------------------------

def test_plain_mlp_traces_with_hand_counted_macs_and_a_dependency_chain():
    mlp = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    trace = trace_model(mlp, torch.randn(8, 16))
    assert [op.kind for op in trace.ops] == ["matmul", "elementwise", "matmul"]
    assert trace.summary()["macs"] == 8 * (16 * 32 + 32 * 4)
    assert [op.gemm for op in trace.ops if op.gemm] == [(1, 8, 16, 32), (1, 8, 32, 4)]
    assert [op.deps for op in trace.ops] == [(), (0,), (1,)]
    assert trace.summary()["unique_weight_bytes"] == 4 * sum(p.numel() for p in mlp.parameters())
    assert [op.module for op in trace.ops] == ["0", "1", "2"]


class ReusedActivation(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.act = nn.Linear(4, 4), nn.Linear(4, 2), nn.ReLU()

    def forward(self, x):
        return self.act(self.b(self.act(self.a(x))))


def test_a_reused_leaf_module_is_not_a_layer_stack_and_ops_outside_stacks_keep_their_module():
    trace = trace_model(ReusedActivation(), torch.randn(2, 4))
    assert [op.module for op in trace.ops] == ["a", "act#1", "b", "act#2"]
    assert [op.layer for op in trace.ops] == ["a", "act", "b", "act"]


def test_lstm_traces_with_gate_macs():
    T, B, In, H = 5, 3, 10, 20
    lstm = nn.LSTM(In, H, num_layers=2, batch_first=True)
    trace = trace_model(lstm, torch.randn(B, T, In))
    s = trace.summary()
    assert s["unknown_ops"] == 0
    assert s["macs"] == T * B * 4 * H * (In + H) + T * B * 4 * H * (H + H)
    assert s["parameters"] == sum(p.numel() for p in lstm.parameters())


@pytest.mark.parametrize("conv, shape", [(nn.Conv2d(3, 8, 3, padding=1), (2, 3, 10, 12)),
                                         (nn.Conv2d(8, 8, 3, groups=4, stride=2), (1, 8, 9, 9)),
                                         (nn.Conv1d(4, 6, 5, bias=False), (2, 4, 20))])
def test_convolution_macs_are_output_elements_times_one_filter(conv, shape):
    """Each output element is the dot product of one filter (Cin/groups x kernel) with its window."""
    x = torch.randn(*shape)
    (op,) = trace_model(conv, x).ops
    out = conv(x)
    per_output = conv.weight[0].numel()
    assert op.kind == "matmul" and op.macs == out.numel() * per_output == math.prod(op.gemm)
    assert op.gemm[0] == conv.groups and op.gemm[2] == per_output


class Views(nn.Module):
    def forward(self, x):
        y = x.view(4, 6).t().reshape(6, 4).unsqueeze(0).detach()[0]
        return y.sum()


def test_views_move_no_bytes():
    trace = trace_model(Views(), torch.randn(24))
    assert [op.aten for op in trace.ops] == ["aten.sum.default"]
    assert trace.ops[0].reads == {0: 24}  # the view is the input tensor


class InPlaceViews(nn.Module):
    def forward(self, x):
        y = x * 2
        y.unsqueeze_(0)
        y.t_()
        y.squeeze_()
        return y.sum()


def test_in_place_views_move_no_bytes():
    trace = trace_model(InPlaceViews(), torch.randn(3))
    assert [op.aten for op in trace.ops] == ["aten.mul.Tensor", "aten.sum.default"]
    assert trace.ops[1].deps == (0,) and trace.summary()["unknown_ops"] == 0


class InPlace(nn.Module):
    def forward(self, a, b):
        x = a + b
        x.add_(b)
        return x * 2


def test_in_place_op_becomes_the_producer():
    trace = trace_model(InPlace(), (torch.randn(5), torch.randn(5)))
    add, add_, mul = trace.ops
    assert add_.aten == "aten.add_.Tensor" and set(add_.writes) == set(add.writes)
    assert mul.deps == (add_.id,)
    assert add_.reads[next(iter(add.writes))] == 5


class Unusual(nn.Module):
    def forward(self, x):
        return torch.linalg.qr(x).Q.sum()


def test_an_op_without_rule_is_unknown_with_bytes_not_a_crash():
    trace = trace_model(Unusual(), torch.randn(6, 6))
    unknown = [op for op in trace.ops if op.kind == "unknown"]
    assert unknown and trace.summary()["unknown_ops"] == len(unknown)
    assert all(sum(op.reads.values()) >= 36 for op in unknown)


class Inner(nn.Module):
    def forward(self, x):
        return x @ torch.ones(3, 3)  # x is 4×5: shape mismatch


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Identity(), Inner())

    def forward(self, x):
        return self.block(x)


def test_a_failing_forward_names_the_module_path():
    with pytest.raises(WorkloadError, match=r"Outer: block\.1: forward failed \(RuntimeError"):
        trace_model(Outer(), torch.randn(4, 5))


# -- MAC formulas against torch's flop registry ----------------------------------------------------------

dims = st.integers(1, 9)


@settings(max_examples=40, deadline=None)
@given(b=dims, m=dims, k=dims, n=dims)
def test_gemm_macs_agree_with_flop_registry(b, m, k, n):
    x, w, bias = torch.randn(m, k), torch.randn(k, n), torch.randn(n)
    xb, wb, bb = torch.randn(b, m, k), torch.randn(b, k, n), torch.randn(b, m, n)
    cases = [("mm", aten.mm, (x, w)), ("addmm", aten.addmm, (bias, x, w)), ("bmm", aten.bmm, (xb, wb)),
             ("baddbmm", aten.baddbmm, (bb, xb, wb))]
    for base, packet, args in cases:
        out = packet(*args)
        gemm, macs, _ = _gemm_of(base, args, out)
        assert 2 * macs == flop_registry[packet](*args, out_val=out)
        assert macs == math.prod(gemm)


@settings(max_examples=20, deadline=None)
@given(b=st.integers(1, 2), h=st.integers(1, 3), L=dims, S=dims, e=dims)
def test_cpu_attention_macs_agree_with_registry_formula_of_flash_attention(b, h, L, S, e):
    q, k, v = torch.randn(b, h, L, e), torch.randn(b, h, S, e), torch.randn(b, h, S, e)
    out = aten._scaled_dot_product_flash_attention_for_cpu(q, k, v)
    _, macs, _ = _gemm_of("_scaled_dot_product_flash_attention_for_cpu", (q, k, v), out)
    registry = flop_registry[aten._scaled_dot_product_flash_attention]
    assert 2 * macs == registry(q, k, v, out_val=(out[0], out[1], None, None, L, S, None, None, None))


# -- several steps ---------------------------------------------------------------------------------------

class Recurrent(nn.Module):
    def __init__(self, n=6):
        super().__init__()
        self.inp = nn.Linear(n, n)
        self.rec = nn.Linear(n, n, bias=False)

    def forward(self, x, h):
        return torch.tanh(self.inp(x) + self.rec(h))


def test_tracer_keeps_state_identity_across_steps():
    model = Recurrent()
    tracer = Tracer(model, carry_role="state", task="demo")
    h = torch.zeros(1, 6)
    for step in range(4):
        h = tracer.run((torch.randn(1, 6), h), step=step)
    trace = tracer.trace()
    assert sorted({op.step for op in trace.ops}) == [0, 1, 2, 3]
    df = trace.tensor_reads().set_index("name")
    assert df.loc["rec.weight", "reads"] == 4 and df.loc["inp.weight", "reads"] == 4
    assert (df.role == "state").sum() == 3  # each step's h, read by the next step
    tanh = [op for op in trace.ops if op.aten == "aten.tanh.default"]
    rec_mm = [op for op in trace.ops if op.module == "rec"]
    for prev, nxt in zip(tanh, rec_mm[1:]):  # step N's recurrent matmul depends on step N-1's tanh
        assert prev.id in nxt.deps
        assert trace.tensors[next(iter(prev.writes))].role == "state"
    assert trace.task == "demo"


def test_weight_written_in_place_between_steps_is_recorded_at_its_step():
    model = Recurrent()
    tracer = Tracer(model)
    tracer.run((torch.randn(1, 6), torch.zeros(1, 6)), step=0)
    delta = torch.randn(6, 1) @ torch.randn(1, 6)
    tracer.run((), step=1, call=lambda: model.rec.weight.add_(delta), label="prosg")
    trace = tracer.trace()
    writes = [op for op in trace.ops if op.step == 1 and op.writes]
    (op,) = [op for op in writes if trace.tensors[next(iter(op.writes))].name == "rec.weight"]
    assert op.module == "prosg" and op.writes == {next(iter(op.writes)): 36}
    assert trace.summary()["weight_bytes_written"] == 36 * 4


def test_role_and_owner_callbacks_label_parameters():
    model = Recurrent()
    trace = trace_model(model, (torch.randn(1, 6), torch.zeros(1, 6)), task="sst2",
                        role_of=lambda n: "adapter" if n.startswith("rec") else None,
                        owner_of=lambda n: "sst2" if n.startswith("rec") else None)
    df = trace.tensor_reads().set_index("name")
    assert tuple(df.loc["rec.weight", ["role", "owner"]]) == ("adapter", "sst2")
    assert tuple(df.loc["inp.weight", ["role", "owner"]]) == ("weight", "shared")


def test_auto_steps_number_calls_of_the_model():
    model = Recurrent()
    tracer = Tracer(model)

    def generate():
        h = torch.zeros(1, 6)
        for _ in range(3):
            h = model(torch.randn(1, 6), h)
        return h

    tracer.run((), call=generate, step="auto")
    assert sorted({op.step for op in tracer.trace().ops}) == [0, 1, 2]


def test_a_failing_rule_records_the_op_as_unknown_with_its_bytes(monkeypatch):
    import workloads.tracer as tracer_module

    def broken(*args):
        raise ZeroDivisionError("rule bug")

    monkeypatch.setattr(tracer_module, "_gemm_of", broken)
    mlp = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    trace = trace_model(mlp, torch.randn(2, 4))
    kinds = [op.kind for op in trace.ops]
    assert kinds == ["unknown", "elementwise"] and trace.summary()["unknown_ops"] == 1
    assert sum(trace.ops[0].reads.values()) == 3 + 2 * 4 + 12 and trace.ops[1].deps == (0,)
    assert "rule bug" in trace.meta["tracer_errors"][0]


@settings(max_examples=15, deadline=None)
@given(sizes=st.lists(st.integers(1, 12), min_size=2, max_size=5), batch=st.integers(1, 4))
def test_any_mlp_has_the_macs_and_weight_bytes_of_its_layers(sizes, batch):
    layers = [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]
    trace = trace_model(nn.Sequential(*layers), torch.randn(batch, sizes[0]))
    s = trace.summary()
    assert s["macs"] == batch * sum(a * b for a, b in zip(sizes, sizes[1:]))
    assert s["weight_bytes_read"] == s["unique_weight_bytes"] == 4 * sum(a * b + b for a, b in zip(sizes, sizes[1:]))


class CacheUpdate(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("cache", torch.zeros(16, 4))

    def forward(self, pos, value):
        self.cache.index_copy_(0, pos, value)        # a static KV cache: writes one row
        return self.cache.sum()


def test_in_place_scatter_writes_only_its_source_rows():
    trace = trace_model(CacheUpdate(), (torch.tensor([3]), torch.ones(1, 4)))
    copy, total = trace.ops
    cache_id = next(t.id for t in trace.tensors.values() if t.name == "cache")
    assert copy.writes == {cache_id: 4} and cache_id not in copy.reads
    assert total.reads == {cache_id: 64} and total.deps == (copy.id,)
    assert trace.tensors[cache_id].role == "state"  # a float buffer the forward writes


class TwoRows(CacheUpdate):
    def forward(self, value):
        self.cache[2] = value                        # copy_ into a row view: a partial write
        self.cache.index_copy_(0, torch.tensor([5]), value.unsqueeze(0))
        return self.cache.sum()


def test_a_partial_write_depends_on_the_previous_writer_so_readers_see_every_row():
    trace = trace_model(TwoRows(), torch.ones(4))
    cache_id = next(t.id for t in trace.tensors.values() if t.name == "cache")
    first, second = [op for op in trace.ops if cache_id in op.writes]
    (total,) = [op for op in trace.ops if op.aten == "aten.sum.default"]
    assert first.writes[cache_id] == second.writes[cache_id] == 4 and cache_id not in second.reads
    assert first.id in second.deps  # otherwise the sum would not depend on the row written first
    assert total.deps == (second.id,)


def test_embedding_bag_reads_one_row_per_index_not_per_bag():
    bag = nn.EmbeddingBag(50, 4, mode="sum")
    indices, offsets = torch.tensor([1, 2, 3, 4, 5, 6]), torch.tensor([0, 3])
    trace = trace_model(bag, (indices, offsets))
    (op,) = trace.ops
    weight = next(t.id for t in trace.tensors.values() if t.name == "weight")
    assert op.kind == "embedding_lookup" and op.reads[weight] == 6 * 4
    assert [trace.tensors[t].shape for t in op.writes] == [(2, 4)]  # the bags; no auxiliary outputs


def test_set_role_labels_a_live_tensor_through_any_view_and_rejects_unknown_ones():
    model = Recurrent()
    tracer = Tracer(model)
    h = tracer.run((torch.randn(2, 6), torch.zeros(2, 6)))
    tid = tracer.set_role(h.t()[:, 0], "kv_cache", owner="sst2")  # a view of the output
    t = tracer.trace().tensors[tid]
    assert (t.role, t.owner, t.shape) == ("kv_cache", "sst2", (2, 6))
    with pytest.raises(WorkloadError, match="set_role: tensor of shape \\(3,\\): not in the trace"):
        tracer.set_role(torch.zeros(3), "state")
    with pytest.raises(WorkloadError, match="set_role: role: 'cache'; expected one of weight"):
        tracer.set_role(h, "cache")


class IndexPut(nn.Module):
    def forward(self, x):
        x[x > 0] = 0.0                                   # a scalar broadcast over the mask's true elements
        x[torch.tensor([1, 3])] = 5.0                    # two whole rows
        x[:, torch.tensor([0, 2])] = torch.ones(6, 2)    # two columns
        return x


def test_index_put_writes_the_elements_its_indices_select():
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    positive = int((x > 0).sum())
    trace = trace_model(IndexPut(), x.clone())
    puts = [op for op in trace.ops if op.aten == "aten.index_put_.default"]
    assert [sum(op.writes.values()) for op in puts] == [positive, 2 * 4, 6 * 2]


class Scatters(nn.Module):
    def forward(self, x, src):
        x.scatter_(1, torch.tensor([[0], [2]]), src)            # src is 2x4; one element per index: 2
        x.masked_scatter_(torch.tensor([True, False, True, False]), src)  # mask row broadcast: 2 x 2
        x.index_add_(0, torch.tensor([1]), src[:1])             # one row of 4
        return x


def test_in_place_scatters_write_the_elements_they_address():
    trace = trace_model(Scatters(), (torch.zeros(2, 4), torch.ones(2, 4)))
    written = {op.aten.split(".")[1]: sum(op.writes.values()) for op in trace.ops}
    assert written == {"scatter_": 2, "masked_scatter_": 4, "index_add_": 4}


def test_ops_outside_modules_keep_the_label_of_their_own_run():
    model = Recurrent()
    tracer = Tracer(model)
    h = tracer.run((torch.randn(1, 6), torch.zeros(1, 6)), step=0)
    tracer.run((h,), step=1, call=lambda x: x.argmax(-1), label="decode")
    tracer.run((), step=1, call=lambda: model.rec.weight.mul_(0.5), label="update")
    trace = tracer.trace()
    outside = [(op.aten, op.module, op.layer) for op in trace.ops if op.step == 1]
    assert outside == [("aten.argmax.default", "decode", "decode"), ("aten.mul_.Tensor", "update", "update")]
    argmax_out = next(iter(trace.ops[-2].writes))
    assert trace.tensors[argmax_out].name.startswith("decode/")


# -- torch's fused fast paths, unknown-op warnings, transposed convolutions (issue 14) -------------------

def transformer_layer_macs(*, seq, batch, d, ffn):
    """Q, K, V and output projections (4·d² per token), scores and weighted values (2·L²·d per sequence),
    FFN (2·d·f per token)."""
    return batch * (seq * (4 * d * d + 2 * d * ffn) + 2 * seq * seq * d)


@pytest.mark.parametrize("batch_first", [True, False])
def test_transformer_encoder_layer_macs_equal_a_hand_count(batch_first):
    seq, batch, d, heads, ffn = 12, 2, 32, 4, 48
    layer = nn.TransformerEncoderLayer(d, heads, ffn, batch_first=batch_first).eval()
    x = torch.randn(batch, seq, d) if batch_first else torch.randn(seq, batch, d)
    was = torch.backends.mha.get_fastpath_enabled()
    trace = trace_model(layer, x)
    assert trace.summary()["unknown_ops"] == 0
    assert trace.summary()["macs"] == transformer_layer_macs(seq=seq, batch=batch, d=d, ffn=ffn)
    assert torch.backends.mha.get_fastpath_enabled() == was  # restored after tracing


def test_transformer_encoder_stack_with_padding_mask_counts_every_layer():
    seq, batch, d, heads, ffn, layers = 10, 2, 16, 2, 24, 3
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, heads, ffn, batch_first=True), layers,
                                enable_nested_tensor=True).eval()
    mask = torch.zeros(batch, seq, dtype=torch.bool)
    mask[1, 6:] = True  # padding: the nested-tensor fast path would skip these positions
    trace = trace_model(enc, {"src": torch.randn(batch, seq, d), "src_key_padding_mask": mask})
    assert trace.summary()["unknown_ops"] == 0
    assert trace.summary()["macs"] == layers * transformer_layer_macs(seq=seq, batch=batch, d=d, ffn=ffn)


@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_macs_equal_a_hand_count(need_weights):
    L, S, batch, d, heads = 7, 9, 3, 24, 4
    mha = nn.MultiheadAttention(d, heads, batch_first=True).eval()
    q, kv = torch.randn(batch, L, d), torch.randn(batch, S, d)
    trace = trace_model(mha, {"query": q, "key": kv, "value": kv, "need_weights": need_weights})
    expected = batch * (L * d * d + 2 * S * d * d + L * d * d) + batch * 2 * L * S * d
    assert trace.summary()["unknown_ops"] == 0 and trace.summary()["macs"] == expected


def test_unknown_ops_warn_by_name_and_are_listed_in_the_summary():
    from workloads.tracer import UnknownOpWarning
    with pytest.warns(UnknownOpWarning, match=r"aten\.linalg_qr\.default ×1"):
        trace = trace_model(Unusual(), torch.randn(6, 6))
    assert trace.summary()["unknown_op_names"] == {"aten.linalg_qr.default": 1} == trace.unknown_ops()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a trace without unknown ops stays silent
        assert trace_model(nn.Linear(3, 2), torch.randn(1, 3)).unknown_ops() == {}


@pytest.mark.parametrize("cin, cout, k, stride, groups, padding, out_pad", [
    (8, 4, 3, 2, 1, 0, 0), (6, 9, 2, 3, 3, 1, 1), (4, 4, 5, 1, 4, 2, 0), (3, 5, 4, 4, 1, 0, 3)])
def test_conv_transpose2d_gemm_implies_its_macs(cin, cout, k, stride, groups, padding, out_pad):
    conv = nn.ConvTranspose2d(cin, cout, k, stride=stride, groups=groups, padding=padding,
                              output_padding=out_pad).eval()
    n, h, w = 2, 5, 4
    trace = trace_model(conv, torch.randn(n, cin, h, w))
    (op,) = [o for o in trace.ops if o.kind == "matmul"]
    # every input element meets every kernel weight of its group's output channels once
    hand = n * h * w * cin * (cout // groups) * k * k
    assert op.macs == hand
    batch, m, kk, nn_ = op.gemm
    assert batch * m * kk * nn_ == hand
