"""hetsim's public test kit: strategies that take your pieces, the catalogue of laws, golden metrics.

Test your own technology, memory model, compute unit or platform the way hetsim tests its own (guide:
docs/testing-cost-models.md)::

    from simulator.testing import hetsim_check
    hetsim_check("./sot-mram.yaml")        # every law that applies; raises naming each broken one

    from hypothesis import given
    from simulator import testing as ht

    @given(ht.memories(technologies=["./sot-mram.yaml"]))
    def test_my_memories(memory):
        ht.CATALOGUE["energy_monotone_in_bytes"](memory)

Modules (everything below is also importable from here, and these names are stable):

- :mod:`simulator.testing.builders`: deterministic pieces (``make_memory``, ``make_platform``,
  ``make_trace``, ``make_workload``, ``platform_around``, ``with_technology``, ``with_memory``,
  ``rename_memories``, ``rename_tensors``, ``with_clock``, ``all_memories_faster``);
- :mod:`simulator.testing.strategies`: hypothesis strategies (``technologies``, ``memories``, ``units``,
  ``mac_arrays``, ``vector_units``, ``operating_points``, ``technology_platforms``, ``platforms``,
  ``synthetic_memories``, ``traces``, ``model_traces``, ``request_streams``, ``workloads``, ``scenarios``);
- :mod:`simulator.testing.invariants`: the laws (``CATALOGUE``, ``Invariant``, ``InvariantViolation``,
  ``hetsim_check``, ``default_workload``);
- :mod:`simulator.testing.checks`: run-level checks (``check_run``, ``check_same_run``,
  ``check_idle_leakage``, ``check_memory_costs``, ...);
- :mod:`simulator.testing.plugin`: the pytest plugin (fixtures ``hetsim_check``, ``hetsim_platforms``,
  ``hetsim_platform``, ``hetsim_technology``, ``hetsim_workload``), loaded automatically once hetsim is
  installed.

The strategies need ``hypothesis`` (the ``test`` extra); they are imported on first use.
"""
from simulator.testing.builders import (MEMORY_KINDS, all_memories_faster, as_technology, make_memory,
                                        make_platform, make_trace, make_workload, platform_around,
                                        rename_memories, rename_tensors, with_clock, with_memory, with_two_macs,
                                        with_memory_object, with_technology)
from simulator.testing.checks import (check_idle_leakage, check_ledger_sums, check_memory_costs,
                                      check_non_negative, check_requests, check_run, check_same_run,
                                      idle_power_W)
from simulator.testing.invariants import (CATALOGUE, CheckReport, Invariant, InvariantViolation, Outcome,
                                          default_workload, hetsim_check, invariant, technology_memories)

#: Names served from :mod:`simulator.testing.strategies`, imported on first use (it needs hypothesis; the
#: rest of the kit, and the pytest plugin, load without it).
_STRATEGIES = ("DRAM", "NODES_M", "ON_CHIP", "SMALL_MODELS", "mac_arrays", "memories", "model_traces",
               "operating_points", "platforms", "request_streams", "scenarios", "synthetic_memories",
               "technologies", "technology_platforms", "traces", "units", "vector_units", "workloads")


def __getattr__(name: str):
    if name in _STRATEGIES:
        from simulator.testing import strategies
        return getattr(strategies, name)
    raise AttributeError(f"module 'simulator.testing' has no attribute {name!r}")

__all__ = [
    "MEMORY_KINDS", "all_memories_faster", "as_technology", "make_memory", "make_platform", "make_trace",
    "make_workload", "platform_around", "rename_memories", "rename_tensors", "with_clock", "with_memory",
    "with_memory_object", "with_technology", "with_two_macs",
    "check_idle_leakage", "check_ledger_sums", "check_memory_costs", "check_non_negative", "check_requests",
    "check_run", "check_same_run", "idle_power_W",
    "CATALOGUE", "CheckReport", "Invariant", "InvariantViolation", "Outcome", "default_workload", "hetsim_check",
    "invariant", "technology_memories",
    "DRAM", "NODES_M", "ON_CHIP", "SMALL_MODELS", "mac_arrays", "memories", "model_traces", "operating_points",
    "platforms", "request_streams", "scenarios", "synthetic_memories", "technologies", "technology_platforms",
    "traces", "units", "vector_units", "workloads",
]
