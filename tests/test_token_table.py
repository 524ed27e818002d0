"""The per-token table of a generation run, vectorised (ledger columns and one sorted search per task),
equals the per-row loop it replaced (kept here as the reference), on LightLM beam-search runs whose KV cache
sits in SRAM and in ReRAM (so ``nvm_write_bytes`` is not vacuously zero)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator.reproduce.core import RECIPES_DIR
from simulator.results.report import _token_table
from simulator.results.tables import memory_kind
from simulator.study.runner import run_study, study_from_dict

GEN = {"name": "gen", "model": "lightlm", "layers": 1, "hidden": 32, "tasks": ["rec"],
       "generation": {"prompt_len": 4, "new_tokens": 3, "beams": 2, "constrained": "trie", "items": 5},
       "compression": {"bits": {"kv_cache": 16}},
       "scenario": {"stream": "fixed", "requests": 4, "period": "50 ms"},
       "platforms": ["edge-sram", str(RECIPES_DIR / "platforms" / "gen-temp.yaml")], "evaluator": "analytic"}


def loop_token_table(result) -> pd.DataFrame:
    """The per-row implementation before vectorisation (simulator/results/report.py at cee3ae1)."""
    columns = ["step", "energy_per_request_J", "latency_s", "write_bytes", "nvm_write_bytes"]
    traces = getattr(getattr(result, "workload", None), "traces", None) or {}
    if not traces or any(t.meta.get("kind") != "generation" for t in traces.values()):
        return pd.DataFrame(columns=columns)
    ledger = result.ledger
    ops = ledger[(ledger["request"] >= 0) & (ledger["op"] >= 0)]
    step_of = {(task, op.id): op.step for task, t in traces.items() for op in t.ops}
    steps = pd.Series([step_of.get(k, -1) for k in zip(ops["task"], ops["op"])], index=ops.index)
    memories = getattr(result.platform, "memories", {}) or {}
    written = np.where(ops["category"] == "write", ops["bytes"], 0.0)
    nvm = np.array([c in memories and memory_kind(memories[c]) == "nvm" for c in ops["component"]], dtype=bool)
    frame = ops.assign(step=steps.to_numpy(), written=written, nvm_written=np.where(nvm, written, 0.0))
    per = frame.groupby(["request", "step"]).agg(energy=("energy_J", "sum"), start=("start_s", "min"),
                                                 end=("end_s", "max"), written=("written", "sum"),
                                                 nvm_written=("nvm_written", "sum")).reset_index()
    per["latency"] = per["end"] - per["start"]
    table = per.groupby("step").agg(energy_per_request_J=("energy", "mean"), latency_s=("latency", "mean"),
                                    write_bytes=("written", "mean"), nvm_write_bytes=("nvm_written", "mean"))
    return table.reset_index()[columns]


@pytest.fixture(scope="module")
def runs():
    return run_study(study_from_dict(GEN, "gen.yaml"), progress=False)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert a["step"].tolist() == b["step"].tolist()
    for col in a.columns[1:]:
        np.testing.assert_allclose(a[col].to_numpy(float), b[col].to_numpy(float), rtol=1e-12, atol=0.0)


def test_the_vectorised_table_equals_the_loop_on_generation_runs(runs):
    nvm = {}
    for key, result in runs.items():
        fast, loop = _token_table(result), loop_token_table(result)
        assert list(fast["step"]) == [0, 1, 2, 3]
        _same(fast, loop)
        nvm[key] = float(fast["nvm_write_bytes"].sum())
    assert min(nvm.values()) == 0.0 < max(nvm.values())      # the KV cache in ReRAM: writes into NVM


def test_ops_the_traces_do_not_know_land_on_step_minus_one_in_both(runs):
    result = next(iter(runs.values()))
    ledger = result.ledger.copy()
    rows = np.flatnonzero((ledger["request"] >= 0).to_numpy() & (ledger["op"] >= 0).to_numpy())
    ledger.loc[ledger.index[rows[::7]], "op"] = 10 ** 6              # no such op
    ledger.loc[ledger.index[rows[3::11]], "task"] = "elsewhere"       # no such task
    changed = type("R", (), {"ledger": ledger, "workload": result.workload, "platform": result.platform})()
    fast, loop = _token_table(changed), loop_token_table(changed)
    assert fast["step"].iloc[0] == -1
    _same(fast, loop)
