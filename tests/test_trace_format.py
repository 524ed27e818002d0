"""The torch-free Trace: file format round trip, byte accounting, compression, loading without torch."""
import dataclasses
import json
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads import CompressionPolicy, WorkloadError, load_trace
from workloads.compression import parse_bits, parse_sparsity
from workloads.trace import (FORMAT_VERSION, KINDS, OPERAND_COUNTS, PARAMETER_ROLES, ROLES, OpInfo, TensorInfo,
                             Trace, concat_traces, trace_from_dict)

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
json_scalars = st.none() | st.booleans() | st.integers(-2**60, 2**60) | names | \
    st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def traces(draw, max_tensors=8, max_ops=10):
    """Synthetic traces: any roles, shapes, bits, sparsity; ops reading/writing any tensors."""
    n = draw(st.integers(1, max_tensors))
    tensors = {}
    for tid in range(n):
        shape = tuple(draw(st.lists(st.integers(1, 50), min_size=0, max_size=3)))
        numel = 1
        for d in shape:
            numel *= d
        sparsity = draw(st.sampled_from([0.0, 0.25, 0.6]) | st.floats(0, 0.99))
        tensors[tid] = TensorInfo(tid, draw(names), draw(st.sampled_from(ROLES)), shape, numel,
                                  draw(st.sampled_from([1, 4, 8, 16, 32, 64])), sparsity,
                                  1.0 if sparsity else 0.0, draw(st.sampled_from(["shared", "sst2", "mnli"])),
                                  draw(st.sampled_from(["float32", "int64", "bfloat16"])))
    ops = []
    for oid in range(draw(st.integers(0, max_ops))):
        touched = st.dictionaries(st.integers(0, n - 1), st.integers(0, 10**9), max_size=3)
        kind = draw(st.sampled_from(KINDS))
        gemm = tuple(draw(st.lists(st.integers(1, 4096), min_size=4, max_size=4))) \
            if kind in ("matmul", "attention") else None
        reads, writes = draw(touched), draw(touched)
        operands = None
        if kind in OPERAND_COUNTS and draw(st.booleans()):   # recorded: inputs it reads, an output it writes
            operands = () if not (reads and writes) or draw(st.booleans()) else (
                *draw(st.lists(st.sampled_from(list(reads)), min_size=OPERAND_COUNTS[kind] - 1,
                               max_size=OPERAND_COUNTS[kind] - 1)), draw(st.sampled_from(list(writes))))
        ops.append(OpInfo(oid, draw(names), draw(names), draw(names), kind, draw(st.integers(0, 10**15)),
                          draw(st.integers(0, 10**12)), reads, writes,
                          tuple(sorted(draw(st.sets(st.integers(0, max(oid - 1, 0)), max_size=3)))) if oid else (),
                          gemm, draw(st.integers(0, 40)), operands))
    meta = draw(st.dictionaries(names, json_scalars | st.lists(json_scalars, max_size=3), max_size=4))
    return Trace(draw(names), draw(st.none() | names), tensors, ops, meta)


@settings(max_examples=60, deadline=None)
@given(trace=traces(), gz=st.booleans())
def test_save_load_round_trip_is_exact(trace, gz, tmp_path_factory):
    path = tmp_path_factory.mktemp("rt") / ("t.trace.json.gz" if gz else "t.trace.json")
    trace.save(path)
    loaded = load_trace(path)
    assert loaded == trace
    assert all(type(t.shape) is tuple for t in loaded.tensors.values())
    assert loaded.summary() == trace.summary()


@settings(max_examples=60, deadline=None)
@given(trace=traces(), data=st.data())
def test_compression_changes_bytes_exactly_as_the_policy_says(trace, data):
    bits = data.draw(st.dictionaries(st.sampled_from(ROLES), st.integers(1, 32), max_size=3))
    sparsity = data.draw(st.dictionaries(st.sampled_from(ROLES), st.floats(0, 0.95), max_size=2))
    policy = CompressionPolicy(bits, sparsity)
    comp = trace.with_compression(policy)
    for tid, t in trace.tensors.items():
        c = comp.tensors[tid]
        b = bits.get(t.role, t.bits)
        s, mask = (sparsity[t.role], 1.0 if sparsity[t.role] > 0 else 0.0) if t.role in sparsity \
            else (t.sparsity, t.mask_bits)
        assert c.stored_bytes == pytest.approx(t.numel * (1 - s) * b / 8 + t.numel * mask / 8)
    for op in trace.ops:  # bytes per op follow the tensor's density, element counts unchanged
        for tid, n in op.reads.items():
            t = comp.tensors[tid]
            assert comp.read_bytes(op)[tid] == pytest.approx(n * ((1 - t.sparsity) * t.bits + t.mask_bits) / 8)
    assert comp.ops is trace.ops
    assert comp.meta["compression"] == policy.to_dict()


def test_albert_embedding_at_8_bits_and_60_percent_sparsity_is_2_mb():
    """workloads.md: 3.84 M elements × 0.4 B + 3.84 M / 8 B ≈ 1.54 MB + 0.48 MB ≈ 2.0 MB."""
    emb = TensorInfo(0, "embeddings.word_embeddings.weight", "embedding", (30000, 128), 3_840_000, 32)
    comp = CompressionPolicy.parse("embedding=8", "embedding=0.6").apply(emb)
    assert comp.stored_bytes == pytest.approx(3_840_000 * 0.4 + 3_840_000 / 8)
    assert emb.stored_bytes == 3_840_000 * 4


@settings(max_examples=40, deadline=None)
@given(trace=traces())
def test_summary_agrees_with_per_op_bytes_and_tensor_table(trace):
    s = trace.summary()
    weight_read = sum(b for op in trace.ops for tid, b in trace.read_bytes(op).items()
                      if trace.tensors[tid].role in PARAMETER_ROLES)
    assert s["weight_bytes_read"] == pytest.approx(weight_read)
    assert s["bytes_written"] == pytest.approx(sum(sum(trace.write_bytes(op).values()) for op in trace.ops))
    assert s["macs"] == sum(op.macs for op in trace.ops)
    assert s["unknown_ops"] == sum(op.kind == "unknown" for op in trace.ops)
    df = trace.tensor_reads()
    assert list(df["id"]) == list(trace.tensors)
    for row in df.itertuples():
        assert row.reads == sum(row.id in op.reads for op in trace.ops)
    params = df[df.role.isin(PARAMETER_ROLES)]
    assert s["unique_weight_bytes"] == pytest.approx(params["bytes"].sum())
    assert trace.role_table()["bytes"].sum() == pytest.approx(df["bytes"].sum())
    assert 0 <= s["peak_activation_bytes"] <= s["activation_bytes"] + 1e-9


@settings(max_examples=30, deadline=None)
@given(a=traces(), b=traces())
def test_concat_merges_parameters_by_owner_and_name_and_keeps_ops(a, b):
    both = concat_traces([a, b])
    assert len(both.ops) == len(a.ops) + len(b.ops)
    assert both.summary()["macs"] == a.summary()["macs"] + b.summary()["macs"]
    keys = [(t.owner, t.name) for t in both.tensors.values() if t.role in PARAMETER_ROLES]
    assert len(keys) == len(set(keys))
    runtime = lambda tr: sum(t.role not in PARAMETER_ROLES for t in tr.tensors.values())  # noqa: E731
    assert runtime(both) == runtime(a) + runtime(b)
    assert [op.step for op in both.ops] == [op.step for op in a.ops + b.ops]


def test_load_trace_works_with_torch_unimportable(tmp_path):
    t = {0: TensorInfo(0, "w", "weight", (4, 4), 16, 32), 1: TensorInfo(1, "x", "activation", (4,), 4, 32)}
    ops = [OpInfo(0, "m", "layer#0", "aten.mv.default", "matmul", 16, 0, {0: 16, 1: 4}, {1: 4}, (), (1, 4, 4, 1),
                  operands=(0, 1, 1))]
    path = Trace("m", None, t, ops, {}).save(tmp_path / "x.trace.json.gz")
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None          # `import torch` now raises ImportError
        import workloads
        from workloads import load_trace, CompressionPolicy
        tr = load_trace({str(path)!r}).with_compression(CompressionPolicy.parse("weight=8"))
        print(tr.summary()["macs"], tr.summary()["unique_weight_bytes"], len(tr.tensor_reads()), tr.ops[0].operands)
        try:
            workloads.trace_model
        except ImportError:
            print("tracer needs torch")
        from workloads.multitask import trace_tasks  # answers cached requests without torch
        print(workloads.trace_tasks is trace_tasks)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:3] == ["16 16.0 2 (0, 1, 1)", "tracer needs torch", "True"]


def test_importing_workloads_imports_no_torch_and_lazy_names_resolve():
    code = textwrap.dedent("""
        import sys
        import workloads
        from workloads import *  # noqa: F403
        print("torch" in sys.modules)
        from workloads import trace_generation, trace_tasks, trace_model, Tracer
        from workloads import generation, multitask, tracer
        print(trace_tasks is multitask.trace_tasks, trace_generation is generation.trace_generation,
              trace_model is tracer.trace_model, Tracer is tracer.Tracer)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["False", "True True True True"]


def test_bad_files_raise_workload_error_naming_the_field(tmp_path):
    good = Trace("m", None, {0: TensorInfo(0, "w", "weight", (1,), 1, 8)}, [], {}).to_dict()
    cases = {"format": {**good, "format": "other"}, "version": {**good, "version": 99},
             "role": {**good, "tensors": [[0, "w", "boss", [1], 1, 8, 0.0, 0.0, "shared", "int8"]]}}
    op = [0, 0, 0, 0, "copy", 0, 0, [[7, 1]], [], [], None, 0, None]  # reads tensor 7, which the file lacks
    cases["ops.0..reads/writes: tensor id 7 not in tensors"] = {**good, "strings": ["x"], "ops": [op]}
    cases[r"ops\[0\]: 12 columns"] = {**good, "strings": ["x"], "ops": [op[:12]]}   # a version-1 row in version 2
    mm = [0, 0, 0, 0, "matmul", 1, 0, [[0, 1]], [[0, 1]], [], [1, 1, 1, 1], 0]
    cases[r"ops\[0\].operands\[1\]: tensor id 5 is not one the op reads"] = {
        **good, "strings": ["x"], "ops": [mm + [[0, 5, 0]]]}
    cases[r"ops\[0\].operands: got \[0, 0\]; expected null, \[\] or 3 tensor ids"] = {
        **good, "strings": ["x"], "ops": [mm + [[0, 0]]]}
    cases[r"ops\[0\].operands: got \[\]; expected null for a copy op"] = {
        **good, "strings": ["x"], "ops": [[0, 0, 0, 0, "copy", 0, 0, [[0, 1]], [], [], None, 0, []]]}
    for field, doc in cases.items():
        with pytest.raises(WorkloadError, match=field):
            trace_from_dict(doc, "f.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(WorkloadError, match="bad.json: .*not JSON"):
        load_trace(tmp_path / "bad.json")
    (tmp_path / "v.json").write_text(json.dumps(good))
    assert load_trace(tmp_path / "v.json").tensors[0].name == "w"


@pytest.mark.parametrize("spec, message", [("weight=x", "whole number"), ("weigth=8", "unknown role"),
                                           ("weight", "ROLE=VALUE"), ("weight=0", "1..64"), ("", "empty")])
def test_malformed_bits_spec_says_the_expected_form(spec, message):
    with pytest.raises(WorkloadError, match=message):
        parse_bits(spec)


def test_sparsity_spec_parses_and_rejects_out_of_range():
    assert parse_sparsity("embedding=0.6, weight=0") == {"embedding": 0.6, "weight": 0.0}
    with pytest.raises(WorkloadError, match="0 <= sparsity < 1"):
        parse_sparsity("embedding=1.5")


@pytest.mark.parametrize("kwargs, message", [
    (dict(bits={"weight": 0}), "bits.weight: 0; expected a whole number of bits 1..64"),
    (dict(bits={"weight": 8.5}), "bits.weight: 8.5; expected a whole number"),
    (dict(sparsity={"embedding": 1.5}), "sparsity.embedding: 1.5; expected a fraction"),
    (dict(sparsity={"embedding": -0.1}), "sparsity.embedding: -0.1; expected a fraction"),
    (dict(mask_bits=-1.0), "mask_bits: -1.0; expected"),
])
def test_a_policy_built_in_code_checks_its_values_like_the_cli(kwargs, message):
    """Sparsity above 1 would make stored bytes negative; 0 bits would make a tensor free."""
    with pytest.raises(WorkloadError, match=message):
        CompressionPolicy(**kwargs)
    with pytest.raises(WorkloadError, match=message):
        CompressionPolicy.from_dict({"bits": {}, "sparsity": {}, **{k: v for k, v in kwargs.items()}})


def _as_version_1(doc: dict) -> dict:
    """``doc`` (the current format) as format version 1 wrote it: no ``operands`` column."""
    assert FORMAT_VERSION == 2
    return {**doc, "version": 1, "op_fields": doc["op_fields"][:-1], "ops": [row[:-1] for row in doc["ops"]]}


@settings(max_examples=30, deadline=None)
@given(trace=traces())
def test_version_1_files_still_load_without_operands(trace, tmp_path_factory):
    path = tmp_path_factory.mktemp("v1") / "old.trace.json"
    path.write_text(json.dumps(_as_version_1(trace.to_dict())))
    old = load_trace(path)
    assert all(op.operands is None for op in old.ops)
    assert [dataclasses.replace(op, operands=None) for op in trace.ops] == old.ops
    assert old.tensors == trace.tensors


def test_version_1_traces_map_as_before_by_element_count():
    """A format-1 trace has no recorded operands: the mapper matches them by element count, and finds
    the ones the tracer would have recorded."""
    from simulator.prepare.mapping import gemm_of
    from simulator.testing import make_trace
    trace = make_trace("t0", seq=4, hidden=8, bottleneck=2)
    old = trace_from_dict(_as_version_1(trace.to_dict()))
    homes = dict.fromkeys(trace.tensors, "sram")
    for new_op, old_op in zip(trace.ops, old.ops):
        if new_op.kind == "matmul":
            assert new_op.operands and old_op.operands is None
            assert gemm_of(old_op, old, homes, 32) == gemm_of(new_op, trace, homes, 32)
            assert gemm_of(new_op, trace, homes, 32)[1] == new_op.operands
