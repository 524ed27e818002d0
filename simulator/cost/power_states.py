"""Power states between requests and inside them: the one place the engine and the closed forms decide them.

Each memory has a policy (``Memory.power_state``, :data:`hw_models.vocabulary.POWER_POLICIES`; unset, the
platform's ``power_gating`` flag decides: NVM and DRAM ``retain_when_idle``, SRAM ``always_on``):

- ``always_on``: leaks ``leakage_W`` between requests;
- ``gate_when_idle``: the array is switched off (``gated_leakage_W``); a volatile array loses its data, so
  this is allowed only for a memory whose contents are dead between requests: no parameter and no
  run-time tensor that lives across requests (KV cache, recurrent state) placed there
  (:func:`check_placement`); waking costs ``wakeup_energy_J`` and ``wakeup_latency_s``;
- ``retain_when_idle``: NVM powered off with its data (``gated_leakage_W``, the same wake-up), DRAM in
  self-refresh (``gated_leakage_W``; exit tXSR), SRAM at its data-retention voltage
  (``retention_leakage_W``; ``retention_wakeup_energy_J`` / ``retention_wakeup_latency_s``);
- ``power_down_when_idle`` (DRAM): precharge power-down (``power_down_W``, refresh included) between its
  own transfers inside a request, in each gap longer than its break-even time (:func:`power_down_intervals`;
  every transfer of such a DRAM waits tXP, ``power_down_exit_latency_s``: its latency includes it, at
  standby power, which is the exit's whole cost, so a request's timeline does not depend on which gaps
  were long and every simulator sees the same one); between requests it self-refreshes like ``retain_when_idle``
  (a controller's deeper state for long idle).

Compute units follow the platform's ``power_gating``: gated off between requests (0 W), their wake-up
costing their leakage over ``power_gate_break_even_cycles`` and taking ``power_gate_wakeup_cycles``
(``hw_models/data/compute.yaml``).

A component enters its low-power state in an idle gap only when the gap is strictly longer than its
break-even time, wake-up energy / (on power − low power) (:func:`break_even_s`); otherwise it stays on for
the gap. The request after the gap first wakes the components that slept: each one's wake-up energy, the
longest wake-up latency (they wake in parallel). :func:`asleep`, :func:`idle_energy` and :func:`wake_cost`
are what every simulator calls per gap, so they decide identically. Units: s, W, J.
"""
from __future__ import annotations

import numpy as np

from hw_models.vocabulary import PARAMETER_ROLES, POWER_POLICIES
from simulator.errors import SimulationConfigError

POLICIES = POWER_POLICIES
#: run-time roles whose tensors live across requests (a gated volatile memory would lose them)
LIVE_ACROSS_REQUESTS = ("kv_cache", "state")


def policy(memory, power_gating: bool) -> str:
    """The memory's effective policy: its own ``power_state``, or the platform flag's default (module doc)."""
    own = getattr(memory, "power_state", None)
    if own:
        return own
    if power_gating and (memory.is_dram or not memory.volatile):
        return "retain_when_idle"
    return "always_on"


def low_power_state(memory, state: str) -> tuple[float, float, float]:
    """(power W in the low-power state, wake-up energy J, wake-up latency s) of ``memory`` under ``state``;
    ``always_on`` gives the powered-on leakage and no wake-up."""
    if state == "always_on":
        return memory.leakage_W, 0.0, 0.0
    if state == "power_down_when_idle":
        if not memory.is_dram or memory.power_down_W is None:
            raise SimulationConfigError(f"memories.{memory.name}.power_state: power_down_when_idle on a "
                                        f"memory without a power-down state; expected a DRAM")
        return memory.gated_leakage_W, memory.wakeup_energy_J, memory.wakeup_latency_s   # self-refresh
    if state == "retain_when_idle" and memory.volatile and not memory.is_dram:
        if getattr(memory, "retention_leakage_W", None) is None:
            raise SimulationConfigError(f"memories.{memory.name}.power_state: retain_when_idle on an SRAM "
                                        f"whose technology gives no retention_voltage; expected always_on "
                                        f"or gate_when_idle")
        return memory.retention_leakage_W, memory.retention_wakeup_energy_J, memory.retention_wakeup_latency_s
    if state not in POLICIES:
        raise SimulationConfigError(f"memories.{memory.name}.power_state: got {state!r}; expected one of "
                                    f"{', '.join(POLICIES)}")
    return memory.gated_leakage_W, memory.wakeup_energy_J, memory.wakeup_latency_s


def power_down(memory, state: str) -> tuple[float, float, float] | None:
    """(power-down power W, exit energy J, exit latency s) of a DRAM that powers down between its own
    transfers inside a request (``power_down_when_idle``); None otherwise. The exit energy is only what
    ``power_down_exit_energy_J`` adds (0 for the bundled DRAMs): the exit's cost as DRAMPower counts it,
    standby power over tXP, is already charged, because every transfer of such a DRAM waits tXP inside
    its latency, where the DRAM draws ``leakage_W``. Charging it again doubled it
    (benchmarks/results/dram_check.txt); with nothing to win back, power-down pays in any gap."""
    if state != "power_down_when_idle" or not memory.is_dram or memory.power_down_W is None:
        return None
    return memory.power_down_W, memory.power_down_exit_energy_J, memory.power_down_exit_latency_s


def unit_gate(unit, leakage_W: float) -> tuple[float, float]:
    """(wake-up energy J, wake-up latency s) of power-gating the compute ``unit`` that leaks ``leakage_W``
    (W) when on: its leakage over ``power_gate_break_even_cycles`` of its clock, and
    ``power_gate_wakeup_cycles`` (``hw_models/data/compute.yaml``)."""
    from hw_models.compute import compute_data

    d = compute_data()
    clock = float(getattr(unit, "clock_hz", 0.0) or 1e9)
    return leakage_W * d.power_gate_break_even_cycles / clock, d.power_gate_wakeup_cycles / clock


def break_even_s(on_W: np.ndarray, low_W: np.ndarray, wake_J: np.ndarray) -> np.ndarray:
    """Idle time (s) above which entering the low-power state saves energy: wake_J / (on_W − low_W);
    0 when waking is free, inf when the state saves nothing."""
    on_W, low_W, wake_J = (np.asarray(x, dtype=float) for x in (on_W, low_W, wake_J))
    saved = on_W - low_W
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(saved > 0, wake_J / np.where(saved > 0, saved, 1.0), np.inf)
    return np.where((saved > 0) & (wake_J <= 0), 0.0, out)


def asleep(pp, gap_s) -> np.ndarray:
    """(V, C) bool over memories then compute units: which enter their low-power state in an idle gap of
    ``gap_s`` s (a number, or (V,) one per variant): strictly longer than their break-even time."""
    gap = np.asarray(gap_s, dtype=float)
    return pp.sleeps & ((gap[:, None] if gap.ndim else gap) > pp.break_even_s)


def asleep_in_gaps(pp, v: int, gaps_s) -> np.ndarray:
    """(k, C) bool: :func:`asleep` for variant ``v`` over k idle gaps ``gaps_s`` (k,) s."""
    gaps = np.asarray(gaps_s, dtype=float)
    return pp.sleeps[v][None, :] & (gaps[:, None] > pp.break_even_s[v][None, :])


def idle_energy(pp, gap_s) -> np.ndarray:
    """(V, C) energy (J) of each memory and compute unit over an idle gap of ``gap_s`` s (number or (V,)):
    low-power power where it sleeps, powered-on power where it does not (the wake-up energy is booked
    with the next request, :func:`wake_cost`)."""
    gap = np.asarray(gap_s, dtype=float)
    return np.where(asleep(pp, gap), pp.low_W, pp.on_W) * (gap[:, None] if gap.ndim else gap)


def wake_cost(pp, gap_s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask (V, C), energy J (V,), latency s (V,)) of waking the components that slept during an idle
    gap of ``gap_s`` s (number or (V,)) before a request: each one's wake-up energy, and the longest
    wake-up latency (they wake in parallel)."""
    mask = asleep(pp, gap_s)
    return (mask, np.where(mask, pp.wake_Jc, 0.0).sum(axis=1),
            np.where(mask, pp.wake_sc, 0.0).max(axis=1, initial=0.0))


def long_gap_power(pp) -> np.ndarray:
    """(V, C) power (W) of each memory and compute unit over an idle gap longer than every break-even
    time (the platform's idle power in its deepest states)."""
    return np.where(pp.sleeps & np.isfinite(pp.break_even_s), pp.low_W, pp.on_W)


# ------------------------------------------------------------------ DRAM power-down inside requests
def power_down_intervals(periods: np.ndarray, transfers: np.ndarray, break_even_s: float
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Where a DRAM with ``power_down_when_idle`` is in precharge power-down inside busy time: within each
    busy period (``periods`` (b, 2) s, disjoint, in order), each gap before, between and after its own
    transfers (``transfers`` (k, 2) s) strictly longer than ``break_even_s``. Returns (the power-down
    intervals (j, 2) s, the exit times (x,) s: each gap that ends at a transfer, which waits tXP for it)."""
    periods = np.asarray(periods, dtype=float).reshape(-1, 2)
    tr = np.asarray(transfers, dtype=float).reshape(-1, 2)
    if not len(periods):
        return np.zeros((0, 2)), np.zeros(0)
    tr = tr[np.argsort(tr[:, 0], kind="stable")]
    p = np.searchsorted(periods[:, 0], tr[:, 0], side="right") - 1     # the busy period of each transfer
    keep = (p >= 0) & (tr[:, 0] < periods[np.maximum(p, 0), 1])
    tr, p = tr[keep], p[keep]
    run_end = np.maximum.accumulate(tr[:, 1]) if len(tr) else np.zeros(0)
    first = np.ones(len(tr), dtype=bool)
    first[1:] = p[1:] != p[:-1]
    prev = np.where(first, periods[p, 0], np.concatenate([[-np.inf], run_end[:-1]]))
    before = np.stack([prev, tr[:, 0]], axis=1)                        # gaps that end at a transfer
    before = before[before[:, 1] - before[:, 0] > break_even_s]
    last = np.ones(len(tr), dtype=bool)
    last[:-1] = p[:-1] != p[1:]
    tail = np.stack([run_end[last], periods[p[last], 1]], axis=1)      # after each period's last transfer
    empty = np.setdiff1d(np.arange(len(periods)), p)
    tail = np.concatenate([tail, periods[empty]])                       # periods without a transfer
    tail = tail[tail[:, 1] - tail[:, 0] > break_even_s]
    pd = np.concatenate([before, tail])
    return pd[np.argsort(pd[:, 0], kind="stable")], before[:, 1]


def transfer_intervals(columns: dict, memory: str) -> np.ndarray:
    """(k, 2) start and end (s) of every transfer of ``memory`` in ledger ``columns`` (its read, write and
    switch-load rows that move bytes)."""
    moves = ("read", "write", "switch_load")
    category = columns["category"]      # an object array, or a pandas Categorical (no string per row)
    moving = category.isin(moves) if hasattr(category, "isin") else np.isin(category, moves)
    mine = (np.asarray(columns["component"] == memory) & np.asarray(moving)) & (columns["bytes"] > 0)
    return np.stack([columns["start_s"][mine], columns["end_s"][mine]], axis=1).astype(float)


def serial_power_down(pp, m: int, S: np.ndarray, E: np.ndarray, span: np.ndarray, offset: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(power-down time s (V,), exits (V,)) of DRAM ``m`` over one request of V variants served alone:
    its transfers ``S``/``E`` (V, k) s in order (relative to the end of the request's prefix), the prefix
    ``offset`` (V,) s (wake-up and DVFS settling, when the DRAM moves nothing) and the whole service
    ``span`` (V,) s. The rule of :func:`power_down_intervals` for one busy period."""
    be = pp.pd_break_even_s[:, m]
    V = len(span)
    if S.shape[1] == 0:
        whole = span > be
        return np.where(whole, span, 0.0), np.zeros(V)
    run_end = np.maximum.accumulate(E, axis=1)
    gaps = np.concatenate([(offset + S[:, 0])[:, None], S[:, 1:] - run_end[:, :-1]], axis=1)
    tail = span - (offset + run_end[:, -1])
    long = gaps > be[:, None]
    time = np.where(long, gaps, 0.0).sum(axis=1) + np.where(tail > be, tail, 0.0)
    return time, long.sum(axis=1).astype(float)


def run_transfers(builder, pp, memories) -> dict[int, np.ndarray] | None:
    """Memory index -> (k, 2) transfer intervals (s) of each DRAM of variant 0 that powers down between its
    transfers, from the ledger rows ``builder`` (a :class:`simulator.results.run_output.LedgerBuilder`) holds
    so far; None when no memory does (what :func:`simulator.cost.tables.leakage` takes)."""
    pd = np.flatnonzero(pp.pd_inside[0])
    if not len(pd):
        return None
    cols = builder.columns(text="category")
    return {int(m): transfer_intervals(cols, memories[m]) for m in pd}


def shape_transfers(prepared, pp, ta, oc, sc, m: int, position: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(S, E) (V, k) s: the transfers of DRAM ``m`` in one request served alone, relative to the end of its
    prefix (wake-up, DVFS settling): its task-switch copies one after another (``sc``: the
    :class:`simulator.cost.tables.SwitchCosts`, None without a switch), then its ops (``oc``: OpCosts of
    the request's arrays ``ta``) in order, each read at its op's start and each write after its fetch and
    compute phase (at its start for an op overlapped through a double-buffered staging buffer): the
    timeline the closed form's ledger rows have. ``position``: ``oc`` is of ``ta``'s distinct ops
    (:func:`simulator.cost.tables.distinct_ops`) and op i's costs are its row ``position[i]``."""
    V = pp.n_variants
    name = prepared.memories[m]
    S, E = [], []
    t = np.zeros(V)
    if sc is not None:
        for k, (src, dst, b) in enumerate(sc.pairs):
            if name in (src, dst) and b > 0:
                S.append(t.copy())
                E.append(t + sc.t[:, k])
            t = t + sc.t[:, k]
    n = ta.n_ops
    at = slice(None) if position is None else position
    start = t[:, None] + np.concatenate([np.zeros((V, 1)), np.cumsum(oc.t_op[:, at], axis=1)[:, :-1]], axis=1)
    ws = np.where(oc.overlap[:, at], start, start + oc.t_fetch[:, at] + oc.t_stream[:, at])
    so = np.stack([start, ws], axis=2).reshape(V, 2 * n)
    eo = np.stack([start + oc.t_read[:, at, m], ws + oc.t_write[:, at, m]], axis=2).reshape(V, 2 * n)
    valid = np.stack([ta.reads[:, m] > 0, ta.writes[:, m] > 0], axis=1).reshape(2 * n)
    S_all = np.concatenate([np.stack(S, axis=1) if S else np.zeros((V, 0)), so[:, valid]], axis=1)
    E_all = np.concatenate([np.stack(E, axis=1) if E else np.zeros((V, 0)), eo[:, valid]], axis=1)
    return S_all, E_all


class RequestPowerDown:
    """The DRAM power-down inside one request, for the vectorised closed forms (V variants, one request at
    a time): per request shape (key, operating point, switch) the transfers of every power-down DRAM
    (:func:`shape_transfers`, cached), then :meth:`energy` per request from its prefix and span."""

    def __init__(self, prepared, pp, switches: dict):
        self.prepared, self.pp, self.switches = prepared, pp, switches
        self.dram = np.flatnonzero(pp.pd_inside.any(axis=0))
        self._shapes: dict = {}
        self._ops: dict = {}     # (key, op point) -> (OpCosts of the distinct ops, each op's row): shared by
        #                          a shape with and without a switch

    def energy(self, key: str, task: str, p: int, switch: bool, prefix_s: np.ndarray,
               span_s: np.ndarray) -> np.ndarray:
        """(V, M) J to add to a request's leakage per memory: −(standby − power-down power) × power-down
        time + exits × exit energy, for each power-down DRAM; ``prefix_s`` (V,) s before the switch copies
        (wake-up, DVFS), ``span_s`` (V,) the service time."""
        out = np.zeros(self.pp.leak_W.shape)
        if not len(self.dram):
            return out
        from simulator.cost.tables import op_costs

        shape = (key, p, switch)
        if shape not in self._shapes:
            ta = self.prepared.arrays(key)
            if (key, p) not in self._ops:     # op costs are per op: once per distinct op
                sub, _, position = self.prepared.distinct(key)
                self._ops[(key, p)] = op_costs(sub, self.pp, p), position
            oc, position = self._ops[(key, p)]
            sc = self.switches.get(task) if switch else None
            self._shapes[shape] = {int(m): shape_transfers(self.prepared, self.pp, ta, oc, sc, int(m), position)
                                   for m in self.dram}
        pp = self.pp
        for m, (S, E) in self._shapes[shape].items():
            t_pd, exits = serial_power_down(pp, m, S, E, span_s, prefix_s)
            on = pp.pd_inside[:, m]
            out[:, m] = np.where(on, -t_pd * (pp.leak_W[:, m] - pp.pd_W[:, m]) + exits * pp.pd_exit_J[:, m], 0.0)
        return out


# ------------------------------------------------------------------ placement
def check_placement(platform, placement) -> None:
    """Raise :class:`SimulationConfigError` when a memory set to ``gate_when_idle`` is volatile and holds
    data the next request needs: a parameter, or a tensor of a role that lives across requests."""
    table = getattr(placement, "table", None)
    if table is None or not len(table):
        return
    for name, m in platform.memories.items():
        if getattr(m, "power_state", None) != "gate_when_idle" or not m.volatile:
            continue
        held = table[table["memory"] == name]
        live = held[held["role"].isin(PARAMETER_ROLES + LIVE_ACROSS_REQUESTS)]
        if len(live):
            row = live.iloc[0]
            raise SimulationConfigError(
                f"{platform.source or platform.name}: memories.{name}.power_state: gate_when_idle loses the "
                f"{row['role']} {row['tensor']} placed there, which lives across requests; expected "
                f"always_on or retain_when_idle (or a placement that keeps only per-request data in {name})")
