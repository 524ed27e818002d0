"""Each law of the catalogue fails on a deliberately broken cost model (and holds on hetsim's own).

One mutation per law: a memory whose energy falls with bytes, a unit whose time falls with work, leakage
not scaled by time, a closed form that forgets idle leakage, ... A law that a broken model passes would be
a law that tests nothing. ``test_every_law_has_a_mutation`` keeps the table complete.
"""
from dataclasses import replace

import pytest

from hw_models.compute import MacArray
from hw_models.memory import Memory
from simulator.cost import tables as costs
from simulator.engine import simulate
from simulator.testing import CATALOGUE, InvariantViolation, all_memories_faster, default_workload, make_memory, \
    platform_around
from simulator.testing import invariants

MUTATED: set[str] = set()


def broken(law):
    """Register the decorated test as the mutation test of ``law``."""
    MUTATED.add(law)
    return lambda fn: fn


def fails(law, subject, **kwargs):
    with pytest.raises(InvariantViolation, match=law):
        CATALOGUE[law](subject, **kwargs)


class Patched(Memory):
    """A memory whose cost functions are replaced (a user's model with a bug)."""

    def __init__(self, base: Memory, **fns):
        self.__dict__.update(base.__dict__)
        self.__dict__.update(fns)


SRAM = Memory.from_technology("sram", "sram-lstp", 1 << 20)


# ------------------------------------------------------------------------------------------ memories
@broken("zero_bytes_cost_nothing")
def test_zero_bytes():
    CATALOGUE["zero_bytes_cost_nothing"](SRAM)
    fails("zero_bytes_cost_nothing", Patched(SRAM, read_time=lambda n: SRAM.read_latency_s + n / SRAM.bandwidth_Bps))


@broken("energy_monotone_in_bytes")
def test_energy_falls_with_bytes():
    CATALOGUE["energy_monotone_in_bytes"](SRAM)
    fails("energy_monotone_in_bytes", Patched(SRAM, read_energy=lambda n: 1e-12 * n / (1 + n * n)))


@broken("time_monotone_in_bytes")
def test_time_falls_with_bytes():
    CATALOGUE["time_monotone_in_bytes"](SRAM)
    fails("time_monotone_in_bytes", Patched(SRAM, write_time=lambda n: 0.0 if n == 0 else 1e-6 / n))


@broken("costs_non_negative")
def test_negative_energy():
    CATALOGUE["costs_non_negative"](SRAM)
    fails("costs_non_negative", Patched(SRAM, write_energy=lambda n: -n * 1e-12))


@broken("gated_state_leaks_less")
def test_gated_state_leaks_more():
    CATALOGUE["gated_state_leaks_less"](SRAM)
    fails("gated_state_leaks_less", make_memory("m", leakage_mW=1.0, gated_fraction=2.0))


@broken("simulator_sees_the_model")
def test_a_model_the_simulator_would_linearise():
    CATALOGUE["simulator_sees_the_model"](SRAM)
    e = SRAM.read_energy_per_byte_J
    fails("simulator_sees_the_model", Patched(SRAM, read_energy=lambda n: e * n * (1 + n / 4096)))


# ------------------------------------------------------------------------------------------ technologies
def _scaled(attr, factor):
    def model(*args, **kwargs):
        m = Memory.from_technology(*args, **kwargs)
        return replace(m, **{attr: getattr(m, attr) * factor(m)})
    return model


@broken("reference_point_returns_cited_figures")
def test_reference_point_off():
    CATALOGUE["reference_point_returns_cited_figures"]("rram")
    CATALOGUE["reference_point_returns_cited_figures"]("lpddr4")
    fails("reference_point_returns_cited_figures", "rram", model=_scaled("read_energy_per_access_J", lambda m: 1.1))
    fails("reference_point_returns_cited_figures", "lpddr4", model=_scaled("leakage_W", lambda m: 0.5))


@broken("larger_array_never_cheaper")
def test_leakage_falls_with_capacity():
    CATALOGUE["larger_array_never_cheaper"]("stt-mram")
    fails("larger_array_never_cheaper", "stt-mram", model=_scaled("leakage_W", lambda m: 1e6 / m.capacity_bytes))


def _banks_cost_area(*args, **kwargs):
    """A toy fix of the bank law: each extra bank adds 5 % area and leakage (its decoders and sense amps)."""
    m = Memory.from_technology(*args, **kwargs)
    extra = 1 + 0.05 * (m.banks - 1)
    return replace(m, area_m2=m.area_m2 * extra, leakage_W=m.leakage_W * extra,
                   gated_leakage_W=m.gated_leakage_W * extra)


def _free_banks(name, technology, capacity_bytes, banks=1, **kwargs):
    """Banks as hetsim modelled them before #11: an access activates one bank (energy falls), bandwidth
    grows with the banks, and area and leakage stay those of one bank."""
    m = Memory.from_technology(name, technology, capacity_bytes, banks=1, **kwargs)
    return replace(m, banks=banks, read_energy_per_access_J=m.read_energy_per_access_J / banks ** 0.5,
                   write_energy_per_access_J=m.write_energy_per_access_J / banks ** 0.5)


@broken("bank_has_a_cost")
def test_free_banks():
    CATALOGUE["bank_has_a_cost"]("rram", model=_banks_cost_area)
    fails("bank_has_a_cost", "rram", model=_free_banks)


# ------------------------------------------------------------------------------------------ units
class SlowerForLess(MacArray):
    def matmul_cycles(self, m, k, n):
        return max(1, 10**9 // (m * k * n))


class ClockHungry(MacArray):
    def matmul_cycles(self, m, k, n):
        return int(super().matmul_cycles(m, k, n) * (self.clock_hz / 1e9) ** 2)


class VoltageInverted(MacArray):
    def energy_per_mac_J(self, op_point=None):
        return self.mac_energy_J / (op_point.dynamic_scale if op_point else 1.0)


class Miscited(MacArray):
    def __post_init__(self):
        super().__post_init__()
        self.mac_energy_J *= 1.5


@broken("unit_work_monotone")
def test_time_falls_with_work():
    CATALOGUE["unit_work_monotone"](MacArray())
    fails("unit_work_monotone", SlowerForLess())


@broken("faster_clock_never_slower")
def test_faster_clock_slower():
    CATALOGUE["faster_clock_never_slower"](MacArray())
    fails("faster_clock_never_slower", ClockHungry())


@broken("lower_voltage_never_costs_more")
def test_lower_voltage_costs_more():
    CATALOGUE["lower_voltage_never_costs_more"](MacArray())
    fails("lower_voltage_never_costs_more", VoltageInverted())


@broken("unit_reference_point")
def test_unit_off_its_citation():
    CATALOGUE["unit_reference_point"](MacArray())
    fails("unit_reference_point", Miscited())


# ------------------------------------------------------------------------------------------ platforms
PLATFORM = platform_around(technology="stt-mram")


def _drop_last_row(w, p, **kw):
    run = simulate(w, p, **kw)
    run.ledger = run.ledger.iloc[:-1]
    return run


@broken("ledger_is_consistent")
def test_ledger_loses_a_row():
    CATALOGUE["ledger_is_consistent"](PLATFORM)
    fails("ledger_is_consistent", PLATFORM, simulate=_drop_last_row)


def _closed_form_without_idle_leakage(w, p, **kw):
    from simulator.analytic import evaluate
    run = evaluate(w, p, **kw)
    run.ledger = run.ledger[run.ledger["request"] >= 0]
    return run


@broken("engine_matches_closed_form")
def test_closed_form_forgets_idle_leakage():
    CATALOGUE["engine_matches_closed_form"](PLATFORM)
    fails("engine_matches_closed_form", PLATFORM, evaluate=_closed_form_without_idle_leakage)


def _faster_under_load(w, p, max_in_flight=1, **kw):
    """A contention model that speeds requests up when others are in flight (service time / 10)."""
    run = simulate(w, p, max_in_flight=max_in_flight, **kw)
    if max_in_flight > 1:
        req = run.requests
        req["end_s"] = req["start_s"] + (req["end_s"] - req["start_s"]) / 10
        req["service_s"] = req["end_s"] - req["start_s"]
        req["latency_s"] = req["end_s"] - req["arrival_s"]
    return run


def _every_event(w, p, **kw):
    """hetsim's engine simulating every request's events (no replay of request shapes)."""
    return simulate(w, p, replay=False, **kw)


@broken("contention_never_faster")
def test_a_pair_served_faster_than_one():
    CATALOGUE["contention_never_faster"](PLATFORM)
    fails("contention_never_faster", PLATFORM, simulate=_faster_under_load)


@broken("idle_energy_is_power_times_time")
def test_idle_power_misread(monkeypatch):
    CATALOGUE["idle_energy_is_power_times_time"](PLATFORM)
    real = costs.gap_energy
    monkeypatch.setattr(costs, "gap_energy", lambda pp, v, gaps: real(pp, v, gaps) * 0.5)
    fails("idle_energy_is_power_times_time", PLATFORM, simulate=_every_event)


@broken("leakage_scales_with_time")
def test_leakage_not_scaled_by_time(monkeypatch):
    CATALOGUE["leakage_scales_with_time"](PLATFORM)
    real = costs.leakage

    def per_interval(pp, v, start, end, op_points, t0, transfers=None):
        tl = real(pp, v, start, end, op_points, t0, transfers)
        tl.idle_J = costs.idle_power(pp)[v][None, :] * 1e-3 * (tl.idle[:, 1:] > 0)   # 1 ms, whatever the gap
        return tl

    import simulator.engine.discrete_event as engine
    monkeypatch.setattr(engine, "leakage", per_interval)
    fails("leakage_scales_with_time", PLATFORM, simulate=_every_event)


def _dram_by_name(w, p, **kw):
    """A model that recognises DRAM by its name instead of its kind."""
    memories = {n: replace(m, is_dram=(n == "dram")) for n, m in p.memories.items()}
    return simulate(w, replace(p, memories=memories), **kw)


@broken("renaming_changes_nothing")
def test_cost_depends_on_a_name():
    CATALOGUE["renaming_changes_nothing"](PLATFORM)
    fails("renaming_changes_nothing", PLATFORM, simulate=_dram_by_name)


@broken("nvm_writes_are_wear")
def test_parameter_writes_not_counted(monkeypatch):
    from simulator.results import build
    real = build._memory_writes

    def loads_only(prepared, cols, *rest):   # the wear of switch loads only (the bug #11 fixed)
        out = real(prepared, cols, *rest)
        here = cols["category"] == "switch_load"
        for m, row in out.items():
            mine = here & (cols["component"] == m)
            row["cell_writes"] = float(len(set(cols["request"][mine].tolist())))
        return out

    CATALOGUE["nvm_writes_are_wear"](PLATFORM, simulate=_every_event)
    monkeypatch.setattr(build, "_memory_writes", loads_only)
    fails("nvm_writes_are_wear", PLATFORM, simulate=_every_event)


def _slow_memories_at_fast_clock(w, p, **kw):
    """A model in which a faster clock stretches memory latency (clock domains mixed up)."""
    return simulate(w, all_memories_faster(p, 0.1) if p.mac_array.clock_hz > PLATFORM.mac_array.clock_hz else p, **kw)


@broken("relaxation_never_costs_more")
def test_faster_clock_makes_requests_slower():
    CATALOGUE["relaxation_never_costs_more"](PLATFORM)
    fails("relaxation_never_costs_more", PLATFORM, simulate=_slow_memories_at_fast_clock)


@broken("larger_buffer_never_worse_mapping")
def test_mapper_misses_the_optimum_with_a_larger_buffer():
    from simulator.prepare import mapping as mp
    CATALOGUE["larger_buffer_never_worse_mapping"](PLATFORM)
    small = PLATFORM.memories["buffer"].capacity_bytes

    def search(g, hw):
        if hw.capacity_bytes <= small:
            return mp.best_mapping(g, hw)
        return max((mp.evaluate(o, t, g, hw, "energy") for o, t in mp.candidates(g, hw)), key=lambda m: m.energy_J)

    fails("larger_buffer_never_worse_mapping", PLATFORM, search=search)


def test_every_law_has_a_mutation():
    assert MUTATED == set(CATALOGUE), f"laws without a mutation test: {set(CATALOGUE) - MUTATED}"


def test_hetsim_check_names_each_broken_law():
    report = invariants.hetsim_check(Patched(SRAM, read_energy=lambda n: 1e-12 * n / (1 + n * n),
                                             gated_leakage_W=2 * SRAM.leakage_W), raise_on_failure=False)
    broken_laws = {o.law for o in report.failed}
    assert {"energy_monotone_in_bytes", "gated_state_leaks_less"} <= broken_laws
    with pytest.raises(InvariantViolation, match="energy_monotone_in_bytes"):
        invariants.hetsim_check(Patched(SRAM, read_energy=lambda n: 1e-12 * n / (1 + n * n)))
    skipped = invariants.hetsim_check(MacArray(), skip=["unit_reference_point"])
    assert [o.status for o in skipped.outcomes if o.law == "unit_reference_point"] == ["skipped"]
    with pytest.raises(ValueError, match="unknown law"):
        invariants.hetsim_check(MacArray(), skip=["no_such_law"])
    default_workload()  # the workload the platform laws run is a public, documented builder
