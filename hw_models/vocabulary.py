"""The words every layer of hetsim shares, defined once.

This module is the bottom of the stack: it imports nothing, and ``hw_models``, ``workloads`` and
``simulator`` all take their vocabulary from here (``workloads.trace.ROLES``,
``hw_models.placement_policy.ROLES``, ``simulator.results.ledger.CATEGORIES`` ... are these same tuples).
Adding a word here is the one change that makes every layer accept it; tests check that nothing redefines
them.
"""
from __future__ import annotations

# ---- tensors ------------------------------------------------------------------------------------------
#: Roles of the tensors of a trace.
ROLES = ("weight", "embedding", "adapter", "activation", "kv_cache", "state", "input", "output")
#: Roles whose tensors are model parameters (placed once, their bytes are "weight bytes").
PARAMETER_ROLES = ("weight", "embedding", "adapter")
#: Roles whose tensors are produced or consumed at run time (placed by liveness).
RUNTIME_ROLES = ("activation", "kv_cache", "state", "input", "output")

# ---- ops ----------------------------------------------------------------------------------------------
#: Kinds of the ops of a trace. ``attention`` is a fused attention kernel (two gemms and a softmax).
OP_KINDS = ("matmul", "attention", "elementwise", "reduction", "softmax", "norm",
            "embedding_lookup", "copy", "unknown")
#: Op kinds that are matrix products when the trace gives their GEMM dimensions (MAC arrays, crossbars).
MATMUL_KINDS = ("matmul", "attention")

# ---- hardware -----------------------------------------------------------------------------------------
#: Kinds of compute unit a platform can hold (``compute: {name: {kind: ...}}``).
UNIT_KINDS = ("mac_array", "vector_unit", "cim_crossbar")
#: Kinds of memory: an on-chip array (SRAM, MRAM, ReRAM, ...), off-chip DRAM, or an on-chip staging buffer
#: that tiles stream through during compute (never a tensor's home).
MEMORY_KINDS = ("array", "dram", "buffer")
#: Power states of a memory or compute unit: ``on`` (powered, leaking its full leakage) and ``gated`` (the
#: low-power state between requests: power-gated NVM, DRAM self-refresh; compute units off).
POWER_STATES = ("on", "gated")
#: What a memory does between requests (``memories.<name>.power_state``; simulator.cost.power_states):
#: stay on; power-gate (data lost: only for memories whose contents are dead between requests); enter a
#: retention state (NVM powered off, SRAM at its data-retention voltage, DRAM self-refresh); or, for DRAM,
#: precharge power-down (between requests and between its own transfers inside a request).
POWER_POLICIES = ("always_on", "gate_when_idle", "retain_when_idle", "power_down_when_idle")

# ---- placement ----------------------------------------------------------------------------------------
#: What placement does when a tensor does not fit its preferred memory: try the next one, or fail.
ON_OVERFLOW = ("next", "error")
#: How task-owned parameters (adapters, heads) are kept: all resident, or loaded on a task switch.
ADAPTER_MODES = ("resident", "load_on_switch")

# ---- ledger -------------------------------------------------------------------------------------------
#: The ledger's ``category`` values (one row per cost event).
LEDGER_CATEGORIES = ("read", "write", "compute", "leakage", "wakeup", "refresh", "switch_load", "transfer")
#: Categories of energy spent by doing work (the rest is static: leakage, wake-ups, refresh).
DYNAMIC_CATEGORIES = ("read", "write", "compute", "switch_load", "transfer")
#: Categories of static energy.
STATIC_CATEGORIES = ("leakage", "wakeup", "refresh")
#: Categories whose bytes are written into a memory (wear of non-volatile cells).
WRITE_CATEGORIES = ("write", "switch_load")
