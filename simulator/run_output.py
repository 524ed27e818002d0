"""What one simulation (engine or analytic evaluator) returns: the ledger, the requests table and context.

The column lists are the contract of docs/interfaces.md ("Ledger"); :mod:`simulator.results` builds every
report from them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: One row per cost event. Energies in J, bytes in bytes, times in s.
LEDGER_COLUMNS = ("request", "task", "op", "module", "layer", "component", "category",
                  "energy_J", "bytes", "start_s", "end_s")

#: The ledger's ``category`` values.
CATEGORIES = ("read", "write", "compute", "leakage", "wakeup", "refresh", "switch_load", "transfer")

#: One row per request. Times in s; ``latency_s = end_s - arrival_s`` (queueing included),
#: ``service_s = end_s - start_s``; ``energy_J`` is the request's share of the ledger (its rows).
REQUEST_COLUMNS = ("request", "task", "arrival_s", "start_s", "end_s", "latency_s", "switch",
                   "operating_point", "service_s", "energy_J")


@dataclass
class RunOutput:
    """The result of :func:`simulator.engine.simulate` or :func:`simulator.analytic.evaluate`.

    ``ledger`` (columns :data:`LEDGER_COLUMNS`), ``requests`` (columns :data:`REQUEST_COLUMNS`),
    ``placement`` (:class:`simulator.placement.Placement`), ``platform`` (:class:`hw_models.Platform`),
    ``workload`` (:class:`simulator.workload.Workload`) and ``meta``: ``evaluator`` ("engine" or
    "analytic"), ``total_energy_J`` (accumulated independently of the ledger rows), ``makespan_s``,
    ``memory_writes`` ({memory: {"bytes": B, "cell_writes": writes per occupied cell}}), ``lower_bound_J``
    (per inference), ``seed``, ...
    """
    ledger: pd.DataFrame
    requests: pd.DataFrame
    placement: Any
    platform: Any
    workload: Any
    meta: dict = field(default_factory=dict)

    @property
    def total_energy_J(self) -> float:
        """Total energy of the run (J): the sum of the ledger."""
        return float(self.ledger["energy_J"].sum())
