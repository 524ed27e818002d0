"""Early exit (issue 14): exit heads traced for real, a request runs exactly its layers and the heads it
evaluated, exit layers drawn from a table, entropy statistics or given per request."""
from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from hw_models import load_platform
from simulator.analytic import evaluate
from simulator.cost.tables import prepare
from simulator.engine import simulate
from simulator.errors import SimulationConfigError
from simulator.prepare import early_exit as E
from simulator.prepare import streams
from simulator.prepare.served_workload import Workload

LAYERS = 4
EXITS = [1, 2, 3]


@pytest.fixture(scope="module", params=["tinybert-4l-312", "albert-base-v2"])
def traces(request):
    from workloads import CompressionPolicy
    from workloads.multitask import trace_tasks

    eight = CompressionPolicy({"weight": 8, "embedding": 8, "adapter": 8})   # fits edge-sram's 16 MiB

    return trace_tasks(request.param, ["sst2", "mnli"], adapter="houlsby:8", seq_len=16, layers=LAYERS,
                       hidden=64 if request.param == "albert-base-v2" else None, exits=EXITS, compression=eight,
                       per_repetition=request.param == "albert-base-v2")


def expected_ops(trace, k: int) -> set[int]:
    """Ops a request exiting after layer k runs, from the layer labels alone: everything before the
    first layer, layers 0..k-1, the exit heads after layers <= k; everything when k is the last layer."""
    if k == LAYERS:
        return {op.id for op in trace.ops}
    keep = set()
    for op in trace.ops:
        m = re.fullmatch(r"(layer|exit)#(\d+)", op.layer or "")
        if op.layer == "embeddings" or (m and m[1] == "layer" and int(m[2]) < k) or \
                (m and m[1] == "exit" and int(m[2]) <= k):
            keep.add(op.id)
    return keep


def test_every_exit_head_ends_with_its_entropy_check_and_is_owned_by_the_task(traces):
    trace = traces["mnli"]
    for k in EXITS:
        head = [op for op in trace.ops if op.layer == f"exit#{k}"]
        assert head and head[-1].aten == "aten.lt.Scalar"          # the check is an op
        kinds = Counter(op.kind for op in head)
        assert kinds["matmul"] == 1 and kinds["softmax"] == 2       # classifier; softmax, log_softmax
        params = {trace.tensors[t].name: trace.tensors[t] for op in head for t in op.reads
                  if trace.tensors[t].is_parameter}
        assert params and all(t.owner == "mnli" and t.role == "adapter" for t in params.values())


@pytest.mark.parametrize("evaluator", ["engine", "analytic"])
def test_a_request_exiting_at_layer_k_runs_exactly_its_layers_and_heads(traces, evaluator):
    ks = [1, 2, 3, 4, None]
    stream = streams.fixed(["mnli"] * len(ks), 0.05).with_fields(exit_layer=ks)
    workload = Workload("ee", traces, stream)
    platform = load_platform("edge-sram")
    run = (simulate if evaluator == "engine" else evaluate)(workload, platform, prepared=prepare(workload, platform))
    ledger = run.ledger[(run.ledger["request"] >= 0) & (run.ledger["op"] >= 0)]
    trace = traces["mnli"]
    layer_of = {op.id: op.layer for op in trace.ops}
    for rid, k in enumerate(ks):
        ran = set(ledger.loc[ledger["request"] == rid, "op"])
        assert ran == expected_ops(trace, k or LAYERS)
        layers = {layer_of[i] for i in ran if layer_of[i].startswith("layer#")}
        assert len(layers) == (k or LAYERS)
    energy = run.requests["energy_J"].to_numpy()
    assert (np.diff(energy[:4]) > 0).all() and energy[3] == pytest.approx(energy[4], rel=1e-9)
    # each request's lower bound is its own variant's: the bounds rise with the exit layer too
    bounds = run.meta["lower_bound_J"]
    keys = run.meta["request_keys"]
    assert keys == ["mnli@exit1", "mnli@exit2", "mnli@exit3", "mnli@exit4", "mnli"]
    assert bounds["mnli@exit1"] < bounds["mnli@exit2"] < bounds["mnli@exit3"] < bounds["mnli"]
    assert bounds["mnli@exit4"] == pytest.approx(bounds["mnli"], rel=1e-12)
    from simulator.results.result import Result
    result = Result.from_run(run)
    assert result.lower_bound_J() == pytest.approx(sum(bounds[k] for k in keys), rel=1e-12)
    assert result.lower_bound_J() <= result.meta["total_energy_J"]


def test_an_exit_without_a_head_is_refused(traces):
    workload = Workload("ee", traces, streams.fixed(["sst2"], 0.05).with_fields(exit_layer=[7]))
    platform = load_platform("edge-sram")
    with pytest.raises(SimulationConfigError, match="exits after layer 7"):
        evaluate(workload, platform)


def test_exit_layers_from_a_table_follow_its_weights_and_the_seed():
    table = {1: 1.0, 3: 3.0, 4: 4.0}
    a = E.draw_exit_layers({"table": table}, 4000, 4, EXITS, seed=3)
    assert a == E.draw_exit_layers({"table": table}, 4000, 4, EXITS, seed=3)
    share = Counter(a)
    assert set(share) == {1, 3, 4}
    assert share[4] / 4000 == pytest.approx(0.5, abs=0.03) and share[1] / 4000 == pytest.approx(0.125, abs=0.02)


def test_entropy_exits_come_earlier_with_a_higher_threshold_and_follow_the_rule():
    stats = {"first": 1.0, "last": 0.05, "spread": 0.5}
    means = E.entropy_means(1.0, 0.05, 12)
    assert means[0] == pytest.approx(1.0) and means[-1] == pytest.approx(0.05) and (np.diff(means) < 0).all()
    mean_exit = []
    for threshold in (0.05, 0.1, 0.3, 0.8):
        layers = E.draw_exit_layers({"entropy": {**stats, "threshold": threshold}}, 2000, 12,
                                    list(range(1, 12)), seed=0)
        mean_exit.append(np.mean(layers))
    assert all(b < a for a, b in zip(mean_exit, mean_exit[1:]))
    # with no spread every request sees the means: it exits at the first layer whose mean is below
    no_spread = E.draw_exit_layers({"entropy": {**stats, "spread": 0.0, "threshold": 0.3}}, 5, 12,
                                   list(range(1, 12)), seed=0)
    assert no_spread == [int(np.argmax(means < 0.3)) + 1] * 5


def test_per_request_exits_are_taken_as_given_and_checked():
    assert E.draw_exit_layers({"per_request": [4, 1, 2]}, 3, 4, EXITS, seed=0) == [4, 1, 2]
    with pytest.raises(SimulationConfigError, match="one per request"):
        E.draw_exit_layers({"per_request": [4, 1]}, 3, 4, EXITS, seed=0)
    with pytest.raises(SimulationConfigError, match="expected one of 1, 2, 3, 4"):
        E.draw_exit_layers({"per_request": [5, 1, 1]}, 3, 4, EXITS, seed=0)
