"""Study configuration: validation with one-line errors, round trips, the request stream and per-task
models; and (with the engine) reproducible runs."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml

from simulator.errors import SimulationConfigError
from simulator.study.runner import (DEFAULT_STUDY, StudyConfig, build_stream, default_study, load_study,
                             per_task_model, study_from_dict)
from workloads.trace import OpInfo, TensorInfo, Trace

MINIMAL = {"model": "albert-base-v2", "tasks": ["a", "b"], "platforms": ["edge-sram"]}


def test_default_study_is_the_one_the_issue_asks_for():
    c = default_study()
    assert c.model == "albert-base-v2" and c.adapter.startswith("houlsby:") and c.per_repetition
    assert c.tasks == ["sst2", "mnli", "qqp", "qnli"]
    assert c.compression.bits["weight"] == 8 and c.compression.bits["activation"] == 16
    assert c.compression.sparsity == {"embedding": 0.6}
    assert c.scenario.requests == 100 and c.scenario.switch_probability > 0
    assert [(p.key, p.mode) for p in c.platforms] == [
        ("edge-sram-dram", "per-task-model"), ("edge-sram-reload", "per-task-model"), ("edge-sram", "adapters"),
        ("edge-rram", "adapters"), ("edge-mram", "adapters"), ("edge-cim", "adapters")]
    assert c.source == str(DEFAULT_STUDY)


def test_dumped_study_loads_back_identical(tmp_path):
    c = default_study()
    path = tmp_path / "again.yaml"
    path.write_text(yaml.safe_dump(c.model_dump(mode="json")))
    again = load_study(path)
    assert again.model_dump() == c.model_dump()
    assert again.scenario.rate == 2.0  # "2 Hz" -> SI


@pytest.mark.parametrize("change, path, expected", [
    ({"colour": "red"}, "colour", "unknown key; expected one of name, description, model"),
    ({"scenario": {"rate": "10"}}, "scenario.rate", "frequency"),
    ({"scenario": {"rate": "10 ms"}}, "scenario.rate", "frequency"),
    ({"scenario": {"requests": 0}}, "scenario.requests", "greater than or equal to 1"),
    ({"scenario": {"stream": "bursty"}}, "scenario.stream", "'poisson', 'round_robin' or 'fixed'"),
    ({"scenario": {"switch_probability": 1.5}}, "scenario.switch_probability", "less than or equal to 1"),
    ({"compression": {"bits": {"weights": 8}}}, "compression.bits", "one of weight"),
    ({"compression": {"sparsity": {"embedding": 1.0}}}, "compression.sparsity.embedding", "less than 1"),
    ({"platforms": [{"platform": "edge-sram", "mode": "merged"}]}, "platforms.0.mode", "'adapters' or"),
    ({"platforms": ["edge-sram", "edge-sram"]}, "(top level)", "appears twice"),
    ({"tasks": ["a", "a"]}, "tasks", "distinct task names"),
    ({"tasks": []}, "tasks", "at least 1 item"),
    ({"scenario": {"task_mix": {"c": 1.0}}}, "(top level)", "scenario.task_mix: task 'c'"),
    ({"model": None}, "model", "valid string"),
    ({"scenario": {"max_in_flight": 0}}, "scenario.max_in_flight", "greater than or equal to 1"),
    ({"scenario": {"engine": "fast"}}, "scenario.engine", "'auto', 'simpy' or 'compiled'"),
    ({"scenario": {"max_in_flight": 2}, "evaluator": "analytic"}, "(top level)",
     "scenario.max_in_flight: got 2 with evaluator: analytic"),
])
def test_bad_fields_give_one_line_naming_file_field_and_expectation(tmp_path, change, path, expected):
    data = {**MINIMAL, **change}
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(data))
    with pytest.raises(SimulationConfigError) as info:
        load_study(file)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{file}: {path}: ")
    assert "expected" in message and expected in message


def test_missing_field_and_broken_yaml_and_wrong_top_level(tmp_path):
    file = tmp_path / "s.yaml"
    file.write_text("model: albert-base-v2\nplatforms: [edge-sram]\n")
    with pytest.raises(SimulationConfigError, match=r"s\.yaml: tasks: missing; expected a value"):
        load_study(file)
    file.write_text("model: [unclosed\n")
    with pytest.raises(SimulationConfigError, match=r"s\.yaml: line \d+: .*; expected valid YAML"):
        load_study(file)
    with pytest.raises(SimulationConfigError, match=r"\(top level\): got list; expected a mapping"):
        study_from_dict([1, 2], "x.yaml")


def test_overrides_pick_platforms_and_requests_or_say_what_exists():
    c = default_study().with_overrides(requests=7, platforms=["edge-rram", "edge-sram"], out="/tmp/x")
    assert c.scenario.requests == 7 and [p.key for p in c.platforms] == ["edge-rram", "edge-sram"]
    assert str(c.run_dir()) == "/tmp/x"
    with pytest.raises(SimulationConfigError, match="--platforms: nope: .*expected some of edge-sram-dram"):
        default_study().with_overrides(platforms=["nope"])
    with pytest.raises(SimulationConfigError, match="--requests: got 0"):
        default_study().with_overrides(requests=0)


def test_run_dir_defaults_to_results_name_timestamp():
    from datetime import datetime

    c = default_study()
    assert str(c.run_dir(datetime(2026, 1, 2, 3, 4, 5))) == "results/default-20260102-030405"


@pytest.mark.parametrize("kind", ["poisson", "round_robin", "fixed"])
def test_stream_is_reproducible_and_follows_the_scenario(kind):
    c = study_from_dict({**MINIMAL, "scenario": {"stream": kind, "requests": 40, "seed": 3,
                                                  "switch_probability": 0.5, "period": "20 ms"}})
    a, b = build_stream(c), build_stream(c)
    assert [(r.arrival_s, r.task) for r in a] == [(r.arrival_s, r.task) for r in b]
    assert len(a) == 40 and set(a.tasks) <= {"a", "b"}
    if kind != "poisson":
        assert math.isclose(a.requests[1].arrival_s - a.requests[0].arrival_s, 0.02)
    else:
        other = build_stream(c.with_overrides().model_copy(
            update={"scenario": c.scenario.model_copy(update={"seed": 4})}))
        assert [r.arrival_s for r in other] != [r.arrival_s for r in a]


def _tiny_trace(task: str) -> Trace:
    t = {0: TensorInfo(0, "emb.weight", "embedding", (10, 4), 40, 8),
         1: TensorInfo(1, "layer.weight", "weight", (4, 4), 16, 8),
         2: TensorInfo(2, f"adapters.{task}.down", "adapter", (4, 2), 8, 8, owner=task),
         3: TensorInfo(3, "x", "activation", (1, 4), 4, 16)}
    ops = [OpInfo(0, "emb", "embeddings", "aten.embedding.default", "embedding_lookup", 0, 0, {0: 4}, {3: 4}, (),
                  None),
           OpInfo(1, "layer", "layer#1", "aten.mm.default", "matmul", 16, 0, {1: 16, 3: 4, 2: 8}, {3: 4}, (0,),
                  (1, 1, 4, 4))]
    return Trace("toy", task, t, ops, {})


def test_per_task_model_owns_every_parameter_and_keeps_ops_and_bytes():
    base = _tiny_trace("sst2")
    own = per_task_model(base, "sst2")
    params = [t for t in own.tensors.values() if t.is_parameter]
    assert params and all(t.owner == "sst2" for t in params)
    assert own.tensors[3].owner == "shared"  # activations are not parameters
    assert own.ops is base.ops
    assert sum(t.stored_bytes for t in own.tensors.values()) == sum(t.stored_bytes for t in base.tensors.values())
    assert base.tensors[0].owner == "shared"  # the input trace is not modified


def test_config_is_frozen():
    c = default_study()
    with pytest.raises(Exception):
        c.name = "other"  # type: ignore[misc]
    assert isinstance(c, StudyConfig)


TINY = {"name": "tiny", "model": "albert-base-v2", "layers": 2, "hidden": 64, "seq_len": 16,
        "adapter": "houlsby:4", "tasks": ["a", "b"],
        "compression": {"bits": {"weight": 8, "embedding": 8, "adapter": 8, "activation": 16}},
        "scenario": {"stream": "poisson", "requests": 6, "rate": "50 Hz", "switch_probability": 0.5, "seed": 1},
        "platforms": ["edge-rram", {"platform": "edge-sram-dram", "mode": "per-task-model"}]}


def test_tiny_study_is_reproducible_and_per_task_models_share_nothing():
    from simulator.results.report import summary_table
    from simulator.study.runner import run_study

    config = study_from_dict(TINY, "tiny.yaml")
    first, second = run_study(config, progress=False), run_study(config, progress=False)
    pd.testing.assert_frame_equal(summary_table(first), summary_table(second))  # same seed, same numbers
    shared = first["edge-rram"].placement.table
    alone = first["edge-sram-dram"].placement.table
    params = ("weight", "embedding", "adapter")
    assert not ((alone["owner"] == "shared") & alone["role"].isin(params)).any()
    backbone = shared[(shared["owner"] == "shared") & shared["role"].isin(params)]
    assert backbone["tensor"].is_unique  # the shared backbone is placed once
    # a per-task model stores one copy of the backbone per task (the adapted one adds adapters)
    per_task = alone[alone["role"].isin(params)].groupby("owner")["bytes"].sum()
    assert set(per_task.index) == {"a", "b"}
    assert math.isclose(per_task["a"], per_task["b"], rel_tol=0.01)
    assert per_task["a"] >= backbone["bytes"].sum() * 0.99
    other = run_study(config.model_copy(update={"scenario": config.scenario.model_copy(update={"seed": 2})}),
                      progress=False)
    assert not summary_table(other)["energy_J"].equals(summary_table(first)["energy_J"])


def test_max_in_flight_in_a_study_runs_the_contention_engine_with_the_chosen_event_loop():
    """``scenario.max_in_flight: 2`` reaches the engine: the study's run equals ``simulate(max_in_flight=2)``
    on the same workload, and the SimPy and compiled event loops give it bit for bit."""
    from simulator import testing as ht
    from simulator.cost.tables import prepare
    from simulator.engine.discrete_event import simulate
    from simulator.results.result import Result
    from simulator.study.runner import build_traces, run_study
    from simulator.prepare.served_workload import Workload
    from hw_models import load_platform

    data = {**TINY, "platforms": ["edge-rram"], "scenario": {**TINY["scenario"], "rate": "5 kHz", "max_in_flight": 2}}
    runs = {e: run_study(study_from_dict({**data, "scenario": {**data["scenario"], "engine": e}}, "tiny.yaml"),
                         progress=False, jobs=1)["edge-rram"] for e in ("simpy", "compiled")}
    assert runs["simpy"].meta["max_in_flight"] == 2
    ht.check_same_run(runs["simpy"], runs["compiled"])
    config = study_from_dict(data, "tiny.yaml")
    workload = Workload(config.name, build_traces(config, "adapters"), build_stream(config))
    platform = load_platform("edge-rram")
    direct = Result.from_run(simulate(workload, platform, prepared=prepare(workload, platform), max_in_flight=2,
                                      seed=1))
    ht.check_same_run(runs["simpy"], direct)
    def overlaps(run):
        r = run.requests.sort_values("start_s")
        return bool((r["start_s"].to_numpy()[1:] < r["end_s"].to_numpy()[:-1]).any())
    assert overlaps(runs["simpy"])                                       # two requests in service at once
    assert not overlaps(Result.from_run(simulate(workload, platform, seed=1)))
