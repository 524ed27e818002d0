"""Preparing a run: request streams, the served workload, placement of tensors into memories, per-op
traffic and the tiling/loop-order mapping. Everything here is computed once per (workload, platform)
before any simulator runs; it imports nothing above it (cost, engine, analytic, results, study, cli)."""
