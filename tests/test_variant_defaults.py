"""Variants evaluated in one batch that differ only in ``default_operating_point``: each runs the requests
that name no operating point at its own default, as when it is evaluated alone or by the engine (the
sweep's bug fixed in e55cf5d, looked for in the other batch evaluators: the closed form's
``evaluate_variants`` had it; the sweep's fast path costed DRAM power-down inside a request at the last
operating point instead of the default)."""
import math
from dataclasses import replace

import numpy as np
import pytest

from simulator import testing as ht
from simulator.analytic.closed_form import evaluate, evaluate_variants
from simulator.cost.tables import prepare
from simulator.engine.discrete_event import simulate
from simulator.prepare import streams
from simulator.sweep.fast import evaluate_fast

REL = 1e-9
POINTS = {"nominal": (0.8, 1e9), "low": (0.6, 0.5e9), "high": (0.9, 1.2e9)}
#: DRAM holds the weights and powers down between its own transfers inside a request; its exit latency
#: (80 ns: a 100 ns break-even) sits between the gaps at the nominal and at the low operating point
PD_ROLES = {"weight": ["dram"], "embedding": ["dram"], "adapter": ["sram"], "activation": ["sram"],
            "input": ["sram"], "output": ["sram"]}


def _base(power_down: bool):
    if not power_down:
        return ht.make_platform(op_points=POINTS)
    p = ht.make_platform(op_points=POINTS, roles=PD_ROLES)
    return ht.with_memory(p, "dram", power_state="power_down_when_idle", power_down_W=4e-3,
                          power_down_exit_latency_s=80e-9)


def _variants(power_down: bool, order):
    base = _base(power_down)
    defaults = ("nominal", "low", "high", "low")
    return [replace(base, name=f"v{i}-{defaults[i]}", default_operating_point=defaults[i]) for i in order]


@pytest.mark.parametrize("power_down", [False, True])
@pytest.mark.parametrize("order", [(0, 1, 2, 3), (1, 0, 3, 2), (2, 3, 0, 1)])
def test_each_variant_runs_at_its_own_default_operating_point(order, power_down):
    w = ht.make_workload(("a", "b"), stream=streams.fixed(["a", "b", "b", "a"], 2e-6))
    platforms = _variants(power_down, order)
    prepared = prepare(w, platforms[0])
    table = evaluate_variants(prepared, platforms)
    fast = evaluate_fast(prepared, platforms)
    assert table["energy_J"].round(15).nunique() == 3              # the three points really differ
    assert list(table["variant"]) == list(range(len(platforms)))
    for v, platform in enumerate(platforms):
        alone = evaluate_variants(prepared, [platform]).iloc[0]
        one = evaluate(w, platform, prepared=prepared)
        eng = simulate(w, platform, prepared=prepared)
        assert set(one.requests["operating_point"]) == {platform.default_operating_point}
        row = table.iloc[v]
        assert row["platform"] == platform.name
        for col in ("energy_J", "dynamic_J", "leakage_J", "latency_mean_s", "latency_p99_s", "makespan_s",
                    "area_m2", "lower_bound_per_inference_J"):
            assert math.isclose(row[col], alone[col], rel_tol=REL), (platform.name, col)
        assert math.isclose(row["energy_J"], one.total_energy_J, rel_tol=REL)
        assert math.isclose(row["energy_J"], eng.total_energy_J, rel_tol=REL)
        assert math.isclose(row["leakage_J"], one.meta["leakage_energy_J"], rel_tol=REL)
        assert math.isclose(row["makespan_s"], eng.meta["makespan_s"], rel_tol=REL)
        assert math.isclose(fast.iloc[v]["energy_J"], eng.total_energy_J, rel_tol=REL), platform.name
        assert math.isclose(fast.iloc[v]["latency_p99_s"], row["latency_p99_s"], rel_tol=REL)


@pytest.mark.parametrize("power_down", [False, True])
def test_a_named_operating_point_is_used_by_every_variant(power_down):
    """Requests that name a point run at it whatever the variant's default (which still sets the idle
    leakage and the voltage domain's nominal clock)."""
    w = ht.make_workload(("a",), stream=streams.fixed(["a", "a", "a"], 2e-6))
    w = w.with_stream(w.stream.with_operating_point("high"))
    platforms = _variants(power_down, (0, 1, 2, 3))
    prepared = prepare(w, platforms[0])
    table = evaluate_variants(prepared, platforms)
    fast = evaluate_fast(prepared, platforms)
    for v, platform in enumerate(platforms):
        eng = simulate(w, platform, prepared=prepared)
        assert set(eng.requests["operating_point"]) == {"high"}
        assert math.isclose(table.iloc[v]["energy_J"], eng.total_energy_J, rel_tol=REL)
        assert math.isclose(fast.iloc[v]["energy_J"], eng.total_energy_J, rel_tol=REL)


@pytest.mark.parametrize("power_down", [False, True])
def test_distinct_ops_spread_back_equal_every_op(power_down):
    """The DRAM power-down costs each request shape's ops once per distinct op (distinct_ops) and spreads
    the rows back by position: the same numbers as op_costs of every op, bit for bit, at every point."""
    from simulator.cost.tables import distinct_ops, op_costs, platform_params

    w = ht.make_workload(("a", "b"), stream=streams.fixed(["a", "b"], 2e-6))
    platforms = _variants(power_down, (0, 1, 2, 3))
    prepared = prepare(w, platforms[0])
    pp = platform_params(platforms, prepared.memories)
    for key in ("a", "b"):
        ta = prepared.arrays(key)
        sub, counts, position = distinct_ops(ta)
        assert len(position) == ta.n_ops and sub.n_ops < ta.n_ops          # the layers repeat: fewer rows
        assert counts.sum() == ta.n_ops and (counts == np.bincount(position)).all()
        for p in range(len(pp.op_points)):
            full, reduced = op_costs(ta, pp, p), op_costs(sub, pp, p)
            for name in ("t_op", "t_fetch", "t_stream", "t_store", "overlap", "t_read", "t_write"):
                assert np.array_equal(getattr(reduced, name)[:, position], getattr(full, name)), (key, p, name)
