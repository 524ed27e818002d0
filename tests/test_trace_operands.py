"""Gemm operands recorded by the tracer (format version 2): by argument position, agreeing with a hand
count on real models, and used by the mapper, whose MAC counts then equal the tracer's on every bundled
model."""
import pytest

from simulator.prepare.mapping import attention_of, gemm_of
from workloads import zoo

pytest.importorskip("torch")
from workloads.multitask import trace_tasks  # noqa: E402

SEQ, HIDDEN = 8, 64


def _trace(model, layers=1, adapter=None, **kw):
    return trace_tasks(model, ["sst2"], adapter=adapter, seq_len=SEQ, layers=layers, hidden=HIDDEN, **kw)["sst2"]


def _named(trace, op):
    return [trace.tensors[t].name for t in op.operands]


def test_tinybert_operands_by_hand():
    """TinyBERT at one layer, width 64 (ffn 1200·64/312 = 246), 8 tokens: each linear is addmm(bias, x, Wᵀ)
    with A the layer's input, W the module's weight, O its output; the fused attention reads the query,
    key and value projections' outputs (as views: the same storage) and writes its own output."""
    tr = _trace("tinybert-4l-312")
    ffn = round(1200 * HIDDEN / 312)
    matmuls = [op for op in tr.ops if op.kind == "matmul"]
    base = "backbone.encoder.layer.0."
    expected = [  # (module, A produced by, gemm)
        (base + "attention.self.query", "LayerNorm/native_layer_norm", (1, SEQ, HIDDEN, HIDDEN)),
        (base + "attention.self.key", "LayerNorm/native_layer_norm", (1, SEQ, HIDDEN, HIDDEN)),
        (base + "attention.self.value", "LayerNorm/native_layer_norm", (1, SEQ, HIDDEN, HIDDEN)),
        (base + "attention.output.dense", "_scaled_dot_product_flash_attention_for_cpu", (1, SEQ, HIDDEN, HIDDEN)),
        (base + "intermediate.dense", "LayerNorm/native_layer_norm", (1, SEQ, HIDDEN, ffn)),
        (base + "output.dense", "intermediate_act_fn/gelu", (1, SEQ, ffn, HIDDEN)),
        ("backbone.pooler.dense", "LayerNorm/native_layer_norm", (1, 1, HIDDEN, HIDDEN)),  # the [CLS] row
        ("task_heads.sst2", "pooler.activation/tanh", (1, 1, HIDDEN, 2)),
    ]
    assert [(op.module, op.gemm) for op in matmuls] == [(m, g) for m, _, g in expected]
    for op, (module, a_from, (_, m, k, n)) in zip(matmuls, expected):
        a, w, o = op.operands
        assert tr.tensors[w].name == module + ".weight"
        assert tr.tensors[w].role == ("adapter" if module.startswith("task_heads") else "weight")
        assert tr.tensors[w].shape == (n, k)            # nn.Linear stores W as (out, in): read as Wᵀ
        assert a_from in tr.tensors[a].name and tr.tensors[a].role == "activation"
        assert (op.reads[a], op.reads[w], op.writes[o]) == (m * k, k * n, m * n)
        assert tr.tensors[o].name == f"{module}/addmm@{op.id}"
    (att,) = [op for op in tr.ops if op.kind == "attention"]
    q, k, v, o = _named(tr, att)
    assert [q, k, v] == [f"{base}attention.self.{p}/addmm@{i}" for p, i in
                         (("query", matmuls[0].id), ("key", matmuls[1].id), ("value", matmuls[2].id))]
    assert o.endswith(f"@{att.id}")


def test_distilbert_and_albert_weights_are_the_linear_weights_and_lora_reads_its_adapter():
    """Every matmul on a linear module (ALBERT's shared layer called per repetition: ``#k``) has that
    module's weight as W; a LoRA branch's two gemms have its A and B matrices (role adapter) as W."""
    import re
    for model, layers, adapter in (("distilbert", 1, None), ("albert-base-v2", 2, "lora:4")):
        tr = _trace(model, layers=layers, adapter=adapter)
        linear = lora = 0
        for op in tr.ops:
            if op.kind != "matmul":
                continue
            a, w, o = op.operands
            name = tr.tensors[w].name
            module = re.sub(r"#\d+", "", op.module)
            assert a != w and tr.tensors[a].role not in ("weight", "adapter")
            if tr.tensors[w].role == "adapter" and "lora" in name:
                lora += 1
            elif name == module + ".weight":
                linear += 1
            assert tr.tensors[w].role in ("weight", "adapter"), (op.module, name)
        attention = sum(op.kind == "attention" for op in tr.ops)
        if model == "distilbert":   # q, k, v, out, ffn in, ffn out; the task head
            assert (linear, lora, attention) == (6 + 1, 0, 1)
        else:                       # embedding map, 2 × (q, k, v, dense, ffn, ffn_output), pooler, head
            assert (attention, lora) == (2, 2 * 2 * 2)   # LoRA on q and v: A then B, per repetition
            assert linear == 1 + 2 * 6 + 1 + 1


@pytest.mark.slow
@pytest.mark.parametrize("model", zoo.list_models())
def test_mapper_macs_equal_the_tracers_on_every_bundled_model(model):
    """With the recorded operands the mapper finds every gemm and attention op of every zoo model, and its
    GEMM view does exactly the MACs the tracer counted."""
    layers = max(1, zoo.entry(model).min_layers)
    tr = _trace(model, layers=layers, adapter="lora:4" if model != "rwkv" else None)
    homes = dict.fromkeys(tr.tensors, "sram")
    rb = {op.id: tr.read_bytes(op) for op in tr.ops}
    wb = {op.id: tr.write_bytes(op) for op in tr.ops}
    counted = mapped = 0
    for op in tr.ops:
        if op.kind == "attention":
            att, ids = attention_of(op, homes, 32, rb[op.id], wb[op.id])
            assert ids == op.operands
            assert att.batch * att.l * att.s * (att.e + att.ev) == op.macs
        elif op.kind == "matmul":
            found = gemm_of(op, tr, homes, 32)
            assert found is not None, (model, op.module, op.aten, op.gemm)
            gemm, ids = found
            assert ids == op.operands
            assert gemm.batch * gemm.m * gemm.k * gemm.n == op.macs, (model, op.module, op.aten)
        else:
            assert op.operands is None
            continue
        counted += op.macs
        mapped += 1
    assert mapped and counted == tr.summary()["macs"]
