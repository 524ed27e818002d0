"""Which compute unit runs each op: the assignment policy.

For each op, in trace order, the first rule that applies:

1. the platform's user mapping (``assignment: [{match, unit}]``): ``match`` equals the op's kind or
   matches its module path as a glob; the unit must be able to run the op (else an error naming both);
2. compute in memory: a matmul whose weight operand (a parameter tensor it reads) is placed in a
   crossbar's cells (memory ``<unit>.array``) runs on that crossbar;
3. kind match: the units that can run the op, preferring MAC arrays for matrix products and vector
   units for everything else (then any other unit that can run it; crossbars only by rule 2). Equal
   units (same kind and figures: :func:`hw_models.compute.unit_signature`) form a *pool*: the engine
   serves an op on whichever unit of its pool is free first. Among several pools the least loaded one
   so far in this trace (busy time: cycles / clock / pool size) is chosen, ties to the first.

A unit that cannot run an op kind is never given it. The result is the op's pool (a tuple of unit
indices into ``platform.compute``; its first unit's figures set the op's costs) and the unit that takes
each quantity (MACs, other ops) of an op whose own unit does not (a MAC op's bias adds).
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hw_models.cim import array_name
from hw_models.compute import is_matmul, unit_signature
from hw_models.vocabulary import PARAMETER_ROLES
from simulator.errors import SimulationConfigError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from workloads.trace import OpInfo, Trace

#: Unit kinds preferred for matrix products and for every other op, best first.
PREFERENCE = {"matmul": ("mac_array", "vector_unit"), "other": ("vector_unit", "mac_array")}


@dataclass(frozen=True)
class UnitPlan:
    """The units of a platform as the cost layer sees them: ``names`` (the U axis, platform order),
    ``pools`` (tuples of interchangeable unit indices), ``pool_of`` (unit index -> its pool index) and
    ``taker`` (quantity ``"macs"`` / ``"other_ops"`` -> the unit index that absorbs it for ops run on a
    unit that does not take it; -1 when no unit does)."""
    names: tuple[str, ...]
    pools: tuple[tuple[int, ...], ...]
    pool_of: tuple[int, ...]
    taker: dict[str, int]


def unit_plan(platform) -> UnitPlan:
    """Pools and quantity takers of ``platform``'s compute units."""
    names = tuple(platform.compute)
    units = [platform.compute[n] for n in names]
    pools: dict[tuple, list[int]] = {}
    for i, u in enumerate(units):
        pools.setdefault(unit_signature(u), []).append(i)
    pool_list = tuple(tuple(p) for p in pools.values())
    pool_of = [0] * len(units)
    for k, p in enumerate(pool_list):
        for i in p:
            pool_of[i] = k
    taker = {}
    for quantity, kinds in (("macs", ("mac_array",)), ("other_ops", ("vector_unit",))):
        ranked = [i for i, u in enumerate(units) if quantity in u.takes and u.kind != "cim_crossbar"]
        ranked.sort(key=lambda i: units[i].kind not in kinds)
        taker[quantity] = ranked[0] if ranked else -1
    return UnitPlan(names, pool_list, tuple(pool_of), taker)


def weight_home(op: "OpInfo", trace: "Trace", homes: dict[int, str]) -> str | None:
    """The home memory of the op's weight operand: the largest parameter tensor it reads (None if none)."""
    params = [(b, homes.get(tid)) for tid, b in trace.read_bytes(op).items()
              if trace.tensors[tid].role in PARAMETER_ROLES]
    return max(params, key=lambda x: x[0])[1] if params else None


def _matches(pattern: str, op: "OpInfo") -> bool:
    return pattern == op.kind or fnmatch.fnmatchcase(op.module, pattern)


def assign_ops(trace: "Trace", homes: dict[int, str], platform, plan: UnitPlan | None = None) -> list[int]:
    """The pool index of every op of ``trace`` (see the module docstring). ``homes``: tensor id -> memory."""
    plan = plan or unit_plan(platform)
    units = [platform.compute[n] for n in plan.names]
    index = {n: i for i, n in enumerate(plan.names)}
    cim_arrays = {array_name(n): i for i, n in enumerate(plan.names) if units[i].kind == "cim_crossbar"}
    load = [0.0] * len(plan.pools)
    out = []
    for op in trace.ops:
        pool = None
        for pattern, unit in platform.assignment:
            if _matches(pattern, op):
                i = index[unit]
                if not units[i].can_run(op):
                    raise SimulationConfigError(
                        f"assignment: {pattern!r} -> {unit!r}: op {op.id} ({op.kind}, {op.module}) cannot run "
                        f"on a {units[i].kind}; expected a unit that can run it")
                pool = plan.pool_of[i]
                break
        if pool is None and cim_arrays and is_matmul(op):
            home = weight_home(op, trace, homes)
            if home in cim_arrays and units[cim_arrays[home]].can_run(op):
                pool = plan.pool_of[cim_arrays[home]]
        if pool is None:
            prefer = PREFERENCE["matmul" if is_matmul(op) else "other"]
            able = [i for i, u in enumerate(units) if u.kind != "cim_crossbar" and u.can_run(op)]
            if not able:
                raise SimulationConfigError(
                    f"compute: no unit of platform {platform.name} can run op {op.id} ({op.kind}, "
                    f"{op.module}); expected a unit of a kind that runs it")
            best = min(prefer.index(units[i].kind) if units[i].kind in prefer else len(prefer) for i in able)
            pools = list(dict.fromkeys(plan.pool_of[i] for i in able if (
                prefer.index(units[i].kind) if units[i].kind in prefer else len(prefer)) == best))
            pool = min(pools, key=lambda k: load[k]) if len(pools) > 1 else pools[0]
        u = units[plan.pools[pool][0]]
        load[pool] += u.work(op).cycles / u.clock_hz / len(plan.pools[pool]) if len(plan.pools) > 1 else 0.0
        out.append(pool)
    return out
