"""A workload: the per-task traces a device serves and the stream of requests it receives."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.errors import SimulationConfigError
from simulator.prepare.streams import RequestStream


@dataclass
class Workload:
    """``traces`` maps each task name to its :class:`workloads.trace.Trace` (already compressed: bytes
    follow the tensors' bits and sparsity); ``stream`` says when each request arrives and for which task.

    Tensors are identified across tasks by ``(owner, name)``: the backbone (owner ``"shared"``) appears in
    every trace under the same name and is stored once; task-owned tensors (adapters, heads) belong to one
    task. ``meta`` is free-form (model, adapter, compression) and is copied into results.
    """
    name: str
    traces: dict[str, Any]
    stream: RequestStream
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.traces:
            raise SimulationConfigError(f"workload {self.name}: traces: empty; expected one trace per task")
        missing = [t for t in self.stream.tasks if t not in self.traces]
        if missing:
            raise SimulationConfigError(
                f"workload {self.name}: scenario.tasks: no trace for task(s) {', '.join(missing)}; "
                f"expected one of {', '.join(self.traces)}")

    @property
    def tasks(self) -> list[str]:
        """Task names in the order of ``traces``."""
        return list(self.traces)

    def with_stream(self, stream: RequestStream) -> "Workload":
        """The same traces with another request stream."""
        return Workload(self.name, self.traces, stream, dict(self.meta))
