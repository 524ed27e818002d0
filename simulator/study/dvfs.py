"""Per-request DVFS policies (EdgeBERT's sentence-level voltage/frequency scaling).

A policy gives every request of a stream an operating point (``Request.operating_point``) and the cost of
changing to it (``Request.transition_s``/``transition_J``: regulator and PLL settling, an assumption the
study states), before the engine or the closed form runs it. Costs come from the platform's own cost
layer (:class:`simulator.cost.tables.CostTables`, :func:`simulator.cost.tables.busy_power`,
:func:`simulator.cost.tables.idle_power`), so whatever the platform says an operating point costs (dynamic
energy ∝ V², clock ∝ f, leakage vs V) is what the policy weighs; it has no physics of its own.

Policies:

- ``edgebert``: per request, the operating point that meets ``latency_target`` at the least energy, for
  the request's predicted exit layer (the predictor is an oracle: the exit layer the request will take;
  EdgeBERT's entropy predictor stands in for it). A request's latency here is its service time (its ops)
  plus the transition when the point changes; its energy at point p is its dynamic energy plus
  ``(busy power(p) - idle power) × service time`` (the busy time displaces idle time, whatever the
  target). Because a transition couples neighbouring requests, the points of the whole stream are chosen
  together (a Viterbi pass over operating points), which is the per-request choice whenever switching is
  free; a looser target only enlarges the feasible set, so it never raises the energy. A request no point
  can serve in time gets the least late one (and the least energy among equally late ones).
- ``fixed``: every request at ``operating_point`` (default: the platform's default); no transitions.
- ``race_to_idle``: every request at the fastest point (highest clock; lowest voltage among equals).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from simulator.cost.tables import CostTables, busy_power, idle_power
from simulator.errors import SimulationConfigError

POLICIES = ("edgebert", "fixed", "race_to_idle")


def request_figures(prepared, platform, keys: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per request key (``Request.key``): service time (s) and energy (J) at every operating point of
    the platform (arrays over its points, in ``PlatformParams.op_points`` order). Energy = the request's
    dynamic energy + ``(busy power(p) - idle power) × service``: what running at p adds to the run."""
    tables = CostTables(prepared, platform)
    pp = tables.pp
    idle = float(idle_power(pp)[0].sum())
    P = len(pp.op_points)
    t, e = {}, {}
    for key in dict.fromkeys(keys):
        tk, ek = np.zeros(P), np.zeros(P)
        for p in range(P):
            oc = tables.ops(key, p)
            tk[p] = float(oc.t_op[0].sum())
            ek[p] = float(oc.energy()[0]) + (float(busy_power(pp, p)[0].sum()) - idle) * tk[p]
        t[key], e[key] = tk, ek
    return t, e


def fastest_point(platform) -> str:
    """The operating point with the highest clock (lowest voltage among equal clocks)."""
    points = platform.operating_points
    return min(points, key=lambda n: (-points[n].frequency_Hz, points[n].voltage_V, n))


def choose_points(times: np.ndarray, energies: np.ndarray, target_s: float, *, start: int,
                  switch_s: float = 0.0, switch_J: float = 0.0) -> list[int]:
    """The operating point index of each request (rows of ``times``/``energies``, (n, P) in s and J)
    minimising, over the stream, first the total lateness ``max(0, latency - target_s)`` and then the
    total energy, where a change of point before a request adds ``switch_s`` to its latency and
    ``switch_J`` to the energy (the regulator starts at point ``start``). Exact (dynamic programming)."""
    n, P = times.shape
    same = np.eye(P, dtype=bool)
    trans_t = np.where(same, 0.0, switch_s)                  # (from, to)
    trans_e = np.where(same, 0.0, switch_J)
    late0 = np.full(P, np.inf)
    late0[start] = 0.0
    energy0 = np.where(np.isfinite(late0), 0.0, np.inf)
    back = np.zeros((n, P), dtype=int)
    late, energy = late0, energy0
    for i in range(n):
        lat = trans_t + times[i][None, :]                    # (from, to)
        step_late = np.maximum(lat - target_s, 0.0)
        cand_late = late[:, None] + step_late
        cand_energy = energy[:, None] + trans_e + energies[i][None, :]
        # lexicographic (lateness, energy) minimum over `from`, rounding lateness to 1 ps so ties are ties
        key_late = np.round(cand_late, 12)
        best_late = key_late.min(axis=0)
        masked = np.where(key_late == best_late[None, :], cand_energy, np.inf)
        back[i] = masked.argmin(axis=0)
        late = cand_late[back[i], np.arange(P)]
        energy = masked[back[i], np.arange(P)]
    key_late = np.round(late, 12)
    p = int(np.where(key_late == key_late.min(), energy, np.inf).argmin())
    chosen = [0] * n
    for i in range(n - 1, -1, -1):
        chosen[i] = p
        p = int(back[i, p])
    return chosen


def assign(prepared, platform, stream, *, policy: str = "edgebert", latency_target_s: float | None = None,
           operating_point: str | None = None, switch_time_s: float = 0.0, switch_energy_J: float = 0.0):
    """The stream with each request's operating point (and transition cost) chosen by ``policy`` on
    ``platform`` (see the module docstring); ``prepared`` is :func:`simulator.cost.tables.prepare` of a
    workload with this stream's traces on this platform."""
    if policy not in POLICIES:
        raise SimulationConfigError(f"dvfs.policy: {policy!r}; expected one of {', '.join(POLICIES)}")
    names = list(platform.operating_points)
    if policy == "fixed":
        point = operating_point or platform.default_operating_point
        if point not in names:
            raise SimulationConfigError(f"dvfs.operating_point: {point!r} is not an operating point of "
                                        f"{platform.name}; expected one of {', '.join(names)}")
        return stream.with_operating_point(point)
    if policy == "race_to_idle":
        return stream.with_operating_point(fastest_point(platform))
    if latency_target_s is None or not latency_target_s > 0:
        raise SimulationConfigError(f"dvfs.latency_target: {latency_target_s!r}; expected a time > 0 with the "
                                    "edgebert policy")
    requests = list(stream)
    t, e = request_figures(prepared, platform, [r.key for r in requests])
    order = CostTables(prepared, platform).pp.op_points        # the cost layer's point order
    times = np.array([t[r.key] for r in requests])
    energies = np.array([e[r.key] for r in requests])
    start = order.index(platform.default_operating_point)
    chosen = choose_points(times, energies, latency_target_s, start=start, switch_s=switch_time_s,
                           switch_J=switch_energy_J)
    prev = [start] + chosen[:-1]
    changed = [c != q for c, q in zip(chosen, prev)]
    return stream.with_fields(operating_point=[order[c] for c in chosen],
                              transition_s=[switch_time_s if c else 0.0 for c in changed],
                              transition_J=[switch_energy_J if c else 0.0 for c in changed])


def missed(stream, times: dict[str, np.ndarray], order: Sequence[str], target_s: float) -> int:
    """Requests of a policy's ``stream`` whose service + transition exceeds ``target_s``."""
    return sum(float(times[r.key][list(order).index(r.operating_point)]) + r.transition_s > target_s * (1 + 1e-9)
               for r in stream)


__all__ = ["POLICIES", "assign", "choose_points", "fastest_point", "missed", "request_figures"]


#: The three configurations of EdgeBERT's energy-vs-latency-target comparison, in legend order.
CONFIGURATIONS = ("no early exit", "early exit", "early exit + DVFS")


def default_targets(prepared, platform, stream) -> list[float]:
    """Latency targets (s) around the longest request at the platform's default point: 0.25× to 4×."""
    t, _ = request_figures(prepared, platform, [r.key for r in stream])
    order = CostTables(prepared, platform).pp.op_points
    longest = max(float(v[order.index(platform.default_operating_point)]) for v in t.values())
    return [longest * f for f in (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0)]


def energy_vs_target(prepared_exit, prepared_full, platform, targets: Sequence[float], *,
                     operating_point: str | None = None, switch_time_s: float = 0.0,
                     switch_energy_J: float = 0.0):
    """EdgeBERT's comparison on one platform: energy per inference (J, closed form:
    :func:`simulator.analytic.evaluate_variants`) against the latency target (s) for the model without
    exit heads at a fixed point (``prepared_full``: its stream's requests have no exit layer), with early
    exit at the same fixed point, and with early exit and the ``edgebert`` policy (``prepared_exit``:
    its stream carries the exit layers). Every run is charged over the same window (from the first
    arrival to the latest end of any run; idle power fills the rest), so a slower last request does not
    look cheaper for ending the run later. Returns a DataFrame ``target_s, configuration,
    energy_per_inference_J, missed`` (requests over the target)."""
    import dataclasses

    import pandas as pd

    from simulator.analytic import evaluate_variants

    point = operating_point or platform.default_operating_point
    tables = CostTables(prepared_exit, platform)
    order = tables.pp.op_points
    idle = float(idle_power(tables.pp)[0].sum())

    def run(prepared, stream):
        p = dataclasses.replace(prepared, workload=prepared.workload.with_stream(stream))
        row = evaluate_variants(p, [platform]).iloc[0]
        return float(row["energy_J"]), float(row["makespan_s"])

    fixed = {}
    for name, prep in (("no early exit", prepared_full), ("early exit", prepared_exit)):
        s = prep.workload.stream.with_operating_point(point)
        t, _ = request_figures(prep, platform, [r.key for r in s])
        fixed[name] = (run(prep, s), s, t)
    base = prepared_exit.workload.stream
    t_exit, _ = request_figures(prepared_exit, platform, [r.key for r in base])
    rows = []
    for target in targets:
        for name, (energy, s, t) in fixed.items():
            rows.append([target, name, *energy, missed(s, t, order, target)])
        s = assign(prepared_exit, platform, base, policy="edgebert", latency_target_s=target,
                   switch_time_s=switch_time_s, switch_energy_J=switch_energy_J)
        rows.append([target, "early exit + DVFS", *run(prepared_exit, s), missed(s, t_exit, order, target)])
    table = pd.DataFrame(rows, columns=["target_s", "configuration", "energy_J", "makespan_s", "missed"])
    window = table["makespan_s"].max()
    table["energy_per_inference_J"] = (table["energy_J"] + idle * (window - table["makespan_s"])) / len(base)
    return table[["target_s", "configuration", "energy_per_inference_J", "missed"]]


def point_breakdown(prepared, platform, key: str):
    """Why a lower operating point does or does not save energy on ``platform``: for one request of
    ``key`` (``Request.key``) at each operating point, its service time (s), dynamic energy (J), leakage
    while served (J; memories and compute units), the idle energy its service time displaces (J; idle
    power × service: that time is no longer spent idle) and the net, dynamic + leakage − displaced (J,
    what the ``edgebert`` policy minimises), with the component whose leakage over the service time is
    largest. A DataFrame, one row per operating point in platform order."""
    import pandas as pd

    tables = CostTables(prepared, platform)
    pp = tables.pp
    idle = float(idle_power(pp)[0].sum())
    comps = list(prepared.memories) + list(pp.units)
    rows = []
    for p, name in enumerate(pp.op_points):
        oc = tables.ops(key, p)
        t = float(oc.t_op[0].sum())
        busy = busy_power(pp, p)[0]
        op = platform.operating_points[name]
        rows.append(dict(operating_point=name, voltage_V=op.voltage_V, frequency_Hz=op.frequency_Hz,
                         service_s=t, dynamic_J=float(oc.energy()[0]), leakage_J=float(busy.sum()) * t,
                         displaced_idle_J=idle * t,
                         net_J=float(oc.energy()[0]) + (float(busy.sum()) - idle) * t,
                         top_leaker=comps[int(np.argmax(busy))], top_leakage_J=float(busy.max()) * t))
    return pd.DataFrame(rows)


def explain(breakdown, reference: str) -> str:
    """One sentence per lower operating point of a :func:`point_breakdown` table: whether it costs less than
    ``reference`` (the nominal point) for one request and why (dynamic saving against the leakage its
    longer service adds, net of the idle time it displaces). Energies in mJ in the text."""
    ref = breakdown.set_index("operating_point").loc[reference]
    out = []
    for _, r in breakdown.iterrows():
        if r["operating_point"] == reference or r["voltage_V"] >= ref["voltage_V"]:
            continue
        d_dyn = (ref["dynamic_J"] - r["dynamic_J"]) * 1e3
        d_leak = ((r["leakage_J"] - r["displaced_idle_J"]) - (ref["leakage_J"] - ref["displaced_idle_J"])) * 1e3
        verdict = "saves" if r["net_J"] < ref["net_J"] else "costs"
        out.append(f"{r['operating_point']} ({r['voltage_V']:.2f} V, {r['frequency_Hz'] / 1e6:.0f} MHz) {verdict} "
                   f"{abs(r['net_J'] - ref['net_J']) * 1e3:.3g} mJ per request against {reference}: dynamic "
                   f"energy falls by {d_dyn:.3g} mJ, while {r['service_s'] / ref['service_s']:.2g}x the service "
                   f"time adds {d_leak:.3g} mJ of leakage net of the idle time it displaces (largest leaker: "
                   f"{r['top_leaker']}, {r['top_leakage_J'] * 1e3:.3g} mJ over the request)")
    return "; ".join(out)
