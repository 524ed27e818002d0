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

import dataclasses
from typing import Sequence

import numpy as np

from simulator.prepare import mapping as mp

#: Relative margin by which the prepared mapping must stay the cheapest for a variant to be served.
MARGIN = 1e-9


#: (problem, hardware without its costs, objective, memories) -> (candidates × 2M bytes, their (order, tiles)).
#: A candidate's bytes do not depend on per-byte costs, so the variants of a sweep group share them.
_BYTES: dict = {}


def _shape_only(hw: mp.Hardware) -> mp.Hardware:
    """``hw`` without its cost figures (per-byte energies and bandwidths, energy per MAC, clock): what a
    candidate's bytes depend on."""
    return dataclasses.replace(hw, memories=tuple(mp.MemoryCosts(c.name, 0.0, 0.0, 0.0, 0.0) for c in hw.memories),
                               energy_per_mac_J=0.0, clock_hz=0.0)


def _candidates(key, hw: mp.Hardware, objective: str, mems: list[str]) -> tuple[np.ndarray, list[tuple]]:
    memo = (key, _shape_only(hw), objective, tuple(mems))
    hit = _BYTES.get(memo)
    if hit is not None:
        return hit
    if isinstance(key, mp.Attention):
        maps = [mp.evaluate_attention(o, t, key, hw, objective) for o, t in mp.attention_candidates(key, hw, objective)]
    else:
        maps = [mp.evaluate(o, t, key, hw, objective) for o, t in mp.candidates(key, hw, objective)]
    index = {m: i for i, m in enumerate(mems)}
    T = np.zeros((len(maps), 2 * len(mems)))
    for j, m in enumerate(maps):
        for mem, b in m.reads.items():
            T[j, index[mem]] += b
        for mem, b in m.writes.items():
            T[j, len(mems) + index[mem]] += b
    hit = _BYTES[memo] = (T, [(m.loop_order, m.tiles) for m in maps])
    if len(_BYTES) > 4096:
        _BYTES.pop(next(iter(_BYTES)))
    return hit


def mapped_ops(prepared):
    """(problem, MAC array unit name, prepared mapping) of every op the preparation tiled through the
    staging buffer (:func:`simulator.prepare.traffic.op_traffic` maps the matrix products a MAC array
    runs; every other op, and every op of a platform without a MAC array or staging buffer, has none)."""
    platform = prepared.platform
    for task, ta in prepared.tasks.items():
        trace = prepared.workload.traces[task]
        homes = None
        for op, tr in zip(trace.ops, ta.traffic):
            chosen = getattr(tr, "mapping", None)
            if chosen is None:
                continue
            if homes is None:
                homes = prepared.placement.homes(trace)
            mac = platform.compute[tr.compute_unit]
            found = mp.problem(op, trace, homes, mac.acc_bits, trace.read_bytes(op), trace.write_bytes(op))
            yield found[0], tr.compute_unit, chosen


def _candidate_bytes(prepared) -> list[tuple[np.ndarray, int]]:
    """For each distinct mapped op: (candidates × 2M bytes read then written per memory, the index of the
    prepared choice)."""
    buffer = mp.staging_buffer(prepared.platform)
    if buffer is None:
        return []
    mems = list(prepared.memories)
    seen: set = set()
    out = []
    for key, unit, chosen in mapped_ops(prepared):
        if (key, unit) in seen:
            continue
        seen.add((key, unit))
        hw = mp.hardware(prepared.platform, buffer, prepared.platform.compute[unit])
        T, cands = _candidates(key, hw, prepared.objective, mems)
        best = cands.index((chosen.loop_order, chosen.tiles))
        out.append((T, best))
    return out


def served(prepared, platforms: Sequence, pp=None) -> np.ndarray:
    """(V,) bool: True where ``prepared`` (placement and mappings) is exactly what preparing on that
    platform would give. ``pp``: the variants' PlatformParams if already built."""
    from simulator.cost.tables import platform_params

    platforms = list(platforms)
    if prepared.objective != "energy":
        buffer = mp.staging_buffer(prepared.platform)
        units = sorted({unit for _, unit, _ in mapped_ops(prepared)})
        if buffer is None or not units:
            return np.ones(len(platforms), dtype=bool)
        base = [mp.hardware(prepared.platform, buffer, prepared.platform.compute[u]) for u in units]
        return np.array([[mp.hardware(p, p.memories[buffer.name], p.compute[u]) for u in units] == base
                         for p in platforms], dtype=bool)
    ops = _candidate_bytes(prepared)
    if not ops:
        return np.ones(len(platforms), dtype=bool)
    pp = pp if pp is not None else platform_params(platforms, prepared.memories)
    costs = np.concatenate([pp.read_J, pp.write_J], axis=1).T          # (2M, V)
    # every candidate of every op at once: candidates with other bytes than their op's choice must cost
    # strictly more than it on a variant (the same bytes: enumeration order decides, as in the search)
    T = np.concatenate([t for t, _ in ops])                            # (all candidates, 2M)
    first = np.cumsum([0] + [len(t) for t, _ in ops[:-1]])
    best = first + np.array([b for _, b in ops])                       # row of each op's choice
    row_best = np.repeat(best, [len(t) for t, _ in ops])               # each candidate's op's choice
    other = ~(T == T[row_best]).all(axis=1)
    if not other.any():
        return np.ones(len(platforms), dtype=bool)
    E = T[other] @ costs                                               # (other candidates, V)
    E_best = (T[best] @ costs)[np.searchsorted(best, row_best[other])]  # the choice's energy, per row
    return (E > E_best * (1.0 + MARGIN) + 1e-300).all(axis=0)


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
