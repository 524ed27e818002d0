"""Which platform variants a preparation serves exactly.

A preparation (:func:`simulator.cost.tables.prepare`) fixes the placement and, for every op tiled through the
staging buffer, the mapping that minimised the objective on the *prepared* platform's per-byte costs.
Variants in one sweep group share everything the placement and the candidate mappings depend on
(capacities, buffer, MAC array, roles; see :mod:`simulator.sweep.points`) but may have other per-byte
energies (another technology, banks, node...), and the cheapest candidate could then be another one.

For the energy objective a candidate's ranking value is ``MACs × energy per MAC`` (the same for every
candidate of an op) plus its bytes read and written per memory times that memory's energy per byte: linear
in the variant's figures. :func:`served` evaluates every candidate of every distinct mapped op once (their
bytes do not depend on costs), then ranks them for all variants with one matrix product, and keeps a
variant only when the prepared choice is still strictly the cheapest (by a relative margin of 1e-9;
candidates with the very same bytes keep their enumeration order). Any other variant is prepared on its
own. For the latency and EDP objectives only variants whose mapping inputs are equal are served.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from simulator.prepare import mapping as mp

#: Relative margin by which the prepared mapping must stay the cheapest for a variant to be served.
MARGIN = 1e-9


def _candidate_bytes(prepared) -> list[tuple[np.ndarray, int]]:
    """For each distinct mapped op: (candidates × 2M bytes read then written per memory, the index of the
    prepared choice)."""
    platform = prepared.platform
    buffer = mp.staging_buffer(platform)
    if buffer is None:
        return []
    hw = mp.hardware(platform, buffer)
    mems = list(prepared.memories)
    index = {m: i for i, m in enumerate(mems)}
    acc_bits = platform.mac_array.acc_bits
    seen: dict = {}
    out = []
    for task, ta in prepared.tasks.items():
        trace = prepared.workload.traces[task]
        homes = prepared.placement.homes(trace)
        for op, tr in zip(trace.ops, ta.traffic):
            chosen = getattr(tr, "mapping", None)
            if chosen is None:
                continue
            rb, wb = trace.read_bytes(op), trace.write_bytes(op)
            if op.kind == "attention":
                found = mp.attention_of(op, homes, acc_bits, rb, wb)
                key = found[0]
                cands = lambda: [mp.evaluate_attention(o, t, key, hw, prepared.objective)  # noqa: E731
                                 for o, t in mp.attention_candidates(key, hw, prepared.objective)]
            else:
                found = mp.gemm_of(op, trace, homes, acc_bits, rb, wb)
                key = found[0]
                cands = lambda: [mp.evaluate(o, t, key, hw, prepared.objective)  # noqa: E731
                                 for o, t in mp.candidates(key, hw, prepared.objective)]
            if key in seen:
                continue
            maps = cands()
            T = np.zeros((len(maps), 2 * len(mems)))
            for j, m in enumerate(maps):
                for mem, b in m.reads.items():
                    T[j, index[mem]] += b
                for mem, b in m.writes.items():
                    T[j, len(mems) + index[mem]] += b
            best = next(j for j, m in enumerate(maps)
                        if m.loop_order == chosen.loop_order and m.tiles == chosen.tiles)
            seen[key] = True
            out.append((T, best))
    return out


def served(prepared, platforms: Sequence, pp=None) -> np.ndarray:
    """(V,) bool: True where ``prepared`` (placement and mappings) is exactly what preparing on that
    platform would give. ``pp``: the variants' PlatformParams if already built."""
    from simulator.cost.tables import platform_params

    platforms = list(platforms)
    if prepared.objective != "energy":
        buffer = mp.staging_buffer(prepared.platform)
        if buffer is None:
            return np.ones(len(platforms), dtype=bool)
        base = mp.hardware(prepared.platform, buffer)
        return np.array([mp.hardware(p, p.memories[buffer.name]) == base for p in platforms], dtype=bool)
    ops = _candidate_bytes(prepared)
    if not ops:
        return np.ones(len(platforms), dtype=bool)
    pp = pp if pp is not None else platform_params(platforms, prepared.memories)
    costs = np.concatenate([pp.read_J, pp.write_J], axis=1).T          # (2M, V)
    ok = np.ones(len(platforms), dtype=bool)
    for T, b in ops:
        E = T @ costs                                                  # (candidates, V)
        same = (T == T[b]).all(axis=1)                                 # same bytes: enumeration order decides
        others = E[~same]
        if len(others):
            ok &= (others > E[b] * (1.0 + MARGIN) + 1e-300).all(axis=0)
    return ok


def placement_served(prepared, platforms: Sequence) -> np.ndarray:
    """(V,) bool: True where placing the workload on that platform gives ``prepared``'s placement.

    Placement puts each tensor into the first memory of its role's list where it fits. When every tensor
    of the prepared placement is in its first choice, a variant whose every memory holds at least the
    prepared peak occupancy gets the same placement (each tensor found at least the room it found here);
    otherwise only variants with the very same capacities are served."""
    placement = prepared.placement
    base = prepared.platform
    same = np.array([all(p.memories[m].capacity_bytes == base.memories[m].capacity_bytes for m in prepared.memories)
                     for p in platforms], dtype=bool)
    table = getattr(placement, "table", None)
    roles = base.placement.roles
    try:
        first = bool(len(table)) and all(roles.get(r, [None])[0] == m for r, m in zip(table["role"], table["memory"]))
    except (KeyError, TypeError):
        first = False
    if not first:
        return same
    need = placement.occupancy
    fits = np.array([all(p.memories[m].capacity_bytes >= need.get(m, 0.0) for m in prepared.memories)
                     for p in platforms], dtype=bool)
    return same | fits
