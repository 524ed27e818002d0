"""Checks of one run (or two) of the engine or the closed form: the ledger, the requests table, sameness.

Each raises :class:`AssertionError` with what differed. The catalogue of laws a cost model must keep is in
:mod:`simulator.testing.invariants`; these are the run-level building blocks it (and your tests) use.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from hw_models.platform import Platform
from simulator.results.ledger import CATEGORIES, LEDGER_COLUMNS, REQUEST_COLUMNS
from simulator.results.result import Result


def check_ledger_sums(run: Result, rel: float = 1e-9) -> None:
    """The ledger's energy sums to the run's independently accumulated total, and each request's rows
    sum to its ``energy_J``."""
    total = float(run.ledger["energy_J"].sum())
    expected = float(run.meta["total_energy_J"])
    assert math.isclose(total, expected, rel_tol=rel, abs_tol=1e-30), f"ledger {total} J != total {expected} J"
    per = run.ledger[run.ledger["request"] >= 0].groupby("request")["energy_J"].sum()
    for rid, energy in zip(run.requests["request"], run.requests["energy_J"]):
        assert math.isclose(per.get(rid, 0.0), energy, rel_tol=rel, abs_tol=1e-30), f"request {rid}"


def check_non_negative(run: Result) -> None:
    """No negative (or NaN) energy, bytes, time or duration anywhere."""
    led = run.ledger
    for col in ("energy_J", "bytes", "start_s", "end_s"):
        assert (led[col] >= 0).all(), f"negative or NaN {col}: {led[led[col] < 0].head()}"
    assert (led["end_s"] >= led["start_s"] - 1e-18).all(), "a ledger row ends before it starts"
    for col in ("latency_s", "service_s", "energy_J"):
        assert (run.requests[col] >= 0).all(), f"negative {col} in requests"


def check_requests(run: Result) -> None:
    """The tables have the documented columns; every request was served after it arrived, in its
    interval; every categorical value is known."""
    assert list(run.ledger.columns) == list(LEDGER_COLUMNS)
    assert list(run.requests.columns) == list(REQUEST_COLUMNS)
    req = run.requests
    assert len(req) == len(run.workload.stream)
    assert (req["start_s"] >= req["arrival_s"]).all() and (req["end_s"] >= req["start_s"]).all()
    assert set(run.ledger["category"]) <= set(CATEGORIES)


def check_run(run: Result) -> None:
    """All run invariants: :func:`check_requests`, :func:`check_non_negative`, :func:`check_ledger_sums`."""
    check_requests(run)
    check_non_negative(run)
    check_ledger_sums(run)


def check_same_run(a: Result, b: Result) -> None:
    """Two runs produced the same numbers (bit for bit)."""
    pd.testing.assert_frame_equal(a.ledger, b.ledger, check_exact=True)
    pd.testing.assert_frame_equal(a.requests, b.requests, check_exact=True)


def idle_power_W(platform: Platform) -> float:
    """What the platform draws over a long idle gap (W, one longer than every break-even time): each
    memory in the low-power state of its policy (:mod:`simulator.cost.power_states`: power-gated,
    retention, self-refresh, power-down) when that state saves power, else at full leakage; compute units
    off when gating, else at the default operating point's leakage."""
    from simulator.cost import power_states

    gating = platform.placement.power_gating
    total = 0.0
    for m in platform.memories.values():
        low_W, _, _ = power_states.low_power_state(m, power_states.policy(m, gating))
        total += min(low_W, m.leakage_W)
    for unit in platform.compute.values():
        leak = unit.leakage_at(platform.operating_point)
        total += 0.0 if gating else leak
    return total


def check_idle_leakage(before: Result, after: Result, extra_idle_s: float, rel: float = 1e-9) -> None:
    """``after`` is ``before`` with ``extra_idle_s`` more idle time (a later arrival after an idle gap):
    its energy is higher by exactly the platform's idle power × that time."""
    expected = idle_power_W(before.platform) * extra_idle_s
    got = after.total_energy_J - before.total_energy_J
    assert math.isclose(got, expected, rel_tol=rel, abs_tol=1e-12 * max(1.0, abs(before.total_energy_J))), \
        f"extra idle energy {got} J != idle power x time {expected} J"


def check_memory_costs(memory: Any, sizes: tuple[float, ...] = (0.0, 1.0, 8.0, 64.0, 4096.0, 1e6, 1e9)) -> None:
    """A memory model's costs are sane: nothing for 0 bytes, never negative, never less for more bytes
    (read and write energy and time), and leakage, gated leakage and wake-up cost are non-negative."""
    for fn in (memory.read_energy, memory.write_energy, memory.read_time, memory.write_time):
        values = [fn(b) for b in sizes]
        if sizes[0] == 0:
            assert values[0] == 0, f"{fn.__name__}(0) = {values[0]}, expected 0"
        assert all(v >= 0 for v in values), f"{fn.__name__} is negative: {values}"
        assert all(b >= a for a, b in zip(values, values[1:])), f"{fn.__name__} decreases with bytes: {values}"
    for name in ("leakage_W", "gated_leakage_W", "wakeup_energy_J", "wakeup_latency_s"):
        assert getattr(memory, name) >= 0, f"{name} = {getattr(memory, name)}"
    assert memory.gated_leakage_W <= memory.leakage_W, "the gated (or self-refresh) state leaks more"
