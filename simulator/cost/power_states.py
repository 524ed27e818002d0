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
- ``power_down_when_idle`` (DRAM): precharge power-down (``power_down_W``, refresh included) between
  requests; the exit takes tXP (``power_down_exit_latency_s``) and costs the standby power over it.

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
        exit_s = memory.power_down_exit_latency_s
        return memory.power_down_W, memory.leakage_W * exit_s, exit_s
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
