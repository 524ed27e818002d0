"""Torch's intra-op threads while tracing: $HETSIM_TORCH_THREADS, else what the machine can give."""
import pytest
import torch

from workloads.errors import WorkloadError
from workloads.tracer import THREADS_ENV, Tracer, tracing_threads


class _Probe(torch.nn.Module):
    """Records the intra-op threads torch runs its forward with."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)
        self.seen = None

    def forward(self, x):
        self.seen = torch.get_num_threads()
        return self.lin(x)


@pytest.mark.parametrize("threads", [1, 2])
def test_the_forward_runs_with_the_configured_threads_and_they_are_restored(monkeypatch, threads):
    monkeypatch.setenv(THREADS_ENV, str(threads))
    before = torch.get_num_threads()
    probe = _Probe()
    Tracer(probe, name="probe").run(torch.ones(1, 4))
    assert probe.seen == threads
    assert torch.get_num_threads() == before


def test_default_is_at_least_one_and_never_more_than_the_cores(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    import os
    assert 1 <= tracing_threads() <= (os.cpu_count() or 1)
    monkeypatch.setattr(os, "getloadavg", lambda: (64.0, 64.0, 64.0))
    assert tracing_threads() == 1           # a saturated machine: one thread, no oversubscription


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_a_bad_setting_is_a_workload_error(monkeypatch, bad):
    monkeypatch.setenv(THREADS_ENV, bad)
    with pytest.raises(WorkloadError, match=THREADS_ENV):
        tracing_threads()
