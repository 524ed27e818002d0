"""The paper's baseline (issue 14): a per-task ALBERT whose weights live in DRAM and are copied on chip on a
task switch (edge-sram-reload), beside the streaming design (edge-sram-dram); both in the default study."""
from __future__ import annotations

import pytest

from simulator.study.runner import default_study, run_study, study_from_dict

TINY = {"name": "reload", "model": "albert-base-v2", "layers": 2, "hidden": 64, "seq_len": 16,
        "tasks": ["a", "b", "c"],
        "compression": {"bits": {"weight": 8, "embedding": 8, "adapter": 8, "activation": 16}},
        "scenario": {"stream": "fixed", "sequence": ["a", "a", "b", "b", "b", "c", "a"], "period": "20 ms"},
        "platforms": [{"platform": "edge-sram-reload", "mode": "per-task-model"},
                      {"platform": "edge-sram-dram", "mode": "per-task-model"}],
        "evaluator": "analytic"}


def test_reload_copies_the_whole_task_model_on_a_switch_and_streams_nothing_per_request():
    results = run_study(study_from_dict(TINY, "r.yaml"), progress=False)
    reload, stream = results["edge-sram-reload"], results["edge-sram-dram"]
    ledger = reload.ledger
    table = reload.placement.table
    params = table[table["role"].isin(["weight", "embedding", "adapter"])]
    assert set(params["memory"]) == {"model_sram"} and params["loaded_on_switch"].all()
    per_task = params.groupby("owner")["bytes"].sum()
    # every switch (4 in the sequence, the first request included) copies the new task's whole model
    switches = ledger[(ledger["category"] == "read") & (ledger["component"] == "dram") & (ledger["op"] == -1)]
    by_request = switches.groupby("request")["bytes"].sum()
    seq = TINY["scenario"]["sequence"]
    switched = [i for i, t in enumerate(seq) if i == 0 or t != seq[i - 1]]
    assert list(by_request.index) == switched
    for i in switched:
        assert by_request[i] == pytest.approx(per_task[seq[i]], rel=1e-9)
    # the ops of a request read no DRAM; the streaming design reads every weight from DRAM every request
    ops = ledger[(ledger["op"] >= 0) & (ledger["component"] == "dram")]
    assert ops["bytes"].sum() == 0
    streamed = stream.ledger[(stream.ledger["op"] >= 0) & (stream.ledger["component"] == "dram")
                             & (stream.ledger["category"] == "read")]
    dense = params[params["role"] != "embedding"].groupby("owner")["bytes"].sum()   # embeddings: looked-up rows
    assert streamed.groupby("request")["bytes"].sum().min() >= dense.min()


def test_the_default_study_bundles_both_baselines_next_to_the_adapter_platforms():
    config = default_study()
    modes = {p.key: p.mode for p in config.platforms}
    assert modes["edge-sram-dram"] == modes["edge-sram-reload"] == "per-task-model"
    assert {k for k, m in modes.items() if m == "adapters"} == {"edge-sram", "edge-rram", "edge-mram", "edge-cim"}
