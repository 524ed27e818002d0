"""Ops the tracer has no rule for: costed conservatively by the simulator and named in the report."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from hw_models import load_platform
from simulator.prepare import streams
from simulator.cost.tables import prepare
from simulator.engine import simulate
from simulator.results.report import _unknown_lines, unknown_ops
from simulator.results.result import Result
from simulator.prepare.served_workload import Workload
from workloads import trace_model


class WithQr(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x):
        return self.lin(torch.linalg.qr(x).Q)


@pytest.fixture(scope="module")
def run():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace = trace_model(WithQr(), torch.randn(8, 8), task="t")
    workload = Workload("qr", {"t": trace}, streams.fixed(["t"], period_s=1e-3))
    platform = load_platform("edge-sram")
    prepared = prepare(workload, platform)
    return trace, prepared, Result.from_run(simulate(workload, platform, prepared=prepared), prepared=prepared)


def test_an_unknown_op_costs_one_vector_op_per_element_read_and_written(run):
    trace, prepared, _ = run
    ta = prepared.tasks["t"]
    (i,) = [k for k, op in enumerate(trace.ops) if op.kind == "unknown"]
    op = trace.ops[i]
    touched = sum(op.reads.values()) + sum(op.writes.values())
    assert op.other_ops == 0 and touched >= 2 * 64  # the tracer records bytes only
    assert ta.other_ops[i] == touched
    vec = prepared.platform.vector_unit
    assert not ta.on_mac[i] and ta.cycles[i] == vec.cycles("unknown", touched)
    # the biggest tensor alone (what a classified element-wise op would cost) is less
    assert ta.cycles[i] > vec.cycles("unknown", max(list(op.reads.values()) + list(op.writes.values())))


def test_the_report_names_unknown_ops(run):
    trace, _, result = run
    assert unknown_ops({"edge-sram": result}) == {"t": {"aten.linalg_qr.default": 1}}
    text = "\n".join(_unknown_lines({"edge-sram": result}))
    assert "aten.linalg_qr.default" in text and "conservatively" in text
