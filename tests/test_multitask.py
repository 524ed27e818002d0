"""Multi-task traces: backbone tensors identical across tasks, task tensors owned and named by the task."""
import re

import pytest

from workloads.errors import WorkloadError

pytest.importorskip("torch")
M = pytest.importorskip("workloads.multitask")

SMALL = dict(layers=2, hidden=32, seq_len=8, cache=False)


def params(trace, owner=None):
    """{name: (role, owner, shape)} of the parameters in a trace (optionally of one owner)."""
    return {t.name: (t.role, t.owner, t.shape) for t in trace.tensors.values()
            if t.is_parameter and (owner is None or t.owner == owner)}


def op_signature(trace, task):
    """The op sequence with the task's name blanked out of module paths."""
    return [(re.sub(rf"\b{task}\b", "TASK", op.module), op.aten, op.kind, op.macs, op.gemm) for op in trace.ops]


@pytest.mark.parametrize("adapter", ["houlsby:4", "pfeiffer:4", "lora:2", "lora-merged:2", "mixture:2x4"])
def test_two_tasks_share_every_backbone_tensor_and_differ_only_in_task_tensors(adapter):
    traces = M.trace_tasks("bert-base", ["sst2", "qnli"], adapter=adapter, **SMALL)
    a, b = traces["sst2"], traces["qnli"]
    assert params(a, "shared") == params(b, "shared")
    assert all(t.owner in ("shared", "sst2") for t in a.tensors.values())
    own_a, own_b = params(a, "sst2"), params(b, "qnli")
    assert own_a and own_b
    assert all("sst2" in name for name in own_a) and all("qnli" in name for name in own_b)
    # the task tensors correspond one to one: same roles and shapes under the other task's name
    renamed = {re.sub(r"\bsst2\b", "qnli", n): (r, "qnli", s) for n, (r, _, s) in own_a.items()}
    assert renamed == own_b
    # same computation: the op sequences agree once the task name is blanked out
    assert op_signature(a, "sst2") == op_signature(b, "qnli")


def test_task_bytes_are_the_adapters_and_the_head_in_closed_form():
    h, m, layers = 32, 4, 2
    traces = M.trace_tasks("bert-base", ["mnli"], adapter=f"houlsby:{m}", **SMALL)
    own = sum(t.stored_bytes for t in traces["mnli"].tensors.values() if t.owner == "mnli")
    adapters = layers * 2 * (2 * h * m + m + h)
    head = h * 3 + 3  # MNLI has three labels
    assert own == (adapters + head) * 4  # fp32


def test_albert_shared_adapters_are_read_twelve_times_per_repetition_ones_once():
    kw = dict(hidden=32, seq_len=8, cache=False)
    shared = M.trace_tasks("albert-base-v2", ["sst2"], adapter="houlsby:4", **kw)["sst2"].tensor_reads()
    per_rep = M.trace_tasks("albert-base-v2", ["sst2"], adapter="houlsby:4", per_repetition=True,
                            **kw)["sst2"].tensor_reads()
    adapters_shared = shared[(shared.role == "adapter") & shared.name.str.contains("adapters")]
    adapters_rep = per_rep[(per_rep.role == "adapter") & per_rep.name.str.contains("adapters")]
    assert set(adapters_shared.reads) == {12}
    assert set(adapters_rep.reads) == {1}
    assert len(adapters_rep) == 12 * len(adapters_shared)
    assert adapters_rep.bytes.sum() == 12 * adapters_shared.bytes.sum()
    # the backbone's shared layer is read 12 times either way
    query = shared[shared.name.str.endswith("attention.query.weight")]
    assert list(query.reads) == [12]


def test_compression_policy_is_applied_to_every_task():
    from workloads.compression import CompressionPolicy

    policy = CompressionPolicy.parse("weight=8,adapter=8,activation=16", "embedding=0.6")
    traces = M.trace_tasks("bert-base", ["sst2", "mnli"], compression=policy, **SMALL)
    plain = M.trace_tasks("bert-base", ["sst2", "mnli"], **SMALL)
    expected_bits = {"weight": 8, "adapter": 8, "activation": 16}
    for task, trace in traces.items():
        assert trace.tensors.keys() == plain[task].tensors.keys() and trace.ops == plain[task].ops
        roles = set()
        for tid, t in trace.tensors.items():
            roles.add(t.role)
            assert t.bits == expected_bits.get(t.role, plain[task].tensors[tid].bits)
            assert (t.sparsity, t.mask_bits) == ((0.6, 1.0) if t.role == "embedding" else (0.0, 0.0))
        assert {"weight", "adapter", "activation", "embedding", "input"} <= roles


def test_plain_backbone_without_adapters_has_only_heads_per_task():
    traces = M.trace_tasks("distilbert", ["sst2", "qqp"], adapter=None, **SMALL)
    assert set(params(traces["qqp"], "qqp")) == {"task_heads.qqp.weight", "task_heads.qqp.bias"}


@pytest.mark.parametrize("tasks, adapter, what", [
    ([], "houlsby:4", "empty"),
    (["sst2", "sst2"], "houlsby:4", "twice"),
    (["a.b"], "houlsby:4", "valid task name"),
    (["shared"], "houlsby:4", "valid task name"),
    (["sst2"], "houlsby", "expected houlsby:M"),
    (["sst2"], "prosg:2", "generation"),
])
def test_bad_requests_say_what_is_expected(tasks, adapter, what):
    with pytest.raises(WorkloadError, match=what):
        M.trace_tasks("bert-base", tasks, adapter=adapter, **SMALL)


def test_bottleneck_adapters_need_an_encoder():
    with pytest.raises(WorkloadError, match="expected an encoder"):
        M.trace_tasks("lightlm", ["sst2"], adapter="houlsby:4", **SMALL)


def test_a_cached_request_loads_without_running_torch(tmp_path, monkeypatch):
    import json
    import subprocess
    import sys

    monkeypatch.setenv("HETSIM_CACHE", str(tmp_path))
    kw = dict(adapter="houlsby:4", layers=1, hidden=32, seq_len=8)
    first = M.trace_tasks("tinybert-4l-312", ["sst2", "mnli"], **kw)
    script = (
        "import sys, json; sys.modules['torch'] = None\n"
        "from workloads.multitask import trace_tasks\n"
        f"t = trace_tasks('tinybert-4l-312', ['sst2', 'mnli'], **{kw!r})\n"
        "print(json.dumps({k: v.summary()['macs'] for k, v in t.items()}))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**__import__("os").environ, "HETSIM_CACHE": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {k: v.summary()["macs"] for k, v in first.items()}
