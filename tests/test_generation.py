"""Generation traces: the KV cache grows one position per decode step; ProSG writes weights at known steps."""
from collections import defaultdict

import pytest

from workloads.errors import WorkloadError

torch = pytest.importorskip("torch")
G = pytest.importorskip("workloads.generation")

SEQ, NEW, LAYERS, HEADS, D_KV = 9, 4, 2, 8, 64  # T5: d_kv stays 64 whatever d_model is


@pytest.fixture(scope="module")
def t5_trace():
    return G.trace_generation("lightlm", new_tokens=NEW, seq_len=SEQ, layers=LAYERS, hidden=32, beams=3)


def attention_kv(trace, step, module_part):
    """Shapes of the kv_cache tensors that attention ops of ``step`` in modules ``module_part`` read."""
    return [trace.tensors[tid].shape for op in trace.ops
            if op.step == step and op.kind == "attention" and module_part in op.module
            for tid in op.reads if trace.tensors[tid].role == "kv_cache"]


def test_generation_trace_has_a_prefill_and_one_step_per_token(t5_trace):
    assert sorted({op.step for op in t5_trace.ops}) == list(range(NEW + 1))
    assert t5_trace.summary()["steps"] == NEW + 1
    assert [len(row) for row in t5_trace.meta["tokens"]] == [NEW + 1] * 3


def test_kv_cache_grows_one_position_per_step(t5_trace):
    beams = 3
    for n in range(NEW + 1):
        # self-attention at step n attends over n earlier positions plus the new one, keys and values, in
        # every decoder layer; the tensors are the cache, not activations
        assert attention_kv(t5_trace, n, "SelfAttention") == [(beams, HEADS, n + 1, D_KV)] * (2 * LAYERS)


def test_cross_attention_cache_is_computed_once_at_prefill(t5_trace):
    for n in range(NEW + 1):
        ids = {tid for op in t5_trace.ops if op.step == n and op.kind == "attention" and
               "EncDecAttention" in op.module for tid in op.reads if t5_trace.tensors[tid].role == "kv_cache"}
        assert {t5_trace.tensors[t].shape for t in ids} == {(3, HEADS, SEQ, D_KV)}
    # its keys and values are projected from the encoder output at the prefill only (later steps read the
    # cache, reordered by the beam search)
    projections = defaultdict(int)
    for op in t5_trace.ops:
        if op.kind == "matmul" and op.module.endswith(("EncDecAttention.k", "EncDecAttention.v")):
            projections[op.step] += 1
    assert dict(projections) == {0: 2 * LAYERS}


def test_kv_cache_bytes_stored_grow_linearly_with_the_step(t5_trace):
    produced = defaultdict(float)
    for op in t5_trace.ops:
        for tid in op.writes:
            t = t5_trace.tensors[tid]
            if t.role == "kv_cache" and "SelfAttention" in op.module:
                produced[op.step] += t.stored_bytes
    per_position = LAYERS * 2 * 3 * HEADS * D_KV * 4  # layers x (K, V) x beams x heads x d_kv x fp32
    assert [produced[n] for n in range(NEW + 1)] == [per_position * (n + 1) for n in range(NEW + 1)]


def test_generated_tokens_are_inputs_of_the_next_step(t5_trace):
    lookups = [op for op in t5_trace.ops if op.module == "decoder.embed_tokens" and op.step > 0]
    assert len(lookups) == NEW
    for op in lookups:
        roles = {t5_trace.tensors[t].role for t in op.reads}
        assert "kv_cache" not in roles and "input" in roles


def test_decode_steps_cost_more_macs_as_the_context_grows(t5_trace):
    macs = defaultdict(int)
    for op in t5_trace.ops:
        macs[op.step] += op.macs
    decode = [macs[n] for n in range(1, NEW + 1)]
    assert all(b > a for a, b in zip(decode, decode[1:]))
    # the growth per step is the attention over one more position: scores and weighted sum
    growth = {b - a for a, b in zip(decode, decode[1:])}
    assert growth == {LAYERS * 3 * HEADS * 2 * D_KV}  # layers x beams x heads x (QK^T + PV)


@pytest.fixture(scope="module")
def rwkv_prosg():
    return G.trace_generation("rwkv", new_tokens=3, seq_len=4, layers=2, hidden=32, adapter="prosg:2")


def weight_writes(trace):
    """step -> {weight name: bytes written}."""
    out = defaultdict(dict)
    for op in trace.ops:
        for tid, b in trace.write_bytes(op).items():
            t = trace.tensors[tid]
            if t.is_parameter:
                out[op.step][t.name] = out[op.step].get(t.name, 0) + b
    return out


def test_prosg_writes_its_rank_r_factors_after_prefill_and_never_the_weights(rwkv_prosg):
    writes = weight_writes(rwkv_prosg)
    rank, d_in, d_out, targets = 2, 32, 32, 2 * len(G.PROSG_TARGETS)
    assert set(writes) == {1}
    # per update step: r·(d_in + d_out) elements per target, fp32, into the factor tensors only
    assert sum(writes[1].values()) == targets * rank * (d_in + d_out) * 4
    assert all(name.startswith("prosg.factor_") for name in writes[1])
    assert sorted(writes[1].values()) == sorted([d_out * rank * 4, rank * d_in * 4] * targets)
    s = rwkv_prosg.summary()
    assert s["weight_bytes_written"] == targets * rank * (d_in + d_out) * 4
    # the factors are read at every decode step after the update: (x Vᵀ) Uᵀ, two small matmuls per target
    factor_ids = {tid for tid, t in rwkv_prosg.tensors.items() if t.name.startswith("prosg.factor_")}
    for n in (1, 2, 3):
        readers = [op for op in rwkv_prosg.ops if op.step == n and factor_ids & op.reads.keys()
                   and op.kind == "matmul"]
        assert len(readers) == 2 * targets


def test_prosg_ops_are_labelled_prosg_and_token_choice_decode(rwkv_prosg):
    writers = [op for op in rwkv_prosg.ops
               if any(rwkv_prosg.tensors[t].is_parameter for t in op.writes)]
    assert writers and {(op.module, op.layer) for op in writers} == {("prosg", "prosg")}
    argmax = [op for op in rwkv_prosg.ops if op.aten == "aten.argmax.default"]
    assert [(op.step, op.module, op.layer) for op in argmax] == [(n, "decode", "decode") for n in range(4)]


def test_prosg_refresh_rewrites_every_k_steps():
    trace = G.trace_generation("rwkv", new_tokens=4, seq_len=3, layers=2, hidden=16, adapter="prosg:1",
                               refresh_every=2)
    writes = weight_writes(trace)
    # steps 1 and 3 write both factors of every target (rank 1: 16 + 16 elements, fp32)
    assert {s: sum(v.values()) for s, v in writes.items()} == {1: 4 * (16 + 16) * 4, 3: 4 * (16 + 16) * 4}


def test_rwkv_state_is_carried_between_steps(rwkv_prosg):
    trace = rwkv_prosg
    state_ids = {tid for tid, t in trace.tensors.items() if t.role == "state" and t.shape == (1, 32, 2)}
    assert len(state_ids) == 5  # HF RWKV's state: five (batch, hidden, layers) tensors updated in place
    # nothing else is carried as state: ProSG's factors are adapter tensors, its weights never written
    assert {t.shape for t in trace.tensors.values() if t.role == "state"} == {(1, 32, 2)}
    for n in (1, 2, 3):
        readers = [op for op in trace.ops if op.step == n and state_ids & op.reads.keys()]
        assert state_ids <= {tid for op in readers for tid in op.reads}  # every state tensor is read
        # the first read of each state tensor in step n depends on the last write of it in step n - 1
        for tid in state_ids:
            first = next(op for op in readers if tid in op.reads)
            last_write = max(op.id for op in trace.ops if op.step < n and tid in op.writes)
            assert last_write in first.deps


def test_prosg_factors_act_as_the_dense_rank_r_update_and_are_switched_off_exactly():
    from workloads import zoo

    model, inputs = zoo.build("rwkv", seq_len=5, layers=2, hidden=24)
    upd = G.ProSGUpdate(model, rank=3)
    blocks = model.rwkv.blocks
    layer = blocks[1].get_submodule(G.PROSG_TARGETS[1])
    x = torch.randn(2, 5, 24)
    with torch.no_grad():
        state = model(**inputs, use_cache=True).state
        plain = layer(x)
        upd(state)
        k = upd.targets.index((1, G.PROSG_TARGETS[1]))
        u, v = upd.factors(k)
        assert u.shape == (24, 3) and v.shape == (3, 24)
        dense = torch.nn.functional.linear(x, layer.weight + u @ v, layer.bias)
        assert torch.allclose(layer(x), dense, atol=1e-5) and not torch.allclose(layer(x), plain)
        singular = torch.linalg.svdvals((u @ v).double())
        assert singular[0] > 0 and singular[3] < 1e-3 * singular[0]  # rank 3 up to fp32 rounding
        upd.undo()
        assert torch.equal(layer(x), plain)


@pytest.mark.parametrize("kwargs, what", [
    (dict(model_name="bert-base"), "expected a generative"),
    (dict(model_name="lightlm", adapter="prosg:2"), "expected prosg:R with rwkv"),
    (dict(model_name="rwkv", adapter="houlsby:8"), "expected prosg:R with rwkv"),
    (dict(model_name="lightlm", beams=0), "beams"),
])
def test_bad_generation_requests_say_what_is_expected(kwargs, what):
    with pytest.raises(WorkloadError, match=what):
        G.trace_generation(**kwargs)


def test_beams_share_one_encoder_pass_and_decode_side_by_side(t5_trace):
    encoder = {op.gemm[1] for op in t5_trace.ops if op.kind == "matmul" and op.module.startswith("encoder.")}
    decoder = {op.gemm[1] for op in t5_trace.ops
               if op.kind == "matmul" and op.step > 0 and op.module.startswith("decoder.block")}
    assert encoder == {SEQ}  # one prompt, encoded once
    assert decoder == {3}    # three beams, one token each per decode step


def test_the_cache_and_state_after_the_last_step_are_carried_even_without_decode_steps():
    t5 = G.trace_generation("lightlm", new_tokens=0, seq_len=5, layers=1, hidden=32)
    kv = sorted(t.shape for t in t5.tensors.values() if t.role == "kv_cache")
    # self-attention K and V over the start token, cross-attention K and V over the 5-token prompt
    assert kv == [(1, HEADS, 1, D_KV)] * 2 + [(1, HEADS, 5, D_KV)] * 2
    rwkv = G.trace_generation("rwkv", new_tokens=0, seq_len=3, layers=2, hidden=16)
    state = [t for t in rwkv.tensors.values() if t.role == "state"]
    assert len(state) == 5 and all(t.shape[-1] == 2 for t in state)  # HF's 5 state tensors, per layer


# -- beam search with re-ranking (issue 14) ----------------------------------------------------------------

VOCAB = 32128  # lightlm (t5-small vocabulary)


def test_beam_search_reranks_beams_times_vocabulary_and_reorders_every_cache_tensor(t5_trace):
    beams = 3
    for n in range(NEW + 1):
        ops = [op for op in t5_trace.ops if op.step == n and op.module == "decode"]
        topk = [op for op in ops if op.aten == "aten.topk.default"]
        assert len(topk) == 1
        # one top-k per step over beams x vocabulary accumulated log-probabilities
        assert sum(topk[0].reads.values()) == beams * VOCAB
        gathers = [op for op in ops if op.aten == "aten.index_select.default"]
        # each decode step first reorders the cache the previous step left: one gather per cache tensor
        # (self- and cross-attention K and V per layer); the prefill has nothing to reorder
        assert len(gathers) == (4 * LAYERS if n else 0)
        if not n:
            continue
        cache_elements = 2 * LAYERS * beams * HEADS * D_KV * (n + SEQ)   # self (n positions so far) + cross
        read = sum(e for op in gathers for tid, e in op.reads.items() if t5_trace.tensors[tid].dtype != "int64")
        written = sum(e for op in gathers for e in op.writes.values())
        assert read == written == cache_elements
        gathered_bytes = sum(t5_trace.write_bytes(op)[tid] for op in gathers for tid in op.writes)
        assert gathered_bytes == cache_elements * 4   # fp32 KV cache
        # the gathers read the cache the previous step left
        assert all(t5_trace.tensors[tid].role == "kv_cache" for op in gathers for tid, e in op.reads.items()
                   if t5_trace.tensors[tid].dtype != "int64")


@pytest.fixture(scope="module")
def trie_trace():
    return G.trace_generation("lightlm", new_tokens=2, seq_len=4, layers=1, hidden=32, beams=2,
                              constrained="trie", items=6, seed=5)


def test_trie_constrained_beams_only_produce_item_ids_and_the_mask_is_traced(trie_trace):
    trie = G._random_trie(6, 3, VOCAB, 5)
    items = set()
    kids, node_of = trie["children"].tolist(), trie["child_node"].tolist()

    def walk(node, prefix):
        for tok, child in zip(kids[node], node_of[node]):
            if tok != VOCAB:
                walk(child, prefix + [tok])
        if all(t == VOCAB for t in kids[node]):
            items.add(tuple(prefix))
    walk(0, [])
    assert len(items) == 6
    assert all(tuple(seq) in items for seq in trie_trace.meta["tokens"])   # every beam is an item id
    for n in range(3):
        ops = [op for op in trie_trace.ops if op.step == n and op.module == "decode"]
        scatter = [op for op in ops if op.aten == "aten.scatter_.value"]
        assert len(scatter) == 1 and sum(scatter[0].writes.values()) == 2 * len(kids[0])  # beams x children
